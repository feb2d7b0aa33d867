/** Configuration is read once and refuses what would be unsafe or ambiguous. */
import { ConfigError, loadConfig, VARIABLES, type Variable } from "../src/config";

const secret = "0123456789abcdef0123456789abcdef";
const DEFAULT_ROLES = {
  owner: "clinic_owner",
  authenticator: "clinic_authenticator",
  anonymous: "clinic_anonymous",
  visitor: "clinic_user",
};

test("development without variables uses the embedded database and defaults", () => {
  const config = loadConfig({});
  expect(config.database).toEqual({ kind: "embedded", port: 54329, roles: DEFAULT_ROLES });
  expect(config).toMatchObject({ production: false, port: 3000, jwtSecret: undefined, jwtExpiresInSeconds: 900 });
});

test("production refuses to start without its database, JWT_SECRET or SMTP_URL, naming every missing one at once", () => {
  const complete = {
    NODE_ENV: "production",
    DATABASE_URL: "postgres://o@db/clinic",
    AUTH_DATABASE_URL: "postgres://a@db/clinic",
    JWT_SECRET: secret,
    SMTP_URL: "smtp://mail.example:587",
  };
  expect(loadConfig(complete).production).toBe(true);
  expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
    new ConfigError(
      [
        "NODE_ENV=production needs DATABASE_URL, AUTH_DATABASE_URL, JWT_SECRET, SMTP_URL:",
        "  DATABASE_URL: the owner login on your PostgreSQL (the embedded database is for development)",
        "  AUTH_DATABASE_URL: the authenticator login on the same database",
        "  JWT_SECRET: the HS256 secret for access tokens, at least 32 bytes",
        "  SMTP_URL: the mail server; without it e-mails only go to the outbox folder",
      ].join("\n"),
    ),
  );
  for (const name of ["DATABASE_URL", "AUTH_DATABASE_URL", "JWT_SECRET", "SMTP_URL"] as const) {
    const { [name]: _left, ...without } = complete;
    expect(() => loadConfig(without)).toThrow(new RegExp(`^NODE_ENV=production needs ${name}:`));
  }
});

test("mail defaults to the outbox folder with links to the local server; the worker runs by default", () => {
  const config = loadConfig({ PORT: "4000", DATA_DIR: "/tmp/clinic" });
  expect(config.mail).toEqual({
    smtpUrl: undefined,
    outbox: "/tmp/clinic/outbox",
    from: "Clinic Platform <no-reply@localhost>",
    appUrl: "http://localhost:4000",
    publicUrl: "http://localhost:4000",
  });
  expect(config).toMatchObject({ runWorker: true, workerConcurrency: 2 });
  expect(
    loadConfig({ RUN_WORKER: "false", APP_URL: "https://app.clinic.example/", PUBLIC_URL: "https://api.clinic.example/" }),
  ).toMatchObject({
    runWorker: false,
    mail: { appUrl: "https://app.clinic.example", publicUrl: "https://api.clinic.example" },
  });
});

test("a JWT_SECRET under 32 bytes is refused", () => {
  expect(() => loadConfig({ JWT_SECRET: "short" })).toThrow(/at least 32 bytes/);
});

test("DATABASE_URL needs AUTH_DATABASE_URL", () => {
  expect(() => loadConfig({ DATABASE_URL: "postgres://clinic_owner@db/clinic" })).toThrow(/AUTH_DATABASE_URL/);
  const config = loadConfig({ DATABASE_URL: "postgres://o@db/clinic", AUTH_DATABASE_URL: "postgres://a@db/clinic" });
  expect(config.database).toEqual({
    kind: "external",
    roles: { ...DEFAULT_ROLES, owner: "o", authenticator: "a" },
    ownerUrl: "postgres://o@db/clinic",
    authenticatorUrl: "postgres://a@db/clinic",
    rootUrl: undefined,
  });
});

describe("database role names", () => {
  const external = { DATABASE_URL: "postgres://site2_owner:pw@db/site2", AUTH_DATABASE_URL: "postgres://site2_auth:pw@db/site2" };

  test("come from the users of DATABASE_URL and AUTH_DATABASE_URL, and two variables", () => {
    const config = loadConfig({ ...external, DATABASE_ANONYMOUS_ROLE: "site2_anonymous", DATABASE_VISITOR_ROLE: "site2_user" });
    expect(config.database.roles).toEqual({
      owner: "site2_owner",
      authenticator: "site2_auth",
      anonymous: "site2_anonymous",
      visitor: "site2_user",
    });
  });

  test.each([
    ["DATABASE_ANONYMOUS_ROLE", "public"],
    ["DATABASE_ANONYMOUS_ROLE", "current_user"],
    ["DATABASE_VISITOR_ROLE", "Clinic_User"],
    ["DATABASE_VISITOR_ROLE", "clinic_user; drop table x"],
    ["DATABASE_VISITOR_ROLE", "pg_read_all_data"],
    ["DATABASE_VISITOR_ROLE", "x".repeat(64)],
  ])("%s=%s is refused: role names stand unquoted in SQL", (name, value) => {
    expect(() => loadConfig({ ...external, [name]: value })).toThrow(new RegExp(`^${name} must be a role name`));
  });

  test("a URL's user must be a safe role name too", () => {
    expect(() => loadConfig({ ...external, DATABASE_URL: "postgres://%22x%22@db/site2" })).toThrow(
      /^The user of DATABASE_URL must be a role name/,
    );
    expect(() => loadConfig({ ...external, AUTH_DATABASE_URL: "postgres://db/site2" })).toThrow(
      /^The user of AUTH_DATABASE_URL must be a role name/,
    );
  });

  test("the four roles must differ", () => {
    expect(() => loadConfig({ ...external, DATABASE_VISITOR_ROLE: "site2_auth" })).toThrow(/must be four different roles/);
    expect(() => loadConfig({ DATABASE_ANONYMOUS_ROLE: "clinic_owner" })).toThrow(/must be four different roles/);
  });
});

test.each([
  ["PORT", "http"],
  ["JWT_EXPIRES_IN_SECONDS", "10"],
  ["EMBEDDED_PG_PORT", "99999"],
  ["RUN_WORKER", "yes"],
  ["WORKER_CONCURRENCY", "0"],
])("%s=%s is refused with a message naming the variable", (name, value) => {
  expect(() => loadConfig({ [name]: value })).toThrow(name);
});

const ranged = Object.entries(VARIABLES).flatMap(([name, variable]: [string, Variable]) =>
  variable.range ? [[name, ...variable.range] as const] : [],
);

test.each(ranged)("%s accepts %d to %d, the range in the table, and refuses a number outside it", (name, min, max) => {
  expect(() => loadConfig({ [name]: String(min) })).not.toThrow();
  expect(() => loadConfig({ [name]: String(max) })).not.toThrow();
  expect(() => loadConfig({ [name]: String(min - 1) })).toThrow(`${name} must be a whole number from ${min} to ${max}`);
  expect(() => loadConfig({ [name]: String(max + 1) })).toThrow(`${name} must be a whole number from ${min} to ${max}`);
});

test("an unset or empty variable takes the table's default", () => {
  expect(loadConfig({ PORT: "", JWT_ISSUER: "", RUN_WORKER: "" })).toMatchObject({
    port: VARIABLES.PORT.default,
    jwtIssuer: VARIABLES.JWT_ISSUER.default,
    runWorker: VARIABLES.RUN_WORKER.default,
  });
  expect(loadConfig({}).trustProxyHops).toBe(VARIABLES.TRUST_PROXY_HOPS.default);
});
