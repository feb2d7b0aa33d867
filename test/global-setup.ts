/**
 * One database for the whole test run: a fresh database on the server named by
 * TEST_DATABASE_URL (a superuser URL), or else on an embedded PostgreSQL in a temporary folder.
 * Either way it is set up exactly as `npm start` sets one up, and removed afterwards. The run has
 * its own four roles (`clinic_test_<pid>_…`, fresh passwords), so on a shared server it never
 * changes a deployment's roles or another run's; global-teardown drops them.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { roleUrls } from "../src/db/database";
import { startEmbeddedPostgres, type EmbeddedServer } from "../src/db/embedded";
import { setUpDatabase } from "../src/db/setup";
import type { DatabaseRoles } from "../src/config";

declare global {
  var __testDatabase:
    { rootUrl: string; name: string; roles: DatabaseRoles; embedded?: EmbeddedServer; dir?: string } | undefined;
}

/** A deployment's four role names, `<prefix>_owner` and so on. */
export const rolesWithPrefix = (prefix: string): DatabaseRoles => ({
  owner: `${prefix}_owner`,
  authenticator: `${prefix}_authenticator`,
  anonymous: `${prefix}_anonymous`,
  visitor: `${prefix}_user`,
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export default async function globalSetup() {
  process.env.GRAPHILE_ENV = "development";
  let rootUrl = process.env.TEST_DATABASE_URL;
  let embedded: EmbeddedServer | undefined;
  let dir: string | undefined;
  if (!rootUrl) {
    dir = mkdtempSync(path.join(tmpdir(), "clinic-test-"));
    embedded = await startEmbeddedPostgres({ dir, port: await freePort(), superuserPassword: "test", persistent: false });
    rootUrl = embedded.rootUrl;
  }
  const name = `clinic_test_${process.pid}`;
  const roles = rolesWithPrefix(name);
  const password = () => randomBytes(24).toString("hex");
  const urls = roleUrls(rootUrl, name, roles, password(), password());
  globalThis.__testDatabase = { rootUrl, name, roles, embedded, dir };
  await setUpDatabase(urls, roles, { currentMigration: process.env.TEST_INCLUDE_CURRENT_MIGRATION === "1" });
  process.env.TEST_DATABASE_ROLES = JSON.stringify(roles);
  process.env.TEST_OWNER_URL = urls.ownerUrl;
  process.env.TEST_AUTHENTICATOR_URL = urls.authenticatorUrl;
  process.env.TEST_ROOT_URL = urls.rootUrl;
}
