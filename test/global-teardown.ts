/** Removes what global-setup made: the test database, and the embedded server with its files. */
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
  } finally {
    await client.end();
  }
}
