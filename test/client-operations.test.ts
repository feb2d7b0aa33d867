/**
 * The front ends' typed client and the server's trusted documents come from the committed
 * operations in client/operations/ (`npm run codegen`). This keeps the committed output in step
 * with the operations and with schema.graphql, proves that an operation the schema cannot answer
 * fails codegen, and runs every operation by id on a server that takes trusted documents only.
 */
import { generate } from "@graphql-codegen/cli";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Kind, print, type OperationDefinitionNode } from "postgraphile/graphql";
import { clientCodegenConfig } from "../client/codegen";
import * as generated from "../client/generated/graphql";
import { graphqlBody } from "../client/request";
import { documentId, trustedDocumentFiles, TRUSTED_DOCUMENTS_DIR } from "../client/trusted-documents";
import { DEFAULT_GRAPHQL_LIMITS } from "../src/graphql-limits";
import { errorCodes, signUpClinic, startServer, type Clinic, type TestServer } from "./helpers";

const root = path.resolve(__dirname, "..");
const operationsDir = path.join(root, "client/operations");
const operationFiles = readdirSync(operationsDir).filter((name) => name.endsWith(".graphql"));

/** Runs codegen in memory (nothing written) on `operations`, a directory of `.graphql` files. */
async function codegen(operations: string): Promise<{ filename: string; content: string }[]> {
  const config = clientCodegenConfig({
    schema: path.join(root, "schema.graphql"),
    documents: path.join(operations, "*.graphql"),
    output: path.join(root, "client/generated/"),
  });
  return generate({ ...config, silent: true }, false);
}

/** The generated typed documents, by operation name. */
const documents = new Map(
  Object.entries(generated)
    .filter(([name]) => name.endsWith("Document"))
    .map(([, document]) => {
      const typed = document as TypedDocumentNode & { __meta__: { hash: string } };
      return [(typed.definitions[0] as OperationDefinitionNode).name!.value, typed];
    }),
);

describe("generated client", () => {
  test("the committed client/generated/ and client/trusted-documents/ are what npm run codegen writes", async () => {
    const outputs = await codegen(operationsDir);
    for (const { filename, content } of outputs) {
      expect({ filename, content }).toEqual({ filename, content: readFileSync(filename, "utf8") });
    }
    const manifest = outputs.find(({ filename }) => filename.endsWith("persisted-documents.json"))!;
    const expected = trustedDocumentFiles(JSON.parse(manifest.content));
    const committed = new Map(
      readdirSync(TRUSTED_DOCUMENTS_DIR).map((name) => [name, readFileSync(path.join(TRUSTED_DOCUMENTS_DIR, name), "utf8")]),
    );
    expect(committed).toEqual(expected);
  });

  test("each operation file is one named operation, exported as a typed document carrying its trusted id", () => {
    expect([...documents.keys()].sort()).toEqual(operationFiles.map((name) => name.replace(/\.graphql$/, "")).sort());
    for (const [name, document] of documents) {
      expect(document.kind).toBe(Kind.DOCUMENT);
      expect(document.definitions).toHaveLength(1);
      // The id names a committed file whose text is this operation, and is that text's SHA-256.
      const stored = readFileSync(path.join(TRUSTED_DOCUMENTS_DIR, `${document.__meta__.hash}.graphql`), "utf8");
      expect(documentId(stored)).toBe(document.__meta__.hash);
      expect(stored).toMatch(new RegExp(`^(query|mutation) ${name}\\b`));
      expect(print(document)).toMatch(new RegExp(`^(query|mutation) ${name}\\b`));
    }
  });

  test("an operation asking for a field the schema does not have fails codegen", async () => {
    const broken = mkdtempSync(path.join(tmpdir(), "operations-"));
    for (const name of operationFiles) copyFileSync(path.join(operationsDir, name), path.join(broken, name));
    await expect(codegen(broken)).resolves.toHaveLength(4); // the copy alone is fine
    writeFileSync(path.join(broken, "Broken.graphql"), "query Broken { currentUser { favouriteColour } }\n");
    await expect(codegen(broken)).rejects.toThrow(/Cannot query field "favouriteColour" on type "User"/);
  });
});

