/**
 * Recurring series (app_public.create_appointment_series, update_appointment_series): an RFC 5545
 * RRULE subset expanded into real appointments at a local time in the tenant's zone, so a weekly
 * 09:00 stays 09:00 across daylight-saving nights; created all or nothing, with every refused date
 * and its reason (RECUR); changed and cancelled for one occurrence, this and the following ones
 * (splitting the series) or all upcoming ones, each change under every booking rule.
 */
import type { AccessClaims } from "../src/auth/tokens";
import { toPublicError } from "../src/errors";
import { asClaims, asOwner, signUpClinic, sqlStateOf, useServer, type Clinic } from "./helpers";
import { isoWeekday, local, nextTransition } from "./local-time";

const server = useServer();

interface Setting {
  clinic: Clinic;
  zone: string;
  patientId: string;
}

/** A clinic in `zone` whose doctor works all day at `main` every day, and a patient. */
async function setting(zone = "America/New_York"): Promise<Setting> {
  const clinic = await signUpClinic();
  await asOwner((c) =>
    c.query("update app_public.tenants set time_zone = $2, booking_horizon_days = 730 where id = $1", [clinic.tenantId, zone]),
  );
  const patientId = await asClaims(clinic.admin.claims, async (c) => {
    await c.query(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at)
       select $1, 'main', weekday, '00:00', '24:00' from generate_series(1, 7) weekday`,
      [clinic.doctor.doctorId],
    );
    const { rows } = await c.query("insert into app_public.patients (full_name) values ('Rey Recurring') returning id");
    return rows[0].id as string;
  });
  return { clinic, zone, patientId };
}

/** A local date `days` after `date`. */
const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T12:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
/** A Monday at least a week ahead. */
const nextMonday = () => {
  const date = addDays(new Date().toISOString().slice(0, 10), 7);
  return addDays(date, (8 - isoWeekday(date)) % 7);
};

const createSql = `select id from app_public.create_appointment_series(
  doctor_id => $1, patient_id => $2, office_id => $3, first_date => $4, start_time => $5, rrule => $6, duration_minutes => 30)`;

async function createSeries(s: Setting, firstDate: string, startTime: string, rrule: string, claims?: AccessClaims) {
  return asClaims(claims ?? s.clinic.receptionist.claims, async (c) => {
    const { rows } = await c.query(createSql, [s.clinic.doctor.doctorId, s.patientId, "main", firstDate, startTime, rrule]);
    return rows[0].id as string;
  });
}

/** The series' occurrences as "local date local clock status", in order. */
async function occurrences(s: Setting, seriesId: string): Promise<string[]> {
  const rows = await asOwner(
    async (c) =>
      (await c.query("select starts_at, status from app_public.appointments where series_id = $1 order by starts_at", [seriesId]))
        .rows as { starts_at: Date; status: string }[],
  );
  return rows.map((row) => {
    const { date, clock } = local(row.starts_at, s.zone);
    return `${date} ${clock}${row.status === "booked" ? "" : ` ${row.status}`}`;
  });
}

async function occurrenceIds(seriesId: string): Promise<string[]> {
  return asOwner(async (c) =>
    (await c.query("select id from app_public.appointments where series_id = $1 order by starts_at", [seriesId])).rows.map(
      (r) => r.id as string,
    ),
  );
}

const updateSeries = (claims: AccessClaims, appointmentId: string, scope: string, change: Record<string, string>) =>
  asClaims(claims, (c) =>
    c.query(
      `select id from app_public.update_appointment_series($1, $2::app_public.series_scope,
         start_time => $3, office_id => $4, status => $5, cancellation_reason => $6)`,
      [appointmentId, scope, change.startTime ?? null, change.officeId ?? null, change.status ?? null, change.reason ?? null],
    ),
  );

describe("recurrence rules (RFC 5545 subset)", () => {
  const dates = (rrule: string, first: string) =>
    asOwner(async (c) =>
      (await c.query("select d::text from app_private.rrule_dates($1, $2) d", [rrule, first])).rows.map((r) => r.d as string),
    );

  test("daily, weekly on several days every other week, and monthly skipping months without the day", async () => {
    expect(await dates("FREQ=DAILY;INTERVAL=2;COUNT=3", "2027-01-30")).toEqual(["2027-01-30", "2027-02-01", "2027-02-03"]);
    expect(await dates("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=5", "2027-01-06")).toEqual([
      "2027-01-06",
      "2027-01-18",
      "2027-01-20",
      "2027-02-01",
      "2027-02-03",
    ]);
    expect(await dates("FREQ=MONTHLY;COUNT=4", "2027-01-31")).toEqual(["2027-01-31", "2027-03-31", "2027-05-31", "2027-07-31"]);
    expect(await dates("freq=weekly;until=20270125", "2027-01-04")).toEqual([
      "2027-01-04",
      "2027-01-11",
      "2027-01-18",
      "2027-01-25",
    ]);
  });

  test.each([
    ["FREQ=YEARLY;COUNT=2", "an unsupported frequency"],
    ["FREQ=WEEKLY", "neither COUNT nor UNTIL"],
    ["FREQ=WEEKLY;COUNT=3;UNTIL=20270301", "both COUNT and UNTIL"],
    ["FREQ=DAILY;COUNT=101", "more than 100 occurrences"],
    ["FREQ=DAILY;UNTIL=20271231", "more than 100 dates"],
    ["FREQ=WEEKLY;COUNT=60", "more than a year"],
    ["FREQ=WEEKLY;UNTIL=20280105", "an UNTIL more than a year ahead"],
    ["FREQ=DAILY;BYDAY=MO;COUNT=2", "BYDAY on a daily rule"],
    ["FREQ=WEEKLY;BYDAY=TU;COUNT=2", "a first date that is not one of BYDAY's days"],
    ["FREQ=WEEKLY;BYSETPOS=1;COUNT=2", "an unsupported part"],
    ["FREQ=WEEKLY;UNTIL=20270301T000000Z", "an UNTIL with a time"],
  ])("%s (%s) is INVAL", async (rrule) => {
    const failure = await asOwner((c) => c.query("select app_private.rrule_dates($1, '2027-01-04')", [rrule]).catch((e) => e));
    expect(failure.code).toBe("INVAL");
  });
});

describe("creating a series", () => {
  test("a weekly 09:00 visit stays at 09:00 local time across the next spring-forward and fall-back nights", async () => {
    for (const forward of [true, false]) {
      const s = await setting();
      const night = nextTransition(s.zone, forward);
      const first = addDays(night, -14);
      const id = await createSeries(
        s,
        first,
        "09:00",
        `FREQ=WEEKLY;BYDAY=${["MO", "TU", "WE", "TH", "FR", "SA", "SU"][isoWeekday(first) - 1]};COUNT=5`,
      );
      expect(await occurrences(s, id)).toEqual([0, 7, 14, 21, 28].map((days) => `${addDays(first, days)} 09:00`));
    }
  });

  test("on a spring-forward night 02:30 does not exist and becomes 03:30 (RFC 5545); on a fall-back night 01:30 is its first instant", async () => {
    const s = await setting();
    const spring = nextTransition(s.zone, true);
    const springId = await createSeries(s, spring, "02:30", "FREQ=DAILY;COUNT=2");
    expect(await occurrences(s, springId)).toEqual([`${spring} 03:30`, `${addDays(spring, 1)} 02:30`]);

    const fall = nextTransition(s.zone, false);
    const fallId = await createSeries(s, fall, "01:30", "FREQ=DAILY;COUNT=1");
    const [startsAt] = await asOwner(
      async (c) => (await c.query("select starts_at from app_public.appointments where series_id = $1", [fallId])).rows,
    );
    // 01:30 EDT (UTC-4), the first of the two 01:30s of that night.
    expect((startsAt.starts_at as Date).toISOString()).toBe(`${fall}T05:30:00.000Z`);
  });

  test("a conflict on some dates creates nothing and lists each refused date with its reason", async () => {
    const s = await setting();
    const first = nextMonday();
    await asClaims(s.clinic.admin.claims, async (c) => {
      await c.query(
        `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at)
         values ($1, $2, 'main', ($3::date + time '09:15') at time zone $4, ($3::date + time '09:45') at time zone $4)`,
        [s.clinic.doctor.doctorId, s.patientId, addDays(first, 7), s.zone],
      );
      await c.query(
        `insert into app_public.time_off_periods (doctor_id, starts_at, ends_at)
         values ($1, $2::date at time zone $3, ($2::date + 1) at time zone $3)`,
        [s.clinic.doctor.doctorId, addDays(first, 21), s.zone],
      );
    });
    const before = await asOwner(
      async (c) =>
        (await c.query("select count(*)::int as n from app_public.appointments where tenant_id = $1", [s.clinic.tenantId]))
          .rows[0].n,
    );
    const { body } = await server.graphql(
      s.clinic.receptionist.token,
      `mutation ($input: CreateAppointmentSeriesInput!) { createAppointmentSeries(input: $input) { result { rowId } } }`,
      {
        input: {
          doctorId: s.clinic.doctor.doctorId,
          patientId: s.patientId,
          officeId: "main",
          firstDate: first,
          startTime: "09:00",
          rrule: "FREQ=WEEKLY;COUNT=4",
          durationMinutes: 30,
        },
      },
    );
    expect(body.errors?.[0]).toMatchObject({
      message: "2 of the dates cannot be booked; nothing was changed.",
      extensions: {
        code: "RECUR",
        conflicts: [
          { date: addDays(first, 7), code: "OVLAP", message: "The doctor already has an appointment at that time." },
          { date: addDays(first, 21), code: "HOURS", message: expect.stringContaining("does not work then") },
        ],
      },
    });
    const after = await asOwner(
      async (c) =>
        (await c.query("select count(*)::int as n from app_public.appointments where tenant_id = $1", [s.clinic.tenantId]))
          .rows[0].n,
    );
    expect(after).toBe(before);
    const series = await asOwner(
      async (c) =>
        (await c.query("select count(*)::int as n from app_public.appointment_series where tenant_id = $1", [s.clinic.tenantId]))
          .rows[0].n,
    );
    expect(series).toBe(0);
  });

  test("an office that is not the doctor's is refused with OFFIC, a rule without dates with INVAL; a doctor may not book a series", async () => {
    const s = await setting();
    const refused = await sqlStateOf(s.clinic.receptionist.claims, (c) =>
      c.query(createSql, [s.clinic.doctor.doctorId, s.patientId, "elsewhere", nextMonday(), "09:00", "FREQ=WEEKLY;COUNT=2"]),
    );
    expect(refused).toBe("OFFIC");
    expect(
      await sqlStateOf(s.clinic.receptionist.claims, (c) =>
        c.query(createSql, [s.clinic.doctor.doctorId, s.patientId, "main", nextMonday(), "09:00", "FREQ=DAILY;UNTIL=20200101"]),
      ),
    ).toBe("INVAL");
    expect(
      await sqlStateOf(s.clinic.receptionist.claims, (c) =>
        c.query(createSql, [s.clinic.doctor.doctorId, s.patientId, "main", "infinity", "09:00", "FREQ=DAILY;COUNT=5"]),
      ),
    ).toBe("23514"); // the first date's check constraint: INVAL to clients
    expect(
      await sqlStateOf(s.clinic.doctor.claims, (c) =>
        c.query(createSql, [s.clinic.doctor.doctorId, s.patientId, "main", nextMonday(), "09:00", "FREQ=WEEKLY;COUNT=2"]),
      ),
    ).toBe("42501");
  });
});

describe("changing a series", () => {
  test("THIS moves one occurrence; FOLLOWING splits the series there; ALL moves every upcoming one", async () => {
    const s = await setting();
    const first = nextMonday();
    const desk = s.clinic.receptionist.claims;
    const id = await createSeries(s, first, "09:00", "FREQ=WEEKLY;COUNT=6");
    const ids = await occurrenceIds(id);
    const week = (n: number) => addDays(first, 7 * n);

    await updateSeries(desk, ids[1], "this", { startTime: "11:00" });
    expect(await occurrences(s, id)).toEqual([
      `${week(0)} 09:00`,
      `${week(1)} 11:00`,
      `${week(2)} 09:00`,
      `${week(3)} 09:00`,
      `${week(4)} 09:00`,
      `${week(5)} 09:00`,
    ]);

    await updateSeries(desk, ids[3], "following", { startTime: "14:00" });
    expect(await occurrences(s, id)).toEqual([`${week(0)} 09:00`, `${week(1)} 11:00`, `${week(2)} 09:00`]);
    const [original, split] = await asOwner(
      async (c) =>
        (
          await c.query(
            "select id, rrule, first_date::text, start_time::text from app_public.appointment_series where tenant_id = $1 order by created_at, first_date",
            [s.clinic.tenantId],
          )
        ).rows,
    );
    expect(original).toMatchObject({
      id,
      rrule: `FREQ=WEEKLY;UNTIL=${addDays(week(3), -1).replaceAll("-", "")}`,
      start_time: "09:00:00",
    });
    expect(split).toMatchObject({ rrule: "FREQ=WEEKLY;COUNT=3", first_date: week(3), start_time: "14:00:00" });
    expect(await occurrences(s, split.id)).toEqual([`${week(3)} 14:00`, `${week(4)} 14:00`, `${week(5)} 14:00`]);

    await updateSeries(desk, ids[0], "all", { startTime: "10:00" });
    expect(await occurrences(s, id)).toEqual([`${week(0)} 10:00`, `${week(1)} 10:00`, `${week(2)} 10:00`]);
    expect(await occurrences(s, split.id)).toEqual([`${week(3)} 14:00`, `${week(4)} 14:00`, `${week(5)} 14:00`]);
  });

  test("cancelling THIS, FOLLOWING and ALL; a doctor cancels their own series", async () => {
    const s = await setting();
    const first = nextMonday();
    const id = await createSeries(s, first, "09:00", "FREQ=DAILY;COUNT=5");
    const ids = await occurrenceIds(id);
    const day = (n: number) => addDays(first, n);
    await updateSeries(s.clinic.receptionist.claims, ids[1], "this", { status: "cancelled", reason: "sick" });
    await updateSeries(s.clinic.receptionist.claims, ids[3], "following", { status: "cancelled" });
    expect(await occurrences(s, id)).toEqual([
      `${day(0)} 09:00`,
      `${day(1)} 09:00 cancelled`,
      `${day(2)} 09:00`,
      `${day(3)} 09:00 cancelled`,
      `${day(4)} 09:00 cancelled`,
    ]);
    await updateSeries(s.clinic.doctor.claims, ids[0], "all", { status: "cancelled" });
    expect((await occurrences(s, id)).every((o) => o.endsWith("cancelled"))).toBe(true);
    const reasons = await asOwner(
      async (c) =>
        (await c.query("select cancellation_reason from app_public.appointments where id = $1", [ids[1]])).rows[0]
          .cancellation_reason,
    );
    expect(reasons).toBe("sick");
  });

  test("a change that breaks a rule on some occurrences changes none and lists them; the doctor may not move a series", async () => {
    const s = await setting();
    const first = nextMonday();
    const id = await createSeries(s, first, "09:00", "FREQ=WEEKLY;COUNT=3");
    const ids = await occurrenceIds(id);
    await asClaims(s.clinic.admin.claims, (c) =>
      c.query(
        `insert into app_public.time_off_periods (doctor_id, starts_at, ends_at)
         values ($1, $2::date at time zone $3, ($2::date + 1) at time zone $3)`,
        [s.clinic.doctor.doctorId, addDays(first, 7), s.zone],
      ),
    );
    expect(
      await sqlStateOf(s.clinic.receptionist.claims, (c) =>
        c.query("select app_public.update_appointment_series($1, null, start_time => '12:00')", [ids[0]]),
      ),
    ).toBe("INVAL");
    const failure = await updateSeries(s.clinic.receptionist.claims, ids[0], "all", { startTime: "12:00" }).catch((e) => e);
    expect(failure).toMatchObject({ code: "RECUR" });
    expect(JSON.parse(failure.detail)).toEqual([expect.objectContaining({ date: addDays(first, 7), code: "HOURS" })]);
    expect(await occurrences(s, id)).toEqual([0, 7, 14].map((d) => `${addDays(first, d)} 09:00`));
    expect(
      await sqlStateOf(s.clinic.doctor.claims, (c) =>
        c.query("select app_public.update_appointment_series($1, 'all', start_time => '12:00')", [ids[0]]),
      ),
    ).toBe("DNIED");
  });

  test("another tenant's occurrence is not found, and its series is unseen", async () => {
    const s = await setting();
    const id = await createSeries(s, nextMonday(), "09:00", "FREQ=WEEKLY;COUNT=2");
    const [occurrence] = await occurrenceIds(id);
    const stranger = await signUpClinic();
    expect(
      await sqlStateOf(stranger.admin.claims, (c) =>
        c.query("select app_public.update_appointment_series($1, 'all', status => 'cancelled')", [occurrence]),
      ),
    ).toBe("NTFND");
    const seen = await asClaims(
      stranger.admin.claims,
      async (c) => (await c.query("select count(*)::int as n from app_public.appointment_series")).rows[0].n,
    );
    expect(seen).toBe(0);
    expect(await occurrences(s, id)).toHaveLength(2);
  });
});

describe("the RECUR answer", () => {
  test("passes on only the documented fields of each conflict, and a detail that does not parse is INTERNAL", () => {
    const conflict = { date: "2027-01-04", startsAt: "2027-01-04T09:00:00+00:00", code: "HOURS", message: "m" };
    const error = (detail?: string) => Object.assign(new Error("1 of the dates cannot be booked"), { code: "RECUR", detail });
    expect(toPublicError(error(JSON.stringify([{ ...conflict, patientId: "secret" }])))).toEqual({
      code: "RECUR",
      message: "1 of the dates cannot be booked",
      conflicts: [conflict],
    });
    expect(toPublicError(error("not json")).code).toBe("INTERNAL");
    expect(toPublicError(error(undefined)).code).toBe("INTERNAL");
  });
});
