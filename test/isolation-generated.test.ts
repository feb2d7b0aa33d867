/**
 * Tenant isolation, generated from the live schema (test/isolation-attack.ts): each role of
 * tenant B runs every query, filter, lookup and mutation against tenant A's seeded data. Then a
 * fixture table, added here the way a later migration would, is attacked without any edit to
 * the generator: with a leaky policy the attack reports it, with a tenant-keyed one it is clean.
 */
import { buildSchema, getNamedType, type GraphQLSchema } from "postgraphile/graphql";
import { printSchemaSdl } from "../src/schema-sdl";
import { asOwner, authenticatorUrl, roles, seedClinicalRows, signUpClinic, startServer, useServer, type Clinic } from "./helpers";
import { attack, snapshotOf, victimOf, type AttackReport, type Victim } from "./isolation-attack";

const server = useServer();
let schema: GraphQLSchema;
let a: Clinic;
let b: Clinic;
let victim: Victim;
let before: unknown;
const reports: Record<string, AttackReport> = {};

beforeAll(async () => {
  schema = buildSchema(await printSchemaSdl(authenticatorUrl(), roles()));
  [a, b] = [await signUpClinic(), await signUpClinic()];
  await seedClinicalRows(a);
  await seedClinicalRows(b);
  victim = await victimOf(server, schema, a);
  before = await snapshotOf(a.tenantId);
});

test.each(["admin", "doctor", "receptionist"] as const)(
  "tenant B's %s reads nothing of tenant A's and writes nothing to it",
  async (role) => {
    const report = await attack(server, schema, victim, { role, member: b[role], tenantId: b.tenantId });
    reports[role] = report;
    expect(report.violations).toEqual([]);
    expect(await snapshotOf(a.tenantId)).toEqual(before);
  },
);

test("every query field and every mutation of the schema was attacked", () => {
  const sent = new Set(Object.values(reports).flatMap((report) => report.operations.map((operation) => operation.split(" ")[1])));
  const fields = [...Object.keys(schema.getQueryType()!.getFields()), ...Object.keys(schema.getMutationType()!.getFields())];
  // `query` (the root re-exposed) and `id` (the root's node id) read no table.
  expect(fields.filter((name) => !sent.has(name) && !["query", "id", "nodeId"].includes(name))).toEqual([]);
  const total = Object.values(reports).reduce((sum, report) => sum + report.operations.length, 0);
  console.log(`Generated isolation attack: ${total} operations over ${fields.length} root fields, 3 roles.`);
  expect(total).toBeGreaterThan(300);
});

describe("a table added later is covered without editing the attack", () => {
  let fixtureServer: Awaited<ReturnType<typeof startServer>>;
  let fixtureSchema: GraphQLSchema;
  beforeAll(async () => {
    await asOwner((client) =>
      client.query(`
        create table app_public.isolation_fixtures (
          id uuid primary key default gen_random_uuid(),
          tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants,
          label text not null);
        comment on table app_public.isolation_fixtures is 'Test fixture: a table a later migration might add.';
        create index on app_public.isolation_fixtures (tenant_id);
        alter table app_public.isolation_fixtures enable row level security;
        alter table app_public.isolation_fixtures force row level security;
        -- The mistake under test: a select policy that forgets the tenant.
        create policy select_all on app_public.isolation_fixtures for select to ${roles().visitor} using (true);
        create policy write_own on app_public.isolation_fixtures for all to ${roles().visitor}
          using (tenant_id = app_public.current_tenant_id()) with check (tenant_id = app_public.current_tenant_id());
        grant select, delete on app_public.isolation_fixtures to ${roles().visitor};
        grant insert (label), update (label) on app_public.isolation_fixtures to ${roles().visitor};
        insert into app_public.isolation_fixtures (tenant_id, label) values ('${a.tenantId}', 'A fixture'), ('${b.tenantId}', 'B fixture');`),
    );
    fixtureServer = await startServer();
    fixtureSchema = buildSchema(await printSchemaSdl(authenticatorUrl(), roles()));
  });
  afterAll(async () => {
    await fixtureServer.close();
    await asOwner((client) => client.query("drop table app_public.isolation_fixtures"));
  });

  test("the leaky policy is reported, the tenant-keyed one is clean", async () => {
    expect(Object.keys(fixtureSchema.getQueryType()!.getFields())).toContain("isolationFixtures");
    const fixtureVictim = await victimOf(fixtureServer, fixtureSchema, a);
    const attacker = { role: "admin", member: b.admin, tenantId: b.tenantId };
    const leaky = await attack(fixtureServer, fixtureSchema, fixtureVictim, attacker, "fixture");
    expect(leaky.violations.map((v) => v.operation)).toContain("query isolationFixtures");
    await asOwner((client) =>
      client.query("alter policy select_all on app_public.isolation_fixtures using (tenant_id = app_public.current_tenant_id())"),
    );
    const fixed = await attack(fixtureServer, fixtureSchema, fixtureVictim, attacker, "fixture");
    expect(fixed.violations).toEqual([]);
    const mutations = Object.keys(fixtureSchema.getMutationType()!.getFields()).filter((name) =>
      name.includes("IsolationFixture"),
    );
    expect(mutations.length).toBeGreaterThanOrEqual(3);
    for (const name of mutations) expect(fixed.operations).toContain(`mutation ${name}`);
    expect(getNamedType(fixtureSchema.getQueryType()!.getFields().isolationFixtures.type).name).toBe(
      "IsolationFixtureConnection",
    );
  });
});
