/**
 * Configuration, read from the environment once, here, and validated; nothing else reads
 * `process.env`. Every variable is documented in the README ("Configuration").
 */
import path from "node:path";
import type { GraphqlLimits } from "./graphql-limits";

/**
 * Names of the four database roles (db/roles.sql), filled into the migrations as placeholders.
 * Roles belong to the whole PostgreSQL server, not to one database: each deployment (and each
 * test run) on a server has its own four, so none changes another's roles or passwords.
 */
export interface DatabaseRoles {
  /** Owns every object and runs migrations: the user of DATABASE_URL (embedded: clinic_owner). */
  owner: string;
  /** The API's login: the user of AUTH_DATABASE_URL (embedded: clinic_authenticator). */
  authenticator: string;
  /** A request without a token: DATABASE_ANONYMOUS_ROLE, clinic_anonymous when unset. */
  anonymous: string;
  /** A request with a verified token: DATABASE_VISITOR_ROLE, clinic_user when unset. */
  visitor: string;
}

/** Where the app's databases are. `embedded` means: start our own PostgreSQL under `dataDir`. */
export type DatabaseConfig =
  | { kind: "embedded"; port: number; roles: DatabaseRoles }
  | {
      kind: "external";
      roles: DatabaseRoles;
      /** Owner role: runs migrations, owns objects. */
      ownerUrl: string;
      /** Authenticator role: the API's login (NOINHERIT, switches role per request). */
      authenticatorUrl: string;
      /** Superuser on the same server, optional: creates the roles and the database. */
      rootUrl: string | undefined;
    };

export interface Config {
  /** `production` turns off Ruru and requires JWT_SECRET. */
  production: boolean;
  /** HTTP port of the API server. */
  port: number;
  /** Folder for the embedded database and development secrets. */
  dataDir: string;
  database: DatabaseConfig;
  /** HS256 secret (at least 32 bytes); undefined in development means "generate and keep in dataDir". */
  jwtSecret: string | undefined;
  /** Access-token lifetime in seconds. */
  jwtExpiresInSeconds: number;
  /** Refresh-token lifetime in days. */
  refreshTokenDays: number;
  /** Seconds during which a just-rotated refresh token still returns the same successor (browser tabs); 0 turns it off. */
  refreshTokenReuseSeconds: number;
  /** Browser origins allowed to call /graphql and /auth (CORS). */
  corsOrigins: CorsOrigins;
  /** True when APP_URL is unset: this server serves the minimal sign-in and set-password pages the e-mail links open. */
  servePages: boolean;
  /** Requests per client IP per minute on /auth. */
  authRateLimitPerIp: number;
  /** Failed logins per e-mail per 15 minutes. */
  authFailedLoginsPerAccount: number;
  graphqlLimits: GraphqlLimits;
  /** Introspection and Ruru in production (always on in development). */
  graphqlIntrospection: boolean;
  /** Reverse proxies in front of the server whose X-Forwarded-For is trusted for the client IP (Express `trust proxy`). */
  trustProxyHops: number;
  /** JWT `iss` and `aud`, pinned on verification. */
  jwtIssuer: string;
  jwtAudience: string;
  /** Whether `npm start` runs the background worker next to the API server. */
  runWorker: boolean;
  /** How many jobs one worker runs at once. */
  workerConcurrency: number;
  mail: MailConfig;
}

/**
 * Exact origins (`https://app.clinic.example`), or, the development default, any port of
 * `http://localhost` and `http://127.0.0.1`: front-end dev servers pick their own port.
 */
export type CorsOrigins = string[] | "any-localhost-port";

export interface MailConfig {
  /** SMTP server (`smtp://` or `smtps://user:pass@host:port`); undefined means "write .eml files to `outbox`". */
  smtpUrl: string | undefined;
  /** Folder for .eml files when there is no SMTP server. */
  outbox: string;
  /** RFC 5322 From of every message, e.g. `Clinic Platform <no-reply@clinic.example>`. */
  from: string;
  /** Public address of the web app that links in e-mails point to (set-password page, sign-in). */
  appUrl: string;
}

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw !== "true" && raw !== "false") throw new ConfigError(`${name} must be true or false, got "${raw}".`);
  return raw === "true";
}

function corsOrigins(env: NodeJS.ProcessEnv, production: boolean): CorsOrigins {
  const raw = env.CORS_ORIGINS;
  if (raw === undefined || raw.trim() === "") return production ? [] : "any-localhost-port";
  const origins = raw.split(",").map((origin) => origin.trim());
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(
        `CORS_ORIGINS must list exact origins like https://app.example.com (no path, no trailing slash), got "${origin}".`,
      );
    }
  }
  return origins;
}

/** Names PostgreSQL gives a meaning of its own where a role is expected (`grant … to public`). */
const SPECIAL_ROLE_NAMES = ["public", "none", "current_role", "current_user", "session_user"];

/**
 * A role name as the migrations use it: unquoted, so lower-case letters, digits and `_`, at
 * most 63 bytes (PostgreSQL's NAMEDATALEN), not `pg_…` (reserved) nor one of SPECIAL_ROLE_NAMES.
 */
function roleName(name: string, source: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name.startsWith("pg_") || SPECIAL_ROLE_NAMES.includes(name)) {
    throw new ConfigError(
      `${source} must be a role name of lower-case letters, digits and _ (at most 63, not pg_… nor ${SPECIAL_ROLE_NAMES.join(", ")}), got "${name}".`,
    );
  }
  return name;
}

/** The user name of a connection string, as a role name. */
function urlUser(url: string, variable: string): string {
  let user: string;
  try {
    user = decodeURIComponent(new URL(url).username);
  } catch {
    throw new ConfigError(`${variable} must be a URL like postgres://user:password@host:5432/database.`);
  }
  return roleName(user, `The user of ${variable}`);
}

