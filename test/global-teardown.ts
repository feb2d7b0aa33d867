/** Removes what global-setup made: the test database and its roles, or the embedded server with its files. */
import { rmSync } from "node:fs";
import { Client } from "pg";

export default async function globalTeardown() {
  const database = globalThis.__testDatabase;
  if (!database) return;
  if (database.embedded) {
    await database.embedded.stop();
    if (database.dir) rmSync(database.dir, { recursive: true, force: true });
    return;
  }
  const client = new Client({ connectionString: database.rootUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists "${database.name}" with (force)`);
    const { owner, authenticator, anonymous, visitor } = database.roles;
    await client.query(`drop role if exists ${authenticator}, ${anonymous}, ${visitor}, ${owner}`);
  } finally {
    await client.end();
  }
}
