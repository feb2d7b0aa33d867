/**
 * The database of `npm run test:citus`: a fresh database on every node of the Citus cluster named
 * by CITUS_URLS (superuser URLs, the coordinator first), set up by src/db/citus.ts exactly as
 * `npm run citus:setup` does, with the run's own roles. Hands the same variables to the test
 * files as test/global-setup.ts does, plus the node URLs.
 */
import { randomBytes } from "node:crypto";
import { roleUrls } from "../../src/db/database";
import { setUpCitus } from "../../src/db/citus";
import { rolesWithPrefix } from "../global-setup";
import type { DatabaseRoles } from "../../src/config";

declare global {
  var __citusDatabase: { nodes: string[]; name: string; roles: DatabaseRoles } | undefined;
}

export default async function globalSetup() {
  process.env.GRAPHILE_ENV = "development";
  const nodes = (process.env.CITUS_URLS ?? "").split(",").filter(Boolean);
  if (nodes.length < 2) {
    throw new Error("npm run test:citus needs CITUS_URLS: superuser URLs of a coordinator and its workers, comma-separated.");
  }
  const name = `clinic_citus_${process.pid}`;
  const roles = rolesWithPrefix(name);
  const password = () => randomBytes(24).toString("hex");
  const urls = roleUrls(nodes[0], name, roles, password(), password());
  globalThis.__citusDatabase = { nodes, name, roles };
  await setUpCitus(nodes, urls, roles, { currentMigration: process.env.TEST_INCLUDE_CURRENT_MIGRATION === "1" });
  process.env.TEST_DATABASE_ROLES = JSON.stringify(roles);
  process.env.TEST_OWNER_URL = urls.ownerUrl;
  process.env.TEST_AUTHENTICATOR_URL = urls.authenticatorUrl;
  process.env.TEST_ROOT_URL = urls.rootUrl;
  process.env.TEST_CITUS_NODES = JSON.stringify(nodes);
}
