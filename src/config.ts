/**
 * Configuration, read from the environment once, here, and validated; nothing else reads
 * `process.env`. Every variable is an entry of VARIABLES, from which `npm run docs:config`
 * writes the README's "Configuration" table (test/configuration-table.test.ts checks both).
 */
import path from "node:path";
import type { GraphqlLimits } from "./graphql-limits";

/**
 * One environment variable. Adding a variable is adding one entry to VARIABLES (then reading it in
 * loadConfig through `integer`, `flag`, `text` or `optional`, and running `npm run docs:config`):
 * - `default`: the value used when the variable is unset or empty; loadConfig takes it from here
 *   and the README shows it. `integer` needs a number and a `range`, `flag` a boolean, `text` a string.
 * - `defaultText`: instead of `default`, when no single value is the default (the README's words,
 *   Markdown); such variables, and those with no default at all, are read with `optional`.
 * - `range`: whole numbers only, inclusive; loadConfig refuses others, naming the variable.
 * - `meaning`: one line of Markdown for the README.
 * - `production`: `{ required: why }` makes NODE_ENV=production refuse to start without it (the
 *   error names it and says why); `{ advice }` says what production should set (README only).
 * - `readBy`: only for variables the app does not read: `tests` (the jest suite) or `dba`
 *   (graphile-migrate's CLI in the DBA workflow, README "Changing the database"). loadConfig
 *   cannot read these: its `env` only has the app's names.
 */
export interface Variable {
  readonly default?: string | number | boolean;
  readonly defaultText?: string;
  readonly range?: readonly [min: number, max: number];
  readonly meaning: string;
  readonly production?: { readonly required: string } | { readonly advice: string };
  readonly readBy?: "tests" | "dba";
}

