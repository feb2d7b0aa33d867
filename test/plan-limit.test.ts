/**
 * The plan limit (migrations section 5-plan-limit): a tenant's active doctors never exceed its
 * plan's max_doctors (app_public.subscription_plans). Adding or reactivating a doctor over the
 * limit, and a downgrade that would leave too many active doctors, raise PLANL; concurrent adds
 * are serialised on the tenant row so they cannot overshoot.
 */
import {
  asClaims,
  asOwner,
  errorCodes,
  signUpClinic,
  sqlStateOf,
  uniq,
  useServer,
  type Clinic,
  type GraphQLBody,
} from "./helpers";

const ADD_DOCTOR = `
  mutation AddDoctor($fullName: String!) {
    addDoctor(input: { fullName: $fullName }) { result { rowId isActive } }
  }`;

const CREATE_DOCTOR = `
  mutation CreateDoctor($fullName: String!, $isActive: Boolean) {
    createDoctor(input: { doctor: { fullName: $fullName, isActive: $isActive } }) { doctor { rowId isActive } }
  }`;

const SET_ACTIVE = `
  mutation SetActive($rowId: UUID!, $isActive: Boolean!) {
    updateDoctor(input: { rowId: $rowId, patch: { isActive: $isActive } }) { doctor { rowId isActive } }
  }`;

const server = useServer();

const firstCode = (body: GraphQLBody) => body.errors?.[0]?.extensions?.code;

/** Adds `n` active doctors in SQL as the admin (one transaction each); returns their ids. */
async function addDoctors(clinic: Clinic, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      await asClaims(clinic.admin.claims, async (client) => {
        const { rows } = await client.query("select id from app_public.add_doctor($1)", [uniq("Dr Fill")]);
        return rows[0].id as string;
      }),
    );
  }
  return ids;
}

/** Active and total doctors of the tenant, counted as the owner (no row-level security). */
async function doctorCounts(tenantId: string): Promise<{ active: number; total: number }> {
  return asOwner(async (client) => {
    const { rows } = await client.query(
      "select count(*) filter (where is_active)::int as active, count(*)::int as total from app_public.doctors where tenant_id = $1",
      [tenantId],
    );
    return rows[0];
  });
}

async function planOf(tenantId: string): Promise<string> {
  return asOwner(async (client) => {
    const { rows } = await client.query("select subscription_plan from app_public.tenants where id = $1", [tenantId]);
    return rows[0].subscription_plan as string;
  });
}

/** Runs an owner statement and returns its SQLSTATE, or "ok" when it succeeded. */
async function ownerSqlState(text: string, values: unknown[]): Promise<string> {
  return asOwner(async (client) => {
    try {
      await client.query(text, values);
      return "ok";
    } catch (error) {
      return (error as { code?: string }).code ?? "no code";
    }
  });
}

const setPlan = (tenantId: string, plan: string) =>
  ownerSqlState("update app_public.tenants set subscription_plan = $2 where id = $1", [tenantId, plan]);

describe("a trial tenant may have at most 5 active doctors (PLANL)", () => {
  test("GraphQL: a new trial tenant (1 doctor) adds 4 more, and the 6th addDoctor is refused with PLANL", async () => {
    const clinic = await signUpClinic();
    expect(await planOf(clinic.tenantId)).toBe("trial");
    for (let i = 0; i < 4; i++) {
      const { body } = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Ok") });
      expect(errorCodes(body)).toEqual([]);
      expect(body.data.addDoctor.result.isActive).toBe(true);
    }
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
    const { body } = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Sixth") });
    expect(firstCode(body)).toBe("PLANL");
    expect(body.data?.addDoctor ?? null).toBeNull();
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
  });

  test("SQL: the 6th add_doctor raises SQLSTATE PLANL, and so does a plain insert", async () => {
    const clinic = await signUpClinic();
    await addDoctors(clinic, 4);
    expect(
      await sqlStateOf(clinic.admin.claims, (client) => client.query("select app_public.add_doctor($1)", [uniq("Dr Sixth")])),
    ).toBe("PLANL");
    expect(
      await sqlStateOf(clinic.admin.claims, (client) =>
        client.query("insert into app_public.doctors (full_name) values ($1)", [uniq("Dr Sixth")]),
      ),
    ).toBe("PLANL");
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
  });

  test("GraphQL: createDoctor of an active doctor in a full tenant is refused with PLANL", async () => {
    const clinic = await signUpClinic();
    await addDoctors(clinic, 4);
    const { body } = await server.graphql(clinic.admin.token, CREATE_DOCTOR, { fullName: uniq("Dr Sixth"), isActive: true });
    expect(firstCode(body)).toBe("PLANL");
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
  });
});

