/**
 * GraphQL endpoint limits, each on a server configured with small values: body size, batches,
 * depth, aliases, cost, page size, statement and execution timeouts, trusted documents, and
 * introspection off in production unless enabled.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_GRAPHQL_LIMITS, type GraphqlLimits } from "../src/graphql-limits";
import { loadConfig } from "../src/config";
import { createApp } from "../src/server";
import {
  asClaims,
  asOwner,
  authenticatorUrl,
  closePool,
  errorCodes,
  roles,
  signUpClinic,
  startServer,
  tokenSettings,
  type Clinic,
  type TestServer,
} from "./helpers";

const small: GraphqlLimits = {
  maxBodyBytes: 4_000,
  maxDepth: 6,
  maxAliases: 3,
  maxCost: 100,
  maxPageSize: 10,
  statementTimeoutMs: 300,
  executionTimeoutMs: 200,
  trustedDocumentsDir: undefined,
};

let clinic: Clinic;
let server: TestServer;

beforeAll(async () => {
  // A slow function, the way a careless migration might add one, to meet the timeouts.
  await asOwner((client) =>
    client.query(`
      create function app_public.slow_echo(seconds float8) returns float8 language sql volatile
        as $$ select seconds from pg_sleep(seconds) $$;
      grant execute on function app_public.slow_echo(float8) to ${roles().visitor};`),
  );
  clinic = await signUpClinic();
  server = await startServer({ graphqlLimits: small });
});
afterAll(async () => {
  await server.close();
  await closePool();
  await asOwner((client) => client.query("drop function app_public.slow_echo(float8)"));
});

const ask = (query: string, variables?: Record<string, unknown>) => server.graphql(clinic.admin.token, query, variables);

test("the defaults are documented values, each configurable", () => {
  expect(loadConfig({}).graphqlLimits).toEqual(DEFAULT_GRAPHQL_LIMITS);
  expect(loadConfig({ GRAPHQL_MAX_DEPTH: "7", GRAPHQL_TRUSTED_DOCUMENTS_DIR: "/srv/docs" }).graphqlLimits).toMatchObject({
    maxDepth: 7,
    trustedDocumentsDir: "/srv/docs",
  });
});

test("a body over the size limit is refused with 413 LIMIT", async () => {
  const { status, body } = await ask(`{ currentUser { email } } # ${"x".repeat(5_000)}`);
  expect(status).toBe(413);
  expect(errorCodes(body)).toEqual(["LIMIT"]);
});

test("a batch (an array of operations) is refused", async () => {
  const { status, body } = await server.post(
    "/graphql",
    [{ query: "{ currentUser { email } }" }, { query: "{ currentUser { email } }" }],
    {
      authorization: `Bearer ${clinic.admin.token}`,
    },
  );
  expect(status).toBe(400);
  expect(errorCodes(body)).toEqual(["LIMIT"]);
});

test("a deep query is refused before it runs", async () => {
  const deep = "{ currentUser { tenant { doctors { nodes { tenant { patients { nodes { tenant { name } } } } } } } } }";
  const { body } = await ask(deep);
  expect(errorCodes(body)).toContain("LIMIT");
  expect(body.data).toBeUndefined();
  expect((await ask("{ currentUser { tenant { name } } }")).body.data.currentUser.tenant.name).toBeDefined();
});

test("too many aliases, or too wide a query, is refused", async () => {
  const aliases = "{ a: currentUser { email } b: currentUser { email } c: currentUser { email } d: currentUser { email } }";
  expect(errorCodes((await ask(aliases)).body)).toContain("LIMIT");
  const wide = `{ patients { nodes { ${"fullName email phone notes birthDate gender address createdAt updatedAt rowId ".repeat(1)} doctor: tenant { name slug timeZone createdAt updatedAt trialEndsAt subscriptionPlan } } } doctors { nodes { fullName email phone specialty licenseNumber offices isActive createdAt updatedAt rowId tenant { name slug timeZone createdAt } } } appointments { nodes { startsAt endsAt status notes reason officeId createdAt updatedAt rowId } } }`;
  expect(errorCodes((await ask(wide)).body)).toContain("LIMIT");
});

test("pages over the maximum are refused, literal or through a variable", async () => {
  expect(errorCodes((await ask("{ patients(first: 11) { totalCount } }")).body)).toEqual(["LIMIT"]);
  expect(errorCodes((await ask("query ($n: Int) { patients(last: $n) { totalCount } }", { n: 1000 })).body)).toEqual(["LIMIT"]);
  expect(errorCodes((await ask("query ($n: Int = 1000) { patients(first: $n) { totalCount } }")).body)).toEqual(["LIMIT"]);
  // A variable named after a member of Object.prototype still takes its default.
  for (const name of ["constructor", "toString", "__proto__"])
    expect(errorCodes((await ask(`query ($${name}: Int = 1000) { patients(first: $${name}) { totalCount } }`)).body)).toEqual([
      "LIMIT",
    ]);
  const inFragment = "{ ...f } fragment f on Query { patients(first: 50) { totalCount } }";
  expect(errorCodes((await ask(inFragment)).body)).toEqual(["LIMIT"]);
  expect((await ask("{ patients(first: 10) { totalCount } }")).body.data.patients.totalCount).toBe(0);
  // A document read once is remembered, its variables are not: the same text, a larger page.
  const byVariable = "query ($n: Int) { patients(first: $n) { totalCount } }";
  expect((await ask(byVariable, { n: 10 })).body.data.patients.totalCount).toBe(0);
  expect(errorCodes((await ask(byVariable, { n: 11 })).body)).toEqual(["LIMIT"]);
});

test("only JSON bodies are accepted, so no document skips these checks", async () => {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/graphql", authorization: `Bearer ${clinic.admin.token}` },
    body: "{ patients(first: 1000) { totalCount } }",
  });
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(JSON.stringify(await response.json().catch(() => ({})))).not.toContain("totalCount");
});

test("a statement running past statement_timeout is stopped with LIMIT; the server goes on answering", async () => {
  const { body } = await ask("mutation { slowEcho(input: { seconds: 2 }) { result } }");
  expect(errorCodes(body)).toEqual(["LIMIT"]);
  expect((await ask("mutation { slowEcho(input: { seconds: 0.01 }) { result } }")).body.data.slowEcho.result).toBe(0.01);
});

test("grafast stops work once the execution budget is spent", async () => {
  // Mutations run one after another: the second would start after the 200 ms budget.
  const { body } = await ask(
    "mutation { a: slowEcho(input: { seconds: 0.25 }) { result } b: slowEcho(input: { seconds: 0.01 }) { result } }",
  );
  expect(body.data?.b ?? null).toBeNull();
  expect(errorCodes(body)).toContain("LIMIT");
});

test("with trusted documents, only stored documents run", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "trusted-"));
  const store = (document: string) => {
    const hash = createHash("sha256").update(document).digest("hex");
    writeFileSync(path.join(dir, `${hash}.graphql`), document);
    return hash;
  };
  const hash = store("{ currentUser { email } }");
  const paged = store("query Patients($n: Int) { patients(first: $n) { totalCount } }");
  const trusted = await startServer({ graphqlLimits: { ...small, trustedDocumentsDir: dir } });
  const asAdmin = { authorization: `Bearer ${clinic.admin.token}` };
  try {
    const stored = await trusted.post("/graphql", { documentId: hash }, asAdmin);
    expect(stored.body.data.currentUser.email).toBe(clinic.admin.email);
    const adHoc = await trusted.graphql(clinic.admin.token, "{ currentUser { email fullName } }");
    expect(adHoc.status).toBe(400);
    expect(adHoc.body.data).toBeUndefined();
    expect(errorCodes(adHoc.body)).toEqual(["LIMIT"]);
    expect((await trusted.post("/graphql", { documentId: "0".repeat(64) }, asAdmin)).body.errors?.[0].extensions?.code).toBe(
      "LIMIT",
    );
    // A trusted document's page size comes from its variables: still checked.
    expect((await trusted.post("/graphql", { documentId: paged, variables: { n: 10 } }, asAdmin)).status).toBe(200);
    const tooMany = await trusted.post("/graphql", { documentId: paged, variables: { n: 11 } }, asAdmin);
    expect([tooMany.status, errorCodes(tooMany.body)]).toEqual([400, ["LIMIT"]]);
  } finally {
    await trusted.close();
  }
});

test("production turns introspection and Ruru off unless enabled", async () => {
  const introspect = "{ __schema { queryType { name } } }";
  for (const [introspection, allowed] of [
    [undefined, false],
    [true, true],
  ] as const) {
    const app = await createApp({
      authenticatorUrl: authenticatorUrl(),
      roles: roles(),
      production: true,
      introspection,
      auth: {
        tokens: tokenSettings,
        refreshTokenDays: 1,
        refreshTokenReuseSeconds: 10,
        rateLimits: { perIpPerMinute: 1000, failedLoginsPerAccount: 1000 },
      },
    });
    await new Promise<void>((resolve) => app.server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const response = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: introspect }),
      });
      const body = (await response.json()) as { data?: { __schema?: unknown } };
      expect(Boolean(body.data?.__schema)).toBe(allowed);
      expect((await fetch(`${url}/graphiql`)).status === 200).toBe(allowed);
    } finally {
      await app.close();
    }
  }
});

describe("a connection asked for without first/last returns one page of GRAPHQL_MAX_PAGE_SIZE rows, not every row", () => {
  let roomy: TestServer;
  let big: Clinic;
  const ROWS = 617;
  const PAGE = DEFAULT_GRAPHQL_LIMITS.maxPageSize;
  beforeAll(async () => {
    roomy = await startServer();
    big = await signUpClinic();
    await asClaims(big.admin.claims, (client) =>
      client.query("insert into app_public.patients (full_name) select 'Patient ' || n from generate_series(1, $1) n", [ROWS]),
    );
  });
  afterAll(() => roomy.close());
  const page = async (query: string, variables?: Record<string, unknown>) => {
    const { body } = await roomy.graphql(big.admin.token, query, variables);
    expect(body.errors).toBeUndefined();
    return body.data.patients as { totalCount: number; nodes: unknown[]; pageInfo: { hasNextPage: boolean } };
  };
  const FIELDS = "totalCount nodes { rowId } pageInfo { hasNextPage }";

  test(`${ROWS} rows read without first or last give the first ${PAGE}, and say there is a next page`, async () => {
    const result = await page(`{ patients { ${FIELDS} } }`);
    expect([result.totalCount, result.nodes.length, result.pageInfo.hasNextPage]).toEqual([ROWS, PAGE, true]);
  });

  test("first or last left null through a variable is no way around the default", async () => {
    const result = await page(`query ($n: Int, $m: Int) { patients(first: $n, last: $m) { ${FIELDS} } }`, { n: null });
    expect(result.nodes).toHaveLength(PAGE);
  });

  test("first and last still choose their own page, and a nested connection gets the default too", async () => {
    expect((await page(`{ patients(first: 3) { ${FIELDS} } }`)).nodes).toHaveLength(3);
    const last = await page(`{ patients(last: 7, orderBy: FULL_NAME_ASC) { nodes { fullName } } }`);
    expect(last.nodes).toHaveLength(7);
    expect(last.nodes.at(-1)).toEqual({ fullName: "Patient 99" });
    const { body } = await roomy.graphql(big.admin.token, "{ currentTenant { patients { nodes { rowId } } } }");
    expect(body.data?.currentTenant?.patients?.nodes).toHaveLength(PAGE);
  });
});
