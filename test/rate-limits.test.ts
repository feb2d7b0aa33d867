/**
 * Rate limits are counted in the database (app_private.rate_limits), so several API instances
 * spend one budget per client; /graphql has a budget per user (per IP when signed out), so one
 * client's flood is refused while the others are served. (The /auth limits' answers and headers:
 * test/sessions.test.ts.)
 */
import { loadConfig } from "../src/config";
import {
  asOwner,
  closePool,
  FIXTURE_PASSWORD,
  roles,
  signUpClinic,
  sqlStateOf,
  startServer,
  type Clinic,
  type ServerOptions,
  type TestServer,
} from "./helpers";

const QUERY = "{ currentUser { email } }";
const from = (ip: string) => ({ "x-forwarded-for": ip });
const RATEL_GRAPHQL = { errors: [{ message: "Too many requests; wait and try again.", extensions: { code: "RATEL" } }] };
const RATEL_AUTH = { error: { code: "RATEL", message: "Too many attempts; wait and try again." } };
/** The counter row of a user's /graphql budget. */
const graphqlCounter = async (userId: string) =>
  (
    await asOwner((c) =>
      c.query<{ points: number; expire: string }>("select points, expire from app_private.rate_limits where key = $1", [
        `graphql:user:${userId}`,
      ]),
    )
  ).rows;

/** Servers started in a describe, closed after it. */
function useServers(count: number, options: ServerOptions): TestServer[] {
  const servers: TestServer[] = [];
  beforeAll(async () => {
    servers.push(...(await Promise.all(Array.from({ length: count }, () => startServer(options)))));
  });
  afterAll(async () => {
    for (const server of servers.splice(0)) await server.close();
  });
  return servers;
}

afterAll(closePool);

describe("two API instances on one database", () => {
  const servers = useServers(2, {
    rateLimits: { perIpPerMinute: 4, failedLoginsPerAccount: 3 },
    graphqlRequestsPerMinute: 4,
    trustProxyHops: 1,
  });
  let clinic: Clinic;
  beforeAll(async () => {
    clinic = await signUpClinic();
  });

  test("share the /auth budget per IP: the sum of both is refused, not twice the limit", async () => {
    const [a, b] = servers;
    let attempt = 0;
    // A new e-mail each time, so only the per-IP limit applies.
    const login = (server: TestServer) =>
      server.post("/auth/login", { email: `nobody${++attempt}@example.test`, password: "wrong password" }, from("10.20.0.1"));
    for (const server of [a, b, a, b]) expect((await login(server)).status).toBe(401);
    expect(await login(a)).toEqual({ status: 429, body: RATEL_AUTH });
    expect(await login(b)).toEqual({ status: 429, body: RATEL_AUTH });
  });

  test("share the failed-login budget per account, and keep the e-mail only hashed", async () => {
    const [a, b] = servers;
    const email = clinic.doctor.email;
    for (const [i, server] of [a, b, a].entries()) {
      expect((await server.post("/auth/login", { email, password: "wrong password!" }, from(`10.21.0.${i}`))).status).toBe(401);
    }
    expect(await b.post("/auth/login", { email, password: FIXTURE_PASSWORD }, from("10.21.1.1"))).toEqual({
      status: 429,
      body: RATEL_AUTH,
    });
    const { rows } = await asOwner((c) =>
      c.query("select key from app_private.rate_limits where key like 'auth-login:%' and position($1 in key) > 0", [
        email.split("@")[0],
      ]),
    );
    expect(rows).toEqual([]);
  });

  test("share a user's /graphql budget", async () => {
    const [a, b] = servers;
    for (const server of [a, b, a, b]) expect((await server.graphql(clinic.admin.token, QUERY)).status).toBe(200);
    expect(await a.graphql(clinic.admin.token, QUERY)).toEqual({ status: 429, body: RATEL_GRAPHQL });
    expect(await b.graphql(clinic.admin.token, QUERY)).toEqual({ status: 429, body: RATEL_GRAPHQL });
  });
});

