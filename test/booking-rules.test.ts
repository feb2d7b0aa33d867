/**
 * Booking rules (app_private.tg_appointments__check_booking_rules): every write that books, moves
 * or re-activates an appointment is inside the doctor's working hours at that office and outside
 * time off, unless the front desk marks it `outside_hours`; no sooner than the booking notice and
 * within the horizon, unless an admin marks it. HOURS otherwise. Later changes of hours leave
 * appointments alone, and app_public.upcoming_appointments_outside_hours lists the ones now outside.
 */
import type { PoolClient } from "pg";
import type { AccessClaims } from "../src/auth/tokens";
import { asClaims, asOwner, signUpClinic, sqlStateOf, useServer, type Clinic } from "./helpers";

const server = useServer();

/** An instant `days` from today (UTC) at a UTC clock: the test clinics keep time in UTC. */
const at = (days: number, clock: string) =>
  new Date(`${new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)}T${clock}:00Z`).toISOString();
const plusMinutes = (instant: string, minutes: number) => new Date(Date.parse(instant) + minutes * 60_000).toISOString();

interface Setting {
  clinic: Clinic;
  patientId: string;
}

/** A clinic in UTC whose doctor works 08:00–18:00 at `main` every day, and a patient. */
async function setting(): Promise<Setting> {
  const clinic = await signUpClinic();
  await asOwner((c) => c.query("update app_public.tenants set time_zone = 'UTC' where id = $1", [clinic.tenantId]));
  const patientId = await asClaims(clinic.admin.claims, async (c) => {
    // One row per statement: under Citus, INSERT … SELECT into a table with row-level security fails.
    for (let weekday = 1; weekday <= 7; weekday++) {
      await c.query(
        "insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at) values ($1, 'main', $2, '08:00', '18:00')",
        [clinic.doctor.doctorId, weekday],
      );
    }
    const { rows } = await c.query("insert into app_public.patients (full_name) values ('Bea Booked') returning id");
    return rows[0].id as string;
  });
  return { clinic, patientId };
}

interface Booking {
  startsAt: string;
  minutes?: number;
  officeId?: string | null;
  outsideHours?: boolean;
  status?: string;
}

const insertSql = `insert into app_public.appointments
  (doctor_id, patient_id, office_id, starts_at, ends_at, outside_hours, status)
  values ($1, $2, $3, $4, $5, $6, $7) returning id`;
const insertParams = (s: Setting, b: Booking) => [
  s.clinic.doctor.doctorId,
  s.patientId,
  b.officeId === undefined ? "main" : b.officeId,
  b.startsAt,
  plusMinutes(b.startsAt, b.minutes ?? 30),
  b.outsideHours ?? false,
  b.status ?? "booked",
];

/** Books as `claims`; returns the new id. */
const book = (s: Setting, claims: AccessClaims, b: Booking) =>
  asClaims(claims, async (c) => (await c.query(insertSql, insertParams(s, b))).rows[0].id as string);
/** The SQLSTATE booking as `claims` fails with. */
const bookingRefusal = (s: Setting, claims: AccessClaims, b: Booking) =>
  sqlStateOf(claims, (c) => c.query(insertSql, insertParams(s, b)));

const outsideList = (claims: AccessClaims) =>
  asClaims(claims, async (c) =>
    (await c.query("select id from app_public.upcoming_appointments_outside_hours()")).rows.map((r) => r.id as string),
  );

