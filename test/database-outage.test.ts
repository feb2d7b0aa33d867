/**
 * The database going away under load, and coming back. While it is away every request that fails
 * is answered 503 UNAVL with `Retry-After`, on /graphql as on /auth, and logged on exactly one
 * line (its request line: no stack, no SQL); once it is back the same server answers again,
 * without a restart. The outage is the database refusing connections with its sessions ended
 * (`allow_connections false` and pg_terminate_backend), as a stopped or restarting server does.
 * The worker outlives it, and its heartbeat takes no live process's jobs for having been silent
 * through it.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import type { WorkerEvents } from "graphile-worker";
import { Pool } from "pg";
import { createLogger } from "../src/logger";
import { keepWorkersAlive } from "../src/jobs/heartbeat";
import { startWorker } from "../src/jobs/worker";
import { isOutageResponse } from "../src/graphql-unavailable";
import { FIXTURE_PASSWORD, ownerUrl, signUpClinic, useServer, whileDatabaseAway, type Clinic } from "./helpers";
import { APP_URL, drainJobs, PUBLIC_URL, smtpMailer, startSmtpCapture, type SmtpCapture } from "./mail";

const lines: Record<string, any>[] = [];
const logger = createLogger({
  level: "info",
  pretty: false,
  destination: new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(chunk.toString())), done()) }),
});
const server = useServer({ production: true, logger });
let clinic: Clinic;

beforeAll(async () => {
  clinic = await signUpClinic();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The database away for `ms` (test/helpers.ts), `meanwhile` run once it is. */
const outage = (ms: number, meanwhile: () => void = () => {}) =>
  whileDatabaseAway(async () => {
    meanwhile();
    await pause(ms);
  });

interface Answer {
  path: string;
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  requestId: string | null;
}

