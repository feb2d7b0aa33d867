/**
 * A production-mode server never answers with a stack trace, SQL text, a constraint, table or
 * column name, or another tenant's values: for a CHECK failure, a bad uuid, a unique clash and
 * the database going away. Each response is scanned for all of them.
 */
import { asOwner, signUpClinic, useServer, whileDatabaseAway, type Clinic } from "./helpers";

const server = useServer({ production: true });
let a: Clinic;
let b: Clinic;
let forbidden: string[];

beforeAll(async () => {
  [a, b] = [await signUpClinic(), await signUpClinic()];
  const names = await asOwner(async (client) => {
    const { rows } = await client.query(
      `select conname as name from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname = 'app_public'
       union select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('app_public', 'app_private')
       union select name from app_public.tenants where id = $1`,
      [b.tenantId],
    );
    return rows.map((r) => r.name as string);
  });
  forbidden = [
    ...names,
    b.tenantId,
    b.admin.email,
    b.admin.userId,
    "app_public",
    "app_private",
    "insert into",
    "select ",
    "    at ",
    "ECONN",
    "127.0.0.1",
  ];
});

/** The strings of `forbidden` (and SQL keywords) found in a response. */
function leaks(body: unknown): string[] {
  const text = JSON.stringify(body);
  // Words of a message are fine ("users" in "Too many users"); names only count as identifiers.
  return forbidden.filter((word) =>
    /^[a-z_]+$/.test(word) ? new RegExp(`\\b${word}\\b`).test(text) && word.includes("_") : text.includes(word),
  );
}

test.each([
  ["a CHECK failure", 'mutation { addUser(input: { email: "not-an-address", fullName: "X" }) { result { rowId } } }', "INVAL"],
  ["a bad uuid in a lookup", '{ patient(rowId: "not-a-uuid") { fullName } }', undefined],
  ["a bad uuid in a filter", '{ patients(filter: { rowId: { equalTo: "123" } }) { totalCount } }', undefined],
  ["a unique clash with another tenant's e-mail", "", "TAKEN"],
])("%s is answered without names, SQL, stacks or other tenants' values", async (_what, query, code) => {
  const document = query || `mutation { addUser(input: { email: "${b.admin.email}", fullName: "X" }) { result { rowId } } }`;
  const { body } = await server.graphql(a.admin.token, document);
  expect(body.errors?.length).toBeGreaterThan(0);
  if (code) expect(body.errors?.[0].extensions?.code).toBe(code);
  expect(leaks(body)).toEqual([]);
});

test("the database going away is answered as 503 UNAVL on GraphQL, /auth and /readyz", async () => {
  await whileDatabaseAway(async () => {
    const graphql = await server.graphql(a.admin.token, "{ patients { totalCount } }");
    expect(graphql.status).toBe(503);
    expect(graphql.body.errors?.[0].extensions?.code).toBe("UNAVL");
    const login = await server.post("/auth/login", { email: a.admin.email, password: "correct horse battery" });
    expect(login).toEqual({
      status: 503,
      body: { error: { code: "UNAVL", message: "The service cannot reach its database at the moment; try again shortly." } },
    });
    const health = await fetch(`${server.url}/readyz`);
    expect(health.status).toBe(503);
    for (const body of [graphql.body, login.body, await health.json()]) expect(leaks(body)).toEqual([]);
  });
  expect((await server.graphql(a.admin.token, "{ patients { totalCount } }")).body.data.patients.totalCount).toBe(0);
});
