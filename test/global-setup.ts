/**
 * One database for the whole test run: a fresh database on the server named by
 * TEST_DATABASE_URL (a superuser URL), or else on an embedded PostgreSQL in a temporary folder.
 * Either way it is set up exactly as `npm start` sets one up, and removed afterwards.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { roleUrls } from "../src/db/database";
import { startEmbeddedPostgres, type EmbeddedServer } from "../src/db/embedded";
import { setUpDatabase } from "../src/db/setup";

declare global {
  var __testDatabase: { rootUrl: string; name: string; embedded?: EmbeddedServer; dir?: string } | undefined;
}

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
  // Role passwords are fixed for tests: roles are cluster-wide and a shared server may have others connected.
  const urls = roleUrls(rootUrl, name, "clinic_owner_test_password", "clinic_authenticator_test_password");
  await setUpDatabase(urls, { currentMigration: process.env.TEST_INCLUDE_CURRENT_MIGRATION === "1" });
  globalThis.__testDatabase = { rootUrl, name, embedded, dir };
  process.env.TEST_OWNER_URL = urls.ownerUrl;
  process.env.TEST_AUTHENTICATOR_URL = urls.authenticatorUrl;
  process.env.TEST_ROOT_URL = urls.rootUrl;
}
