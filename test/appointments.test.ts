/**
 * Appointment rules (migrations section 7-appointments): an appointment's office is one of its
 * doctor's offices (OFFIC); a doctor never holds two overlapping appointments that hold a slot
 * (OVLAP / 23P01); times and statuses are checked (INVAL); an office still booked by an upcoming
 * appointment cannot be taken from the doctor (OFFIC); a doctor changes only the status and
 * notes of their own appointments (DNIED otherwise).
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

const CREATE_APPOINTMENT = `
  mutation CreateAppointment($appointment: AppointmentInput!) {
    createAppointment(input: { appointment: $appointment }) {
      appointment { rowId doctorId officeId startsAt endsAt status notes }
    }
  }`;

const UPDATE_APPOINTMENT = `
  mutation UpdateAppointment($rowId: UUID!, $patch: AppointmentPatch!) {
    updateAppointment(input: { rowId: $rowId, patch: $patch }) {
      appointment { rowId status notes startsAt endsAt }
    }
  }`;

const UPDATE_OFFICES = `
  mutation UpdateOffices($rowId: UUID!, $offices: JSON) {
    updateDoctor(input: { rowId: $rowId, patch: { offices: $offices } }) { doctor { rowId offices } }
  }`;

/** A day ahead, inside the booking horizon, so "upcoming" never depends on when the tests run. */
const FUTURE = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
/** A day long gone. */
const PAST = "2001-03-02";
const at = (time: string, day = FUTURE) => `${day}T${time}:00Z`;

interface Setting {
  clinic: Clinic;
  patientId: string;
}

const server = useServer();

/** A fresh clinic (admin, receptionist, doctor with offices main + north) and one patient. */
async function setting(): Promise<Setting> {
  const clinic = await signUpClinic();
  const patientId = await asClaims(clinic.receptionist.claims, async (client) => {
    const { rows } = await client.query("insert into app_public.patients (full_name) values ($1) returning id", [uniq("Pat")]);
    return rows[0].id as string;
  });
  return { clinic, patientId };
}

/** Adds a second doctor (no account) with the single office "west", as the admin. */
async function addSecondDoctor(clinic: Clinic): Promise<string> {
  return asClaims(clinic.admin.claims, async (client) => {
    const { rows } = await client.query("select id from app_public.add_doctor($1, offices => $2::jsonb)", [
      uniq("Dr West"),
      JSON.stringify([{ id: "west", name: "West office", address: null, is_primary: true }]),
    ]);
    return rows[0].id as string;
  });
}

interface Booking {
  doctorId: string;
  patientId: string;
  officeId?: string | null;
  startsAt: string;
  endsAt: string;
  status?: string;
  notes?: string;
}

/**
 * Books as the admin in SQL, marked outside hours (so past dates and any time are allowed: the
 * booking rules have their own tests in booking-rules.test.ts); returns the new id.
 */