/** One request of the load: a GraphQL query, or a login (every fourth). */
async function request(i: number): Promise<Answer> {
  const login = i % 4 === 3;
  const response = await fetch(`${server.url}${login ? "/auth/login" : "/graphql"}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(login ? {} : { authorization: `Bearer ${clinic.admin.token}` }) },
    body: JSON.stringify(
      login ? { email: clinic.admin.email, password: FIXTURE_PASSWORD } : { query: "{ patients { totalCount } }" },
    ),
  });
  const body = await response.json();
  return {
    path: login ? "/auth/login" : "/graphql",
    status: response.status,
    code: body.error?.code ?? body.errors?.[0]?.extensions?.code,
    retryAfter: response.headers.get("retry-after"),
    requestId: response.headers.get("x-request-id"),
  };
}

test("under load: 503 UNAVL with Retry-After during the outage, one log line per request, and service again after it", async () => {
  const answers: Answer[] = [];
  let loading = true;
  let sent = 0;
  const clients = Array.from({ length: 8 }, async () => {
    while (loading) answers.push(await request(sent++));
  });
  await pause(500);
  const start = answers.length;
  await outage(2000);
  const outageAnswers: [number, number] = [start, answers.length];
  await pause(1500);
  loading = false;
  await Promise.all(clients);

  const during = answers.slice(...outageAnswers);
  const failed = answers.filter((a) => a.status !== 200);
  // Failures are the outage's only, and each is a 503 UNAVL a client can retry after.
  expect(during.filter((a) => a.status === 503).length).toBeGreaterThan(10);
  expect(failed.map(({ status, code, retryAfter }) => ({ status, code, retryAfter }))).toEqual(
    failed.map(() => ({ status: 503, code: "UNAVL", retryAfter: "5" })),
  );
  expect(new Set(failed.map((a) => a.path))).toEqual(new Set(["/graphql", "/auth/login"]));
  // Back without a restart: the last requests of each kind succeeded.
  expect(answers.slice(-8).map((a) => a.status)).toEqual(Array(8).fill(200));

  // Exactly one line per request, found by its request id; no stack and no SQL in any line.
  const requestLines = lines.filter((line) => line.msg === "request completed" || line.msg === "request failed");
  for (const answer of answers) expect(requestLines.filter((line) => line.reqId === answer.requestId)).toHaveLength(1);
  expect(requestLines).toHaveLength(answers.length);
  for (const failure of failed) {
    expect(requestLines.find((line) => line.reqId === failure.requestId)).toMatchObject({ status: 503, errorCodes: ["UNAVL"] });
  }
  const text = lines.map((line) => JSON.stringify(line)).join("\n");
  expect(text).not.toMatch(/\s{4}at |\bselect\b|\bpatients\b/i);
  // Beside the request lines: a line per pooled connection ended (the pools hold 5 + 10), and the
  // cause, at most once per 10 s (twice if the outage straddles two windows).
  const causes = lines.filter((line) => String(line.msg).startsWith("database unreachable"));
  expect(causes.length).toBeGreaterThanOrEqual(1);
  expect(causes.length).toBeLessThanOrEqual(2);
  expect(lines.length - requestLines.length - causes.length).toBeLessThanOrEqual(15);
});

test("a GraphQL response with some data keeps 200 (a field may have committed); one with none is the outage's 503", () => {
  const unavailable = { message: "…", extensions: { code: "UNAVL" } };
  expect(isOutageResponse({ data: { a: null, b: null }, errors: [unavailable, unavailable] })).toBe(true);
  expect(isOutageResponse(Buffer.from(JSON.stringify({ data: null, errors: [unavailable] })))).toBe(true);
  expect(isOutageResponse({ data: { a: { rowId: "x" }, b: null }, errors: [unavailable] })).toBe(false);
  expect(isOutageResponse({ data: null, errors: [{ message: "…", extensions: { code: "INTERNAL" } }] })).toBe(false);
});

/** A logger at `info` whose JSON lines are kept in `lines`. */
function keptLog() {
  const lines: string[] = [];
  const logger = createLogger({
    level: "info",
    pretty: false,
    destination: new Writable({ write: (chunk, _encoding, done) => (lines.push(chunk.toString()), done()) }),
  });
  return { logger, lines };
}

/** A worker in this process on the test database, sending to `smtp`, its log lines kept. */
async function workerFor(smtp: SmtpCapture) {
  const { logger, lines } = keptLog();
  const worker = await startWorker({
    ownerUrl: ownerUrl(),
    concurrency: 1,
    outboxIntervalMs: 100,
    deadAfterSeconds: 2,
    mailer: smtpMailer(smtp),
    appUrl: APP_URL,
    publicUrl: PUBLIC_URL,
    waitlistHoldMinutes: 30,
    logger,
  });
  return { worker, lines };
}

/** Waits up to 30 s for a message to `address`. */
async function arrives(smtp: SmtpCapture, address: string) {
  for (let i = 0; i < 300 && smtp.to(address).length === 0; i++) await pause(100);
}

test("the worker outlives an outage that breaks a job in flight: a new runner takes over in the same process, and nothing is sent twice", async () => {
  await drainJobs();
  const smtp = await startSmtpCapture();
  const { worker, lines } = await workerFor(smtp);
  try {
    // The server holds an e-mail's answer until the database is down: recording it fails.
    const reply = smtp.hold("reply");
    const held = await signUpClinic();
    await reply.reached;
    await outage(4000, reply.release);
    // Afterwards, the same worker sends the next clinic's welcome e-mail.
    const after = await signUpClinic();
    await arrives(smtp, after.admin.email);
    expect(smtp.to(after.admin.email)).toHaveLength(1);
    // Nothing twice: the held e-mail went once (recorded as sent, or as unknown when its answer was lost).
    await arrives(smtp, held.admin.email);
    const addresses = smtp.messages.map((m) => m.to);
    expect(addresses).toEqual([...new Set(addresses)]);
    expect(addresses).toContain(held.admin.email);
    // graphile-worker ended its runner (it could not record the held job's outcome); this process started another.
    expect(lines.join("")).toMatch(/Worker stopped \(.*\); a new one starts when the database answers/);
  } finally {
    await worker.stop();
    await smtp.close();
  }
});

test("after its start and after an outage, a worker unlocks nobody for a whole bound: the other processes could not beat either", async () => {
  const bound = 4; // seconds; this process's rounds come every second
  const owner = new Pool({ connectionString: ownerUrl(), max: 2 }).on("error", () => {});
  const lockedBy = async (id: string) =>
    (await owner.query("select locked_by from graphile_worker._private_jobs where id = $1", [id])).rows[0].locked_by;
  // `other` is a live process's pool that beats every second, except while the database is away and
  // for 2 s after (its reconnect: within the bound); `ghost` is a pool that died long ago.
  const [other, ghost] = [`worker-other-${randomUUID()}`, `worker-ghost-${randomUUID()}`];
  const jobs: string[] = (
    await owner.query(
      "select (graphile_worker.add_job('test_noop', '{}'::json, run_at => now() + interval '1 day')).id from generate_series(1, 2)",
    )
  ).rows.map((row) => row.id);
  await owner.query("select app_private.beat_workers($1)", [[other, ghost]]);
  await owner.query("update app_private.worker_heartbeats set beat_at = now() - interval '1 hour' where worker_id = $1", [ghost]);
  await owner.query(
    "update graphile_worker._private_jobs set locked_by = case when id = $1 then $2 else $3 end, locked_at = now() where id = any($4::bigint[])",
    [jobs[0], other, ghost, jobs],
  );
  let otherBeats = true;
  const beats = setInterval(() => {
    if (otherBeats) owner.query("select app_private.beat_workers($1)", [[other]]).catch(() => {});
  }, 1000);
  const { logger, lines: logged } = keptLog();
  const heartbeat = keepWorkersAlive(owner, new EventEmitter() as unknown as WorkerEvents, { deadAfterSeconds: bound, logger });
  try {
    // Just started: even the long-dead pool keeps its job (this process may start as the database comes back).
    await pause(1000);
    expect(await lockedBy(jobs[1])).toBe(ghost);
    // An outage longer than the bound: every heartbeat is stale when it ends, the live pool's too.
    await outage(5000, () => (otherBeats = false));
    expect(logged.join("")).toMatch(/The worker heartbeat failed/);
    await pause(2000);
    otherBeats = true;
    await pause(2500);
    // The live pool kept its job: this process waited a bound after its last failed round.
    expect(await lockedBy(jobs[0])).toBe(other);
    // Once it falls silent for good, its job is unlocked within the bound and a round; the ghost's too.
    otherBeats = false;
    for (let i = 0; i < 80 && (await lockedBy(jobs[0])) !== null; i++) await pause(100);
    expect([await lockedBy(jobs[0]), await lockedBy(jobs[1])]).toEqual([null, null]);
  } finally {
    clearInterval(beats);
    await heartbeat.stop();
    await owner.query("delete from graphile_worker._private_jobs where id = any($1::bigint[])", [jobs]);
    await owner.query("select app_private.forget_workers($1)", [[other, ghost]]);
    await owner.end();
  }
});