/** Every environment variable the project reads, in the README's order. */
export const VARIABLES = {
  PORT: { default: 3000, range: [0, 65535], meaning: "HTTP port" },
  NODE_ENV: {
    meaning: "`production` turns off Ruru and introspection, and refuses to start without the variables required in production",
  },
  DATABASE_URL: {
    defaultText: "embedded",
    meaning: "the owner on the app database (runs migrations); its user names the owner role ([Database roles](#database-roles))",
    production: { required: "the owner login on your PostgreSQL (the embedded database is for development)" },
  },
  AUTH_DATABASE_URL: {
    meaning: "the authenticator on the app database; its user names that role; required with `DATABASE_URL`",
    production: { required: "the authenticator login on the same database" },
  },
  ROOT_DATABASE_URL: {
    meaning: "a superuser on the same server (any other database): creates roles and the database; without it they must exist",
  },
  DATABASE_ANONYMOUS_ROLE: {
    default: "clinic_anonymous",
    meaning: "the role of a request without a token (`:DATABASE_ANONYMOUS` in the migrations); one per deployment on a server",
  },
  DATABASE_VISITOR_ROLE: {
    default: "clinic_user",
    meaning: "the role of a request with a verified token (`:DATABASE_VISITOR`); one per deployment on a server",
  },
  EMBEDDED_PG_PORT: { default: 54329, range: [1024, 65535], meaning: "port of the embedded PostgreSQL" },
  DATA_DIR: { default: ".data", meaning: "embedded database and generated development secrets" },
  JWT_SECRET: {
    defaultText: "generated in `DATA_DIR`",
    meaning: "HS256 secret, at least 32 bytes",
    production: { required: "the HS256 secret for access tokens, at least 32 bytes" },
  },
  JWT_EXPIRES_IN_SECONDS: { default: 900, range: [60, 86400], meaning: "access-token lifetime" },
  REFRESH_TOKEN_DAYS: { default: 30, range: [1, 365], meaning: "refresh-token lifetime (each refresh starts a new one)" },
  REFRESH_TOKEN_REUSE_SECONDS: {
    default: 10,
    range: [0, 300],
    meaning: "a just-rotated refresh token returns the same successor this long (tabs); `0` turns it off",
  },
  CORS_ORIGINS: {
    defaultText: "development: any `localhost` port",
    meaning: "exact browser origins allowed on `/graphql` and `/auth`, comma-separated",
    production: { advice: "the web app's origins; unset: no browser origin is allowed" },
  },
  JWT_ISSUER: { default: "clinic-platform", meaning: "token `iss`, pinned on verification" },
  JWT_AUDIENCE: { default: "clinic-platform-api", meaning: "token `aud`, pinned on verification" },
  AUTH_RATE_LIMIT_PER_IP: {
    default: 30,
    range: [1, 100_000],
    meaning: "requests per client IP per minute on `/auth` (`RATEL` beyond); the IP depends on `TRUST_PROXY_HOPS`",
  },
  AUTH_FAILED_LOGINS_PER_ACCOUNT: { default: 10, range: [1, 100_000], meaning: "failed logins per e-mail per 15 minutes" },
  GRAPHQL_RATE_LIMIT_PER_MINUTE: {
    default: 600,
    range: [1, 1_000_000],
    meaning: "`/graphql` requests per user (signed out: per client IP) per minute, shared by every instance (`RATEL` beyond)",
  },
  TRUST_PROXY_HOPS: {
    default: 0,
    range: [0, 10],
    meaning: "reverse proxies in front whose `X-Forwarded-For` gives the client IP (Express `trust proxy`)",
    production: {
      advice: "the number of proxies in front; `0` behind a proxy makes every user share one `/auth` limit",
    },
  },
  GRAPHQL_MAX_BODY_BYTES: { default: 100_000, range: [1_000, 10_000_000], meaning: "largest `/graphql` request body, bytes" },
  GRAPHQL_MAX_DEPTH: { default: 12, range: [2, 100], meaning: "deepest selection nesting" },
  GRAPHQL_MAX_ALIASES: { default: 20, range: [0, 1_000], meaning: "most aliases in one document" },
  GRAPHQL_MAX_COST: {
    default: 10_000,
    range: [10, 10_000_000],
    meaning: "highest graphql-armor cost (objects 2, scalars 1, growing with depth)",
  },
  GRAPHQL_MAX_PAGE_SIZE: { default: 500, range: [1, 100_000], meaning: "largest `first` / `last` on a connection" },
  GRAPHQL_STATEMENT_TIMEOUT_MS: {
    default: 5_000,
    range: [100, 600_000],
    meaning: "PostgreSQL `statement_timeout` of each request's statements, milliseconds",
  },
  GRAPHQL_EXECUTION_TIMEOUT_MS: {
    default: 10_000,
    range: [100, 600_000],
    meaning: "grafast's execution budget per request, milliseconds",
  },
  GRAPHQL_TRUSTED_DOCUMENTS_DIR: {
    meaning: "only these documents run, asked for by id: `client/trusted-documents` ([Typed client](#typed-client))",
  },
  GRAPHQL_INTROSPECTION: {
    default: false,
    meaning: "`true`: introspection and Ruru in production too (always on in development)",
  },
  LOG_LEVEL: {
    default: "info",
    meaning:
      "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`; JSON lines in production, pino-pretty in development",
  },
  METRICS_TOKEN: {
    meaning:
      "opens Prometheus `/metrics` on the API port to `Authorization: Bearer <token>` (at least 32 characters); unset: no `/metrics` there",
  },
  METRICS_PORT: {
    range: [1, 65535],
    meaning: "a separate port serving `/metrics` without a token (for a scraper on a private network); unset: none",
  },
  METRICS_HOST: { default: "127.0.0.1", meaning: "the address `METRICS_PORT` listens on" },
  SHUTDOWN_TIMEOUT_MS: {
    default: 10_000,
    range: [0, 600_000],
    meaning: "on SIGTERM, how long in-flight requests may finish before they are cut, milliseconds",
  },
  RUN_WORKER: { default: true, meaning: "`false`: `npm start` runs only the API server (run `npm run worker` elsewhere)" },
  WORKER_CONCURRENCY: { default: 2, range: [1, 100], meaning: "jobs one worker runs at once" },
  JOB_OUTBOX_INTERVAL_MS: {
    default: 500,
    range: [50, 60_000],
    meaning: "how often the worker moves jobs from the outbox into the queue, milliseconds (the most a job waits)",
  },
  WORKER_DEAD_AFTER_SECONDS: {
    default: 60,
    range: [2, 3600],
    meaning:
      "a worker silent this long (no heartbeat) is taken for dead: its jobs run again on a live worker and its unsent e-mail claims pass on, seconds",
  },
  WAITLIST_HOLD_MINUTES: {
    default: 30,
    range: [5, 1440],
    meaning: "how long a freed slot offered to a waiting patient is held for them, minutes",
  },
  SMTP_URL: {
    defaultText: "outbox",
    meaning: "`smtp://user:pass@host:587` or `smtps://…:465`; unset: `.eml` files in `DATA_DIR/outbox/`",
    production: { required: "the mail server; without it e-mails only go to the outbox folder" },
  },
  MAIL_FROM: {
    default: "Clinic Platform <no-reply@localhost>",
    meaning: "From of every e-mail; its domain also names Message-IDs",
  },
  APP_URL: {
    defaultText: "`http://localhost:$PORT`",
    meaning: "the web app that e-mail links open: sign-in, and `/set-password#token=…`; unset: this server serves both pages",
  },
  PUBLIC_URL: {
    defaultText: "`http://localhost:$PORT`",
    meaning: "this API server's address as patients reach it: the unsubscribe link in their e-mails opens `/unsubscribe` here",
    production: { advice: "the API's public https address; unset, patients' links point to localhost" },
  },
  TEST_DATABASE_URL: {
    defaultText: "embedded",
    meaning: "a superuser URL; the suite creates and drops its own database and roles there",
    readBy: "tests",
  },
  TEST_INCLUDE_CURRENT_MIGRATION: {
    meaning: "`1`: the suite's database also gets the uncommitted `migrations/current/`",
    readBy: "tests",
  },
  CITUS_URLS: {
    meaning:
      "superuser URLs of a Citus coordinator then its workers, comma-separated; `npm run test:citus` creates and drops its own database and roles there",
    readBy: "tests",
  },
  UPDATE_SCHEMA: { meaning: "`1`: `test/schema.test.ts` rewrites `schema.graphql` instead of comparing", readBy: "tests" },
  SHADOW_DATABASE_URL: {
    meaning: "`clinic_owner` on a throwaway database where the migrations are replayed to check a commit",
    readBy: "dba",
  },
  DATABASE_AUTHENTICATOR: {
    meaning:
      "the authenticator role's name for `.gmrc`'s `:DATABASE_AUTHENTICATOR` (`npm start`: the user of `AUTH_DATABASE_URL`)",
    readBy: "dba",
  },
  DATABASE_ANONYMOUS: {
    meaning: "`DATABASE_ANONYMOUS_ROLE` for `.gmrc`'s `:DATABASE_ANONYMOUS`",
    readBy: "dba",
  },
  DATABASE_VISITOR: { meaning: "`DATABASE_VISITOR_ROLE` for `.gmrc`'s `:DATABASE_VISITOR`", readBy: "dba" },
  OWNER_PASSWORD: {
    meaning: "`clinic_owner`'s password for `.gmrc`'s `:OWNER_PASSWORD` (`npm start` takes it from `DATABASE_URL`)",
    readBy: "dba",
  },
  AUTHENTICATOR_PASSWORD: {
    meaning: "`clinic_authenticator`'s password for `.gmrc`'s `:AUTHENTICATOR_PASSWORD` (`npm start`: from `AUTH_DATABASE_URL`)",
    readBy: "dba",
  },
} as const satisfies Record<string, Variable>;

