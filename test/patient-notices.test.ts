/**
 * Patients' appointment e-mails (issue 13), sent by the real task list through a real SMTP server
 * and read back with mailparser, their calendar files with node-ical: confirmation, change,
 * cancellation and series confirmation, consent and the unsubscribe link, and reminders on a
 * controlled clock across daylight-saving nights. The last test reads every captured mail for
 * data of another patient or tenant.
 */
import ical, { type VEvent } from "node-ical";
import { asClaims, asOwner, closePool, signUpClinic, uniq, useServer, type Clinic } from "./helpers";
import { jobRunner, retryFailedJobsNow, smtpMailer, useMailWorker, type CapturedMail } from "./mail";
import { tenantProgram } from "../src/cli/tenant";

const mailbox = useMailWorker();
const api = useServer();
afterAll(closePool);

/** Every patient this file e-mails, with their tenant's name: the last test checks each mail against them. */
const known: { email: string; name: string; tenantName: string }[] = [];

interface Setting {
  clinic: Clinic;
  tenantName: string;
  patientId: string;
  email: string;
  name: string;
}

async function setting(timeZone = "Europe/Madrid", patient: { email?: string | null; consent?: boolean } = {}): Promise<Setting> {
  const tenantName = `${uniq("Clinic")} Group`;
  const clinic = await signUpClinic(tenantName);
  const name = `${uniq("Pat")} Smith`;
  const email = patient.email === undefined ? `${uniq("pat")}@example.test` : patient.email;
  const patientId = await asClaims(clinic.admin.claims, async (client) => {
    await client.query("update app_public.tenants set time_zone = $1 where id = $2", [timeZone, clinic.tenantId]);
    const { rows } = await client.query(
      "insert into app_public.patients (full_name, email, email_consent) values ($1, $2, $3) returning id",
      [name, email, patient.consent ?? true],
    );
    return rows[0].id as string;
  });
  if (email) known.push({ email, name, tenantName });
  return { clinic, tenantName, patientId, email: email as string, name };
}

