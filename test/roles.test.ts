/**
 * Roles inside a tenant, enforced by policies and column guards: admin does everything; a doctor
 * reads, edits their own profile, writes their own prescriptions and their own appointments'
 * status and notes; a receptionist manages patients and appointments and sees no prescriptions.
 */
import { asClaims, asOwner, closePool, seedClinicalRows, signUpClinic, sqlStateOf, type Clinic } from "./helpers";

let clinic: Clinic;
let patientId: string;
let appointmentId: string;
let prescriptionId: string;
let otherDoctorId: string;

beforeAll(async () => {
  clinic = await signUpClinic();
  ({ patientId, appointmentId, prescriptionId, otherDoctorId } = await asClaims(clinic.admin.claims, async (c) => {
    const patient = (await c.query("insert into app_public.patients (full_name) values ('Pia') returning id")).rows[0].id;
    const appointment = (
      await c.query(
        `insert into app_public.appointments (doctor_id, patient_id, starts_at, ends_at, outside_hours)
         values ($1, $2, now() + interval '2 days', now() + interval '2 days 20 minutes', true) returning id`,
        [clinic.doctor.doctorId, patient],
      )
    ).rows[0].id;
    const prescription = (
      await c.query("insert into app_public.prescriptions (patient_id, doctor_id) values ($1, $2) returning id", [
        patient,
        clinic.doctor.doctorId,
      ])
    ).rows[0].id;
    const other = (await c.query("select id from app_public.add_doctor('Dr Other')")).rows[0].id;
    return { patientId: patient, appointmentId: appointment, prescriptionId: prescription, otherDoctorId: other };
  }));
});
afterAll(closePool);

const count = async (claims: Clinic["admin"]["claims"], table: string) =>
  (await asClaims(claims, (c) => c.query(`select count(*)::int as n from app_public.${table}`))).rows[0].n as number;

describe("receptionist", () => {
  test("reads doctors, patients, appointments and medicines but no prescriptions", async () => {
    const who = clinic.receptionist.claims;
    expect(await count(who, "doctors")).toBe(2);
    expect(await count(who, "patients")).toBe(1);
    expect(await count(who, "appointments")).toBe(1);
    expect(await count(who, "medicines")).toBeGreaterThanOrEqual(200);
    expect(await count(who, "prescriptions")).toBe(0);
    expect(await count(who, "prescription_items")).toBe(0);
  });

  test("manages patients and appointments", async () => {
    await asClaims(clinic.receptionist.claims, async (c) => {
      const { rows } = await c.query("insert into app_public.patients (full_name) values ('Walk-in') returning id");
      await c.query("update app_public.appointments set reason = 'Check-up' where id = $1", [appointmentId]);
      await c.query("delete from app_public.patients where id = $1", [rows[0].id]);
    });
    const { rows } = await asOwner((c) => c.query("select reason from app_public.appointments where id = $1", [appointmentId]));
    expect(rows[0].reason).toBe("Check-up");
  });

  test("cannot add doctors, prescriptions or medicines, nor change a doctor", async () => {
    const who = clinic.receptionist.claims;
    expect(await sqlStateOf(who, (c) => c.query("select app_public.add_doctor('Dr Sneaky')"))).toBe("42501");
    expect(
      await sqlStateOf(who, (c) =>
        c.query("insert into app_public.prescriptions (patient_id, doctor_id) values ($1, $2)", [
          patientId,
          clinic.doctor.doctorId,
        ]),
      ),
    ).toBe("42501");
    expect(
      await sqlStateOf(who, (c) => c.query("insert into app_public.medicines (name, dosage_form) values ('x', 'tablet')")),
    ).toBe("42501");
    const { rowCount } = await asClaims(who, (c) =>
      c.query("update app_public.doctors set full_name = 'Renamed' where id = $1", [otherDoctorId]),
    );
    expect(rowCount).toBe(0);
  });

  test("adding a prescription item answers NOREF alike for an existing, an absent and another tenant's prescription", async () => {
    const other = await seedClinicalRows(await signUpClinic());
    const addItem = (prescription: string) =>
      sqlStateOf(clinic.receptionist.claims, (c) =>
        c.query(
          `insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency)
           select $1, id, '1', 'daily' from app_public.medicines where tenant_id is null limit 1`,
          [prescription],
        ),
      );
    const answers = {
      existing: await addItem(prescriptionId),
      absent: await addItem("00000000-0000-4000-8000-000000000000"),
      otherTenants: await addItem(other.prescription),
    };
    expect(answers).toEqual({ existing: "23503", absent: "23503", otherTenants: "23503" });
  });

  test("sees only their own user row and cannot promote themselves", async () => {
    expect(await count(clinic.receptionist.claims, "users")).toBe(1);
    expect(
      await sqlStateOf(clinic.receptionist.claims, (c) =>
        c.query("update app_public.users set user_role = 'admin' where id = $1", [clinic.receptionist.userId]),
      ),
    ).toBe("DNIED");
  });
});

