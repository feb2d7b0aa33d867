/**
 * The generated isolation attack (test/isolation-attack.ts) covers a table added later without
 * any edit: a fixture table, added here the way a later migration would, is attacked with a
 * leaky policy (reported) and with a tenant-keyed one (clean). Not in `npm run test:citus`: the
 * cluster's set-up distributes the tables of the migrations, not one a test adds.
 */
import { buildSchema, getNamedType, type GraphQLSchema } from "postgraphile/graphql";
import { printSchemaSdl } from "../src/schema-sdl";
import { asOwner, authenticatorUrl, roles, seedClinicalRows, signUpClinic, startServer, type Clinic } from "./helpers";
import { attack, victimOf } from "./isolation-attack";

let a: Clinic;
let b: Clinic;

beforeAll(async () => {
  [a, b] = [await signUpClinic(), await signUpClinic()];
  await seedClinicalRows(a);
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
    fixtureServer = await startServer({ tenantRouting: false });
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
