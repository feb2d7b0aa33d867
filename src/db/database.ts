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

export interface OpenDatabase {
  urls: SetUpUrls;
  /** Stops the embedded server; nothing for an external one. */
  stop(): Promise<void>;
}

/** Starts the embedded server when configured so (its errors logged to `logger`), and returns the URLs to use. */
export async function openDatabase(config: DatabaseConfig, dataDir: string, logger?: Logger): Promise<OpenDatabase> {
  if (config.kind === "external") {
    return { urls: config, stop: async () => {} };
  }
  const secrets = localSecrets(dataDir);
  const embedded = await startEmbeddedPostgres({
    dir: path.join(dataDir, "postgres"),
    port: config.port,
    superuserPassword: secrets.superuserPassword,
    persistent: true,
    logger,
  });
  return {
    urls: roleUrls(embedded.rootUrl, "clinic", config.roles, secrets.ownerPassword, secrets.authenticatorPassword),
    stop: embedded.stop,
  };
}

/**
 * The owner's URL for a one-off command (operator CLI): the external server, or the embedded one.
 * An embedded server that `npm start` is already running is reused; otherwise this starts it
 * (without migrating: that is `npm start`'s job), and `stop()` stops it again.
 * @throws when there is no embedded database yet, or it is neither reachable nor startable.
 */
export async function openOwnerDatabase(
  config: DatabaseConfig,
  dataDir: string,
): Promise<{ ownerUrl: string; stop(): Promise<void> }> {
  if (config.kind === "external") return { ownerUrl: config.ownerUrl, stop: async () => {} };
  if (!existsSync(path.join(dataDir, "postgres", "PG_VERSION"))) {
    throw new Error(`There is no embedded database in ${dataDir} yet: run npm start once first.`);
  }
  const secrets = localSecrets(dataDir);
  const running = roleUrls(
    `postgres://127.0.0.1:${config.port}/postgres`,
    "clinic",
    config.roles,
    secrets.ownerPassword,
    secrets.authenticatorPassword,
  );
  const probe = new Client({ connectionString: running.ownerUrl });
  try {
    await probe.connect();
    return { ownerUrl: running.ownerUrl, stop: async () => {} };
  } catch {
    const database = await openDatabase(config, dataDir).catch((error) => {
      throw new Error(
        `The embedded database is neither reachable on port ${config.port} nor startable from ${dataDir} (is npm start running with another EMBEDDED_PG_PORT?)`,
        { cause: error },
      );
    });
    return { ownerUrl: database.urls.ownerUrl, stop: database.stop };
  } finally {
    await probe.end().catch(() => {});
  }
}
