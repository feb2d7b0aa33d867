/**
 * Free-slot search (app_public.free_slots): slots on the tenant's local grid inside working
 * hours, minus time off, appointments with their buffers, the booking notice and horizon; local
 * times by PostgreSQL's zone rules, so a spring-forward night's missing hour offers no slot and a
 * fall-back night's repeated hour offers each real instant once. The daylight-saving nights are
 * the next ones after today, found with the platform's own zone data, so the test never ages.
 */
import { asClaims, asOwner, signUpClinic, sqlStateOf, type Clinic } from "./helpers";
import { isoWeekday, local, nextTransition } from "./local-time";

async function clinicIn(zone: string): Promise<Clinic> {
  const clinic = await signUpClinic();
  await asOwner((c) =>
    c.query("update app_public.tenants set time_zone = $2, booking_horizon_days = 730 where id = $1", [clinic.tenantId, zone]),
  );
  return clinic;
}

async function work(clinic: Clinic, date: string, from: string, to: string, office = "main") {
  await asClaims(clinic.admin.claims, (c) =>
    c.query(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at, valid_from, valid_until)
       values ($1, $2, $3, $4, $5, $6, $6)`,
      [clinic.doctor.doctorId, office, isoWeekday(date), from, to, date],
    ),
  );
}

/** The free slots of one date as local clocks (and offices), 15 minutes long unless told. */
async function slots(clinic: Clinic, zone: string, date: string, args: { duration?: number; visitTypeId?: string } = {}) {
  const rows = await asClaims(clinic.receptionist.claims, async (c) => {
    const { rows } = await c.query(
      `select starts_at, ends_at, office_id from app_public.free_slots($1, $1, duration_minutes => $2, visit_type_id => $3)`,
      [date, args.visitTypeId ? null : (args.duration ?? 15), args.visitTypeId ?? null],
    );
    return rows as { starts_at: Date; ends_at: Date; office_id: string }[];
  });
  return rows.map((row) => `${local(row.starts_at, zone).clock}${row.office_id === "main" ? "" : ` ${row.office_id}`}`);
}

test.each([
  ["America/New_York", ["01:00", "01:15", "01:30", "01:45", "03:00", "03:15", "03:30", "03:45"]],
  ["Pacific/Auckland", ["01:00", "01:15", "01:30", "01:45", "03:00", "03:15", "03:30", "03:45"]],
])("%s, spring-forward night: the missing hour offers no slot", async (zone, expected) => {
  const clinic = await clinicIn(zone);
  const date = nextTransition(zone, true);
  await work(clinic, date, "01:00", "04:00");
  expect(await slots(clinic, zone, date)).toEqual(expected);
});

test.each(["America/New_York", "Pacific/Auckland"])(
  "%s, fall-back night: the repeated hour offers each real instant once",
  async (zone) => {
    const clinic = await clinicIn(zone);
    const date = nextTransition(zone, false);
    const repeated = zone === "America/New_York" ? "01" : "02"; // the hour the clocks go back into
    await work(clinic, date, "00:00", "04:00");
    const clocks = await slots(clinic, zone, date);
    expect(clocks).toHaveLength(4 * 5);
    expect(clocks.filter((clock) => clock.startsWith(`${repeated}:`))).toEqual([
      `${repeated}:00`,
      `${repeated}:15`,
      `${repeated}:30`,
      `${repeated}:45`,
      `${repeated}:00`,
      `${repeated}:15`,
      `${repeated}:30`,
      `${repeated}:45`,
    ]);
  },
);

test("Asia/Kolkata (UTC+05:30): slots start on the local grid, inside the hours", async () => {
  const zone = "Asia/Kolkata";
  const clinic = await clinicIn(zone);
  const date = local(new Date(Date.now() + 10 * 86_400_000), zone).date;
  await work(clinic, date, "09:10", "10:00");
  expect(await slots(clinic, zone, date)).toEqual(["09:15", "09:30", "09:45"]);
  expect(await slots(clinic, zone, date, { duration: 30 })).toEqual(["09:15", "09:30"]);
});

test("split hours at two offices, minus time off and an appointment with its buffers", async () => {
  const zone = "Europe/Madrid";
  const clinic = await clinicIn(zone);
  const date = local(new Date(Date.now() + 12 * 86_400_000), zone).date;
  await work(clinic, date, "09:00", "10:30");
  await work(clinic, date, "11:00", "12:00", "north");
  const at = (clock: string) =>
    asOwner(
      async (c) => (await c.query("select ($1::date + $2::time) at time zone $3 as t", [date, clock, zone])).rows[0].t as Date,
    );
  await asClaims(clinic.admin.claims, async (c) => {
    const { rows: types } = await c.query(
      "insert into app_public.visit_types (name, duration_minutes, buffer_before_minutes, buffer_after_minutes) values ('Long', 15, 15, 15) returning id",
    );
    const { rows: patients } = await c.query("insert into app_public.patients (full_name) values ('Sol Slot') returning id");
    // 09:30–09:45 with 15 minutes kept free on each side: 09:15 to 10:00 is taken.
    await c.query(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, visit_type_id)
       values ($1, $2, 'main', $3, $4, $5)`,
      [clinic.doctor.doctorId, patients[0].id, await at("09:30"), await at("09:45"), types[0].id],
    );
    await c.query(
      "insert into app_public.time_off_periods (doctor_id, office_id, starts_at, ends_at) values ($1, 'north', $2, $3)",
      [clinic.doctor.doctorId, await at("11:30"), await at("12:00")],
    );
  });
  expect(await slots(clinic, zone, date)).toEqual(["09:00", "10:00", "10:15", "11:00 north", "11:15 north"]);

  // A visit type of our own keeps its buffers too: 30 minutes after, so 09:00 runs into the 09:30 visit.
  const ownType = await asClaims(clinic.admin.claims, async (c) => {
    const { rows } = await c.query(
      "insert into app_public.visit_types (name, duration_minutes, buffer_before_minutes, buffer_after_minutes) values ('Padded', 15, 0, 30) returning id",
    );
    return rows[0].id as string;
  });
  expect(await slots(clinic, zone, date, { visitTypeId: ownType })).toEqual(["10:00", "10:15", "11:00 north", "11:15 north"]);
});

