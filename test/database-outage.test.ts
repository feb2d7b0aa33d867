/**
 * The database going away under load, and coming back. While it is away every request that fails
 * is answered 503 UNAVL with `Retry-After`, on /graphql as on /auth, and logged on exactly one
 * line (its request line: no stack, no SQL); once it is back the same server answers again,
 * without a restart. The outage is the database refusing connections with its sessions ended
 * (`allow_connections false` and pg_terminate_backend), as a stopped or restarting server does.
 */
import { Writable } from "node:stream";
import { Client } from "pg";
import { createLogger } from "../src/logger";
import { FIXTURE_PASSWORD, ownerUrl, roles, signUpClinic, useServer, type Clinic } from "./helpers";

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
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await pause(500);
  const database = new URL(ownerUrl()).pathname.slice(1);
  const admin = new Client({ connectionString: process.env.TEST_ROOT_URL });
  await admin.connect();
  let outage: [number, number];
  try {
    const start = answers.length;
    await admin.query(`alter database "${database}" with allow_connections false`);
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and usename = $2", [
      database,
      roles().authenticator,
    ]);
    await pause(2000);
    outage = [start, answers.length];
  } finally {
    await admin.query(`alter database "${database}" with allow_connections true`);
    await admin.end();
  }
  await pause(1500);
  loading = false;
  await Promise.all(clients);

  const during = answers.slice(...outage);
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
  const requestLines = lines.filter((line) => line.reqId);
  for (const answer of answers) expect(requestLines.filter((line) => line.reqId === answer.requestId)).toHaveLength(1);
  expect(requestLines).toHaveLength(answers.length);
  for (const failure of failed) {
    expect(requestLines.find((line) => line.reqId === failure.requestId)).toMatchObject({ status: 503, errorCodes: ["UNAVL"] });
  }
  const text = lines.map((line) => JSON.stringify(line)).join("\n");
  expect(text).not.toMatch(/\s{4}at |\bselect\b|\bpatients\b/i);
  // Beside the request lines, only the pools' own (a line per connection ended): bounded by their size.
  expect(lines.length - requestLines.length).toBeLessThanOrEqual(15);
});
