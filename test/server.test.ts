/**
 * The HTTP surface outside GraphQL's data: the liveness probe, Ruru and introspection by mode,
 * and masking of unexpected errors so that no SQL, name or stack trace reaches a client.
 */
import { signUpClinic, useServer } from "./helpers";

describe("development mode", () => {
  const server = useServer();

  test("GET /healthz answers ok (liveness: the database is /readyz's to check)", async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  test("Ruru (GraphiQL) is served at /graphiql", async () => {
    const response = await fetch(`${server.url}/graphiql`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
  });
});

describe("production mode", () => {
  const server = useServer({ production: true });

  test("Ruru is not served", async () => {
    expect((await fetch(`${server.url}/graphiql`)).status).toBe(404);
  });

  test("introspection is refused", async () => {
    const { body } = await server.graphql(undefined, "{ __schema { queryType { name } } }");
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0].message).toMatch(/introspection has been disabled/);
  });

  test("an unexpected database error is masked: no SQL, names or stack", async () => {
    const clinic = await signUpClinic();
    // A value PostgreSQL rejects with an error we do not map (numeric overflow in an int column).
    const { body } = await server.graphql(
      clinic.admin.token,
      `mutation { createPrescriptionItem(input: { prescriptionItem: {
         prescriptionId: "00000000-0000-0000-0000-000000000000",
         medicineId: "00000000-0000-0000-0000-000000000000", dose: "1", frequency: "daily", durationDays: 3000000000 } }) { clientMutationId } }`,
    );
    const text = JSON.stringify(body);
    expect(body.errors?.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/app_public|app_private|violates|constraint|select |insert |\n\s+at /i);
  });

  test("a unique clash names no constraint and no value", async () => {
    const clinic = await signUpClinic();
    const { body } = await server.graphql(
      clinic.admin.token,
      `mutation ($email: String!) { addUser(input: { email: $email, fullName: "Copy" }) { result { rowId } } }`,
      { email: clinic.doctor.email },
    );
    expect(body.errors?.[0].extensions?.code).toBe("TAKEN");
    const text = JSON.stringify(body);
    expect(text).not.toContain(clinic.doctor.email);
    expect(text).not.toMatch(/users_email|login_emails|duplicate key/);
  });
});