describe("doctor", () => {
  test("reads patients but cannot register or change them", async () => {
    const who = clinic.doctor.claims;
    expect(await count(who, "patients")).toBe(1);
    expect(await sqlStateOf(who, (c) => c.query("insert into app_public.patients (full_name) values ('x')"))).toBe("42501");
    const { rowCount } = await asClaims(who, (c) =>
      c.query("update app_public.patients set notes = 'x' where id = $1", [patientId]),
    );
    expect(rowCount).toBe(0);
  });

  test("edits their own profile and offices, not another doctor's", async () => {
    const who = clinic.doctor.claims;
    const own = await asClaims(who, (c) =>
      c.query("update app_public.doctors set specialty = 'Geriatrics' where id = $1", [clinic.doctor.doctorId]),
    );
    const other = await asClaims(who, (c) =>
      c.query("update app_public.doctors set specialty = 'Geriatrics' where id = $1", [otherDoctorId]),
    );
    expect([own.rowCount, other.rowCount]).toEqual([1, 0]);
  });

  test("cannot deactivate themselves or change their license (DNIED)", async () => {
    const who = clinic.doctor.claims;
    expect(
      await sqlStateOf(who, (c) =>
        c.query("update app_public.doctors set is_active = false where id = $1", [clinic.doctor.doctorId]),
      ),
    ).toBe("DNIED");
    expect(
      await sqlStateOf(who, (c) =>
        c.query("update app_public.doctors set license_number = 'FAKE' where id = $1", [clinic.doctor.doctorId]),
      ),
    ).toBe("DNIED");
  });

  test("writes prescriptions in their own name only", async () => {
    const who = clinic.doctor.claims;
    const { rows } = await asClaims(who, (c) =>
      c.query("insert into app_public.prescriptions (patient_id) values ($1) returning doctor_id", [patientId]),
    );
    expect(rows[0].doctor_id).toBe(clinic.doctor.doctorId);
    expect(
      await sqlStateOf(who, (c) =>
        c.query("insert into app_public.prescriptions (patient_id, doctor_id) values ($1, $2)", [patientId, otherDoctorId]),
      ),
    ).toBe("42501");
  });

  test("adds items to their own prescription; the item's prescriber comes from the prescription", async () => {
    const { rows } = await asClaims(clinic.doctor.claims, (c) =>
      c.query(
        `insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency, duration_days)
         select $1, id, '1 tablet', 'every 8 hours', 5 from app_public.medicines where tenant_id is null limit 1 returning doctor_id`,
        [prescriptionId],
      ),
    );
    expect(rows[0].doctor_id).toBe(clinic.doctor.doctorId);
  });

  test("cannot touch another doctor's prescription", async () => {
    const otherRx = await asClaims(
      clinic.admin.claims,
      async (c) =>
        (
          await c.query("insert into app_public.prescriptions (patient_id, doctor_id) values ($1, $2) returning id", [
            patientId,
            otherDoctorId,
          ])
        ).rows[0].id,
    );
    const { rowCount } = await asClaims(clinic.doctor.claims, (c) =>
      c.query("update app_public.prescriptions set notes = 'x' where id = $1", [otherRx]),
    );
    expect(rowCount).toBe(0);
    const code = await sqlStateOf(clinic.doctor.claims, (c) =>
      c.query(
        `insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency)
         select $1, id, '1', 'daily' from app_public.medicines where tenant_id is null limit 1`,
        [otherRx],
      ),
    );
    expect(code).toBe("42501");
  });

  test("updates status and notes of their own appointment, but not its time (DNIED)", async () => {
    const who = clinic.doctor.claims;
    const { rowCount } = await asClaims(who, (c) =>
      c.query("update app_public.appointments set status = 'arrived', notes = 'ok' where id = $1", [appointmentId]),
    );
    expect(rowCount).toBe(1);
    expect(
      await sqlStateOf(who, (c) =>
        c.query("update app_public.appointments set starts_at = starts_at + interval '1 hour' where id = $1", [appointmentId]),
      ),
    ).toBe("DNIED");
  });
});

describe("admin", () => {
  test("sees every user of the tenant and deactivates users", async () => {
    expect(await count(clinic.admin.claims, "users")).toBe(3);
    const extra = await asClaims(
      clinic.admin.claims,
      async (c) =>
        (await c.query("select id from app_public.add_user($1, 'Temp')", [`temp-${Date.now()}@example.test`])).rows[0].id,
    );
    const { rowCount } = await asClaims(clinic.admin.claims, (c) =>
      c.query("update app_public.users set is_active = false where id = $1", [extra]),
    );
    expect(rowCount).toBe(1);
  });

  test("cannot demote or deactivate the last active admin (DNIED)", async () => {
    const who = clinic.admin.claims;
    expect(
      await sqlStateOf(who, (c) => c.query("update app_public.users set is_active = false where id = $1", [clinic.admin.userId])),
    ).toBe("DNIED");
    expect(
      await sqlStateOf(who, (c) =>
        c.query("update app_public.users set user_role = 'doctor' where id = $1", [clinic.admin.userId]),
      ),
    ).toBe("DNIED");
  });

  test("cannot change the tenant's plan through the API", async () => {
    expect(
      await sqlStateOf(clinic.admin.claims, (c) => c.query("update app_public.tenants set subscription_plan = 'premium'")),
    ).toBe("42501");
  });

  test("cannot set created_at or updated_at", async () => {
    expect(
      await sqlStateOf(clinic.admin.claims, (c) =>
        c.query("insert into app_public.patients (full_name, created_at) values ('x', '2000-01-01')"),
      ),
    ).toBe("42501");
  });
});
