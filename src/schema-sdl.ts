/** The API's GraphQL schema as sorted SDL text, built from the database without a server. */
import { makeSchema } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import { makePreset, type ApiRoles } from "./graphile.config";

/** SDL of the schema PostGraphile builds on `authenticatorUrl` switching to `roles` (development preset). */
export async function printSchemaSdl(authenticatorUrl: string, roles: ApiRoles): Promise<string> {
  const { schema, resolvedPreset } = await makeSchema(makePreset({ authenticatorUrl, roles, introspection: true }));
  try {
    return printSchema(lexicographicSortSchema(schema)) + "\n";
  } finally {
    for (const service of resolvedPreset.pgServices ?? []) await service.release?.();
  }
}