describe("inside working hours", () => {
  test("the receptionist books inside the hours, and gets HOURS before, after and across their edges", async () => {
    const s = await setting();
    const desk = s.clinic.receptionist.claims;
    await expect(book(s, desk, { startsAt: at(2, "08:00") })).resolves.toEqual(expect.any(String));
    await expect(book(s, desk, { startsAt: at(2, "17:30") })).resolves.toEqual(expect.any(String));
    expect(await bookingRefusal(s, desk, { startsAt: at(2, "07:45") })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(2, "17:45") })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(2, "03:00") })).toBe("HOURS");
  });

  test("hours are per office: hours at main do not open north; an undecided office may be any of the doctor's", async () => {
    const s = await setting();
    const desk = s.clinic.receptionist.claims;
    expect(await bookingRefusal(s, desk, { startsAt: at(2, "10:00"), officeId: "north" })).toBe("HOURS");
    await expect(book(s, desk, { startsAt: at(2, "10:00"), officeId: null })).resolves.toEqual(expect.any(String));
  });

  test("time off of that office or of all offices closes the hours; time off elsewhere does not", async () => {
    const s = await setting();
    const desk = s.clinic.receptionist.claims;
    await asClaims(s.clinic.doctor.claims, (c) =>
      c.query(
        `insert into app_public.time_off_periods (doctor_id, office_id, starts_at, ends_at)
         values ($1, null, $2, $3), ($1, 'north', $4, $5)`,
        [s.clinic.doctor.doctorId, at(3, "12:00"), at(3, "13:00"), at(4, "08:00"), at(4, "18:00")],
      ),
    );
    expect(await bookingRefusal(s, desk, { startsAt: at(3, "12:45") })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(3, "11:45") })).toBe("HOURS");
    await expect(book(s, desk, { startsAt: at(3, "13:00") })).resolves.toEqual(expect.any(String));
    await expect(book(s, desk, { startsAt: at(4, "09:00") })).resolves.toEqual(expect.any(String));
  });

  test("the front desk may book outside hours on purpose: the row says outside_hours", async () => {
    const s = await setting();
    const id = await book(s, s.clinic.receptionist.claims, { startsAt: at(2, "20:00"), outsideHours: true });
    const stored = await asOwner(
      async (c) => (await c.query("select outside_hours from app_public.appointments where id = $1", [id])).rows[0],
    );
    expect(stored).toEqual({ outside_hours: true });
  });

  test("a move out of the hours and a re-activation outside them are refused with HOURS", async () => {
    const s = await setting();
    const desk = s.clinic.receptionist.claims;
    const id = await book(s, desk, { startsAt: at(2, "09:00") });
    expect(
      await sqlStateOf(desk, (c) =>
        c.query("update app_public.appointments set starts_at = $2, ends_at = $3 where id = $1", [
          id,
          at(2, "19:00"),
          at(2, "19:30"),
        ]),
      ),
    ).toBe("HOURS");
    await asClaims(desk, (c) => c.query("update app_public.appointments set status = 'cancelled' where id = $1", [id]));
    await asClaims(s.clinic.admin.claims, (c) =>
      c.query("update app_public.working_hours set starts_at = '10:00' where doctor_id = $1", [s.clinic.doctor.doctorId]),
    );
    expect(
      await sqlStateOf(desk, (c) => c.query("update app_public.appointments set status = 'booked' where id = $1", [id])),
    ).toBe("HOURS");
    // The doctor may not re-activate it either, nor mark it outside hours.
    expect(
      await sqlStateOf(s.clinic.doctor.claims, (c) =>
        c.query("update app_public.appointments set status = 'booked' where id = $1", [id]),
      ),
    ).toBe("HOURS");
    expect(
      await sqlStateOf(s.clinic.doctor.claims, (c) =>
        c.query("update app_public.appointments set outside_hours = true where id = $1", [id]),
      ),
    ).toBe("DNIED");
  });

  test("a past appointment's status is corrected without the rules (noshow → fulfilled)", async () => {
    const s = await setting();
    const id = await book(s, s.clinic.admin.claims, { startsAt: at(-2, "09:00"), outsideHours: true, status: "noshow" });
    await asClaims(s.clinic.doctor.claims, (c) =>
      c.query("update app_public.appointments set status = 'fulfilled' where id = $1", [id]),
    );
    const stored = await asOwner(
      async (c) => (await c.query("select status from app_public.appointments where id = $1", [id])).rows[0],
    );
    expect(stored).toEqual({ status: "fulfilled" });
  });
});

