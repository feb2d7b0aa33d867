/**
 * `currentUser` and `currentTenant` read their table by key, the access token's user and tenant,
 * rather than through `app_public.current_user()` / `current_tenant()`, which still define the
 * two fields (their type and documentation) and answer the same rows to SQL clients. On Citus a
 * query rooted in a function cannot join the tenant tables under it: `currentTenant { doctors
 * { totalCount } }` failed, and nested relations under `currentUser` crashed the coordinator
 * (Citus 13.2.2, segmentation fault). Read by key, with the tenant filter of
 * src/graphql-routing.ts, each is one query on one shard. Row-level security applies as before.
 */
import type {} from "postgraphile";
import type { PgResource } from "postgraphile/@dataplan/pg";
import { context } from "postgraphile/grafast";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Grafast {
    interface Context {
      /** The caller's user id, from the access token's `sub`; null without one. */
      userId: string | null;
    }
  }
}

/** Root field → the table it reads and the context value that is its key. */
const CURRENT_ROWS: Record<string, { table: string; key: "userId" | "tenantId" }> = {
  currentUser: { table: "users", key: "userId" },
  currentTenant: { table: "tenants", key: "tenantId" },
};

export const currentRowsPlugin: GraphileConfig.Plugin = {
  name: "CurrentRowsPlugin",
  version: "0.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, build, { scope }) {
        const current = scope.isRootQuery ? CURRENT_ROWS[scope.fieldName] : undefined;
        if (!current) return field;
        const resource = Object.values(build.input.pgRegistry.pgResources).find(
          (r: PgResource) =>
            !r.parameters && r.codec.extensions?.pg?.schemaName === "app_public" && r.codec.extensions.pg.name === current.table,
        );
        if (!resource) throw new Error(`CurrentRowsPlugin: no resource for app_public.${current.table}`);
        return { ...field, plan: () => resource.get({ id: context().get(current.key) }) };
      },
    },
  },
};