type Table = typeof VARIABLES;
/** The variables the app reads (no `readBy`). */
type AppVariable = { [K in keyof Table]: Table[K] extends { readBy: string } ? never : K }[keyof Table];
/** The app's variables whose entry fits `Shape`. */
type Named<Shape> = { [K in AppVariable]: Table[K] extends Shape ? K : never }[AppVariable];

/** What loadConfig reads: only the table's app variables, so reading any other name does not compile. */
export type Environment = { readonly [K in AppVariable]?: string };

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
  /** /graphql requests per user (signed out: per client IP) per minute, across all instances. */
  graphqlRequestsPerMinute: number;
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
  /** How often the worker drains app_private.job_outbox, milliseconds. */
  jobOutboxIntervalMs: number;
  /** A worker silent this long is taken for dead (WORKER_DEAD_AFTER_SECONDS). */
  workerDeadAfterSeconds: number;
  /** How long a waitlist offer holds its slot, minutes. */
  waitlistHoldMinutes: number;
  mail: MailConfig;
  /** pino log level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: string;
  metrics: MetricsConfig;
  /** Milliseconds in-flight requests get to finish after SIGTERM before their connections are cut. */
  shutdownTimeoutMs: number;
}

/** Where GET /metrics is served: nowhere unless `token` (main port, bearer token) or `port` is set. */
export interface MetricsConfig {
  /** Bearer token that opens /metrics on the main port. */
  token: string | undefined;
  /** A separate port serving /metrics without a token. */
  port: number | undefined;
  /** The address that port listens on; loopback unless set. */
  host: string;
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
  /** Public address of this API server, for the pages patients open from their e-mails (unsubscribe). */
  publicUrl: string;
}

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigError extends Error {}

