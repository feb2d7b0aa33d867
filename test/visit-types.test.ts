/**
 * Visit types and the booking policy (migration section "Scheduling, part 2"): admins manage a
 * tenant's visit types (duration and buffers, bounded, names unique per tenant) and its booking
 * policy (notice, horizon, slot grid); everyone reads them; an appointment's visit type is the
 * tenant's own, changed only by the front desk, and a type in use cannot be deleted.
 */
import { asClaims, signUpClinic, sqlStateOf, type Clinic, type Member } from "./helpers";

let clinic: Clinic;
let other: Clinic;

beforeAll(async () => {
  [clinic, other] = await Promise.all([signUpClinic(), signUpClinic()]);
});

const createType = (who: Member, name: string, duration = 30, before = 0, after = 0) =>
  asClaims(who.claims, async (c) => {
    const { rows } = await c.query(
      `insert into app_public.visit_types (name, duration_minutes, buffer_before_minutes, buffer_after_minutes)
       values ($1, $2, $3, $4) returning id`,
      [name, duration, before, after],
    );
    return rows[0].id as string;
  });
const stateOfCreating = (who: Member, name: string, duration = 30, before = 0, after = 0) =>
  sqlStateOf(who.claims, (c) =>
    c.query(
      `insert into app_public.visit_types (name, duration_minutes, buffer_before_minutes, buffer_after_minutes)
       values ($1, $2, $3, $4)`,
      [name, duration, before, after],
    ),
  );

test("admins create visit types; doctors and receptionists read them only; values are bounded", async () => {
  await createType(clinic.admin, "First visit", 45, 5, 10);
  expect(await stateOfCreating(clinic.doctor, "Follow-up")).toBe("42501");
  expect(await stateOfCreating(clinic.receptionist, "Follow-up")).toBe("42501");
  for (const who of [clinic.doctor, clinic.receptionist]) {
    const names = await asClaims(who.claims, async (c) => (await c.query("select name from app_public.visit_types")).rows);
    expect(names).toEqual([{ name: "First visit" }]);
  }
  expect(await stateOfCreating(clinic.admin, "First visit")).toBe("23505");
  await createType(other.admin, "First visit"); // the same name in another tenant
  for (const [duration, before, after] of [
    [0, 0, 0],
    [481, 0, 0],
    [30, -1, 0],
    [30, 0, 121],
  ])
    expect(await stateOfCreating(clinic.admin, `Odd ${duration}/${before}/${after}`, duration, before, after)).toBe("23514");
  expect(await stateOfCreating(clinic.admin, "Two\nlines")).toBe("INVAL");
});

test("an appointment's visit type: the tenant's own, changed by the front desk only, never deleted while used", async () => {
  const own = await createType(clinic.admin, "Check-up", 20);
  const foreign = await createType(other.admin, "Check-up", 20);
  const book = (visitTypeId: string) =>
    asClaims(clinic.receptionist.claims, async (c) => {
      const { rows: patients } = await c.query("insert into app_public.patients (full_name) values ('Val Visit') returning id");
      const { rows } = await c.query(
        `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, visit_type_id, outside_hours)
         values ($1, $2, 'main', now() + interval '5 days', now() + interval '5 days 20 minutes', $3, true) returning id`,
        [clinic.doctor.doctorId, patients[0].id, visitTypeId],
      );
      return rows[0].id as string;
    });
  await expect(book(foreign)).rejects.toMatchObject({ code: "23503" });
  const appointment = await book(own);
  expect(
    await sqlStateOf(clinic.doctor.claims, (c) =>
      c.query("update app_public.appointments set visit_type_id = null where id = $1", [appointment]),
    ),
  ).toBe("DNIED");
  expect(await sqlStateOf(clinic.admin.claims, (c) => c.query("delete from app_public.visit_types where id = $1", [own]))).toBe(
    "23503",
  );
  const deactivated = await asClaims(clinic.admin.claims, async (c) => {
    await c.query("update app_public.visit_types set is_active = false where id = $1", [own]);
    return (await c.query("select is_active from app_public.visit_types where id = $1", [own])).rows[0].is_active;
  });
  expect(deactivated).toBe(false);
});

test("the booking policy: admins set notice, horizon and slot grid within bounds; others cannot", async () => {
  const policy = () =>
    asClaims(
      clinic.receptionist.claims,
      async (c) =>
        (
          await c.query(
            "select booking_notice_minutes, booking_horizon_days, slot_grid_minutes from app_public.tenants where id = $1",
            [clinic.tenantId],
          )
        ).rows[0],
    );
  expect(await policy()).toEqual({ booking_notice_minutes: 0, booking_horizon_days: 365, slot_grid_minutes: 15 });
  await asClaims(clinic.admin.claims, (c) =>
    c.query("update app_public.tenants set booking_notice_minutes = 120, booking_horizon_days = 90, slot_grid_minutes = 30"),
  );
  expect(await policy()).toEqual({ booking_notice_minutes: 120, booking_horizon_days: 90, slot_grid_minutes: 30 });
  for (const change of ["booking_notice_minutes = -1", "booking_horizon_days = 0", "slot_grid_minutes = 7"])
    expect(await sqlStateOf(clinic.admin.claims, (c) => c.query(`update app_public.tenants set ${change}`))).toBe("23514");
  const byReceptionist = await asClaims(
    clinic.receptionist.claims,
    async (c) => (await c.query("update app_public.tenants set slot_grid_minutes = 5")).rowCount,
  );
  expect(byReceptionist).toBe(0);
  expect(await policy()).toEqual({ booking_notice_minutes: 120, booking_horizon_days: 90, slot_grid_minutes: 30 });
});