test("booking notice and horizon bound the slots; bad arguments are INVAL; another tenant sees none", async () => {
  const zone = "UTC";
  const clinic = await clinicIn(zone);
  const date = local(new Date(Date.now() + 3 * 86_400_000), zone).date;
  await work(clinic, date, "09:00", "10:00");
  expect(await slots(clinic, zone, date)).toHaveLength(4);
  await asOwner((c) => c.query("update app_public.tenants set booking_notice_minutes = 43200 where id = $1", [clinic.tenantId]));
  expect(await slots(clinic, zone, date)).toEqual([]);
  await asOwner((c) =>
    c.query("update app_public.tenants set booking_notice_minutes = 0, booking_horizon_days = 1 where id = $1", [
      clinic.tenantId,
    ]),
  );
  expect(await slots(clinic, zone, date)).toEqual([]);

  const ask = (sql: string) => sqlStateOf(clinic.receptionist.claims, (c) => c.query(sql));
  expect(await ask("select * from app_public.free_slots('2027-01-10', '2027-01-01', duration_minutes => 15)")).toBe("INVAL");
  expect(await ask("select * from app_public.free_slots('2027-01-01', '2027-03-05', duration_minutes => 15)")).toBe("INVAL");
  expect(await ask("select * from app_public.free_slots('2027-01-01', '2027-01-02')")).toBe("INVAL");
  expect(await ask("select * from app_public.free_slots('2027-01-01', '2027-01-02', duration_minutes => 4)")).toBe("INVAL");

  const stranger = await clinicIn(zone);
  const seen = await asClaims(
    stranger.admin.claims,
    async (c) =>
      (
        await c.query("select count(*)::int as n from app_public.free_slots($1, $1, doctor_ids => $2, duration_minutes => 15)", [
          date,
          [clinic.doctor.doctorId],
        ])
      ).rows[0].n,
  );
  expect(seen).toBe(0);
});
