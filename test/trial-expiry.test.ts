/**
 * An ended trial makes the tenant read-only: every mutation in the schema (read from the live
 * schema, so a new one is covered without editing this file) is refused with TRIAL and changes
 * nothing; queries keep answering; another tenant is unaffected; a plan change lifts it.
 */
import { randomUUID } from "node:crypto";
import { buildSchema, getNamedType, isObjectType, type GraphQLSchema } from "postgraphile/graphql";
import { printSchemaSdl } from "../src/schema-sdl";
import { asClaims, asOwner, authenticatorUrl, roles, seedClinicalRows, signUpClinic, useServer, type Clinic } from "./helpers";
import { rowConnections, sample, victimOf, type Victim } from "./isolation-attack";

const server = useServer();
let schema: GraphQLSchema;
let a: Clinic;
let b: Clinic;
/** A's rows and ids, which the mutations below aim at. */
let victim: Victim;

const expire = (clinic: Clinic) =>
  asOwner((client) =>
    client.query("update app_public.tenants set trial_ends_at = now() - interval '1 minute' where id = $1", [clinic.tenantId]),
  );

/** Every row of the tenant, per table, as stored (read as the owner). */
const rowsOf = (clinic: Clinic) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      `select jsonb_build_object(
         'tenant', (select to_jsonb(t) from app_public.tenants t where id = $1),
         'users', (select jsonb_agg(t order by id) from app_public.users t where tenant_id = $1),
         'doctors', (select jsonb_agg(t order by id) from app_public.doctors t where tenant_id = $1),
         'patients', (select jsonb_agg(t order by id) from app_public.patients t where tenant_id = $1),
         'appointments', (select jsonb_agg(t order by id) from app_public.appointments t where tenant_id = $1),
         'medicines', (select jsonb_agg(t order by id) from app_public.medicines t where tenant_id = $1),
         'prescriptions', (select jsonb_agg(t order by id) from app_public.prescriptions t where tenant_id = $1),
         'items', (select jsonb_agg(t order by id) from app_public.prescription_items t where tenant_id = $1),
         'tokens', (select jsonb_agg(t order by token_hash) from app_private.password_tokens t
                    where user_id in (select id from app_public.users where tenant_id = $1))) as rows`,
      [clinic.tenantId],
    );
    return rows[0].rows;
  });

beforeAll(async () => {
  schema = buildSchema(await printSchemaSdl(authenticatorUrl(), roles()));
  a = await signUpClinic();
  b = await signUpClinic();
  await seedClinicalRows(a);
  await asClaims(a.admin.claims, (client) =>
    client.query("select app_public.add_user($1, 'No Password Yet')", [`${randomUUID()}@example.test`]),
  );
  victim = await victimOf(server, schema, a);
  await expire(a);
});

test("currentTenant shows the read-only state", async () => {
  const query = "{ currentTenant { isReadOnly trialEndsAt } }";
  expect((await server.graphql(a.admin.token, query)).body.data.currentTenant.isReadOnly).toBe(true);
  expect((await server.graphql(b.admin.token, query)).body.data.currentTenant.isReadOnly).toBe(false);
});

test("isReadOnly reads the same through a relation and in a mutation's payload", async () => {
  const nested = "{ currentUser { tenant { isReadOnly } } }";
  expect((await server.graphql(a.admin.token, nested)).body.data.currentUser.tenant.isReadOnly).toBe(true);
  const { body } = await server.graphql(
    b.admin.token,
    `mutation ($id: UUID!) { updateTenant(input: { rowId: $id, patch: { bookingNoticeMinutes: 0 } }) { tenant { isReadOnly } } }`,
    { id: b.tenantId },
  );
  expect(body).toEqual({ data: { updateTenant: { tenant: { isReadOnly: false } } } });
});

test("every mutation of the schema is refused with TRIAL and changes nothing", async () => {
  const before = await rowsOf(a);
  const mutations = Object.values(schema.getMutationType()!.getFields());
  expect(mutations.length).toBeGreaterThan(30);
  const outcomes: Record<string, unknown> = {};
  for (const mutation of mutations) {
    const inputType = mutation.args.find((arg) => arg.name === "input")!.type;
    const tableType = mutation.name.replace(/^(create|update|delete)/, "").replace(/By[A-Z]\w*$/, "");
    const payload = getNamedType(mutation.type);
    if (!isObjectType(payload)) throw new Error(`${mutation.name} has no payload object`);
    const { body } = await server.graphql(
      a.admin.token,
      `mutation ($input: ${getNamedType(inputType).name}!) { ${mutation.name}(input: $input) { clientMutationId } }`,
      { input: sample(inputType, victim, tableType) },
    );
    outcomes[mutation.name] = body.errors?.map((error) => error.extensions?.code) ?? body.data;
  }
  expect(outcomes).toEqual(Object.fromEntries(mutations.map((mutation) => [mutation.name, ["TRIAL"]])));
  expect(await rowsOf(a)).toEqual(before);
});

test("doctors and receptionists are refused too, in SQL, with TRIAL", async () => {
  for (const member of [a.doctor, a.receptionist]) {
    await expect(
      asClaims(member.claims, (client) =>
        client.query("update app_public.users set full_name = 'Renamed' where id = $1", [member.userId]),
      ),
    ).rejects.toMatchObject({ code: "TRIAL" });
  }
});

test("queries keep answering, with every row", async () => {
  const selections = rowConnections(schema).map((field) => `${field.name} { totalCount }`);
  const { body } = await server.graphql(a.admin.token, `{ ${selections.join(" ")} }`);
  expect(body.errors).toBeUndefined();
  expect(body.data.patients.totalCount).toBe(1);
  expect(body.data.prescriptionItems.totalCount).toBe(1);
});

test("another tenant keeps writing", async () => {
  const { body } = await server.graphql(
    b.admin.token,
    'mutation { createPatient(input: { patient: { fullName: "B\'s patient" } }) { patient { fullName } } }',
  );
  expect(body.data.createPatient.patient.fullName).toBe("B's patient");
});

test("an operator's plan change, or a trial extension, makes writes work again", async () => {
  const create = () =>
    server.graphql(
      a.admin.token,
      'mutation { createPatient(input: { patient: { fullName: "After" } }) { patient { fullName } } }',
    );
  await asOwner((client) => client.query("select app_private.extend_trial($1, 7)", [a.tenantId]));
  expect((await create()).body.data.createPatient.patient.fullName).toBe("After");
  await expire(a);
  expect((await create()).body.errors?.[0].extensions?.code).toBe("TRIAL");
  await asOwner((client) => client.query("select app_private.change_plan($1, 'basic')", [a.tenantId]));
  expect((await create()).body.data.createPatient.patient.fullName).toBe("After");
  expect((await server.graphql(a.admin.token, "{ currentTenant { isReadOnly trialEndsAt } }")).body.data.currentTenant).toEqual({
    isReadOnly: false,
    trialEndsAt: null,
  });
});
