/**
 * Logs, metrics and probes: one log line per request with its id and outcome but no secret or
 * patient value; /metrics behind its token; liveness without the database and readiness with it.
 * Needs migrations/current (TEST_INCLUDE_CURRENT_MIGRATION=1): /readyz asks
 * app_private.latest_migration().
 */
import { Writable } from "node:stream";
import { Client } from "pg";
import { createLogger } from "../src/logger";
import { newestMigration } from "../src/health";
import { asOwner, FIXTURE_PASSWORD, ownerUrl, signUpClinic, uniq, useServer } from "./helpers";

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
    const database = new URL(ownerUrl()).pathname.slice(1);
    const admin = new Client({ connectionString: process.env.TEST_ROOT_URL });
    await admin.connect();
    try {
      await admin.query(`alter database "${database}" with allow_connections false`);
      await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and usename = 'clinic_authenticator'",
        [database],
      );
      const live = await fetch(`${server.url}/healthz`);
      expect(live.status).toBe(200);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).error).toEqual({ code: "UNAVL", message: "The database is unreachable." });
    } finally {
      await admin.query(`alter database "${database}" with allow_connections true`);
      await admin.end();
    }
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
