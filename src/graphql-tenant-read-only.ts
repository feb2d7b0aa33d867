/**
 * `Tenant.isReadOnly`, from `app_private.trial_has_ended(trial_ends_at, trial_days)` with the
 * plan's `trial_days` read beside the tenant. It was a computed column, `tenants_is_read_only
 * (tenant)`, which PostGraphile calls with the whole row; Citus sends that call to the shard,
 * where the row has the shard's own type and no such function exists. Here the field passes
 * columns instead, so it works wherever a tenant is read (`currentTenant`, `doctor.tenant`, …).
 * The rule itself stays in SQL.
 */
import type {} from "postgraphile";
import { PgSelectSingleStep, TYPES, type PgInsertSingleStep, type PgUpdateSingleStep } from "postgraphile/@dataplan/pg";
import { sql } from "postgraphile/pg-sql2";

export const tenantIsReadOnlyPlugin: GraphileConfig.Plugin = {
  name: "TenantIsReadOnlyPlugin",
  version: "0.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields(fields, build, context) {
        const { isPgClassType, pgCodec } = context.scope;
        if (!isPgClassType || pgCodec?.extensions?.pg?.schemaName !== "app_public" || pgCodec.extensions.pg.name !== "tenants") {
          return fields;
        }
        const { GraphQLBoolean, GraphQLNonNull } = build.graphql;
        return build.extend(
          fields,
          {
            isReadOnly: context.fieldWithHooks(
              { fieldName: "isReadOnly" },
              {
                description:
                  "True once the trial has ended on a plan with a trial: the clinic group can read everything but change nothing until an operator changes its plan.",
                type: new GraphQLNonNull(GraphQLBoolean),
                plan: ($in: PgSelectSingleStep | PgInsertSingleStep | PgUpdateSingleStep) => {
                  // A mutation's payload holds the written row: read it again by its id. (Passing
                  // the whole row, as PostGraphile does for computed columns, returns it as text,
                  // which Citus refuses in RETURNING.)
                  const $tenant =
                    $in instanceof PgSelectSingleStep && $in.getClassStep().mode !== "mutation"
                      ? $in
                      : $in.resource.get({ id: $in.get("id") });
                  const tenant = $tenant.getClassStep().alias;
                  return $tenant.select(
                    sql`app_private.trial_has_ended(${tenant}.trial_ends_at,
                      (select p.trial_days from app_public.subscription_plans p where p.plan = ${tenant}.subscription_plan))`,
                    TYPES.boolean,
                    true,
                  );
                },
              },
            ),
          },
          "Tenant.isReadOnly from app_private.trial_has_ended",
        );
      },
    },
  },
};
