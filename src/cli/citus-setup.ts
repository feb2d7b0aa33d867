/**
 * `npm run citus:setup -- <worker URL>…`: sets up (or brings up to date) the app's database on a
 * Citus cluster. DATABASE_URL, AUTH_DATABASE_URL and ROOT_DATABASE_URL name the coordinator, as
 * for one PostgreSQL; the arguments are superuser URLs of the workers. See src/db/citus.ts.
 */
import { Command } from "commander";
import { loadConfig } from "../config";
import { setUpCitus } from "../db/citus";
import { createLogger } from "../logger";

if (require.main === module) {
  const program = new Command("citus:setup")
    .description("Set up the app's database on a Citus coordinator (DATABASE_URL, ROOT_DATABASE_URL) and these workers")
    .argument("<workers...>", "superuser URLs of the worker nodes, e.g. postgres://postgres@10.0.0.2:5432/postgres")
    .action(async (workers: string[]) => {
      const config = loadConfig();
      const database = config.database;
      if (database.kind !== "external" || !database.rootUrl) {
        throw new Error("citus:setup needs DATABASE_URL, AUTH_DATABASE_URL and ROOT_DATABASE_URL on the coordinator.");
      }
      const urls = { ...database, rootUrl: database.rootUrl };
      await setUpCitus([database.rootUrl, ...workers], urls, database.roles, {
        logger: createLogger({ level: config.logLevel, pretty: !config.production }),
      });
    });
  program.parseAsync().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
