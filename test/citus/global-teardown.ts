/** Removes what test/citus/global-setup.ts made: the database on every node, then the run's roles on every node. */
import { Client } from "pg";

export default async function globalTeardown() {
  const database = globalThis.__citusDatabase;
  if (!database) return;
  const { owner, authenticator, anonymous, visitor } = database.roles;
  for (const node of database.nodes) {
    const client = new Client({ connectionString: node });
    await client.connect();
    try {
      await client.query(`drop database if exists "${database.name}" with (force)`);
      // Roles made inside the app database reached every node; dropped from here they must go one by one.
      await client.query(`drop role if exists ${authenticator}, ${anonymous}, ${visitor}, ${owner}`);
    } finally {
      await client.end();
    }
  }
}
