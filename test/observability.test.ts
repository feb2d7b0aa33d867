/**
 * Logs, metrics and probes: one log line per request with its id and outcome but no secret or
 * patient value; /metrics behind its token; liveness without the database and readiness with it.
 * Needs migrations/current (TEST_INCLUDE_CURRENT_MIGRATION=1): /readyz asks
 * app_private.latest_migration().
 */
import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { GraphQLError } from "postgraphile/graphql";
import { ConfigError, loadConfig } from "../src/config";
import { makeMaskError } from "../src/graphile.config";
import { newestMigration } from "../src/health";
import { startWorker } from "../src/jobs/worker";
import { createLogger } from "../src/logger";
import { createMailer, NotSentError } from "../src/mail/mailer";
import { countEmails, createMetrics, serveMetrics } from "../src/metrics";
import { asOwner, FIXTURE_PASSWORD, ownerUrl, signUpClinic, uniq, useServer, whileDatabaseAway } from "./helpers";
import { drainJobs } from "./mail";

/** Every line the app logs, parsed. */
const lines: Record<string, any>[] = [];
let raw = "";
const destination = new Writable({
  write(chunk, _encoding, done) {
    raw += chunk.toString();
    for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
    done();
  },
});
const METRICS_TOKEN = "metrics-token-for-tests-0123456789abcdef";
const server = useServer({
  logger: createLogger({ level: "debug", pretty: false, destination }),
  metricsToken: METRICS_TOKEN,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The request line the app logged for `reqId` (the line is written when the response finishes). */
async function lineFor(reqId: string) {
  for (let i = 0; i < 50; i++) {
    const line = lines.find((l) => l.reqId === reqId && l.msg.startsWith("request"));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no log line for ${reqId}`);
}

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("request ids", () => {
  test("a sane X-Request-Id is kept and echoed", async () => {
    const response = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "trace-42.a:b_c" } });
    expect(response.headers.get("x-request-id")).toBe("trace-42.a:b_c");
    expect((await lineFor("trace-42.a:b_c")).path).toBe("/healthz");
  });

  test("without one, a UUID is generated and echoed", async () => {
    const id = (await fetch(`${server.url}/healthz`)).headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect((await lineFor(id as string)).status).toBe(200);
  });

  test.each([
    ["too long", "x".repeat(129)],
    ["with characters outside the set", "id with spaces{}"],
  ])("one %s is replaced by a UUID", async (_what, offered) => {
    const response = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": offered } });
    expect(response.headers.get("x-request-id")).toMatch(UUID);
    expect(raw).not.toContain(offered);
  });
});

describe("the request log line", () => {
  test("has the fields, and no token, refresh token, password or patient value", async () => {
    const clinic = await signUpClinic();
    const login = await postJson(
      "/auth/login",
      { email: clinic.admin.email, password: FIXTURE_PASSWORD },
      { "x-request-id": uniq("login") },
    );
    const session = await login.json();
    expect(login.status).toBe(200);
    const refreshed = await postJson("/auth/refresh", { refreshToken: session.refreshToken });
    const { token, refreshToken } = await refreshed.json();
    const patientName = uniq("Pamela Patientname");
    const reqId = uniq("mutation");
    const response = await postJson(
      "/graphql",
      {
        query:
          "mutation AddPatient($name: String!) { createPatient(input: { patient: { fullName: $name } }) { patient { rowId } } }",
        variables: { name: patientName },
      },
      { authorization: `Bearer ${token}`, "x-request-id": reqId },
    );
    expect((await response.json()).errors).toBeUndefined();
    const line = await lineFor(reqId);
    expect(line).toEqual(
      expect.objectContaining({
        level: 30,
        msg: "request completed",
        method: "POST",
        path: "/graphql",
        status: 200,
        operationName: "AddPatient",
        userId: clinic.admin.userId,
        tenantId: clinic.tenantId,
      }),
    );
    expect(typeof line.durationMs).toBe("number");
    expect(line.errorCodes).toBeUndefined();
    for (const secret of [session.token, session.refreshToken, token, refreshToken, FIXTURE_PASSWORD, patientName]) {
      expect(raw).not.toContain(secret);
    }
  });

  test("names the error codes of a failing GraphQL request and of a refused /auth call", async () => {
    const graphqlId = uniq("bad-graphql");
    await postJson("/graphql", { query: "query Broken { noSuchField }", operationName: "Broken" }, { "x-request-id": graphqlId });
    expect(await lineFor(graphqlId)).toEqual(
      expect.objectContaining({ status: 400, errorCodes: ["INVAL"], operationName: "Broken" }),
    );
    const authId = uniq("bad-login");
    await postJson("/auth/login", { email: "nobody@example.test", password: "wrong password!" }, { "x-request-id": authId });
    expect(await lineFor(authId)).toEqual(expect.objectContaining({ status: 401, errorCodes: ["CREDS"], path: "/auth/login" }));
  });
});

describe("/metrics", () => {
  test("is refused without the token, or with another", async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Bearer not-the-metrics-token-0123456789abcdef" },
      { authorization: METRICS_TOKEN },
    ]) {
      const response = await fetch(`${server.url}/metrics`, { headers });
      expect(response.status).toBe(401);
      expect((await response.json()).error.code).toBe("CREDS");
    }
  });

  test("serves latency histograms, pool gauges and, after a failing operation, its error code", async () => {
    const { token } = (await signUpClinic()).admin;
    const failing = await postJson(
      "/graphql",
      { query: "query Lookup($id: UUID!) { patient(rowId: $id) { fullName } }", variables: { id: "not-a-uuid" } },
      { authorization: `Bearer ${token}` },
    );
    expect((await failing.json()).errors[0].extensions.code).toBe("INVAL");
    const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="0\.1",method="POST",route="\/graphql",status_code="200"\} \d+$/m,
    );
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/auth\/login",status_code="\d+"\} \d+$/m);
    expect(text).toMatch(/^graphql_errors_total\{code="INVAL"\} [1-9]\d*$/m);
    expect(text).toMatch(/^graphql_operations_total\{operation="Lookup",outcome="error"\} [1-9]\d*$/m);
    expect(text).toMatch(/^db_pool_waiting_clients\{pool="graphql"\} 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });
});

describe("probes", () => {
  test("/readyz is ready when the database is at the newest committed migration", async () => {
    expect(newestMigration()).toMatch(/^\d{6}\.sql$/);
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  test("/readyz is not ready when the database has a migration this code does not know (a newer deploy)", async () => {
    await asOwner((client) =>
      client.query(
        "insert into graphile_migrate.migrations (hash, previous_hash, filename) values ('sha1:test', null, '999999.sql')",
      ),
    );
    try {
      const response = await fetch(`${server.url}/readyz`);
      expect(response.status).toBe(503);
      expect((await response.json()).error).toEqual({
        code: "UNAVL",
        message: "The database is not at the migration this version expects.",
      });
    } finally {
      await asOwner((client) => client.query("delete from graphile_migrate.migrations where filename = '999999.sql'"));
    }
  });

  test("without the database, /healthz stays ok and /readyz answers 503 UNAVL", async () => {
    await whileDatabaseAway(async () => {
      const live = await fetch(`${server.url}/healthz`);
      expect(live.status).toBe(200);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).error).toEqual({ code: "UNAVL", message: "The database is unreachable." });
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});

describe("unexpected errors", () => {
  test("are logged with an id the client's INTERNAL error carries, without PostgreSQL's row details", () => {
    const logged: Record<string, any>[] = [];
    const logger = createLogger({
      level: "error",
      pretty: false,
      destination: new Writable({
        write: (chunk, _encoding, done) => (logged.push(JSON.parse(chunk.toString())), done()),
      }),
    });
    const cause = Object.assign(new Error("something broke"), {
      code: "XX000",
      detail: "Key (full_name)=(Pamela Secret) is odd.",
    });
    const masked = makeMaskError(false, logger)(new GraphQLError("something broke", { originalError: cause, path: ["patient"] }));
    expect(masked.message).toBe("Something went wrong on our side.");
    expect(masked.extensions).toEqual({ code: "INTERNAL", errorId: expect.stringMatching(UUID) });
    expect(logged).toEqual([
      expect.objectContaining({ level: 50, errorId: masked.extensions.errorId, err: expect.objectContaining({ code: "XX000" }) }),
    ]);
    expect(JSON.stringify(logged)).not.toContain("Pamela Secret");
  });
});

describe("worker and e-mail metrics", () => {
  test("count jobs by task and outcome, and e-mails sent and failed", async () => {
    await drainJobs();
    const metrics = createMetrics();
    const outbox = createMailer(
      {
        smtpUrl: undefined,
        outbox: mkdtempSync(path.join(tmpdir(), "clinic-outbox-")),
        from: "Clinic <no-reply@clinic.test>",
      },
      () => {},
    );
    // The receptionist's mailbox refuses: one e-mail and one job fail, the others succeed.
    const mailer = countEmails(
      {
        ...outbox,
        send: (message, handOver) =>
          message.to.startsWith("reception") ? Promise.reject(new NotSentError("refused")) : outbox.send(message, handOver),
      },
      metrics,
    );
    const worker = await startWorker({
      ownerUrl: ownerUrl(),
      concurrency: 1,
      outboxIntervalMs: 50,
      deadAfterSeconds: 60,
      mailer,
      appUrl: "http://app.test",
      publicUrl: "http://api.test",
      waitlistHoldMinutes: 30,
      logger: createLogger({ level: "silent", pretty: false }),
      metrics,
    });
    try {
      await signUpClinic();
      const text = async () => metrics.registry.metrics();
      for (let i = 0; i < 100 && !/worker_jobs_total\{task="send_account_email",outcome="error"\}/.test(await text()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const exposed = await text();
      expect(exposed).toMatch(/^worker_jobs_total\{task="send_welcome_email",outcome="success"\} 1$/m);
      expect(exposed).toMatch(/^worker_jobs_total\{task="send_account_email",outcome="error"\} 1$/m);
      expect(exposed).toMatch(/^emails_total\{outcome="failed"\} 1$/m);
      // The welcome e-mail at least; the doctor's account e-mail may still be on its way, and the
      // hourly trial-notice sweep (crontab) may send other tests' notices when the hour turns.
      expect(Number(/^emails_total\{outcome="sent"\} (\d+)$/m.exec(exposed)?.[1])).toBeGreaterThanOrEqual(1);
      expect(exposed).toMatch(/^db_pool_connections\{pool="worker"\} \d+$/m);
      expect(exposed).toMatch(/^email_deliveries_open\{status="unknown"\} \d+$/m);
    } finally {
      await worker.stop();
      await drainJobs();
    }
  });
});

describe("METRICS_PORT", () => {
  test("serves /metrics without a token on a port of its own, and nothing else", async () => {
    const metrics = createMetrics();
    metrics.emails.inc({ outcome: "sent" });
    const own = await serveMetrics(metrics, 0, "127.0.0.1");
    try {
      const base = `http://127.0.0.1:${(own.address() as AddressInfo).port}`;
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toMatch(/^emails_total\{outcome="sent"\} 1$/m);
      expect((await fetch(`${base}/graphql`)).status).toBe(404);
    } finally {
      await promisify(own.close.bind(own))();
    }
  });
});

describe("configuration", () => {
  test("defaults: level info, no metrics, loopback for a metrics port, 10 s to finish requests", () => {
    expect(loadConfig({})).toMatchObject({
      logLevel: "info",
      metrics: { token: undefined, port: undefined, host: "127.0.0.1" },
      shutdownTimeoutMs: 10_000,
    });
  });

  test.each([
    ["LOG_LEVEL", "verbose", /^LOG_LEVEL must be one of/],
    ["METRICS_TOKEN", "short", /^METRICS_TOKEN must be at least 32 characters/],
    ["METRICS_TOKEN", `${"x".repeat(32)} with spaces`, /^METRICS_TOKEN must be/],
    ["METRICS_PORT", "0", /^METRICS_PORT must be a whole number from 1 to 65535/],
    ["SHUTDOWN_TIMEOUT_MS", "-1", /^SHUTDOWN_TIMEOUT_MS must be a whole number/],
  ])("%s=%s is refused", (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