/** As the admin (marked outside hours, so no working hours are needed): an appointment with a reason and notes. */
async function book(s: Setting, startsAt: string, minutes = 30): Promise<string> {
  return asClaims(s.clinic.admin.claims, async (client) => {
    const { rows } = await client.query(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, outside_hours, reason, notes)
       values ($1, $2, 'main', $3, $3::timestamptz + make_interval(mins => $4), true, 'Sensitive reason', 'Private note') returning id`,
      [s.clinic.doctor.doctorId, s.patientId, startsAt, minutes],
    );
    return rows[0].id as string;
  });
}

const asReceptionist = (s: Setting, sql: string, params: unknown[]) =>
  asClaims(s.clinic.receptionist.claims, (client) => client.query(sql, params));

const notices = (s: Setting) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      `select kind, status, skip_reason as reason, lead_minutes as lead from app_public.appointment_notices
       where tenant_id = $1 order by created_at, kind`,
      [s.clinic.tenantId],
    );
    return rows;
  });

/** The VEVENTs of a mail's calendar file, and its METHOD. */
function calendarOf(mail: CapturedMail) {
  const files = mail.attachments.filter((a) => a.contentType.startsWith("text/calendar"));
  expect(files).toHaveLength(1);
  const parsed = ical.sync.parseICS(files[0].content);
  const events = Object.values(parsed).filter((c): c is VEvent => c?.type === "VEVENT");
  return { method: (parsed.vcalendar as unknown as { method: string }).method, events };
}

const uidOf = (appointmentId: string) => `appointment-${appointmentId}@clinic.test`;
const unsubscribeUrlIn = (mail: CapturedMail) => /https?:\/\/\S+\/unsubscribe\?token=[0-9a-f]{64}/.exec(mail.text)?.[0] as string;

describe("messages", () => {
  test("booking sends the patient one confirmation: the time in the clinic's zone and its name, the office, nothing clinical, a calendar entry", async () => {
    const s = await setting("Europe/Madrid");
    const id = await book(s, "2027-01-12T08:30:00Z");
    await mailbox.runner.run();
    const [mail, ...more] = mailbox.smtp.to(s.email);
    expect(more).toHaveLength(0);
    expect(mail.subject).toBe(`Your appointment at ${s.tenantName} on 12 January`);
    expect(mail.text).toContain(`Hello ${s.name},`);
    expect(mail.text).toContain("Tuesday, 12 January 2027, 09:30–10:00 CET (Europe/Madrid), at Main office, 1 High Street.");
    for (const body of [mail.text, mail.html, mail.attachments[0].content]) {
      expect(body).not.toMatch(/Sensitive reason|Private note|Dr Dee|General practice/);
    }
    const { method, events } = calendarOf(mail);
    expect(method).toBe("REQUEST");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ uid: uidOf(id), sequence: 0, status: "CONFIRMED", location: "Main office, 1 High Street" });
    expect(events[0].start.toISOString()).toBe("2027-01-12T08:30:00.000Z");
    expect(events[0].end?.toISOString()).toBe("2027-01-12T09:00:00.000Z");
    expect(mail.headers["list-unsubscribe"]).toMatch(/^<https:\/\/api\.clinic\.test\/unsubscribe\?token=[0-9a-f]{64}>$/);
    expect(mail.headers["list-unsubscribe-post"]).toBe("List-Unsubscribe=One-Click");
    expect(await notices(s)).toEqual([{ kind: "confirmation", status: "sent", reason: null, lead: null }]);
    await mailbox.runner.run();
    expect(mailbox.smtp.to(s.email)).toHaveLength(1); // delivered once
  });

  test("a move sends a change notice with the same UID and SEQUENCE 1; a cancellation sends METHOD:CANCEL with SEQUENCE 2", async () => {
    const s = await setting("America/New_York");
    const id = await book(s, "2027-02-03T15:00:00Z");
    await mailbox.runner.run();
    await asReceptionist(s, "update app_public.appointments set starts_at = $2, ends_at = $3 where id = $1", [
      id,
      "2027-02-04T19:00:00Z",
      "2027-02-04T19:45:00Z",
    ]);
    await mailbox.runner.run();
    // Notes and status steps that do not concern the patient send nothing.
    await asReceptionist(s, "update app_public.appointments set notes = 'more' where id = $1", [id]);
    await mailbox.runner.run();
    await asReceptionist(
      s,
      "update app_public.appointments set status = 'cancelled', cancellation_reason = 'Doctor ill' where id = $1",
      [id],
    );
    await mailbox.runner.run();
    const [confirmation, change, cancellation, ...more] = mailbox.smtp.to(s.email);
    expect(more).toHaveLength(0);
    expect(change.subject).toBe(`Your appointment at ${s.tenantName} has changed`);
    expect(change.text).toContain("It is now on Thursday, 4 February 2027, 14:00–14:45 GMT-5 (America/New_York)");
    expect(cancellation.subject).toBe(`Your appointment at ${s.tenantName} on 4 February is cancelled`);
    expect(cancellation.text).not.toContain("Doctor ill");
    const calendars = [confirmation, change, cancellation].map(calendarOf);
    expect(calendars.map((c) => c.method)).toEqual(["REQUEST", "REQUEST", "CANCEL"]);
    expect(calendars.map((c) => [c.events[0].uid, c.events[0].sequence, c.events[0].status])).toEqual([
      [uidOf(id), 0, "CONFIRMED"],
      [uidOf(id), 1, "CONFIRMED"],
      [uidOf(id), 2, "CANCELLED"],
    ]);
    expect(calendars[1].events[0].start.toISOString()).toBe("2027-02-04T19:00:00.000Z");
  });

  test("changed before the worker ran: one confirmation of the latest time; cancelled before: nothing, and the notices say why", async () => {
    const moved = await setting();
    const id = await book(moved, "2027-03-01T09:00:00Z");
    await asReceptionist(moved, "update app_public.appointments set office_id = 'north' where id = $1", [id]);
    const cancelled = await setting();
    const other = await book(cancelled, "2027-03-01T10:00:00Z");
    await asReceptionist(cancelled, "update app_public.appointments set status = 'cancelled' where id = $1", [other]);
    await mailbox.runner.run();
    const [mail, ...more] = mailbox.smtp.to(moved.email);
    expect(more).toHaveLength(0);
    expect(mail.subject).toMatch(/^Your appointment at .* on 1 March$/);
    expect(mail.text).toContain(", at North office.");
    expect(calendarOf(mail).events[0]).toMatchObject({ uid: uidOf(id), sequence: 1 });
    expect(await notices(moved)).toEqual([
      { kind: "confirmation", status: "skipped", reason: "superseded", lead: null },
      { kind: "change", status: "sent", reason: null, lead: null },
    ]);
    expect(mailbox.smtp.to(cancelled.email)).toHaveLength(0);
    expect(await notices(cancelled)).toEqual([
      { kind: "confirmation", status: "skipped", reason: "superseded", lead: null },
      { kind: "cancellation", status: "skipped", reason: "nothing-sent", lead: null },
    ]);
  });

  test("a series sends one confirmation listing its dates, with one calendar entry per visit; a later change of one visit updates its entry", async () => {
    const s = await setting("Europe/Madrid");
    const seriesId = await asClaims(s.clinic.admin.claims, async (client) => {
      const { rows } = await client.query(
        `select id from app_public.create_appointment_series($1, $2, 'main', '2027-01-04', '17:00', 'FREQ=WEEKLY;COUNT=3',
           duration_minutes => 30, outside_hours => true)`,
        [s.clinic.doctor.doctorId, s.patientId],
      );
      return rows[0].id as string;
    });
    await mailbox.runner.run();
    const [mail, ...more] = mailbox.smtp.to(s.email);
    expect(more).toHaveLength(0);
    expect(mail.subject).toBe(`Your 3 appointments at ${s.tenantName}`);
    for (const day of ["Monday, 4 January 2027", "Monday, 11 January 2027", "Monday, 18 January 2027"]) {
      expect(mail.text).toContain(`• ${day}, 17:00–17:30 CET (Europe/Madrid), at Main office, 1 High Street`);
    }
    const occurrences = await asOwner(async (client) => {
      const { rows } = await client.query("select id from app_public.appointments where series_id = $1 order by starts_at", [
        seriesId,
      ]);
      return rows.map((r) => r.id as string);
    });
    const { method, events } = calendarOf(mail);
    expect(method).toBe("PUBLISH");
    expect(events.every((e) => !("attendee" in e))).toBe(true); // RFC 5546: PUBLISH names no attendees
    expect(events.map((e) => e.uid).sort()).toEqual(occurrences.map(uidOf).sort());
    await asReceptionist(s, "update app_public.appointments set office_id = 'north' where id = $1", [occurrences[1]]);
    await mailbox.runner.run();
    const change = mailbox.smtp.to(s.email)[1];
    expect(change.subject).toBe(`Your appointment at ${s.tenantName} has changed`);
    expect(calendarOf(change).events.map((e) => [e.uid, e.sequence])).toEqual([[uidOf(occurrences[1]), 1]]);
  });

  test("no consent, or no address: nothing is sent, and the notice says why; who changed the consent, and when, is recorded", async () => {
    const refused = await setting("UTC", { consent: false });
    const noAddress = await setting("UTC", { email: null });
    await book(refused, "2027-04-01T09:00:00Z");
    await book(noAddress, "2027-04-01T09:00:00Z");
    await mailbox.runner.run();
    expect(mailbox.smtp.to(refused.email)).toHaveLength(0);
    expect(await notices(refused)).toEqual([{ kind: "confirmation", status: "skipped", reason: "no-consent", lead: null }]);
    expect(await notices(noAddress)).toEqual([{ kind: "confirmation", status: "skipped", reason: "no-email", lead: null }]);
    // The record is the database's, not the client's.
    await expect(
      asReceptionist(refused, "update app_public.patients set email_consent_changed_by = null where id = $1", [
        refused.patientId,
      ]),
    ).rejects.toMatchObject({ code: "42501" });
    await asReceptionist(refused, "update app_public.patients set email_consent = true where id = $1", [refused.patientId]);
    const consent = await asOwner(async (client) => {
      const { rows } = await client.query(
        "select email_consent, email_consent_changed_by, email_consent_changed_at > now() - interval '1 minute' as recent from app_public.patients where id = $1",
        [refused.patientId],
      );
      return rows[0];
    });
    expect(consent).toEqual({ email_consent: true, email_consent_changed_by: refused.clinic.receptionist.userId, recent: true });
  });
});

describe("corrections", () => {
  test("a visit booked for the wrong patient and corrected: the first gets its cancellation, the second its confirmation", async () => {
    const alice = await setting("Europe/Madrid");
    const bob = await asClaims(alice.clinic.admin.claims, async (client) => {
      const name = `${uniq("Bob")} Smith`;
      const email = `${uniq("bob")}@example.test`;
      const { rows } = await client.query("insert into app_public.patients (full_name, email) values ($1, $2) returning id", [
        name,
        email,
      ]);
      known.push({ email, name, tenantName: alice.tenantName });
      return { id: rows[0].id as string, email, name };
    });
    const id = await book(alice, "2027-01-20T10:00:00Z");
    await mailbox.runner.run();
    await asReceptionist(alice, "update app_public.appointments set patient_id = $2 where id = $1", [id, bob.id]);
    await mailbox.runner.run();
    const [confirmation, cancellation, ...more] = mailbox.smtp.to(alice.email);
    expect(more).toHaveLength(0);
    expect(calendarOf(confirmation).events[0]).toMatchObject({ uid: uidOf(id), sequence: 0 });
    expect(cancellation.subject).toBe(`Your appointment at ${alice.tenantName} on 20 January is cancelled`);
    expect(calendarOf(cancellation)).toMatchObject({ method: "CANCEL", events: [{ uid: uidOf(id), sequence: 1 }] });
    const [bobs, ...moreForBob] = mailbox.smtp.to(bob.email);
    expect(moreForBob).toHaveLength(0);
    expect(bobs.subject).toBe(`Your appointment at ${alice.tenantName} on 20 January`);
    expect(bobs.text).toContain(`Hello ${bob.name},`);
    expect(calendarOf(bobs)).toMatchObject({ method: "REQUEST", events: [{ uid: uidOf(id), sequence: 1 }] });
  });

  test("a cancellation after a confirmation whose sending was interrupted (it may have arrived) is still sent", async () => {
    const s = await setting();
    const id = await book(s, "2027-01-21T10:00:00Z");
    const smtpMail = smtpMailer(mailbox.smtp);
    const inFlight = async (_message: unknown, handOver?: () => Promise<void>) => {
      await handOver?.();
      throw new Error("Connection closed while the message was in flight");
    };
    const interrupted = jobRunner({ ...smtpMail, send: inFlight }, () => mailbox.now);
    await interrupted.run();
    expect(mailbox.smtp.to(s.email)).toHaveLength(0);
    // It may have arrived: recorded as unknown, not retried, not resent, and not called "sent".
    expect(await retryFailedJobsNow()).toBe(0);
    await mailbox.runner.run();
    expect(mailbox.smtp.to(s.email)).toHaveLength(0);
    expect(await notices(s)).toEqual([{ kind: "confirmation", status: "queued", reason: null, lead: null }]);
    await asReceptionist(s, "update app_public.appointments set status = 'cancelled' where id = $1", [id]);
    await mailbox.runner.run();
    const [cancellation, ...more] = mailbox.smtp.to(s.email);
    expect(more).toHaveLength(0);
    expect(calendarOf(cancellation)).toMatchObject({ method: "CANCEL", events: [{ uid: uidOf(id), sequence: 1 }] });
    smtpMail.close();
  });
});

describe("the unsubscribe link", () => {
  const post = (url: string, body = "") =>
    fetch(url.replace("https://api.clinic.test", api.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  const consentOf = (patientId: string) =>
    asOwner(async (client) => {
      const { rows } = await client.query(
        "select email_consent as consent, email_consent_changed_by as by, email_consent_changed_at is not null as dated from app_public.patients where id = $1",
        [patientId],
      );
      return rows[0];
    });

  test("opening it changes nothing; its button (or a one-click POST) turns the e-mails off once; it is refused after, and forged", async () => {
    const s = await setting();
    const neighbour = await setting();
    await book(s, "2027-05-03T09:00:00Z");
    await book(s, "2027-05-04T09:00:00Z");
    await book(neighbour, "2027-05-03T09:00:00Z");
    await mailbox.runner.run();
    const [first, second] = mailbox.smtp.to(s.email).map(unsubscribeUrlIn);
    expect(first).not.toBe(second); // one link per e-mail
    const page = await fetch(first.replace("https://api.clinic.test", api.url));
    expect(page.status).toBe(200);
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await page.text()).toContain('<form method="post"');
    expect(await consentOf(s.patientId)).toEqual({ consent: true, by: null, dated: false });

    const done = await post(first, "List-Unsubscribe=One-Click");
    expect(done.status).toBe(200);
    expect(await done.text()).toContain(`${s.tenantName} will not e-mail you about appointments any more.`);
    expect(await consentOf(s.patientId)).toEqual({ consent: false, by: null, dated: true });
    expect(await consentOf(neighbour.patientId)).toEqual({ consent: true, by: null, dated: false });

    for (const url of [first, second, first.replace(/token=[0-9a-f]+/, `token=${"0".repeat(64)}`), `${api.url}/unsubscribe`]) {
      const refused = await post(url);
      expect(refused.status).toBe(400);
      const text = await refused.text();
      expect(text).toContain("This link is invalid, already used or expired.");
      expect(text).not.toContain(s.tenantName);
    }
    await book(s, "2027-05-05T09:00:00Z");
    await mailbox.runner.run();
    expect(mailbox.smtp.to(s.email)).toHaveLength(2);
  });

  test("staff turning the e-mails back on voids the links of earlier e-mails", async () => {
    const s = await setting();
    await book(s, "2027-06-01T09:00:00Z");
    await book(s, "2027-06-02T09:00:00Z");
    await mailbox.runner.run();
    const [first, second] = mailbox.smtp.to(s.email).map(unsubscribeUrlIn);
    expect((await post(first)).status).toBe(200);
    await asReceptionist(s, "update app_public.patients set email_consent = true where id = $1", [s.patientId]);
    expect(await consentOf(s.patientId)).toEqual({ consent: true, by: s.clinic.receptionist.userId, dated: true });
    expect((await post(second)).status).toBe(400);
    expect((await consentOf(s.patientId)).consent).toBe(true);
  });
});

describe("reminders", () => {
  /** Runs the reminder schedule task at `at`, then every job it queued. */
  async function remindAt(at: string) {
    mailbox.now = new Date(at);
    await asOwner((client) => client.query("select graphile_worker.add_job('schedule_appointment_reminders', '{}'::json)"));
    await mailbox.runner.run();
  }

  test.each([
    // [zone, visit (09:00 local, the morning after the clocks went forward), the moment 24 hours before, local time then]
    ["America/New_York", "2027-03-14T13:00:00Z", "2027-03-13T13:00:00Z", "Sunday, 14 March 2027, 09:00–09:30 GMT-4"],
    ["Europe/Berlin", "2027-03-28T07:00:00Z", "2027-03-27T07:00:00Z", "Sunday, 28 March 2027, 09:00–09:30 CEST"],
  ])("%s: 24 hours before a visit after the daylight-saving night, once, in local time", async (zone, visit, moment, local) => {
    const s = await setting(zone);
    await book(s, visit);
    await mailbox.runner.run();
    expect(mailbox.smtp.to(s.email)).toHaveLength(1); // the confirmation
    await remindAt(new Date(new Date(moment).getTime() - 60_000).toISOString());
    expect(mailbox.smtp.to(s.email)).toHaveLength(1);
    await remindAt(moment);
    await remindAt(new Date(new Date(moment).getTime() + 3_600_000).toISOString());
    const [, reminder, ...more] = mailbox.smtp.to(s.email);
    expect(more).toHaveLength(0);
    expect(reminder.subject).toMatch(/^Reminder: your appointment at .* on (14|28) March$/);
    expect(reminder.text).toContain(`${local} (${zone}), at Main office, 1 High Street.`);
    expect(reminder.attachments).toEqual([]);
    expect(await notices(s)).toContainEqual({ kind: "reminder", status: "sent", reason: null, lead: 1440 });
  });

  test("a worker down over both moments sends only the later reminder, once, on restart; a cancelled visit, a past one and consent off get none", async () => {
    const s = await setting("Europe/Madrid");
    await asClaims(s.clinic.admin.claims, (client) =>
      client.query("update app_public.tenants set second_reminder_lead_minutes = 120 where id = $1", [s.clinic.tenantId]),
    );
    await book(s, "2027-07-01T10:00:00Z");
    const cancelled = await book(s, "2027-07-01T12:00:00Z");
    await asReceptionist(s, "update app_public.appointments set status = 'cancelled' where id = $1", [cancelled]);
    const refused = await setting("Europe/Madrid", { consent: false });
    await book(refused, "2027-07-01T10:00:00Z");
    await mailbox.runner.run();
    const before = mailbox.smtp.to(s.email).length;
    await remindAt("2027-07-01T09:00:00Z"); // 25 h after the first moment, 1 h after the second
    await remindAt("2027-07-01T09:30:00Z");
    await remindAt("2027-07-01T11:00:00Z"); // the visit has begun
    const reminders = mailbox.smtp.to(s.email).slice(before);
    expect(reminders.map((m) => m.subject)).toEqual([`Reminder: your appointment at ${s.tenantName} on 1 July`]);
    expect(reminders[0].text).toContain("Thursday, 1 July 2027, 12:00–12:30 CEST (Europe/Madrid)");
    expect((await notices(s)).filter((n) => n.kind === "reminder")).toEqual([
      { kind: "reminder", status: "sent", reason: null, lead: 120 },
    ]);
    expect(await notices(refused)).toEqual([
      { kind: "confirmation", status: "skipped", reason: "no-consent", lead: null },
      { kind: "reminder", status: "skipped", reason: "no-consent", lead: 1440 },
    ]);
  });

  test("a visit booked after its reminder moment gets none; a visit moved after a reminder gets one for its new time", async () => {
    const s = await setting("UTC");
    const late = await book(s, new Date(Date.now() + 3 * 3_600_000).toISOString());
    const moved = await book(s, "2027-08-10T09:00:00Z");
    await remindAt(new Date().toISOString());
    await remindAt("2027-08-09T09:00:00Z");
    await asReceptionist(s, "update app_public.appointments set starts_at = $2, ends_at = $3 where id = $1", [
      moved,
      "2027-08-12T09:00:00Z",
      "2027-08-12T09:30:00Z",
    ]);
    await remindAt("2027-08-11T09:00:00Z");
    const reminders = mailbox.smtp.to(s.email).filter((m) => m.subject.startsWith("Reminder"));
    expect(reminders.map((m) => m.subject)).toEqual([
      `Reminder: your appointment at ${s.tenantName} on 10 August`,
      `Reminder: your appointment at ${s.tenantName} on 12 August`,
    ]);
    // A lead changed after the first reminder went sends no second copy of it.
    await asClaims(s.clinic.admin.claims, (client) =>
      client.query("update app_public.tenants set reminder_lead_minutes = 1380 where id = $1", [s.clinic.tenantId]),
    );
    await remindAt("2027-08-11T10:30:00Z");
    expect(mailbox.smtp.to(s.email).filter((m) => m.subject.startsWith("Reminder"))).toHaveLength(2);
    const lateNotices = await asOwner(async (client) => {
      const { rows } = await client.query("select kind from app_public.appointment_notices where appointment_id = $1", [late]);
      return rows.map((r) => r.kind);
    });
    expect(lateNotices).toEqual(["confirmation"]);
  });
});

test("operators list a tenant's notices: sent, skipped and why, ids only", async () => {
  const s = await setting("UTC", { consent: false });
  const id = await book(s, "2027-09-01T09:00:00Z");
  await mailbox.runner.run();
  const slug = await asOwner(
    async (client) => (await client.query("select slug from app_public.tenants where id = $1", [s.clinic.tenantId])).rows[0].slug,
  );
  const out: string[] = [];
  await asOwner((client) =>
    tenantProgram(client as never, { out: (l) => out.push(l), err: (l) => out.push(l) }).parseAsync([
      "node",
      "tenant",
      "notifications",
      slug,
    ]),
  );
  expect(out[0]).toMatch(/^QUEUED \(UTC\)\s+KIND\s+STATUS\s+WHY \/ DELIVERY/);
  expect(out[1]).toMatch(new RegExp(`confirmation\\s+skipped\\s+no-consent\\s+${id}\\s+${s.patientId}$`));
  expect(out[2]).toBe("1 notice(s): 0 sent, 0 queued, 1 skipped.");
  expect(out.join("\n")).not.toContain(s.name);
});

test("no patient ever received another patient's or another tenant's data", () => {
  expect(mailbox.smtp.messages.length).toBeGreaterThan(10);
  for (const mail of mailbox.smtp.messages.filter((m) => known.some((k) => k.email === m.to) || m.attachments.length)) {
    const own = known.find((k) => k.email === mail.to);
    expect(own).toBeDefined();
    const everything = [mail.subject, mail.text, mail.html, ...mail.attachments.map((a) => a.content)].join("\n");
    expect(everything).toContain(own?.tenantName);
    for (const other of known.filter((k) => k.email !== mail.to)) {
      expect(everything).not.toContain(other.name);
      expect(everything).not.toContain(other.email);
      if (other.tenantName !== own?.tenantName) expect(everything).not.toContain(other.tenantName);
    }
  }
});
