/**
 * Brings a database up to date: cluster roles, the database itself, graphile-worker's job queue
 * schema, graphile-migrate's committed migrations, and the global medicines catalogue. Idempotent; `npm start` and the tests run it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { migrate, reset, run, watch, type Settings } from "graphile-migrate";
import { runMigrations as installJobQueue } from "graphile-worker";
import { ConfigError, type DatabaseRoles } from "../config";
import { fallbackLogger, graphileLogger, type Logger } from "../logger";

const root = path.resolve(__dirname, "../..");

export interface DatabaseUrls {
  /** Superuser on the cluster (any database but the app's): creates roles and the database. */
  rootUrl: string;
  /** The owner role on the app's database. */
  ownerUrl: string;
  /** The authenticator role on the app's database. */
  authenticatorUrl: string;
}

/** DatabaseUrls where the superuser is optional (an external server whose roles and database exist). */
export type SetUpUrls = Omit<DatabaseUrls, "rootUrl"> & { rootUrl?: string };

/** Escapes a value for a placeholder that stands inside a SQL string literal. */
const sqlLiteral = (value: string) => value.replace(/'/g, "''");

/**
 * The project's `.gmrc` with connection strings, role names and passwords filled in. Without a
 * root URL graphile-migrate gets none (it refuses one equal to the owner's), so only what runs
 * as the owner (migrate, watch) works. `:DATABASE_OWNER` is graphile-migrate's own placeholder:
 * `databaseOwner`, the user of the owner's URL.
 */
export function migrateSettings(urls: SetUpUrls, roles: DatabaseRoles): Settings {
  const gmrc = JSON.parse(readFileSync(path.join(root, ".gmrc"), "utf8"));
  return {
    ...gmrc,
    connectionString: urls.ownerUrl,
    ...(urls.rootUrl ? { rootConnectionString: urls.rootUrl } : {}),
    databaseOwner: roles.owner,
    migrationsFolder: path.join(root, "migrations"),
    placeholders: {
      ":DATABASE_AUTHENTICATOR": roles.authenticator,
      ":DATABASE_ANONYMOUS": roles.anonymous,
      ":DATABASE_VISITOR": roles.visitor,
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
 * A database whose applied migrations are not the committed files. graphile-migrate checks only
 * the files it still has to run, so without this check such a database would pass until the next
 * migration fails on its `previous_hash`. Printed without a stack, like a configuration error.
 */
export class MigrationHistoryError extends ConfigError {}

/** `--! Hash:` of each file in migrations/committed/, by graphile-migrate's `filename` (`000001.sql`). */
function committedHashes(): Map<string, string> {
  const folder = path.join(root, "migrations/committed");
  const hashes = new Map<string, string>();
  for (const file of readdirSync(folder)) {
    const number = /^(\d{6})[-.]/.exec(file)?.[1];
    const hash = /^--! Hash: (\S+)$/m.exec(readFileSync(path.join(folder, file), "utf8"))?.[1];
    if (number && hash) hashes.set(`${number}.sql`, hash);
  }
  return hashes;
}

/** @throws MigrationHistoryError when a migration applied to the database differs from its committed file. */
async function assertCommittedHistory(client: Client): Promise<void> {
  const { rows: history } = await client.query("select to_regclass('graphile_migrate.migrations') is not null as present");
  if (!history[0].present) return;
  const { rows } = await client.query<{ filename: string; hash: string }>(
    "select filename, hash from graphile_migrate.migrations",
  );
  const committed = committedHashes();
  const differing = rows.filter((row) => committed.get(row.filename) !== row.hash).map((row) => row.filename);
  if (differing.length > 0) {
    throw new MigrationHistoryError(
      `The database's applied migrations (${differing.join(", ")}) differ from migrations/committed/: it was made from another migration history (the history was rebased when role names became configurable). A development database: stop npm start and delete <DATA_DIR>/postgres (.data/postgres).`,
    );
  }
}

/**
 * Creates the roles (db/roles.sql) and, when missing, the database (graphile-migrate reset, which
 * runs db/after-reset.sql; an existing database gets db/after-reset.sql again, for extensions
 * added since), then installs or upgrades the `graphile_worker` schema (migrations'
 * triggers enqueue jobs there), runs pending migrations and loads db/global-medicines.sql.
 * Without a root URL the roles and database must already exist; only migrations and data run.
 * `currentMigration` also applies the uncommitted migration in `migrations/current/` (for tests).
 * Progress goes to `logger` (errors only on stderr when left out).
 */
export async function setUpDatabase(
  urls: SetUpUrls,
  roles: DatabaseRoles,
  options: { currentMigration?: boolean; logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? fallbackLogger();
  const settings = { ...migrateSettings(urls, roles), logger: graphileLogger(logger) };
  if (urls.rootUrl) {
    const rolesSql = readFileSync(path.join(root, "db/roles.sql"), "utf8");
    await run(settings, rolesSql, "db/roles.sql", { root: true, rootDatabase: true });
    const name = decodeURIComponent(new URL(urls.ownerUrl).pathname.slice(1));
    if (!(await databaseExists(urls.rootUrl, name))) await reset(settings);
    else await run(settings, readFileSync(path.join(root, "db/after-reset.sql"), "utf8"), "db/after-reset.sql", { root: true });
  }
  const client = new Client({ connectionString: urls.ownerUrl });
  await client.connect();
  try {
    await assertCommittedHistory(client);
    // graphile-worker's migration lines are noise at every start: debug level.
    await installJobQueue({ connectionString: urls.ownerUrl, logger: graphileLogger(logger, "debug") });
    await migrate(settings);
    // Tests of an uncommitted migration (TEST_INCLUDE_CURRENT_MIGRATION=1) apply migrations/current/ once.
    if (options.currentMigration) await watch(settings, true);
    await client.query(readFileSync(path.join(root, "db/global-medicines.sql"), "utf8"));
  } finally {
    await client.end();
  }
}