function databaseRoles(env: NodeJS.ProcessEnv, owner: string, authenticator: string): DatabaseRoles {
  const roles = {
    owner,
    authenticator,
    anonymous: roleName(env.DATABASE_ANONYMOUS_ROLE || "clinic_anonymous", "DATABASE_ANONYMOUS_ROLE"),
    visitor: roleName(env.DATABASE_VISITOR_ROLE || "clinic_user", "DATABASE_VISITOR_ROLE"),
  };
  if (new Set(Object.values(roles)).size !== 4) {
    throw new ConfigError(
      `The owner (${owner}), authenticator (${authenticator}), DATABASE_ANONYMOUS_ROLE (${roles.anonymous}) and DATABASE_VISITOR_ROLE (${roles.visitor}) must be four different roles.`,
    );
  }
  return roles;
}

function databaseConfig(env: NodeJS.ProcessEnv): DatabaseConfig {
  const ownerUrl = env.DATABASE_URL;
  if (!ownerUrl) {
    const roles = databaseRoles(env, "clinic_owner", "clinic_authenticator");
    return { kind: "embedded", port: integer(env, "EMBEDDED_PG_PORT", 54329, 1024, 65535), roles };
  }
  const authenticatorUrl = env.AUTH_DATABASE_URL;
  if (!authenticatorUrl) {
    throw new ConfigError("AUTH_DATABASE_URL (the clinic_authenticator login) is required with DATABASE_URL.");
  }
  const roles = databaseRoles(env, urlUser(ownerUrl, "DATABASE_URL"), urlUser(authenticatorUrl, "AUTH_DATABASE_URL"));
  return { kind: "external", roles, ownerUrl, authenticatorUrl, rootUrl: env.ROOT_DATABASE_URL || undefined };
}

/**
 * What production cannot run without, reported all at once: the embedded database, generated
 * secrets and the outbox folder are for development only.
 */
function assertProductionVariables(env: NodeJS.ProcessEnv) {
  const missing = [
    ["DATABASE_URL", "the clinic_owner login on your PostgreSQL (the embedded database is for development)"],
    ["AUTH_DATABASE_URL", "the clinic_authenticator login on the same database"],
    ["JWT_SECRET", "the HS256 secret for access tokens, at least 32 bytes"],
    ["SMTP_URL", "the mail server; without it e-mails only go to the outbox folder"],
  ].filter(([name]) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      [
        `NODE_ENV=production needs ${missing.map(([name]) => name).join(", ")}:`,
        ...missing.map(([name, why]) => `  ${name}: ${why}`),
      ].join("\n"),
    );
  }
}

/**
 * Reads and validates the configuration.
 * @throws ConfigError naming the variable that is missing or malformed.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === "production";
  const jwtSecret = env.JWT_SECRET || undefined;
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError("JWT_SECRET must be at least 32 bytes (RFC 7518 §3.2: HS256 keys at least as long as the hash).");
  }
  const smtpUrl = env.SMTP_URL || undefined;
  if (production) assertProductionVariables(env);
  const port = integer(env, "PORT", 3000, 0, 65535);
  const dataDir = env.DATA_DIR || ".data";
  return {
    production,
    port,
    dataDir,
    database: databaseConfig(env),
    jwtSecret,
    jwtExpiresInSeconds: integer(env, "JWT_EXPIRES_IN_SECONDS", 900, 60, 86400),
    refreshTokenDays: integer(env, "REFRESH_TOKEN_DAYS", 30, 1, 365),
    refreshTokenReuseSeconds: integer(env, "REFRESH_TOKEN_REUSE_SECONDS", 10, 0, 300),
    corsOrigins: corsOrigins(env, production),
    servePages: !env.APP_URL,
    authRateLimitPerIp: integer(env, "AUTH_RATE_LIMIT_PER_IP", 30, 1, 100_000),
    authFailedLoginsPerAccount: integer(env, "AUTH_FAILED_LOGINS_PER_ACCOUNT", 10, 1, 100_000),
    trustProxyHops: integer(env, "TRUST_PROXY_HOPS", 0, 0, 10),
    graphqlLimits: {
      maxBodyBytes: integer(env, "GRAPHQL_MAX_BODY_BYTES", 100_000, 1_000, 10_000_000),
      maxDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
      maxAliases: integer(env, "GRAPHQL_MAX_ALIASES", 20, 0, 1_000),
      maxCost: integer(env, "GRAPHQL_MAX_COST", 10_000, 10, 10_000_000),
      maxPageSize: integer(env, "GRAPHQL_MAX_PAGE_SIZE", 500, 1, 100_000),
      statementTimeoutMs: integer(env, "GRAPHQL_STATEMENT_TIMEOUT_MS", 5_000, 100, 600_000),
      executionTimeoutMs: integer(env, "GRAPHQL_EXECUTION_TIMEOUT_MS", 10_000, 100, 600_000),
      trustedDocumentsDir: env.GRAPHQL_TRUSTED_DOCUMENTS_DIR || undefined,
    },
    graphqlIntrospection: !production || flag(env, "GRAPHQL_INTROSPECTION", false),
    jwtIssuer: env.JWT_ISSUER || "clinic-platform",
    jwtAudience: env.JWT_AUDIENCE || "clinic-platform-api",
    runWorker: flag(env, "RUN_WORKER", true),
    workerConcurrency: integer(env, "WORKER_CONCURRENCY", 2, 1, 100),
    mail: {
      smtpUrl,
      outbox: path.join(dataDir, "outbox"),
      from: env.MAIL_FROM || "Clinic Platform <no-reply@localhost>",
      appUrl: (env.APP_URL || `http://localhost:${port}`).replace(/\/+$/, ""),
    },
  };
}