async function book(s: Setting, booking: Omit<Booking, "patientId" | "doctorId"> & { doctorId?: string }): Promise<string> {
  return asClaims(s.clinic.admin.claims, async (client) => {
    const { rows } = await client.query(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, status, notes, outside_hours)
       values ($1, $2, $3, $4, $5, coalesce($6, 'booked'), $7, true) returning id`,
      [
        booking.doctorId ?? s.clinic.doctor.doctorId,
        s.patientId,
        booking.officeId ?? null,
        booking.startsAt,
        booking.endsAt,
        booking.status ?? null,
        booking.notes ?? null,
      ],
    );
    return rows[0].id as string;
  });
}

/** Books as the receptionist over GraphQL, marked outside hours; returns the response body. */
async function bookOverGraphql(s: Setting, appointment: Partial<Booking>): Promise<GraphQLBody> {
  const { body } = await server.graphql(s.clinic.receptionist.token, CREATE_APPOINTMENT, {
    appointment: { doctorId: s.clinic.doctor.doctorId, patientId: s.patientId, outsideHours: true, ...appointment },
  });
  return body;
}

/** What is really stored, read as the owner. */
async function stored(id: string) {
  return asOwner(async (client) => {
    const { rows } = await client.query(
      "select status, notes, office_id, starts_at, ends_at, doctor_id from app_public.appointments where id = $1",
      [id],
    );
    return rows[0] as
      | { status: string; notes: string | null; office_id: string | null; starts_at: Date; ends_at: Date; doctor_id: string }
      | undefined;
  });
}

async function appointmentCount(tenantId: string): Promise<number> {
  return asOwner(async (client) => {
    const { rows } = await client.query("select count(*)::int as n from app_public.appointments where tenant_id = $1", [
      tenantId,
    ]);
    return rows[0].n as number;
  });
}

async function storedOffices(doctorId: string): Promise<unknown> {
  return asOwner(async (client) => {
    const { rows } = await client.query("select offices from app_public.doctors where id = $1", [doctorId]);
    return rows[0].offices as unknown;
  });
}

const firstCode = (body: GraphQLBody) => body.errors?.[0]?.extensions?.code;

describe("an appointment's office must be one of its doctor's offices (OFFIC)", () => {
  test("GraphQL: booking at an office the doctor does not have is refused with OFFIC and nothing is stored", async () => {
    const s = await setting();
    const body = await bookOverGraphql(s, { officeId: "south", startsAt: at("09:00"), endsAt: at("09:30") });
    expect(firstCode(body)).toBe("OFFIC");
    expect(body.data?.createAppointment ?? null).toBeNull();
    expect(await appointmentCount(s.clinic.tenantId)).toBe(0);
  });

  test("SQL: booking at an office the doctor does not have raises SQLSTATE OFFIC", async () => {
    const s = await setting();
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query(
        "insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at) values ($1, $2, 'south', $3, $4)",
        [s.clinic.doctor.doctorId, s.patientId, at("09:00"), at("09:30")],
      ),
    );
    expect(state).toBe("OFFIC");
    expect(await appointmentCount(s.clinic.tenantId)).toBe(0);
  });

  test("GraphQL: booking at another doctor's office of the same tenant is refused with OFFIC", async () => {
    const s = await setting();
    await addSecondDoctor(s.clinic);
    const body = await bookOverGraphql(s, { officeId: "west", startsAt: at("09:00"), endsAt: at("09:30") });
    expect(firstCode(body)).toBe("OFFIC");
    expect(await appointmentCount(s.clinic.tenantId)).toBe(0);
  });

  test("SQL: booking at another doctor's office of the same tenant raises SQLSTATE OFFIC", async () => {
    const s = await setting();
    await addSecondDoctor(s.clinic);
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query(
        "insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at) values ($1, $2, 'west', $3, $4)",
        [s.clinic.doctor.doctorId, s.patientId, at("09:00"), at("09:30")],
      ),
    );
    expect(state).toBe("OFFIC");
  });

  test("SQL: moving an appointment to another doctor whose offices do not include its office raises SQLSTATE OFFIC", async () => {
    const s = await setting();
    const otherDoctor = await addSecondDoctor(s.clinic);
    const id = await book(s, { officeId: "north", startsAt: at("09:00"), endsAt: at("09:30") });
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query("update app_public.appointments set doctor_id = $2 where id = $1", [id, otherDoctor]),
    );
    expect(state).toBe("OFFIC");
    expect((await stored(id))?.doctor_id).toBe(s.clinic.doctor.doctorId);
  });

  test("GraphQL: booking at one of the doctor's own offices is accepted", async () => {
    const s = await setting();
    const body = await bookOverGraphql(s, { officeId: "north", startsAt: at("09:00"), endsAt: at("09:30") });
    expect(errorCodes(body)).toEqual([]);
    expect(body.data.createAppointment.appointment.officeId).toBe("north");
  });

  test("GraphQL and SQL: office_id null (not decided yet) is accepted", async () => {
    const s = await setting();
    const body = await bookOverGraphql(s, { officeId: null, startsAt: at("09:00"), endsAt: at("09:30") });
    expect(errorCodes(body)).toEqual([]);
    expect(body.data.createAppointment.appointment.officeId).toBeNull();
    const id = await book(s, { officeId: null, startsAt: at("10:00"), endsAt: at("10:30") });
    expect((await stored(id))?.office_id).toBeNull();
  });
});

describe("a doctor never holds two overlapping appointments that hold a slot (OVLAP / 23P01)", () => {
  test("GraphQL: overlapping a booked appointment of the same doctor is refused with OVLAP", async () => {
    const s = await setting();
    await book(s, { officeId: "main", startsAt: at("09:00"), endsAt: at("10:00") });
    const body = await bookOverGraphql(s, { officeId: "main", startsAt: at("09:30"), endsAt: at("10:30") });
    expect(firstCode(body)).toBe("OVLAP");
    expect(body.data?.createAppointment ?? null).toBeNull();
    expect(await appointmentCount(s.clinic.tenantId)).toBe(1);
  });

  test("SQL: overlapping a booked appointment of the same doctor raises SQLSTATE 23P01", async () => {
    const s = await setting();
    await book(s, { startsAt: at("09:00"), endsAt: at("10:00") });
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query(
        "insert into app_public.appointments (doctor_id, patient_id, starts_at, ends_at, outside_hours) values ($1, $2, $3, $4, true)",
        [s.clinic.doctor.doctorId, s.patientId, at("08:30"), at("09:01")],
      ),
    );
    expect(state).toBe("23P01");
    expect(await appointmentCount(s.clinic.tenantId)).toBe(1);
  });

  test("touching ranges (one ends at 10:00, the next starts at 10:00) are both accepted", async () => {
    const s = await setting();
    await book(s, { startsAt: at("09:00"), endsAt: at("10:00") });
    const body = await bookOverGraphql(s, { startsAt: at("10:00"), endsAt: at("11:00") });
    expect(errorCodes(body)).toEqual([]);
    await expect(book(s, { startsAt: at("08:00"), endsAt: at("09:00") })).resolves.toEqual(expect.any(String));
    expect(await appointmentCount(s.clinic.tenantId)).toBe(3);
  });

  test.each(["cancelled", "noshow", "entered-in-error"])(
    "an appointment with status %s does not block the slot",
    async (status) => {
      const s = await setting();
      await book(s, { startsAt: at("09:00"), endsAt: at("10:00"), status });
      const body = await bookOverGraphql(s, { startsAt: at("09:00"), endsAt: at("10:00") });
      expect(errorCodes(body)).toEqual([]);
      expect(body.data.createAppointment.appointment.status).toBe("booked");
    },
  );

  test("GraphQL: re-activating a cancelled appointment into an overlap is refused with OVLAP and it stays cancelled", async () => {
    const s = await setting();
    const cancelled = await book(s, { startsAt: at("09:00"), endsAt: at("10:00"), status: "cancelled" });
    await book(s, { startsAt: at("09:30"), endsAt: at("10:30") });
    const { body } = await server.graphql(s.clinic.receptionist.token, UPDATE_APPOINTMENT, {
      rowId: cancelled,
      patch: { status: "booked" },
    });
    expect(firstCode(body)).toBe("OVLAP");
    expect((await stored(cancelled))?.status).toBe("cancelled");
  });

  test("SQL: re-activating a cancelled appointment into an overlap raises SQLSTATE 23P01", async () => {
    const s = await setting();
    const cancelled = await book(s, { startsAt: at("09:00"), endsAt: at("10:00"), status: "cancelled" });
    await book(s, { startsAt: at("09:30"), endsAt: at("10:30") });
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query("update app_public.appointments set status = 'booked' where id = $1", [cancelled]),
    );
    expect(state).toBe("23P01");
  });

  test("the same time with a different doctor is accepted", async () => {
    const s = await setting();
    const otherDoctor = await addSecondDoctor(s.clinic);
    await book(s, { startsAt: at("09:00"), endsAt: at("10:00") });
    const body = await bookOverGraphql(s, {
      doctorId: otherDoctor,
      officeId: "west",
      startsAt: at("09:00"),
      endsAt: at("10:00"),
    });
    expect(errorCodes(body)).toEqual([]);
    expect(body.data.createAppointment.appointment.doctorId).toBe(otherDoctor);
  });
});

describe("times and statuses are checked (INVAL)", () => {
  test.each([
    ["ends before it starts", at("10:00"), at("09:00")],
    ["ends when it starts", at("10:00"), at("10:00")],
  ])("GraphQL: an appointment that %s is refused with INVAL", async (_label, startsAt, endsAt) => {
    const s = await setting();
    const body = await bookOverGraphql(s, { startsAt, endsAt });
    expect(firstCode(body)).toBe("INVAL");
    expect(await appointmentCount(s.clinic.tenantId)).toBe(0);
  });

  test("SQL: ends_at <= starts_at raises SQLSTATE 23514", async () => {
    const s = await setting();
    const state = await sqlStateOf(s.clinic.receptionist.claims, (client) =>
      client.query(
        "insert into app_public.appointments (doctor_id, patient_id, starts_at, ends_at, outside_hours) values ($1, $2, $3, $3, true)",
        [s.clinic.doctor.doctorId, s.patientId, at("10:00")],
      ),
    );
    expect(state).toBe("23514");
  });

  test('GraphQL: a status outside the FHIR set ("done") is refused with INVAL', async () => {
    const s = await setting();
    const body = await bookOverGraphql(s, { startsAt: at("09:00"), endsAt: at("09:30"), status: "done" });
    expect(firstCode(body)).toBe("INVAL");
    expect(await appointmentCount(s.clinic.tenantId)).toBe(0);
  });

  test('GraphQL: changing the status to one outside the FHIR set ("done") is refused with INVAL', async () => {
    const s = await setting();
    const id = await book(s, { startsAt: at("09:00"), endsAt: at("09:30") });
    const { body } = await server.graphql(s.clinic.receptionist.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { status: "done" },
    });
    expect(firstCode(body)).toBe("INVAL");
    expect((await stored(id))?.status).toBe("booked");
  });

  test('the default status is "booked" (GraphQL and SQL)', async () => {
    const s = await setting();
    const body = await bookOverGraphql(s, { startsAt: at("09:00"), endsAt: at("09:30") });
    expect(body.data.createAppointment.appointment.status).toBe("booked");
    const id = await asClaims(s.clinic.receptionist.claims, async (client) => {
      const { rows } = await client.query(
        "insert into app_public.appointments (doctor_id, patient_id, starts_at, ends_at, outside_hours) values ($1, $2, $3, $4, true) returning id",
        [s.clinic.doctor.doctorId, s.patientId, at("11:00"), at("11:30")],
      );
      return rows[0].id as string;
    });
    expect((await stored(id))?.status).toBe("booked");
  });
});

describe("an office booked by an upcoming appointment cannot be removed from the doctor (OFFIC)", () => {
  const mainOnly = (s: Setting) => s.clinic.offices.filter((o) => o.id !== "north");

  test.each([
    ["the admin", (s: Setting) => s.clinic.admin.token],
    ["the doctor himself", (s: Setting) => s.clinic.doctor.token],
  ])("GraphQL as %s: removing an office used by an upcoming booked appointment is refused with OFFIC", async (_who, token) => {
    const s = await setting();
    await book(s, { officeId: "north", startsAt: at("09:00"), endsAt: at("09:30") });
    const { body } = await server.graphql(token(s), UPDATE_OFFICES, {
      rowId: s.clinic.doctor.doctorId,
      offices: mainOnly(s),
    });
    expect(firstCode(body)).toBe("OFFIC");
    expect(await storedOffices(s.clinic.doctor.doctorId)).toStrictEqual(s.clinic.offices);
  });

  test("GraphQL as the doctor himself: removing an office no appointment uses is allowed", async () => {
    const s = await setting();
    await book(s, { officeId: "main", startsAt: at("09:00"), endsAt: at("09:30") });
    const { body } = await server.graphql(s.clinic.doctor.token, UPDATE_OFFICES, {
      rowId: s.clinic.doctor.doctorId,
      offices: mainOnly(s),
    });
    expect(errorCodes(body)).toEqual([]);
    expect(await storedOffices(s.clinic.doctor.doctorId)).toStrictEqual(mainOnly(s));
  });

  test("GraphQL as the admin: removing an office used only by a past appointment is allowed", async () => {
    const s = await setting();
    await book(s, { officeId: "north", startsAt: at("09:00", PAST), endsAt: at("09:30", PAST) });
    const { body } = await server.graphql(s.clinic.admin.token, UPDATE_OFFICES, {
      rowId: s.clinic.doctor.doctorId,
      offices: mainOnly(s),
    });
    expect(errorCodes(body)).toEqual([]);
    expect(await storedOffices(s.clinic.doctor.doctorId)).toStrictEqual(mainOnly(s));
  });

  test("GraphQL as the admin: removing an office used only by a cancelled upcoming appointment is allowed", async () => {
    const s = await setting();
    await book(s, { officeId: "north", startsAt: at("09:00"), endsAt: at("09:30"), status: "cancelled" });
    const { body } = await server.graphql(s.clinic.admin.token, UPDATE_OFFICES, {
      rowId: s.clinic.doctor.doctorId,
      offices: mainOnly(s),
    });
    expect(errorCodes(body)).toEqual([]);
    expect(await storedOffices(s.clinic.doctor.doctorId)).toStrictEqual(mainOnly(s));
  });

  test("re-activating a cancelled upcoming appointment at an office the doctor no longer has is refused with OFFIC", async () => {
    // Removing "north" is allowed only because its one upcoming appointment is cancelled; booking
    // that appointment again must not bring back an upcoming appointment at an office the doctor
    // no longer has (the column comment: "An office still booked by an upcoming appointment
    // cannot be removed"; the trigger: "office_id must name one of its doctor's offices").
    const s = await setting();
    const id = await book(s, { officeId: "north", startsAt: at("09:00"), endsAt: at("09:30"), status: "cancelled" });
    await asClaims(s.clinic.admin.claims, (client) =>
      client.query("update app_public.doctors set offices = $2::jsonb where id = $1", [
        s.clinic.doctor.doctorId,
        JSON.stringify(mainOnly(s)),
      ]),
    );
    const { body } = await server.graphql(s.clinic.receptionist.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { status: "booked" },
    });
    expect(firstCode(body)).toBe("OFFIC");
    expect((await stored(id))?.status).toBe("cancelled");
  });

  test("moving a past appointment at an office the doctor no longer has into the future is refused with OFFIC", async () => {
    const s = await setting();
    const id = await book(s, { officeId: "north", startsAt: at("09:00", PAST), endsAt: at("09:30", PAST) });
    await asClaims(s.clinic.admin.claims, (client) =>
      client.query("update app_public.doctors set offices = $2::jsonb where id = $1", [
        s.clinic.doctor.doctorId,
        JSON.stringify(mainOnly(s)),
      ]),
    );
    const { body } = await server.graphql(s.clinic.receptionist.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { startsAt: at("09:00"), endsAt: at("09:30") },
    });
    expect(firstCode(body)).toBe("OFFIC");
    expect((await stored(id))?.starts_at.toISOString()).toBe(new Date(at("09:00", PAST)).toISOString());
  });
});

describe("a doctor changes only the status and notes of his own appointments", () => {
  test("the doctor can change the status and notes of his own appointment", async () => {
    const s = await setting();
    const id = await book(s, { officeId: "main", startsAt: at("09:00"), endsAt: at("09:30") });
    const { body } = await server.graphql(s.clinic.doctor.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { status: "arrived", notes: "Patient is in the waiting room." },
    });
    expect(errorCodes(body)).toEqual([]);
    expect(body.data.updateAppointment.appointment).toMatchObject({
      status: "arrived",
      notes: "Patient is in the waiting room.",
    });
    expect(await stored(id)).toMatchObject({ status: "arrived", notes: "Patient is in the waiting room." });
  });

  test("the doctor changing startsAt of his own appointment gets DNIED and the time is unchanged", async () => {
    const s = await setting();
    const id = await book(s, { officeId: "main", startsAt: at("09:00"), endsAt: at("09:30") });
    const { body } = await server.graphql(s.clinic.doctor.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { startsAt: at("08:45") },
    });
    expect(firstCode(body)).toBe("DNIED");
    expect((await stored(id))?.starts_at.toISOString()).toBe(new Date(at("09:00")).toISOString());
  });

  test("the doctor cannot update another doctor's appointment: the mutation changes nothing and returns no appointment", async () => {
    const s = await setting();
    const otherDoctor = await addSecondDoctor(s.clinic);
    const id = await book(s, {
      doctorId: otherDoctor,
      officeId: "west",
      startsAt: at("09:00"),
      endsAt: at("09:30"),
      notes: "original",
    });
    const { body } = await server.graphql(s.clinic.doctor.token, UPDATE_APPOINTMENT, {
      rowId: id,
      patch: { status: "cancelled", notes: "changed by the wrong doctor" },
    });
    // Row-level security hides the row from the UPDATE, so 0 rows change. PostGraphile 5
    // (@dataplan/pg pgUpdateSingle) reports 0 changed rows as a null record, not as an error
    // (README: "0 rows changed" is not an error).
    expect(body).toEqual({ data: { updateAppointment: { appointment: null } } });
    expect(await stored(id)).toMatchObject({ status: "booked", notes: "original", doctor_id: otherDoctor });
  });

  test("SQL: the doctor's update of another doctor's appointment affects no row", async () => {
    const s = await setting();
    const otherDoctor = await addSecondDoctor(s.clinic);
    const id = await book(s, { doctorId: otherDoctor, startsAt: at("09:00"), endsAt: at("09:30") });
    const rowCount = await asClaims(s.clinic.doctor.claims, async (client) => {
      const result = await client.query("update app_public.appointments set status = 'cancelled' where id = $1", [id]);
      return result.rowCount;
    });
    expect(rowCount).toBe(0);
    expect((await stored(id))?.status).toBe("booked");
  });
});
