/** Configuration is read once and refuses what would be unsafe or ambiguous. */
import { ConfigError, loadConfig } from "../src/config";

const secret = "0123456789abcdef0123456789abcdef";

test("development without variables uses the embedded database and defaults", () => {
  const config = loadConfig({});
  expect(config.database).toEqual({ kind: "embedded", port: 54329 });
  expect(config).toMatchObject({ production: false, port: 3000, jwtSecret: undefined, jwtExpiresInSeconds: 900 });
});

test("production refuses to start without JWT_SECRET or SMTP_URL", () => {
  const smtp = "smtp://mail.example:587";
  expect(() => loadConfig({ NODE_ENV: "production", SMTP_URL: smtp })).toThrow(ConfigError);
  expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: secret })).toThrow(/SMTP_URL/);
  expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: secret, SMTP_URL: smtp }).production).toBe(true);
});

test("mail defaults to the outbox folder with links to the local server; the worker runs by default", () => {
  const config = loadConfig({ PORT: "4000", DATA_DIR: "/tmp/clinic" });
  expect(config.mail).toEqual({
    smtpUrl: undefined,
    outbox: "/tmp/clinic/outbox",
    from: "Clinic Platform <no-reply@localhost>",
    appUrl: "http://localhost:4000",
  });
  expect(config).toMatchObject({ runWorker: true, workerConcurrency: 2 });
  expect(loadConfig({ RUN_WORKER: "false", APP_URL: "https://app.clinic.example/" })).toMatchObject({
    runWorker: false,
    mail: { appUrl: "https://app.clinic.example" },
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
    ownerUrl: "postgres://o@db/clinic",
    authenticatorUrl: "postgres://a@db/clinic",
    rootUrl: undefined,
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