describe("the /graphql budget", () => {
  const LIMIT = 10;
  const servers = useServers(1, { graphqlRequestsPerMinute: LIMIT, trustProxyHops: 1 });
  let server: TestServer;
  let clinic: Clinic;
  beforeAll(async () => {
    [server] = servers;
    clinic = await signUpClinic();
  });

  test("a user flooding /graphql, from any IP, gets 429 RATEL while another user behind the same IP is served", async () => {
    const flooder = clinic.admin;
    const flood = Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`${server.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${flooder.token}`, ...from(`10.50.0.${i}`) },
          body: JSON.stringify({ query: QUERY }),
        }).then(async (response) => ({ status: response.status, headers: response.headers, body: await response.json() })),
      ),
    );
    // Meanwhile, the receptionist of the same clinic, from the IP the flood's first request came from.
    for (let i = 0; i < 5; i++) {
      const served = await server.post(
        "/graphql",
        { query: QUERY },
        { authorization: `Bearer ${clinic.receptionist.token}`, ...from("10.50.0.0") },
      );
      expect(served).toEqual({ status: 200, body: { data: { currentUser: { email: clinic.receptionist.email } } } });
    }
    const answers = await flood;
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(LIMIT);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(refused).toHaveLength(60 - LIMIT);
    for (const answer of refused) {
      expect(answer.body).toEqual(RATEL_GRAPHQL);
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(answer.headers.get("ratelimit")).toMatch(/r=0; t=\d+/);
    }
  });

  test("signed out, the budget is per client IP (X-Forwarded-For through the trusted proxy)", async () => {
    // What a signed-out page may ask: the price list.
    const anonymous = (ip: string) => server.post("/graphql", { query: "{ subscriptionPlans { totalCount } }" }, from(ip));
    for (let i = 0; i < LIMIT; i++)
      expect((await anonymous("10.51.0.1")).body.data.subscriptionPlans.totalCount).toBeGreaterThan(0);
    expect(await anonymous("10.51.0.1")).toEqual({ status: 429, body: RATEL_GRAPHQL });
    expect((await anonymous("10.51.0.2")).body.data.subscriptionPlans.totalCount).toBeGreaterThan(0);
  });

  test("the counter is a row in the database, and what the row says is obeyed", async () => {
    const doctor = clinic.doctor;
    expect((await server.graphql(doctor.token, QUERY)).status).toBe(200);
    const [row] = await graphqlCounter(doctor.userId);
    expect(row.points).toBe(1);
    expect(Number(row.expire)).toBeGreaterThan(Date.now());
    expect(Number(row.expire)).toBeLessThanOrEqual(Date.now() + 60_000);
    // The budget spent elsewhere (another instance), as the database records it:
    await asOwner((c) =>
      c.query("update app_private.rate_limits set points = $2 where key = $1", [`graphql:user:${doctor.userId}`, LIMIT]),
    );
    expect(await server.graphql(doctor.token, QUERY)).toEqual({ status: 429, body: RATEL_GRAPHQL });
  });
});

describe("when the counters cannot be reached", () => {
  const LIMIT = 3;
  const servers = useServers(1, { graphqlRequestsPerMinute: LIMIT });
  let server: TestServer;
  let clinic: Clinic;
  beforeAll(async () => {
    [server] = servers;
    clinic = await signUpClinic();
  });

  test("each instance counts in its own memory: requests are answered and the limit still holds", async () => {
    await asOwner((c) => c.query(`revoke all on app_private.rate_limits from ${roles().authenticator}`));
    try {
      for (let i = 0; i < LIMIT; i++) expect((await server.graphql(clinic.admin.token, QUERY)).status).toBe(200);
      expect(await server.graphql(clinic.admin.token, QUERY)).toEqual({ status: 429, body: RATEL_GRAPHQL });
      expect(await graphqlCounter(clinic.admin.userId)).toEqual([]);
    } finally {
      await asOwner((c) =>
        c.query(`grant select, insert, update, delete on app_private.rate_limits to ${roles().authenticator}`),
      );
    }
  });
});

describe("who may touch the counters", () => {
  test("the request roles may not read or write them", async () => {
    const clinic = await signUpClinic();
    for (const claims of [undefined, clinic.admin.claims]) {
      expect(await sqlStateOf(claims, (c) => c.query("select * from app_private.rate_limits"))).toBe("42501");
      expect(await sqlStateOf(claims, (c) => c.query("delete from app_private.rate_limits"))).toBe("42501");
    }
  });

  test("only the API's own login holds privileges on them", async () => {
    const { authenticator, anonymous, visitor } = roles();
    const { rows } = await asOwner((c) =>
      c.query(
        `select r.rolname as role, array(select p from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
           where has_table_privilege(r.oid, 'app_private.rate_limits', p)) as privileges
         from pg_roles r where r.rolname = any($1) order by 1`,
        [[authenticator, visitor, anonymous]],
      ),
    );
    expect(rows).toEqual(
      [
        { role: anonymous, privileges: [] },
        { role: authenticator, privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"] },
        { role: visitor, privileges: [] },
      ].sort((a, b) => (a.role < b.role ? -1 : 1)),
    );
  });
});

test("GRAPHQL_RATE_LIMIT_PER_MINUTE: 600 by default, configurable", () => {
  expect(loadConfig({}).graphqlRequestsPerMinute).toBe(600);
  expect(loadConfig({ GRAPHQL_RATE_LIMIT_PER_MINUTE: "20" }).graphqlRequestsPerMinute).toBe(20);
  expect(() => loadConfig({ GRAPHQL_RATE_LIMIT_PER_MINUTE: "0" })).toThrow("GRAPHQL_RATE_LIMIT_PER_MINUTE");
});
