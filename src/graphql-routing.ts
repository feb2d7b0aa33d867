/**
 * Every select PostGraphile makes on a tenant table also says `tenant_id = <the caller's tenant>`
 * (`id = …` on `tenants`), as a parameter. Row-level security already limits the rows to that
 * tenant; the filter is for Citus, which picks the shard from a constant or a parameter on the
 * distribution column but not from the policy's `current_tenant_id()`: without it every query
 * runs on every shard. The filter only narrows: it is ANDed to what the policies allow, and a
 * request without a tenant (none signed in) reads no tenant rows, as the policies already say.
 * Mutations go by the row's id; Citus runs them on every shard, where the policies leave the
 * caller's own tenant's row only.
 */
import type {} from "postgraphile";
import { TYPES } from "postgraphile/@dataplan/pg";
import { context } from "postgraphile/grafast";
import { sql } from "postgraphile/pg-sql2";
import { DISTRIBUTION_ANCHORS } from "./db/lint";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Grafast {
    interface Context {
      /** The caller's tenant, from the access token's `tenant_id`; null without one. */
      tenantId: string | null;
    }
  }
}

export const tenantRoutingPlugin: GraphileConfig.Plugin = {
  name: "TenantRoutingPlugin",
  version: "0.0.0",
  gather: {
    hooks: {
      pgTables_PgResourceOptions(_info, { pgClass, resourceOptions }) {
        const name = `${pgClass.getNamespace()?.nspname}.${pgClass.relname}`;
        const tenantColumn = pgClass.getAttributes().find((a) => a.attname === "tenant_id" && a.attnotnull);
        const key = DISTRIBUTION_ANCHORS.includes(name) ? "id" : tenantColumn ? "tenant_id" : undefined;
        if (!key) return;
        resourceOptions.selectAuth = ($select) => {
          // A mutation's function returning these rows inherits this hook; its plan may not depend
          // on a step made after it.
          if ($select.resource.isMutation) return;
          const $tenantId = context().get("tenantId");
          $select.where(sql`${$select.alias}.${sql.identifier(key)} = ${$select.placeholder($tenantId, TYPES.uuid)}`);
        };
      },
    },
  },
};
