import { closePool, signUpClinic, startServer, type TestServer } from "./helpers";

let server: TestServer;
beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server.close(); await closePool(); });

test("smoke", async () => {
  const a = await signUpClinic();
  const { body } = await server.graphql(a.admin.token, "{ currentUser { fullName } doctors { totalCount nodes { fullName offices } } }");
  expect(body.data.doctors.totalCount).toBe(1);
});