describe("with GRAPHQL_TRUSTED_DOCUMENTS_DIR set to client/trusted-documents/", () => {
  let clinic: Clinic;
  let server: TestServer;
  beforeAll(async () => {
    clinic = await signUpClinic();
    server = await startServer({ graphqlLimits: { ...DEFAULT_GRAPHQL_LIMITS, trustedDocumentsDir: TRUSTED_DOCUMENTS_DIR } });
  });
  afterAll(() => server.close());

  /** Runs a generated document by its id, as a front end does. */
  async function byId<Result, Variables>(
    document: TypedDocumentNode<Result, Variables>,
    variables: Variables,
    token = clinic.admin.token,
  ): Promise<Result> {
    const body = graphqlBody(document, variables, { trusted: true });
    expect(body).toEqual({ documentId: expect.stringMatching(/^[0-9a-f]{64}$/), variables });
    const answer = await server.post("/graphql", body, { authorization: `Bearer ${token}` });
    expect(answer.body.errors).toBeUndefined();
    return answer.body.data;
  }

  test("every committed operation runs by its id", async () => {
    const session = await byId(generated.CurrentSessionDocument, {});
    expect(session.currentUser?.email).toBe(clinic.admin.email);

    const { addDoctor } = await byId(generated.AddDoctorDocument, {
      fullName: "Dr Byid",
      offices: [{ id: "main", name: "Main", address: null, is_primary: true }],
    });
    expect(addDoctor?.result?.fullName).toBe("Dr Byid");

    const email = `byid-${Date.now()}@example.test`;
    const { addUser } = await byId(generated.AddUserDocument, { email, fullName: "Rex Byid", userRole: "receptionist" });
    expect(addUser?.result).toMatchObject({ email, userRole: "receptionist" });
    const { changeUserEmail } = await byId(generated.ChangeUserEmailDocument, {
      userId: addUser!.result!.rowId,
      email: `new-${email}`,
    });
    expect(changeUserEmail?.result?.email).toBe(`new-${email}`);

    const { createPatient } = await byId(generated.CreatePatientDocument, { fullName: "Iria Trusted", gender: "female" });
    const patientId = createPatient!.patient!.rowId;
    const search = await byId(generated.SearchPatientsDocument, { search: "TRUST" });
    expect(search.searchPatients?.nodes).toEqual([{ rowId: patientId, fullName: "Iria Trusted", birthDate: null, phone: null }]);

    const startsAt = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const { createAppointment } = await byId(generated.BookAppointmentDocument, {
      doctorId: clinic.doctor.doctorId,
      patientId,
      officeId: "north",
      outsideHours: true,
      startsAt,
      endsAt: new Date(Date.parse(startsAt) + 1_800_000).toISOString(),
    });
    const appointmentId = createAppointment!.appointment!.rowId;
    const week = { from: new Date().toISOString(), to: new Date(Date.now() + 7 * 86_400_000).toISOString() };
    const doctorWeek = await byId(
      generated.DoctorWeekDocument,
      { doctorId: clinic.doctor.doctorId, ...week },
      clinic.doctor.token,
    );
    expect(doctorWeek.appointments?.nodes.map((node) => node?.rowId)).toEqual([appointmentId]);

    const { updateAppointment } = await byId(generated.CancelAppointmentDocument, { rowId: appointmentId });
    expect(updateAppointment?.appointment?.status).toBe("cancelled");
    const told = await byId(generated.AppointmentNoticesDocument, { appointmentId });
    expect(told.appointment?.sequence).toBe(1);
    expect(told.appointment?.notices.nodes.map((n) => [n?.kind, n?.status])).toEqual([
      ["confirmation", "queued"],
      ["cancellation", "queued"],
    ]);
    const { updatePatient } = await byId(generated.SetEmailConsentDocument, { patientId, emailConsent: false });
    expect(updatePatient?.patient).toMatchObject({
      emailConsent: false,
      emailConsentChangedAt: expect.any(String),
      emailConsentChangedByUser: { fullName: "Ada Admin" },
    });
    const { createWaitlistEntry } = await byId(generated.AddToWaitlistDocument, {
      patientId,
      doctorId: clinic.doctor.doctorId,
      durationMinutes: 30,
      earliestDate: "2027-01-04",
      latestDate: "2027-01-29",
      weekdays: [1, 3],
      earliestTime: "08:00",
      latestTime: "12:00",
    });
    expect(createWaitlistEntry?.waitlistEntry?.status).toBe("waiting");
    const waitlist = await byId(generated.WaitlistDocument, {});
    expect(waitlist.waitlistEntries?.nodes).toEqual([
      {
        rowId: createWaitlistEntry?.waitlistEntry?.rowId,
        earliestDate: "2027-01-04",
        latestDate: "2027-01-29",
        patient: { fullName: "Iria Trusted" },
        offers: { nodes: [] },
      },
    ]);
    const { updateTenant } = await byId(generated.SetRemindersDocument, {
      tenantId: clinic.tenantId,
      reminderLeadMinutes: 2880,
      secondReminderLeadMinutes: 120,
    });
    expect(updateTenant?.tenant).toEqual({ reminderLeadMinutes: 2880, secondReminderLeadMinutes: 120 });
    const schedule = await byId(generated.WeekScheduleDocument, week);
    expect(schedule.appointments?.nodes.map((node) => node?.status)).toEqual(["cancelled"]);

    // A weekly series at north, a week ahead, inside hours set for that weekday; one occurrence moved.
    const firstDate = new Date(Date.now() + 8 * 86_400_000).toISOString().slice(0, 10);
    const weekday = ((new Date(`${firstDate}T12:00:00Z`).getUTCDay() + 6) % 7) + 1;
    await byId(generated.SetWorkingHoursDocument, {
      doctorId: clinic.doctor.doctorId,
      officeId: "north",
      weekday,
      startsAt: "08:00",
      endsAt: "18:00",
    });
    const { createAppointmentSeries } = await byId(generated.CreateWeeklySeriesDocument, {
      doctorId: clinic.doctor.doctorId,
      patientId,
      officeId: "north",
      firstDate,
      startTime: "10:00",
      rrule: "FREQ=WEEKLY;COUNT=3",
      durationMinutes: 30,
    });
    const occurrences = createAppointmentSeries!.result!.appointments.nodes;
    expect(occurrences).toHaveLength(3);
    const { updateAppointmentSeries } = await byId(generated.ChangeSeriesDocument, {
      appointmentId: occurrences[1]!.rowId,
      scope: "this",
      startTime: "11:00",
    });
    expect(updateAppointmentSeries?.result?.map((row) => row?.rowId)).toEqual([occurrences[1]!.rowId]);
    const outside = await byId(generated.AppointmentsOutsideHoursDocument, {});
    expect(outside.upcomingAppointmentsOutsideHours?.nodes).toEqual([]);
  });

  test("an ad-hoc query is refused, even the text of a committed operation, and so is an unknown id", async () => {
    // @grafserv/persisted logs each refused lookup; expected here.
    const logged = jest.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const body of [
        { query: "{ currentUser { email } }" },
        graphqlBody(generated.CurrentSessionDocument, {}, { trusted: false }),
        { documentId: documentId("{ currentUser { email } }") },
      ]) {
        const answer = await server.post("/graphql", body, { authorization: `Bearer ${clinic.admin.token}` });
        expect(answer.status).toBe(400);
        expect(answer.body.data).toBeUndefined();
        expect(errorCodes(answer.body)).toEqual(["LIMIT"]);
      }
    } finally {
      logged.mockRestore();
    }
  });
});