describe("only active doctors count towards the limit", () => {
  test("deactivating a doctor frees a slot for a new one", async () => {
    const clinic = await signUpClinic();
    const [first] = await addDoctors(clinic, 4);
    const off = await server.graphql(clinic.admin.token, SET_ACTIVE, { rowId: first, isActive: false });
    expect(errorCodes(off.body)).toEqual([]);
    const { body } = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Freed") });
    expect(errorCodes(body)).toEqual([]);
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 6 });
  });

  test("GraphQL: reactivating a doctor when the tenant is full is refused with PLANL and he stays inactive", async () => {
    const clinic = await signUpClinic();
    const [first] = await addDoctors(clinic, 4);
    await server.graphql(clinic.admin.token, SET_ACTIVE, { rowId: first, isActive: false });
    await addDoctors(clinic, 1);
    const { body } = await server.graphql(clinic.admin.token, SET_ACTIVE, { rowId: first, isActive: true });
    expect(firstCode(body)).toBe("PLANL");
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 6 });
    const isActive = await asOwner(async (client) => {
      const { rows } = await client.query("select is_active from app_public.doctors where id = $1", [first]);
      return rows[0].is_active as boolean;
    });
    expect(isActive).toBe(false);
  });

  test("SQL: reactivating a doctor when the tenant is full raises SQLSTATE PLANL", async () => {
    const clinic = await signUpClinic();
    const [first] = await addDoctors(clinic, 4);
    await asClaims(clinic.admin.claims, (client) =>
      client.query("update app_public.doctors set is_active = false where id = $1", [first]),
    );
    await addDoctors(clinic, 1);
    expect(
      await sqlStateOf(clinic.admin.claims, (client) =>
        client.query("update app_public.doctors set is_active = true where id = $1", [first]),
      ),
    ).toBe("PLANL");
  });

  test("GraphQL: an inactive doctor may be added with createDoctor even when the tenant is full", async () => {
    const clinic = await signUpClinic();
    await addDoctors(clinic, 4);
    const { body } = await server.graphql(clinic.admin.token, CREATE_DOCTOR, { fullName: uniq("Dr Dormant"), isActive: false });
    expect(errorCodes(body)).toEqual([]);
    expect(body.data.createDoctor.doctor.isActive).toBe(false);
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 6 });
  });

  test("SQL: an inactive doctor may be inserted even when the tenant is full", async () => {
    const clinic = await signUpClinic();
    await addDoctors(clinic, 4);
    await asClaims(clinic.admin.claims, (client) =>
      client.query("insert into app_public.doctors (full_name, is_active) values ($1, false)", [uniq("Dr Dormant")]),
    );
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 6 });
  });
});

describe("concurrent adds cannot overshoot the limit", () => {
  test("with one free slot, 20 concurrent add_doctor transactions give exactly one new doctor and 19 PLANL failures", async () => {
    const clinic = await signUpClinic();
    await addDoctors(clinic, 3);
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 4, total: 4 });
    // Every transaction first waits until all 20 have begun, then adds, then stays open a moment:
    // without the tenant-row lock, all 20 would count 4 active doctors and commit.
    let ready = 0;
    let startAll!: () => void;
    const allBegun = new Promise<void>((resolve) => (startAll = resolve));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        asClaims(clinic.admin.claims, async (client) => {
          if (++ready === 20) startAll();
          await allBegun;
          await client.query("select app_public.add_doctor($1)", [uniq(`Dr Racer ${i}`)]);
          await client.query("select pg_sleep(0.2)");
        }),
      ),
    );
    const fulfilled = results.filter((result) => result.status === "fulfilled");
    const failureCodes = results
      .filter((result): result is PromiseRejectedResult => result.status === "rejected")
      .map((result) => (result.reason as { code?: string }).code);
    expect(fulfilled).toHaveLength(1);
    expect(failureCodes).toEqual(Array(19).fill("PLANL"));
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
  });
});

