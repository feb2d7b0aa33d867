/**
 * The demo clinic that `npm start` creates on first run, so a newcomer has something to query.
 * Built with the product's own SQL functions and policies (claims set as the demo admin would
 * have them), not with raw inserts that skip the rules.
 */
import { Client } from "pg";
import { hashPassword } from "../auth/passwords";

export const DEMO_ADMIN = { email: "admin@demo.clinic", password: "demo-password-2026" };
export const DEMO_DOCTOR = { email: "ana.ruiz@demo.clinic", password: "demo-password-2026" };

const offices = (...names: string[]) =>
  JSON.stringify(
    names.map((name, i) => ({ id: `office-${i + 1}`, name, address: `${10 + i} Main Street`, is_primary: i === 0 })),
  );

/**
 * Creates the demo clinic unless it exists: an admin, a receptionist, three doctors with offices
 * (Ana can sign in; the others and the receptionist activate their accounts from the set-password
 * link in their account e-mail), six patients (four with an e-mail address), working hours, the next five weekdays'
 * appointments and two prescriptions. Its commit enqueues the welcome and account e-mails, and the patients'
 * appointment confirmations.
 * `ownerUrl` connects as the owner. Returns false when the demo clinic was already there.
 */
export async function seedDemo(ownerUrl: string): Promise<boolean> {
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from app_public.users where email = $1", [DEMO_ADMIN.email]);
    if (rowCount) return false;
    const adminHash = await hashPassword(DEMO_ADMIN.password);
    const doctorHash = await hashPassword(DEMO_DOCTOR.password);
    await client.query("begin");
    const {
      rows: [{ session }],
    } = await client.query(
      "select app_private.register_clinic('Demo Clinic', 'Dana Admin', $1, $2, 'Europe/Madrid') as session",
      [DEMO_ADMIN.email, adminHash],
    );
    await client.query(
      `select set_config('jwt.claims.tenant_id', $1, true), set_config('jwt.claims.sub', $2, true),
              set_config('jwt.claims.user_role', 'admin', true)`,
      [session.tenant.id, session.user.id],
    );
    await client.query("select app_public.add_user('reception@demo.clinic', 'Rita Reception', 'receptionist')");
    const doctors = [];
    for (const [name, email, specialty, license, officeNames] of [
      ["Ana Ruiz", DEMO_DOCTOR.email, "Family medicine", "MED-1001", ["North Office", "Downtown"]],
      ["Ben Okafor", "ben.okafor@demo.clinic", "Paediatrics", "MED-1002", ["Downtown"]],
      ["Chen Li", "chen.li@demo.clinic", "Cardiology", "MED-1003", ["Heart Centre", "North Office"]],
    ] as const) {
      const { rows } = await client.query("select id, user_id from app_public.add_doctor($1, $2, $3, $4, null, $5::jsonb)", [
        name,
        email,
        specialty,
        license,
        offices(...officeNames),
      ]);
      doctors.push(rows[0]);
    }
    await client.query(
      "insert into app_private.user_secrets (tenant_id, user_id, password_hash) select u.tenant_id, u.id, $2 from app_public.users u where u.id = $1",
      [doctors[0].user_id, doctorHash],
    );
    const { rows: patients } = await client.query(
      `insert into app_public.patients (full_name, birth_date, gender, phone, email)
       values ('Lucia Fernandez', '1985-03-14', 'female', '+34 600 000 001', 'lucia.fernandez@example.com'),
              ('Mateo Garcia', '2016-07-02', 'male', '+34 600 000 002', 'garcia.family@example.com'),
              ('Sara Novak', '1959-11-23', 'female', '+34 600 000 003', 'sara.novak@example.com'),
              ('Omar Haddad', '1992-01-30', 'male', '+34 600 000 004', null),
              ('Kim Park', '1978-05-09', 'other', null, 'kim.park@example.com'),
              ('Ivan Petrov', '2001-09-17', 'unknown', null, null)
       returning id`,
    );
    // Every doctor works weekdays 08:00–18:00 at their first office, in the clinic's time zone.
    await client.query(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at)
       select d, 'office-1', weekday, '08:00', '18:00' from unnest($1::uuid[]) d cross join generate_series(1, 5) weekday`,
      [doctors.map((d) => d.id)],
    );
    // The next five weekdays' schedule, inside those hours (the booking rules check every one).
    await client.query(
      `with days as (
         select day, row_number() over (order by day) as k
         from generate_series((now() at time zone 'Europe/Madrid')::date + 1, (now() at time zone 'Europe/Madrid')::date + 7,
                              interval '1 day') day
         where extract(isodow from day) <= 5
       )
       insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, status, reason)
       select d.id, p.id, 'office-1', s.starts_at, s.starts_at + interval '30 minutes', 'booked', 'Consultation'
       from unnest($1::uuid[]) with ordinality as d(id, n)
       cross join lateral unnest($2::uuid[]) with ordinality as p(id, m)
       join days on days.k = (m - 1) % 5 + 1
       cross join lateral (
         select (days.day + interval '8 hours' + n * interval '1 hour' + (m - 1) / 5 * interval '30 minutes')
                at time zone 'Europe/Madrid' as starts_at
       ) s`,
      [doctors.map((d) => d.id), patients.map((p) => p.id)],
    );
    for (const [doctor, patient, medicine] of [
      [doctors[0].id, patients[0].id, "amoxicillin"],
      [doctors[2].id, patients[2].id, "amlodipine"],
    ]) {
      const {
        rows: [rx],
      } = await client.query(
        "insert into app_public.prescriptions (patient_id, doctor_id, notes) values ($1, $2, 'Demo prescription') returning id",
        [patient, doctor],
      );
      await client.query(
        `insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency, duration_days, quantity)
         select $1, id, '1 unit', 'every 8 hours', 7, 21 from app_public.medicines
         where tenant_id is null and name = $2 order by dosage_form, strength limit 1`,
        [rx.id, medicine],
      );
    }
    await client.query("commit");
    return true;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}
