/**
 * Tenant isolation: whatever a user of tenant B sends, tenant A's rows stay invisible and
 * unchanged, and B's rows can never point at A's. Checked in SQL, as PostGraphile runs it
 * (the signed-in role plus the JWT claims), and over GraphQL for counts and aggregates.
 */
import type { PoolClient } from "pg";
import {
  asClaims,
  asOwner,
  roles,
  seedClinicalRows,
  signUpClinic,
  sqlStateOf,
  useServer,
  type Clinic,
  type Member,
} from "./helpers";

let a: Clinic;
let b: Clinic;
const server = useServer();
/** Ids of tenant A's rows, per table. */
const ids: Record<string, string[]> = {};
/** A column each table lets its writers update, for "update changes nothing" attempts. */
const writableColumn: Record<string, string> = {
  tenants: "name",
  users: "full_name",
  doctors: "full_name",
  patients: "full_name",
  appointments: "notes",
  medicines: "name",
  prescriptions: "notes",
  prescription_items: "dose",
  working_hours: "office_id",
  time_off_periods: "reason",
  visit_types: "name",
  appointment_series: "rrule",
};
const tables = Object.keys(writableColumn);

async function snapshot(): Promise<Record<string, unknown[]>> {
  return asOwner(async (client) => {
    const result: Record<string, unknown[]> = {};
    for (const table of tables) {
      const { rows } = await client.query(`select to_jsonb(t) as row from app_public.${table} t where id = any($1) order by id`, [
        ids[table],
      ]);
      result[table] = rows.map((r) => r.row);
    }
    return result;
  });
}

beforeAll(async () => {
  [a, b] = await Promise.all([signUpClinic(), signUpClinic()]);
  const rowsA = await seedClinicalRows(a);
  await seedClinicalRows(b);
  ids.tenants = [a.tenantId];
  ids.users = [a.admin.userId, a.receptionist.userId, a.doctor.userId];
  ids.doctors = [a.doctor.doctorId];
  ids.patients = [rowsA.patient];
  ids.appointments = [rowsA.appointment];
  ids.medicines = [rowsA.medicine];
  ids.prescriptions = [rowsA.prescription];
  ids.prescription_items = [rowsA.item];
  ids.working_hours = [rowsA.workingHours];
  ids.time_off_periods = [rowsA.timeOff];
  ids.visit_types = [rowsA.visitType];
  ids.appointment_series = [rowsA.series];
});

const rolesOf = (clinic: () => Clinic): [string, () => Member][] => [
  ["admin", () => clinic().admin],
  ["doctor", () => clinic().doctor],
  ["receptionist", () => clinic().receptionist],
];

describe.each(rolesOf(() => b))("tenant B's %s", (_role, who) => {
  test.each(tables)("cannot see tenant A's %s", async (table) => {
    const { rows } = await asClaims(who().claims, (client) =>
      client.query(`select count(*)::int as n from app_public.${table} where id = any($1)`, [ids[table]]),
    );
    expect(rows[0].n).toBe(0);
  });

  test.each(tables)("cannot update or delete tenant A's %s (nothing changes)", async (table) => {
    const before = await snapshot();
    const column = writableColumn[table];
    const attempt = async (sql: string) => {
      try {
        return (await asClaims(who().claims, (client) => client.query(sql, [ids[table]]))).rowCount;
      } catch (error) {
        return (error as { code: string }).code; // no grant at all: refused outright
      }
    };
    const updated = await attempt(`update app_public.${table} set ${column} = ${column} || ' (changed)' where id = any($1)`);
    const deleted = await attempt(`delete from app_public.${table} where id = any($1)`);
    expect([0, "42501"]).toContain(updated);
    expect([0, "42501"]).toContain(deleted);
    expect(await snapshot()).toEqual(before);
  });

  test.each(tables)("cannot write a tenant_id into %s", async (table) => {
    const tenantColumn = table === "tenants" ? "id" : "tenant_id";
    const code = await sqlStateOf(who().claims, (client) =>
      client.query(`insert into app_public.${table} (${tenantColumn}, ${writableColumn[table]}) values ($1, 'x')`, [a.tenantId]),
    );
    expect(code).toBe("42501");
  });
});