describe("plan changes respect the active doctors (PLANL on downgrade)", () => {
  test("downgrading a basic tenant with 8 active doctors to trial raises SQLSTATE PLANL and the plan stays basic", async () => {
    const clinic = await signUpClinic();
    expect(await setPlan(clinic.tenantId, "basic")).toBe("ok");
    await addDoctors(clinic, 7);
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 8, total: 8 });
    expect(await setPlan(clinic.tenantId, "trial")).toBe("PLANL");
    expect(await planOf(clinic.tenantId)).toBe("basic");
  });

  test("upgrading a basic tenant with 8 active doctors to premium is accepted", async () => {
    const clinic = await signUpClinic();
    expect(await setPlan(clinic.tenantId, "basic")).toBe("ok");
    await addDoctors(clinic, 7);
    expect(await setPlan(clinic.tenantId, "premium")).toBe("ok");
    expect(await planOf(clinic.tenantId)).toBe("premium");
  });

  test("a plan change that leaves the count exactly at the new limit is accepted (5 active doctors to trial)", async () => {
    const clinic = await signUpClinic();
    expect(await setPlan(clinic.tenantId, "basic")).toBe("ok");
    await addDoctors(clinic, 4);
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 5 });
    expect(await setPlan(clinic.tenantId, "trial")).toBe("ok");
    expect(await planOf(clinic.tenantId)).toBe("trial");
  });

  test("inactive doctors do not block a downgrade", async () => {
    const clinic = await signUpClinic();
    expect(await setPlan(clinic.tenantId, "basic")).toBe("ok");
    const ids = await addDoctors(clinic, 7);
    await asClaims(clinic.admin.claims, (client) =>
      client.query("update app_public.doctors set is_active = false where id = any($1::uuid[])", [ids.slice(0, 3)]),
    );
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 5, total: 8 });
    expect(await setPlan(clinic.tenantId, "trial")).toBe("ok");
  });

  test("the admin cannot change the tenant's plan through SQL (not granted: 42501)", async () => {
    const clinic = await signUpClinic();
    expect(
      await sqlStateOf(clinic.admin.claims, (client) =>
        client.query("update app_public.tenants set subscription_plan = 'premium' where id = $1", [clinic.tenantId]),
      ),
    ).toBe("42501");
    expect(await planOf(clinic.tenantId)).toBe("trial");
  });
});

describe("the limit is read from app_public.subscription_plans", () => {
  const plan = `tiny_${process.pid}`;
  let clinic: Clinic | undefined;

  beforeAll(async () => {
    await asOwner((client) =>
      client.query("insert into app_public.subscription_plans (plan, display_name, max_doctors) values ($1, 'Tiny', 1)", [plan]),
    );
  });

  afterAll(async () => {
    await asOwner(async (client) => {
      if (clinic)
        await client.query("update app_public.tenants set subscription_plan = 'premium' where id = $1", [clinic.tenantId]);
      await client.query("delete from app_public.subscription_plans where plan = $1", [plan]);
    });
  });

  test("a tenant on a scratch plan with max_doctors 1 is full with its first doctor, and raising max_doctors to 2 frees one slot", async () => {
    clinic = await signUpClinic();
    expect(await setPlan(clinic.tenantId, plan)).toBe("ok");
    const refused = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Second") });
    expect(firstCode(refused.body)).toBe("PLANL");
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 1, total: 1 });

    await asOwner((client) => client.query("update app_public.subscription_plans set max_doctors = 2 where plan = $1", [plan]));
    const accepted = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Second") });
    expect(errorCodes(accepted.body)).toEqual([]);
    const third = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Third") });
    expect(firstCode(third.body)).toBe("PLANL");
    expect(await doctorCounts(clinic.tenantId)).toEqual({ active: 2, total: 2 });
  });
});

describe("the count is per tenant", () => {
  test("tenant B being full does not stop tenant A from adding a doctor", async () => {
    const [a, b] = await Promise.all([signUpClinic(), signUpClinic()]);
    await addDoctors(b, 4);
    expect(await doctorCounts(b.tenantId)).toEqual({ active: 5, total: 5 });
    const { body: bBody } = await server.graphql(b.admin.token, ADD_DOCTOR, { fullName: uniq("Dr B6") });
    expect(firstCode(bBody)).toBe("PLANL");
    const { body } = await server.graphql(a.admin.token, ADD_DOCTOR, { fullName: uniq("Dr A2") });
    expect(errorCodes(body)).toEqual([]);
    expect(await doctorCounts(a.tenantId)).toEqual({ active: 2, total: 2 });
    expect(await doctorCounts(b.tenantId)).toEqual({ active: 5, total: 5 });
  });

  test("tenant A being full does not stop tenant B, even with both adding concurrently", async () => {
    const [a, b] = await Promise.all([signUpClinic(), signUpClinic()]);
    await addDoctors(a, 4);
    const results = await Promise.allSettled(
      [a, a, b, b].map((clinic) =>
        asClaims(clinic.admin.claims, (client) => client.query("select app_public.add_doctor($1)", [uniq("Dr Both")])),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected", "fulfilled", "fulfilled"]);
    expect(results.map((result) => (result.status === "rejected" ? (result.reason as { code?: string }).code : "ok"))).toEqual([
      "PLANL",
      "PLANL",
      "ok",
      "ok",
    ]);
    expect(await doctorCounts(a.tenantId)).toEqual({ active: 5, total: 5 });
    expect(await doctorCounts(b.tenantId)).toEqual({ active: 3, total: 3 });
  });
});
