/**
 * Working hours and time off (migration section "Scheduling, part 1"): weekly rules per doctor and
 * office in local time, never overlapping for one doctor (OVLAP, at one office or two, on
 * overlapping dates); offices must be the doctor's (OFFIC), and an office with hours cannot be
 * removed; admins manage every doctor's, a doctor their own, receptionists only read.
 */
import type { PoolClient } from "pg";
import { asClaims, errorCodes, signUpClinic, sqlStateOf, useServer, type Clinic, type Member } from "./helpers";

const server = useServer();
let clinic: Clinic;

beforeAll(async () => {
  clinic = await signUpClinic();
});

interface Rule {
  office?: string;
  weekday?: number;
  from: string;
  to: string;
  validFrom?: string | null;
  validUntil?: string | null;
}

const addHours = (who: Member, rule: Rule, doctorId = clinic.doctor.doctorId) =>
  asClaims(who.claims, async (c) =>
    c.query(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at, valid_from, valid_until)
       values ($1, $2, $3, $4, $5, $6, $7) returning id`,
      [doctorId, rule.office ?? "main", rule.weekday ?? 2, rule.from, rule.to, rule.validFrom ?? null, rule.validUntil ?? null],
    ),
  );
const stateOfAdding = (who: Member, rule: Rule, doctorId?: string) =>
  sqlStateOf(who.claims, async (c) => {
    await c.query(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at, valid_from, valid_until)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        doctorId ?? clinic.doctor.doctorId,
        rule.office ?? "main",
        rule.weekday ?? 2,
        rule.from,
        rule.to,
        rule.validFrom ?? null,
        rule.validUntil ?? null,
      ],
    );
  });

test("split days at two offices; an overlap at either office, on overlapping dates, is OVLAP", async () => {
  await addHours(clinic.admin, { weekday: 3, from: "09:00", to: "13:00" });
  await addHours(clinic.admin, { weekday: 3, from: "15:00", to: "19:00", office: "north" });
  await addHours(clinic.admin, { weekday: 3, from: "13:00", to: "15:00", office: "north" }); // touching, not overlapping
  expect(await stateOfAdding(clinic.admin, { weekday: 3, from: "12:30", to: "13:30", office: "north" })).toBe("23P01");
  expect(await stateOfAdding(clinic.admin, { weekday: 3, from: "18:00", to: "20:00" })).toBe("23P01");
  // The same hours on other dates, or another weekday, are fine.
  await addHours(clinic.admin, { weekday: 4, from: "09:00", to: "13:00", office: "north" });
  await addHours(clinic.admin, { weekday: 5, from: "09:00", to: "13:00", validUntil: "2027-03-31" });
  await addHours(clinic.admin, { weekday: 5, from: "10:00", to: "14:00", office: "north", validFrom: "2027-04-01" });
  expect(await stateOfAdding(clinic.admin, { weekday: 5, from: "12:00", to: "14:00", validFrom: "2027-03-31" })).toBe("23P01");

  const { body } = await server.graphql(
    clinic.admin.token,
    `mutation ($doctorId: UUID!) { createWorkingHour(input: { workingHour: {
       doctorId: $doctorId, officeId: "main", weekday: 3, startsAt: "10:00", endsAt: "11:00" } }) { workingHour { rowId } } }`,
    { doctorId: clinic.doctor.doctorId },
  );
  expect(errorCodes(body)).toEqual(["OVLAP"]);
  expect(body.errors?.[0].message).toBe("The doctor already works at that time on that weekday, at this or another office.");
});

test("times, weekdays and dates are checked: end after start, weekday 1–7, a one-date rule on its own weekday", async () => {
  expect(await stateOfAdding(clinic.admin, { weekday: 6, from: "13:00", to: "09:00" })).toBe("23514");
  expect(await stateOfAdding(clinic.admin, { weekday: 8, from: "09:00", to: "10:00" })).toBe("23514");
  expect(
    await stateOfAdding(clinic.admin, {
      weekday: 6,
      from: "09:00",
      to: "10:00",
      validFrom: "2027-01-10",
      validUntil: "2027-01-09",
    }),
  ).toBe("23514");
  // 2027-01-09 is a Saturday (6): extra hours on that date only; a Sunday rule for it is refused.
  await addHours(clinic.admin, { weekday: 6, from: "09:00", to: "12:00", validFrom: "2027-01-09", validUntil: "2027-01-09" });
  expect(
    await stateOfAdding(clinic.admin, {
      weekday: 7,
      from: "09:00",
      to: "12:00",
      validFrom: "2027-01-09",
      validUntil: "2027-01-09",
    }),
  ).toBe("23514");
  await addHours(clinic.admin, { weekday: 7, from: "00:00", to: "24:00", office: "north" });
});

test("offices: only the doctor's own, and one with working hours cannot be removed", async () => {
  expect(await stateOfAdding(clinic.admin, { weekday: 1, from: "14:00", to: "15:00", office: "nowhere" })).toBe("OFFIC");
  const removeNorth = (c: PoolClient) =>
    c.query(`update app_public.doctors set offices = $2::jsonb where id = $1`, [
      clinic.doctor.doctorId,
      JSON.stringify(clinic.offices.filter((office) => office.id !== "north")),
    ]);
  expect(await sqlStateOf(clinic.admin.claims, removeNorth)).toBe("OFFIC");
  expect(
    await sqlStateOf(clinic.admin.claims, (c) =>
      c.query(
        `insert into app_public.time_off_periods (doctor_id, office_id, starts_at, ends_at)
         values ($1, 'nowhere', now(), now() + interval '1 day')`,
        [clinic.doctor.doctorId],
      ),
    ),
  ).toBe("OFFIC");
});

test("roles: a doctor manages their own hours and time off, not another doctor's; a receptionist only reads", async () => {
  const other = await asClaims(clinic.admin.claims, async (c) => {
    const { rows } = await c.query(
      `select id from app_public.add_doctor('Dr Other', $1, 'Dermatology', null, null,
         '[{"id": "main", "name": "Main office", "address": null, "is_primary": true}]'::jsonb)`,
      [`other-${clinic.doctor.email}`],
    );
    return rows[0].id as string;
  });
  const { rows } = await addHours(clinic.doctor, { weekday: 1, from: "07:00", to: "08:00" });
  expect(await stateOfAdding(clinic.doctor, { weekday: 1, from: "07:00", to: "08:00" }, other)).toBe("42501");
  expect(await stateOfAdding(clinic.receptionist, { weekday: 1, from: "20:00", to: "21:00" })).toBe("42501");
  await addHours(clinic.admin, { weekday: 1, from: "07:00", to: "08:00" }, other);

  // The doctor cannot hand their hours to the other doctor, nor touch the other doctor's.
  expect(
    await sqlStateOf(clinic.doctor.claims, (c) =>
      c.query("update app_public.working_hours set doctor_id = $2 where id = $1", [rows[0].id, other]),
    ),
  ).toBe("42501");
  const changed = await asClaims(clinic.doctor.claims, async (c) => {
    const updated = await c.query("update app_public.working_hours set ends_at = '09:00' where doctor_id = $1", [other]);
    const deleted = await c.query("delete from app_public.working_hours where doctor_id = $1", [other]);
    return [updated.rowCount, deleted.rowCount];
  });
  expect(changed).toEqual([0, 0]);

  const seen = await asClaims(clinic.receptionist.claims, async (c) => {
    const { rows: hours } = await c.query("select count(*)::int as n from app_public.working_hours where doctor_id = $1", [
      other,
    ]);
    const { rowCount: updated } = await c.query("update app_public.working_hours set ends_at = '09:00' where doctor_id = $1", [
      other,
    ]);
    return { read: hours[0].n, updated };
  });
  expect(seen).toEqual({ read: 1, updated: 0 });

  await asClaims(clinic.doctor.claims, (c) =>
    c.query(
      `insert into app_public.time_off_periods (doctor_id, starts_at, ends_at, reason)
       values ($1, '2027-02-01T00:00:00+01:00', '2027-02-02T00:00:00+01:00', 'Training')`,
      [clinic.doctor.doctorId],
    ),
  );
  expect(
    await sqlStateOf(clinic.doctor.claims, (c) =>
      c.query(
        `insert into app_public.time_off_periods (doctor_id, starts_at, ends_at) values ($1, now(), now() + interval '1 hour')`,
        [other],
      ),
    ),
  ).toBe("42501");
});