describe("booking notice and horizon", () => {
  test("the receptionist books no sooner than the notice and within the horizon, marked or not; an admin's marked booking may", async () => {
    const s = await setting();
    await asClaims(s.clinic.admin.claims, (c) =>
      c.query("update app_public.tenants set booking_notice_minutes = 2880, booking_horizon_days = 10"),
    );
    const desk = s.clinic.receptionist.claims;
    const admin = s.clinic.admin.claims;
    expect(await bookingRefusal(s, desk, { startsAt: at(1, "09:00") })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(1, "09:00"), outsideHours: true })).toBe("HOURS");
    expect(await bookingRefusal(s, admin, { startsAt: at(1, "09:00") })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(11, "09:00"), outsideHours: true })).toBe("HOURS");
    expect(await bookingRefusal(s, desk, { startsAt: at(-1, "09:00"), outsideHours: true })).toBe("HOURS");
    await expect(book(s, desk, { startsAt: at(3, "09:00") })).resolves.toEqual(expect.any(String));
    await expect(book(s, admin, { startsAt: at(1, "09:00"), outsideHours: true })).resolves.toEqual(expect.any(String));
    await expect(book(s, admin, { startsAt: at(11, "09:00"), outsideHours: true })).resolves.toEqual(expect.any(String));
    await expect(book(s, admin, { startsAt: at(-1, "09:00"), outsideHours: true })).resolves.toEqual(expect.any(String));
  });
});

describe("later changes of hours", () => {
  test("leave existing appointments as they are, and the upcoming ones now outside are listed until moved or marked", async () => {
    const s = await setting();
    const desk = s.clinic.receptionist.claims;
    const early = await book(s, desk, { startsAt: at(2, "08:30") });
    const late = await book(s, desk, { startsAt: at(2, "15:00") });
    const marked = await book(s, desk, { startsAt: at(2, "07:00"), outsideHours: true });
    expect(await outsideList(desk)).toEqual([]);

    await asClaims(s.clinic.admin.claims, (c) =>
      c.query("update app_public.working_hours set starts_at = '09:00' where doctor_id = $1", [s.clinic.doctor.doctorId]),
    );
    expect(await outsideList(desk)).toEqual([early]);
    // Notes and status changes of that appointment still work: it was booked under the old hours.
    await asClaims(s.clinic.doctor.claims, (c) =>
      c.query("update app_public.appointments set notes = 'bring results', status = 'arrived' where id = $1", [early]),
    );
    await asClaims(s.clinic.doctor.claims, (c) =>
      c.query("insert into app_public.time_off_periods (doctor_id, starts_at, ends_at) values ($1, $2, $3)", [
        s.clinic.doctor.doctorId,
        at(2, "14:00"),
        at(2, "16:00"),
      ]),
    );
    expect(await outsideList(desk)).toEqual([early, late]);
    await asClaims(desk, (c) => c.query("update app_public.appointments set outside_hours = true where id = $1", [early]));
    expect(await outsideList(desk)).toEqual([late]);
    // Unmarking is a claim that it is inside the hours, and is checked.
    expect(
      await sqlStateOf(desk, (c) => c.query("update app_public.appointments set outside_hours = false where id = $1", [marked])),
    ).toBe("HOURS");
    const stranger = await signUpClinic();
    expect(await outsideList(stranger.admin.claims)).toEqual([]);
  });
});

test("20 concurrent bookings of one free slot: exactly one is booked, the others get OVLAP", async () => {
  const s = await setting();
  const attempts = await Promise.allSettled(
    Array.from({ length: 20 }, () => book(s, s.clinic.receptionist.claims, { startsAt: at(5, "10:00") })),
  );
  expect(attempts.filter((a) => a.status === "fulfilled")).toHaveLength(1);
  expect(attempts.filter((a) => a.status === "rejected").map((a) => (a as PromiseRejectedResult).reason.code)).toEqual(
    Array(19).fill("23P01"),
  );
  const held = await asOwner(
    async (c) =>
      (await c.query("select count(*)::int as n from app_public.appointments where doctor_id = $1", [s.clinic.doctor.doctorId]))
        .rows[0].n,
  );
  expect(held).toBe(1);
});

/**
 * A session's id in the lock views, and whether it waits for a lock (a row, a transaction or an
 * advisory lock). Under test:citus the wait is on the worker holding the tenant's shard: citus_locks
 * reads every node's locks, by the session's global pid.
 */
