/**
 * The README's first session, over HTTP with plain fetch: sign up a clinic, add a doctor with two
 * offices, register a patient, book appointments and read this week's schedule. The GraphQL
 * documents below are the ones the README shows; keep them in step.
 */
import jwt from "jsonwebtoken";
import { asOwner, tokenSettings, uniq, useServer } from "./helpers";

/** README step 2: an admin adds a doctor with their offices (and a sign-in account, by e-mail). */
const ADD_DOCTOR = /* GraphQL */ `
  mutation AddDoctor($fullName: String!, $email: String, $specialty: String, $offices: JSON) {
    addDoctor(input: { fullName: $fullName, email: $email, specialty: $specialty, offices: $offices }) {
      result {
        rowId
        fullName
        offices
      }
    }
  }
`;

/** README step 3: register a patient. */
const CREATE_PATIENT = /* GraphQL */ `
  mutation CreatePatient($patient: PatientInput!) {
    createPatient(input: { patient: $patient }) {
      patient {
        rowId
      }
    }
  }
`;

/** README step 4: book an appointment with the doctor, at one of the doctor's offices. */
const CREATE_APPOINTMENT = /* GraphQL */ `
  mutation CreateAppointment($appointment: AppointmentInput!) {
    createAppointment(input: { appointment: $appointment }) {
      appointment {
        rowId
        status
      }
    }
  }
`;

/** README step 5: this week's schedule, with how many patients and appointments per doctor. */
const WEEK_SCHEDULE = /* GraphQL */ `
  query WeekSchedule($from: Datetime!, $to: Datetime!) {
    appointments(filter: { startsAt: { greaterThanOrEqualTo: $from, lessThan: $to } }, orderBy: STARTS_AT_ASC) {
      totalCount
      nodes {
        startsAt
        officeId
        status
        doctor {
          fullName
        }
        patient {
          fullName
        }
      }
      aggregates {
        distinctCount {
          patientId
        }
      }
      groupedAggregates(groupBy: DOCTOR_ID) {
        keys
        distinctCount {
          rowId
        }
      }
    }
  }
`;

const server = useServer();

