/**
 * The database going away under load, and coming back. While it is away every request that fails
 * is answered 503 UNAVL with `Retry-After`, on /graphql as on /auth, and logged on exactly one
 * line (its request line: no stack, no SQL); once it is back the same server answers again,
 * without a restart. The outage is the database refusing connections with its sessions ended
 * (`allow_connections false` and pg_terminate_backend), as a stopped or restarting server does.
 */
import { Writable } from "node:stream";
import { createLogger } from "../src/logger";
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

/** A worker in this process on the test database, sending to `smtp`, its log lines kept. */
async function workerFor(smtp: SmtpCapture) {
  const lines: string[] = [];
  const worker = await startWorker({
    ownerUrl: ownerUrl(),
    concurrency: 1,
    outboxIntervalMs: 100,
    deadAfterSeconds: 2,
    mailer: smtpMailer(smtp),
    appUrl: APP_URL,
    publicUrl: PUBLIC_URL,
    waitlistHoldMinutes: 30,
    logger: createLogger({
      level: "info",
      pretty: false,
      destination: new Writable({ write: (chunk, _encoding, done) => (lines.push(chunk.toString()), done()) }),
    }),
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