function integer(env: Environment, name: Named<{ default: number; range: readonly [number, number] }>): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return VARIABLES[name].default;
  return wholeNumber(name, raw);
}

/** `raw` as a whole number within the variable's range. */
function wholeNumber(name: Named<{ range: readonly [number, number] }>, raw: string): number {
  const [min, max] = VARIABLES[name].range;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

function flag(env: Environment, name: Named<{ default: boolean }>): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return VARIABLES[name].default;
  if (raw !== "true" && raw !== "false") throw new ConfigError(`${name} must be true or false, got "${raw}".`);
  return raw === "true";
}

function text(env: Environment, name: Named<{ default: string }>): string {
  return env[name] || VARIABLES[name].default;
}

/** A variable without a single default value: undefined when unset or empty. */
function optional(env: Environment, name: Exclude<AppVariable, Named<{ default: unknown }>>): string | undefined {
  return env[name] || undefined;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function logLevel(env: Environment): string {
  const raw = text(env, "LOG_LEVEL");
  if (!LOG_LEVELS.includes(raw)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${raw}".`);
  return raw;
}

function metricsConfig(env: Environment): MetricsConfig {
  const token = optional(env, "METRICS_TOKEN");
  if (token !== undefined && !/^[A-Za-z0-9_.~+/=-]{32,}$/.test(token)) {
    throw new ConfigError(
      "METRICS_TOKEN must be at least 32 characters of letters, digits and -._~+/= (e.g. openssl rand -hex 32).",
    );
  }
  const port = optional(env, "METRICS_PORT");
  return {
    token,
    port: port === undefined ? undefined : wholeNumber("METRICS_PORT", port),
    host: text(env, "METRICS_HOST"),
  };
}

function corsOrigins(env: Environment, production: boolean): CorsOrigins {
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

function databaseRoles(env: Environment, owner: string, authenticator: string): DatabaseRoles {
  const roles = {
    owner,
    authenticator,
    anonymous: roleName(text(env, "DATABASE_ANONYMOUS_ROLE"), "DATABASE_ANONYMOUS_ROLE"),
    visitor: roleName(text(env, "DATABASE_VISITOR_ROLE"), "DATABASE_VISITOR_ROLE"),
  };
  if (new Set(Object.values(roles)).size !== 4) {
    throw new ConfigError(
      `The owner (${owner}), authenticator (${authenticator}), DATABASE_ANONYMOUS_ROLE (${roles.anonymous}) and DATABASE_VISITOR_ROLE (${roles.visitor}) must be four different roles.`,
    );
  }
  return roles;
}

function databaseConfig(env: Environment): DatabaseConfig {
  const ownerUrl = optional(env, "DATABASE_URL");
  if (!ownerUrl) {
    const roles = databaseRoles(env, "clinic_owner", "clinic_authenticator");
    return { kind: "embedded", port: integer(env, "EMBEDDED_PG_PORT"), roles };
  }
  const authenticatorUrl = optional(env, "AUTH_DATABASE_URL");
  if (!authenticatorUrl) {
    throw new ConfigError("AUTH_DATABASE_URL (the authenticator login) is required with DATABASE_URL.");
  }
  const roles = databaseRoles(env, urlUser(ownerUrl, "DATABASE_URL"), urlUser(authenticatorUrl, "AUTH_DATABASE_URL"));
  return { kind: "external", roles, ownerUrl, authenticatorUrl, rootUrl: optional(env, "ROOT_DATABASE_URL") };
}

/**
 * What production cannot run without (the table's `production: { required }`), reported all at
 * once: the embedded database, generated secrets and the outbox folder are for development only.
 */
function assertProductionVariables(env: Environment) {
  const missing = Object.entries(VARIABLES)
    .flatMap(([name, variable]: [string, Variable]) =>
      variable.production && "required" in variable.production ? [[name, variable.production.required]] : [],
    )
    .filter(([name]) => !env[name as AppVariable]);
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
export function loadConfig(env: Environment = process.env): Config {
  const production = env.NODE_ENV === "production";
  const jwtSecret = optional(env, "JWT_SECRET");
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError("JWT_SECRET must be at least 32 bytes (RFC 7518 §3.2: HS256 keys at least as long as the hash).");
  }
  const smtpUrl = optional(env, "SMTP_URL");
  if (production) assertProductionVariables(env);
  const port = integer(env, "PORT");
  const dataDir = text(env, "DATA_DIR");
  return {
    production,
    port,
    dataDir,
    database: databaseConfig(env),
    jwtSecret,
    jwtExpiresInSeconds: integer(env, "JWT_EXPIRES_IN_SECONDS"),
    refreshTokenDays: integer(env, "REFRESH_TOKEN_DAYS"),
    refreshTokenReuseSeconds: integer(env, "REFRESH_TOKEN_REUSE_SECONDS"),
    corsOrigins: corsOrigins(env, production),
    servePages: !optional(env, "APP_URL"),
    authRateLimitPerIp: integer(env, "AUTH_RATE_LIMIT_PER_IP"),
    authFailedLoginsPerAccount: integer(env, "AUTH_FAILED_LOGINS_PER_ACCOUNT"),
    trustProxyHops: integer(env, "TRUST_PROXY_HOPS"),
    graphqlLimits: {
      maxBodyBytes: integer(env, "GRAPHQL_MAX_BODY_BYTES"),
      maxDepth: integer(env, "GRAPHQL_MAX_DEPTH"),
      maxAliases: integer(env, "GRAPHQL_MAX_ALIASES"),
      maxCost: integer(env, "GRAPHQL_MAX_COST"),
      maxPageSize: integer(env, "GRAPHQL_MAX_PAGE_SIZE"),
      statementTimeoutMs: integer(env, "GRAPHQL_STATEMENT_TIMEOUT_MS"),
      executionTimeoutMs: integer(env, "GRAPHQL_EXECUTION_TIMEOUT_MS"),
      trustedDocumentsDir: optional(env, "GRAPHQL_TRUSTED_DOCUMENTS_DIR"),
    },
    graphqlRequestsPerMinute: integer(env, "GRAPHQL_RATE_LIMIT_PER_MINUTE"),
    graphqlIntrospection: !production || flag(env, "GRAPHQL_INTROSPECTION"),
    jwtIssuer: text(env, "JWT_ISSUER"),
    jwtAudience: text(env, "JWT_AUDIENCE"),
    runWorker: flag(env, "RUN_WORKER"),
    workerConcurrency: integer(env, "WORKER_CONCURRENCY"),
    jobOutboxIntervalMs: integer(env, "JOB_OUTBOX_INTERVAL_MS"),
    workerDeadAfterSeconds: integer(env, "WORKER_DEAD_AFTER_SECONDS"),
    waitlistHoldMinutes: integer(env, "WAITLIST_HOLD_MINUTES"),
    mail: {
      smtpUrl,
      outbox: path.join(dataDir, "outbox"),
      from: text(env, "MAIL_FROM"),
      appUrl: (optional(env, "APP_URL") ?? `http://localhost:${port}`).replace(/\/+$/, ""),
      publicUrl: (optional(env, "PUBLIC_URL") ?? `http://localhost:${port}`).replace(/\/+$/, ""),
    },
    logLevel: logLevel(env),
    metrics: metricsConfig(env),
    shutdownTimeoutMs: integer(env, "SHUTDOWN_TIMEOUT_MS"),
  };
}
