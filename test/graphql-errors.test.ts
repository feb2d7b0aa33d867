/**
 * Every GraphQL error carries `extensions.code`, so a front end can switch on codes alone;
 * where introspection is off, errors suggest no field names ("Did you mean …?").
 */
import { errorCodes, seedClinicalRows, signUpClinic, startServer, useServer, type Clinic, type TestServer } from "./helpers";

const server = useServer();
let clinic: Clinic;
beforeAll(async () => {
  clinic = await signUpClinic();
  // PostgreSQL checks a LIKE pattern only when it compares it with a row.
  await seedClinicalRows(clinic);
});

// Three values a row: with fewer, jest-each would pass the test a `done` callback in their place.
const BROKEN: [string, string, Record<string, unknown>][] = [
  ["a syntax error", "{ currentUser { email }", {}],
  ["an empty document", "", {}],
  ["an unknown field", "{ currentUser { emial } }", {}],
  ["an unknown argument", "{ patients(frist: 1) { totalCount } }", {}],
  ["a missing selection", "{ currentUser }", {}],
  ["an undefined variable", "query { patients(first: $n) { totalCount } }", {}],
  ["a variable of the wrong type", "query ($n: Int) { patients(first: $n) { totalCount } }", { n: "ten" }],
  ["a required variable left out", "query ($id: UUID!) { patient(rowId: $id) { fullName } }", {}],
  ["a malformed uuid variable", "query ($id: UUID!) { patient(rowId: $id) { fullName } }", { id: "nope" }],
  ["two anonymous operations", "{ currentUser { email } } { currentTenant { name } }", {}],
];

test.each(BROKEN)("%s is answered with code INVAL", async (_name, query, variables) => {
  const { status, body } = await server.graphql(clinic.admin.token, query, variables);
  expect(status).toBe(400);
  expect(body.errors?.length).toBeGreaterThan(0);
  expect(errorCodes(body).every((code) => code === "INVAL")).toBe(true);
});

// Malformed filter input, literal and through variables: the connection-filter plugin's refusals
// and PostgreSQL's for a LIKE pattern are the client's mistake (INVAL), and tell no SQL.
const MALFORMED_FILTERS: [string, string, Record<string, unknown>][] = [
  ["an empty `some: {}`", "{ doctors(filter: { appointments: { some: {} } }) { totalCount } }", {}],
  [
    "an empty `some` through a variable",
    "query ($f: AppointmentFilter!) { doctors(filter: { appointments: { some: $f } }) { totalCount } }",
    { f: {} },
  ],
  ["an empty operator object", "{ patients(filter: { fullName: {} }) { totalCount } }", {}],
  ["an empty object in `and`", "{ patients(filter: { and: [{}] }) { totalCount } }", {}],
  ["a null field filter", "{ patients(filter: { fullName: null }) { totalCount } }", {}],
  ["a null operator value", "{ patients(filter: { fullName: { equalTo: null } }) { totalCount } }", {}],
  ["a null filter through a variable", "query ($f: PatientFilter) { patients(filter: { not: $f }) { totalCount } }", { f: null }],
  ["a LIKE pattern ending in a backslash", '{ patients(filter: { fullName: { like: "Pat\\\\" } }) { totalCount } }', {}],
  [
    "a case-insensitive LIKE pattern ending in a backslash, through a variable",
    "query ($p: String!) { patients(filter: { fullName: { likeInsensitive: $p } }) { totalCount } }",
    { p: "pat\\" },
  ],
];

test.each(MALFORMED_FILTERS)("malformed filter input, %s, is answered with code INVAL", async (_name, query, variables) => {
  const { body } = await server.graphql(clinic.admin.token, query, variables);
  expect(body.errors?.length).toBeGreaterThan(0);
  expect(errorCodes(body)).toEqual(body.errors?.map(() => "INVAL"));
  expect(JSON.stringify(body)).not.toMatch(/select |escape|app_public|forbidden in filter/i);
});

test("a name with a forged line is answered with code INVAL and a plain message", async () => {
  const { body } = await server.graphql(
    clinic.admin.token,
    "mutation ($name: String!) { createPatient(input: { patient: { fullName: $name } }) { patient { rowId } } }",
    { name: "Pat\r\nBcc: victim@example.test" },
  );
  expect(body.errors?.map((error) => [error.extensions?.code, error.message])).toEqual([
    ["INVAL", "Names may not contain line breaks, tabs or other control characters."],
  ]);
});

test("a body without a query is answered with code INVAL", async () => {
  for (const body of [{}, { variables: {} }, { query: 42 }]) {
    const answer = await server.post("/graphql", body, { authorization: `Bearer ${clinic.admin.token}` });
    expect([answer.status, errorCodes(answer.body)]).toEqual([400, ["INVAL"]]);
  }
});

test("a limit rule's own code stays LIMIT next to INVAL", async () => {
  const deep = `{ ${"currentTenant { users { nodes { tenant { ".repeat(3)} name ${"} } } }".repeat(3)} emial }`;
  const { body } = await server.graphql(clinic.admin.token, deep);
  expect(new Set(errorCodes(body))).toEqual(new Set(["LIMIT", "INVAL"]));
});

describe("field suggestions", () => {
  let production: TestServer;
  beforeAll(async () => {
    production = await startServer({ production: true });
  });
  afterAll(() => production.close());

  test("are given in development, where introspection shows the schema anyway", async () => {
    const { body } = await server.graphql(clinic.admin.token, "{ currentUser { emial } }");
    expect(body.errors?.[0].message).toMatch(/Did you mean "email"\?/);
  });

  test("are hidden in production, for types, fields and arguments", async () => {
    for (const query of ["{ currentUser { emial } }", "{ patients(frist: 1) { totalCount } }", "{ patient { fullName } }"]) {
      const { body } = await production.graphql(clinic.admin.token, query);
      expect(body.errors?.length).toBeGreaterThan(0);
      expect(JSON.stringify(body)).not.toMatch(/Did you mean/);
      expect(errorCodes(body).every((code) => code === "INVAL")).toBe(true);
    }
    const { body } = await production.graphql(clinic.admin.token, "{ currentUser { emial } }");
    expect(body.errors?.[0].message).toBe('Cannot query field "emial" on type "User".');
  });

  test("are hidden in production for enum values and for variables' values, signed in or not", async () => {
    const attempts: [string, Record<string, unknown>][] = [
      ["{ patients(orderBy: FULL_NAM_ASC) { totalCount } }", {}],
      ["query ($f: PatientFilter) { patients(filter: $f) { totalCount } }", { f: { birthDat: null, phon: null } }],
      ["query ($o: [PatientOrderBy!]) { patients(orderBy: $o) { totalCount } }", { o: ["FULL_NAM_ASC"] }],
    ];
    for (const token of [clinic.admin.token, undefined]) {
      for (const [query, variables] of attempts) {
        const { body } = await production.graphql(token, query, variables);
        expect(body.errors?.length).toBeGreaterThan(0);
        expect(JSON.stringify(body)).not.toMatch(/Did you mean|FULL_NAME|birthDate|"phone"/);
        expect(errorCodes(body).every((code) => code === "INVAL")).toBe(true);
      }
    }
  });
});