const lockViews = async () => {
  const citus = await asOwner(async (c) => (await c.query("select from pg_extension where extname = 'citus'")).rowCount === 1);
  return {
    idSql: citus ? "select citus_backend_gpid()::text as id" : "select pg_backend_pid()::text as id",
    waitSql: citus
      ? "select from citus_locks where global_pid = $1::bigint and not granted"
      : "select from pg_locks where pid = $1::integer and not granted",
  };
};

/** Resolves once the session `id` waits for a lock. */
async function waitingForLock(waitSql: string, id: string): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    if ((await asOwner((c) => c.query(waitSql, [id]))).rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`session ${id} never waited for a lock`);
}

test("two visits moved into each other's times at once: one gives way with OVLAP, never a deadlock", async () => {
  // Without a queue per doctor, each transaction's exclusion check finds the other's uncommitted row
  // and waits for it: PostgreSQL aborts one with 40P01 (deadlock detected) instead of 23P01.
  const s = await setting();
  const [ten, eleven] = [at(5, "10:00"), at(5, "11:00")];
  const move = (c: PoolClient, id: string, startsAt: string) =>
    c.query("update app_public.appointments set starts_at = $2, ends_at = $3 where id = $1", [
      id,
      startsAt,
      plusMinutes(startsAt, 30),
    ]);
  const outcome = (work: Promise<unknown>) =>
    work.then(
      () => "moved",
      (error: { code?: string }) => error.code,
    );
  let firstBooked!: () => void;
  const booked = new Promise<void>((resolve) => (firstBooked = resolve));
  const { idSql, waitSql } = await lockViews();
  let secondId!: (id: string) => void;
  const second = new Promise<string>((resolve) => (secondId = resolve));
  const [first, other] = await Promise.all([
    outcome(
      asClaims(s.clinic.receptionist.claims, async (c) => {
        const id = (await c.query(insertSql, insertParams(s, { startsAt: ten }))).rows[0].id as string;
        firstBooked();
        await waitingForLock(waitSql, await second); // the other transaction waits: for this one's queue, or its row
        await move(c, id, eleven);
      }),
    ),
    outcome(
      asClaims(s.clinic.receptionist.claims, async (c) => {
        secondId((await c.query(idSql)).rows[0].id as string);
        await booked;
        const id = (await c.query(insertSql, insertParams(s, { startsAt: eleven }))).rows[0].id as string;
        await move(c, id, ten);
      }),
    ),
  ]);
  expect([first, other]).toEqual(["moved", "23P01"]);
  const held = await asOwner(
    async (c) =>
      (await c.query("select starts_at from app_public.appointments where doctor_id = $1", [s.clinic.doctor.doctorId])).rows,
  );
  expect(held.map((r) => (r.starts_at as Date).toISOString())).toEqual([eleven]);
});

test("GraphQL: HOURS with a plain message; outsideHours books it; upcomingAppointmentsOutsideHours lists for the tenant", async () => {
  const s = await setting();
  const mutation = `mutation ($a: AppointmentInput!) { createAppointment(input: { appointment: $a }) { appointment { rowId outsideHours } } }`;
  const appointment = {
    doctorId: s.clinic.doctor.doctorId,
    patientId: s.patientId,
    officeId: "main",
    startsAt: at(2, "19:00"),
    endsAt: at(2, "19:30"),
  };
  const refused = await server.graphql(s.clinic.receptionist.token, mutation, { a: appointment });
  expect(refused.body.errors?.[0]).toMatchObject({
    message: "The doctor does not work then at that office; choose a free slot, or mark the appointment outside hours.",
    extensions: { code: "HOURS" },
  });
  const marked = await server.graphql(s.clinic.receptionist.token, mutation, { a: { ...appointment, outsideHours: true } });
  expect(marked.body.data?.createAppointment.appointment.outsideHours).toBe(true);
  const list = await server.graphql(
    s.clinic.receptionist.token,
    "{ upcomingAppointmentsOutsideHours { totalCount nodes { rowId } } }",
  );
  expect(list.body).toEqual({ data: { upcomingAppointmentsOutsideHours: { totalCount: 0, nodes: [] } } });
});
