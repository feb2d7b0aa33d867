/**
 * `npm run db:dump`: writes db/schema.sql, the current-state view of the migrated schema that
 * reviewers read (src/db/schema-dump.ts), from DATABASE_URL or the embedded database.
 * Run it after `npm start` (which migrates) or `graphile-migrate watch`, and commit the file.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../config";
import { developmentRoleAliases, dumpSchema, SCHEMA_DUMP_FILE } from "../db/schema-dump";
import { runAsOwner } from "./run-as-owner";

runAsOwner(async (client) => {
  writeFileSync(SCHEMA_DUMP_FILE, await dumpSchema(client, { roleAliases: developmentRoleAliases(loadConfig().database.roles) }));
  console.log(`Wrote ${path.relative(process.cwd(), SCHEMA_DUMP_FILE)}`);
  return 0;
});
