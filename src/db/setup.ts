/**
 * Brings a database up to date: cluster roles, the database itself, graphile-worker's job queue
 * schema, graphile-migrate's committed migrations, and the global medicines catalogue. Idempotent; `npm start` and the tests run it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { migrate, reset, run, watch, type Settings } from "graphile-migrate";
import { runMigrations as installJobQueue } from "graphile-worker";
import { fallbackLogger, graphileLogger, type Logger } from "../logger";

const root = path.resolve(__dirname, "../..");

export interface DatabaseUrls {
  /** Superuser on the cluster (any database but the app's): creates roles and the database. */
  rootUrl: string;
  /** clinic_owner on the app's database. */
  ownerUrl: string;
  /** clinic_authenticator on the app's database. */
  authenticatorUrl: string;
}

/** DatabaseUrls where the superuser is optional (an external server whose roles and database exist). */
export type SetUpUrls = Omit<DatabaseUrls, "rootUrl"> & { rootUrl?: string };

/** Escapes a value for a placeholder that stands inside a SQL string literal. */
const sqlLiteral = (value: string) => value.replace(/'/g, "''");

/** The project's `.gmrc` with connection strings and role passwords filled in. */
export function migrateSettings(urls: DatabaseUrls): Settings {
  const gmrc = JSON.parse(readFileSync(path.join(root, ".gmrc"), "utf8"));
  return {
    ...gmrc,
    connectionString: urls.ownerUrl,
    rootConnectionString: urls.rootUrl,
    migrationsFolder: path.join(root, "migrations"),
    placeholders: {
      ":OWNER_PASSWORD": sqlLiteral(decodeURIComponent(new URL(urls.ownerUrl).password)),
      ":AUTHENTICATOR_PASSWORD": sqlLiteral(decodeURIComponent(new URL(urls.authenticatorUrl).password)),
    },
  };
}

async function databaseExists(rootUrl: string, name: string): Promise<boolean> {
  const client = new Client({ connectionString: rootUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [name]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

/**
 * Creates the roles (db/roles.sql) and, when missing, the database (graphile-migrate reset, which
 * runs db/after-reset.sql), then installs or upgrades the `graphile_worker` schema (migrations'
 * triggers enqueue jobs there), runs pending migrations and loads db/global-medicines.sql.
 * Without a root URL the roles and database must already exist; only migrations and data run.
 * `currentMigration` also applies the uncommitted migration in `migrations/current/` (for tests).
 * Progress goes to `logger` (errors only on stderr when left out).
 */
export async function setUpDatabase(
  urls: SetUpUrls,
  options: { currentMigration?: boolean; logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? fallbackLogger();
  const settings = { ...migrateSettings({ ...urls, rootUrl: urls.rootUrl ?? urls.ownerUrl }), logger: graphileLogger(logger) };
  if (urls.rootUrl) {
    const rolesSql = readFileSync(path.join(root, "db/roles.sql"), "utf8");
    await run(settings, rolesSql, "db/roles.sql", { root: true, rootDatabase: true });
    const name = decodeURIComponent(new URL(urls.ownerUrl).pathname.slice(1));
    if (!(await databaseExists(urls.rootUrl, name))) await reset(settings);
  }
  // graphile-worker's migration lines are noise at every start: debug level.
  await installJobQueue({ connectionString: urls.ownerUrl, logger: graphileLogger(logger, "debug") });
  await migrate(settings);
  // Tests of an uncommitted migration (TEST_INCLUDE_CURRENT_MIGRATION=1) apply migrations/current/ once.
  if (options.currentMigration) await watch(settings, true);
  const client = new Client({ connectionString: urls.ownerUrl });
  await client.connect();
  try {
    await client.query(readFileSync(path.join(root, "db/global-medicines.sql"), "utf8"));
  } finally {
    await client.end();
  }
}