describe("references never cross tenants", () => {
  const bPatient = () =>
    asOwner(
      async (c) => (await c.query("select id from app_public.patients where tenant_id = $1 limit 1", [b.tenantId])).rows[0].id,
    );
  const bPrescription = () =>
    asOwner(
      async (c) =>
        (await c.query("select id from app_public.prescriptions where tenant_id = $1 limit 1", [b.tenantId])).rows[0].id,
    );
  const book = (client: PoolClient, doctor: string, patient: string, office: string | null) =>
    client.query(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, outside_hours)
       values ($1, $2, $3, now() + interval '3 days', now() + interval '3 days 30 minutes', true)`,
      [doctor, patient, office],
    );

  test("an appointment with the other tenant's doctor is rejected", async () => {
    const patient = await bPatient();
    expect(await sqlStateOf(b.receptionist.claims, (c) => book(c, a.doctor.doctorId, patient, null))).toBe("23503");
    expect(await sqlStateOf(b.receptionist.claims, (c) => book(c, a.doctor.doctorId, patient, "main"))).toMatch(
      /^(23503|OFFIC)$/,
    );
  });

  test("an appointment with the other tenant's patient is rejected", async () => {
    expect(await sqlStateOf(b.receptionist.claims, (c) => book(c, b.doctor.doctorId, ids.patients[0], "main"))).toBe("23503");
  });

  test("an appointment at an office id only the other tenant's doctor has is rejected", async () => {
    await asClaims(a.admin.claims, (c) =>
      c.query(
        `update app_public.doctors set offices = offices || '[{"id": "a-only", "name": "A only", "is_primary": false}]' where id = $1`,
        [a.doctor.doctorId],
      ),
    );
    const patient = await bPatient();
    expect(await sqlStateOf(b.receptionist.claims, (c) => book(c, b.doctor.doctorId, patient, "a-only"))).toBe("OFFIC");
  });

  test("a prescription for the other tenant's patient is rejected", async () => {
    const code = await sqlStateOf(b.doctor.claims, (c) =>
      c.query("insert into app_public.prescriptions (patient_id) values ($1)", [ids.patients[0]]),
    );
    expect(code).toBe("23503");
  });

  test("a prescription item with the other tenant's medicine is rejected", async () => {
    const prescription = await bPrescription();
    const code = await sqlStateOf(b.doctor.claims, (c) =>
      c.query(
        "insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency) values ($1, $2, '1', 'daily')",
        [prescription, ids.medicines[0]],
      ),
    );
    expect(code).toBe("23503");
  });

  test("a prescription item on the other tenant's prescription is rejected", async () => {
    const code = await sqlStateOf(b.doctor.claims, (c) =>
      c.query(
        `insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency)
         select $1, id, '1', 'daily' from app_public.medicines where tenant_id is null limit 1`,
        [ids.prescriptions[0]],
      ),
    );
    expect(code).toBe("23503");
  });

  test("a doctor account from the other tenant cannot be linked", async () => {
    const code = await sqlStateOf(b.admin.claims, (c) =>
      c.query("insert into app_public.doctors (full_name, user_id) values ('Dr Link', $1)", [a.doctor.userId]),
    );
    expect(code).toBe("23503");
  });
});

describe("global medicines catalogue", () => {
  test("every signed-in role sees the global catalogue plus its own tenant's medicines, not another's", async () => {
    for (const member of [b.admin, b.doctor, b.receptionist]) {
      const { rows } = await asClaims(member.claims, (c) =>
        c.query(
          "select count(*) filter (where tenant_id is null)::int as global, count(*) filter (where tenant_id is not null)::int as own, count(*) filter (where tenant_id is distinct from $1 and tenant_id is not null)::int as foreign_rows from app_public.medicines",
          [b.tenantId],
        ),
      );
      expect(rows[0].global).toBeGreaterThanOrEqual(200);
      expect(rows[0].own).toBe(1);
      expect(rows[0].foreign_rows).toBe(0);
    }
  });

  test("global rows are not writable by any clinic user", async () => {
    for (const member of [b.admin, b.doctor, b.receptionist]) {
      const { updated, deleted } = await asClaims(member.claims, async (c) => ({
        updated: (await c.query("update app_public.medicines set strength = strength where tenant_id is null")).rowCount,
        deleted: (await c.query("delete from app_public.medicines where tenant_id is null")).rowCount,
      }));
      expect(updated).toBe(0);
      expect(deleted).toBe(0);
    }
    const code = await sqlStateOf(b.admin.claims, (c) =>
      c.query("insert into app_public.medicines (tenant_id, name, dosage_form) values (null, 'fake global', 'tablet')"),
    );
    expect(code).toBe("42501");
  });

  test("a tenant's own medicine gets the tenant from the token", async () => {
    const { rows } = await asClaims(b.doctor.claims, (c) =>
      c.query(
        "insert into app_public.medicines (name, dosage_form, strength) values ('b special', 'cream', '1%') returning tenant_id",
      ),
    );
    expect(rows[0].tenant_id).toBe(b.tenantId);
  });
});

describe("fail closed", () => {
  test.each(tables)("no claims, an empty claim or a malformed claim sees no %s", async (table) => {
    for (const settings of [
      {},
      { "jwt.claims.tenant_id": "" },
      { "jwt.claims.tenant_id": "not-a-uuid" },
      { "jwt.claims.tenant_id": `${a.tenantId}'` },
    ]) {
      const { rows } = await asClaims(undefined, async (c) => {
        await c.query(`set local role ${roles().visitor}`);
        for (const [name, value] of Object.entries(settings)) await c.query("select set_config($1, $2, true)", [name, value]);
        await c.query("select set_config('jwt.claims.user_role', 'admin', true)");
        return c.query(`select count(*)::int as n from app_public.${table}`);
      });
      expect(rows[0].n).toBe(0);
    }
  });

  test("without a tenant claim nothing can be written", async () => {
    const code = await sqlStateOf(undefined, async (c) => {
      await c.query(`set local role ${roles().visitor}`);
      await c.query("select set_config('jwt.claims.user_role', 'admin', true)");
      await c.query("insert into app_public.patients (full_name) values ('Nobody')");
    });
    expect(["42501", "23502"]).toContain(code);
  });
});