/** POSTs JSON with plain fetch, as a README reader would. */
async function postJson(path: string, body: unknown, token?: string) {
  const response = await fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** Runs a GraphQL operation with the token; fails the test on any GraphQL error. */
async function graphql(token: string, query: string, variables: Record<string, unknown>) {
  const { status, body } = await postJson("/graphql", { query, variables }, token);
  expect(body.errors).toBeUndefined();
  expect(status).toBe(200);
  return body.data;
}

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Monday 00:00 UTC of the current week. */
function startOfWeek(now = new Date()): Date {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const daysSinceMonday = (now.getUTCDay() + 6) % 7;
  return new Date(midnight - daysSinceMonday * DAY_MS);
}

describe("the README's first session over HTTP", () => {
  test("a new clinic signs up, adds a doctor with offices, registers a patient, books and reads this week's schedule", async () => {
    // 1. Sign up: the clinic and its first admin, on the trial plan.
    const email = `${uniq("owner")}@example.test`;
    const doctorEmail = `${uniq("dr-lee")}@example.test`;
    const signUp = await postJson("/auth/register-clinic", {
      clinicName: "Riverside Family Practice",
      fullName: "Alex Admin",
      email,
      password: "correct horse battery staple",
      timeZone: "Europe/Madrid",
    });
    expect(signUp.status).toBe(201);
    expect(signUp.body.tenant).toMatchObject({ name: "Riverside Family Practice", subscriptionPlan: "trial" });
    expect(signUp.body.user).toMatchObject({ email, fullName: "Alex Admin", userRole: "admin" });
    const token: string = signUp.body.token;
    expect(jwt.verify(token, tokenSettings.secret)).toMatchObject({ tenant_id: signUp.body.tenant.id, user_role: "admin" });

    // 2. Add a doctor with two offices.
    const offices = [
      { id: "main", name: "Main Street", address: "1 Main St", is_primary: true },
      { id: "annex", name: "Annex", address: null, is_primary: false },
    ];
    const { addDoctor } = await graphql(token, ADD_DOCTOR, {
      fullName: "Dr Lee",
      email: doctorEmail,
      specialty: "Family medicine",
      offices,
    });
    expect(addDoctor.result).toEqual({ rowId: expect.any(String), fullName: "Dr Lee", offices });
    const doctorId: string = addDoctor.result.rowId;

    // 3. Register a patient.
    const { createPatient } = await graphql(token, CREATE_PATIENT, {
      patient: { fullName: "Pat Doe", birthDate: "1990-04-12", gender: "female" },
    });
    const patientId: string = createPatient.patient.rowId;
    expect(patientId).toMatch(/^[0-9a-f-]{36}$/);

    // 4. Book: two appointments this week (one per office) and one next week.
    const monday = startOfWeek();
    const slots = [
      { startsAt: new Date(monday.getTime() + 1 * DAY_MS + 9 * HOUR_MS), officeId: "main", reason: "Check-up" },
      { startsAt: new Date(monday.getTime() + 3 * DAY_MS + 15 * HOUR_MS), officeId: "annex", reason: "Blood test results" },
      { startsAt: new Date(monday.getTime() + 8 * DAY_MS + 9 * HOUR_MS), officeId: "main", reason: "Follow-up" },
    ];
    const appointmentIds: string[] = [];
    for (const slot of slots) {
      const { createAppointment } = await graphql(token, CREATE_APPOINTMENT, {
        appointment: {
          doctorId,
          patientId,
          officeId: slot.officeId,
          startsAt: slot.startsAt.toISOString(),
          endsAt: new Date(slot.startsAt.getTime() + 30 * 60 * 1000).toISOString(),
          reason: slot.reason,
        },
      });
      expect(createAppointment.appointment).toEqual({ rowId: expect.any(String), status: "booked" });
      appointmentIds.push(createAppointment.appointment.rowId);
    }

    // 5. This week's schedule: Monday 00:00 up to next Monday 00:00.
    const { appointments } = await graphql(token, WEEK_SCHEDULE, {
      from: monday.toISOString(),
      to: new Date(monday.getTime() + 7 * DAY_MS).toISOString(),
    });
    expect(appointments.totalCount).toBe(2);
    expect(
      appointments.nodes.map((node: { startsAt: string }) => ({ ...node, startsAt: new Date(node.startsAt).toISOString() })),
    ).toEqual([
      {
        startsAt: slots[0].startsAt.toISOString(),
        officeId: "main",
        status: "booked",
        doctor: { fullName: "Dr Lee" },
        patient: { fullName: "Pat Doe" },
      },
      {
        startsAt: slots[1].startsAt.toISOString(),
        officeId: "annex",
        status: "booked",
        doctor: { fullName: "Dr Lee" },
        patient: { fullName: "Pat Doe" },
      },
    ]);
    // BigInt aggregates come back as strings.
    expect(appointments.aggregates).toEqual({ distinctCount: { patientId: "1" } });
    expect(appointments.groupedAggregates).toEqual([{ keys: [doctorId], distinctCount: { rowId: "2" } }]);

    // What is stored: all of it in the new tenant; the doctor has a sign-in account awaiting activation.
    const stored = await asOwner(async (client) => {
      const {
        rows: [row],
      } = await client.query(
        `select t.time_zone,
                (select count(*)::int from app_public.appointments a where a.tenant_id = t.id) as appointments,
                (select u.user_role from app_public.users u where u.email = $2 and u.tenant_id = t.id) as doctor_role
           from app_public.tenants t where t.id = $1`,
        [signUp.body.tenant.id, doctorEmail],
      );
      return row;
    });
    expect(stored).toEqual({ time_zone: "Europe/Madrid", appointments: 3, doctor_role: "doctor" });
    expect(appointmentIds).toHaveLength(3);
  });
});