describe("GraphQL counts and lookups", () => {
  const countsQuery = `{
    doctors { totalCount aggregates { distinctCount { rowId } } }
    patients { totalCount aggregates { distinctCount { rowId } } }
    appointments { totalCount aggregates { distinctCount { rowId } } }
    prescriptions { totalCount aggregates { distinctCount { rowId } } }
    prescriptionItems { totalCount }
    users { totalCount }
    tenants { totalCount }
    medicines(condition: { tenantId: null }) { totalCount }
  }`;

  test("totalCount and aggregates count only the caller's own tenant", async () => {
    const { body } = await server.graphql(b.admin.token, countsQuery);
    expect(body.errors).toBeUndefined();
    const own = await asOwner(async (c) => {
      const count = async (table: string) =>
        (await c.query(`select count(*)::int as n from app_public.${table} where tenant_id = $1`, [b.tenantId])).rows[0].n;
      return {
        doctors: await count("doctors"),
        patients: await count("patients"),
        appointments: await count("appointments"),
        prescriptions: await count("prescriptions"),
        items: await count("prescription_items"),
        users: await count("users"),
      };
    });
    expect(body.data.doctors.totalCount).toBe(own.doctors);
    expect(Number(body.data.doctors.aggregates.distinctCount.rowId)).toBe(own.doctors);
    expect(body.data.patients.totalCount).toBe(own.patients);
    expect(Number(body.data.patients.aggregates.distinctCount.rowId)).toBe(own.patients);
    expect(body.data.appointments.totalCount).toBe(own.appointments);
    expect(Number(body.data.appointments.aggregates.distinctCount.rowId)).toBe(own.appointments);
    expect(body.data.prescriptions.totalCount).toBe(own.prescriptions);
    expect(body.data.prescriptionItems.totalCount).toBe(own.items);
    expect(body.data.users.totalCount).toBe(own.users);
    expect(body.data.tenants.totalCount).toBe(1);
    expect(JSON.stringify(body)).not.toContain(a.tenantId);
  });

  test("looking up tenant A's rows by id from tenant B returns null", async () => {
    const { body } = await server.graphql(
      b.admin.token,
      `query ($doctor: UUID!, $patient: UUID!, $appointment: UUID!, $prescription: UUID!, $tenant: UUID!) {
        doctor(rowId: $doctor) { rowId } patient(rowId: $patient) { rowId }
        appointment(rowId: $appointment) { rowId } prescription(rowId: $prescription) { rowId } tenant(rowId: $tenant) { rowId }
      }`,
      {
        doctor: ids.doctors[0],
        patient: ids.patients[0],
        appointment: ids.appointments[0],
        prescription: ids.prescriptions[0],
        tenant: a.tenantId,
      },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ doctor: null, patient: null, appointment: null, prescription: null, tenant: null });
  });

  test("updating or deleting tenant A's patient through GraphQL changes nothing", async () => {
    const before = await snapshot();
    const update = await server.graphql(
      b.admin.token,
      `mutation ($id: UUID!) { updatePatient(input: { rowId: $id, patch: { fullName: "Hijacked" } }) { patient { rowId } } }`,
      { id: ids.patients[0] },
    );
    const remove = await server.graphql(
      b.admin.token,
      `mutation ($id: UUID!) { deletePatient(input: { rowId: $id }) { patient { rowId } } }`,
      { id: ids.patients[0] },
    );
    // Not found, exactly as for a row that does not exist.
    expect(update.body.data?.updatePatient?.patient ?? null).toBeNull();
    expect(remove.body.data?.deletePatient?.patient ?? null).toBeNull();
    expect(remove.body.errors?.[0].extensions?.code).toBe("NTFND");
    const absent = await server.graphql(
      b.admin.token,
      `mutation { deletePatient(input: { rowId: "00000000-0000-4000-8000-000000000000" }) { patient { rowId } } }`,
    );
    const { message, extensions } = absent.body.errors?.[0] ?? {};
    expect({ message, extensions }).toEqual({
      message: remove.body.errors?.[0].message,
      extensions: remove.body.errors?.[0].extensions,
    });
    expect(JSON.stringify([update.body, remove.body])).not.toContain("Pat Patient");
    expect(await snapshot()).toEqual(before);
  });
});
