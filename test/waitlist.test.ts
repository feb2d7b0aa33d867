/**
 * The waitlist (issue 13): a freed slot offered by e-mail to the oldest entry it suits, held for
 * a while; accepted on the page the link opens (booking it under every rule), or declined, or
 * expired, and then passed on. Real SMTP server, the real task list and the real HTTP pages; the
 * races run as concurrent requests against the database.
 */
import { asClaims, asOwner, closePool, signUpClinic, uniq, useServer, type Clinic } from "./helpers";
import { useMailWorker, type CapturedMail } from "./mail";

const mailbox = useMailWorker();
const api = useServer();
afterAll(closePool);

/** Monday 1 February 2027, 10:00–10:30 in Madrid: inside the doctor's Monday hours. */
const SLOT = { startsAt: "2027-02-01T09:00:00Z", endsAt: "2027-02-01T09:30:00Z" };

interface Setting {
  clinic: Clinic;
  tenantName: string;
  /** The booked visit whose cancellation frees SLOT. */
  visitId: string;
}

async function setting(): Promise<Setting> {
  const tenantName = `${uniq("Clinic")} Group`;
  const clinic = await signUpClinic(tenantName);
  const visitId = await asClaims(clinic.admin.claims, async (client) => {
    await client.query("update app_public.tenants set time_zone = 'Europe/Madrid' where id = $1", [clinic.tenantId]);
    await client.query(
      "insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at) values ($1, 'main', 1, '09:00', '13:00')",
      [clinic.doctor.doctorId],
    );
    const patient = (await client.query("insert into app_public.patients (full_name) values ('Booked Before') returning id"))
      .rows[0].id;
    const { rows } = await client.query(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at)
       values ($1, $2, 'main', $3, $4) returning id`,
      [clinic.doctor.doctorId, patient, SLOT.startsAt, SLOT.endsAt],
    );
    return rows[0].id as string;
  });
  return { clinic, tenantName, visitId };
}

interface Waiting {
  entryId: string;
  patientId: string;
  email: string;
}

/** As the receptionist: a patient with an e-mail address, put on the waitlist with `wish`. */
async function wait(s: Setting, wish: Record<string, unknown>): Promise<Waiting> {
  const email = `${uniq("waiting")}@example.test`;
  return asClaims(s.clinic.receptionist.claims, async (client) => {
    const patientId = (
      await client.query("insert into app_public.patients (full_name, email) values ($1, $2) returning id", [
        `${uniq("W")} Jones`,
        email,
      ])
    ).rows[0].id;
    const columns = {
      patient_id: patientId,
      earliest_date: "2027-01-25",
      latest_date: "2027-02-05",
      duration_minutes: 30,
      ...wish,
    };
    const names = Object.keys(columns);
    const { rows } = await client.query(
      `insert into app_public.waitlist_entries (${names.join(", ")}) values (${names.map((_, i) => `$${i + 1}`).join(", ")}) returning id`,
      Object.values(columns),
    );
    return { entryId: rows[0].id as string, patientId, email };
  });
}

const cancelVisit = (s: Setting) =>
  asClaims(s.clinic.receptionist.claims, (client) =>
    client.query("update app_public.appointments set status = 'cancelled' where id = $1", [s.visitId]),
  );

const linkIn = (mail: CapturedMail) =>
  (/https:\/\/api\.clinic\.test(\/waitlist-offer\?token=[0-9a-f]{64})/.exec(mail.text)?.[1] ?? "") as string;

const answer = (path: string, value: string) =>
  fetch(`${api.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `answer=${value}`,
  });

const offersOf = (s: Setting) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      "select entry_id as entry, status, appointment_id is not null as booked from app_public.waitlist_offers where tenant_id = $1 order by created_at",
      [s.clinic.tenantId],
    );
    return rows;
  });

/** Slot-holding appointments of the doctor overlapping SLOT. */
const slotHolders = (s: Setting) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      `select patient_id from app_public.appointments where tenant_id = $1 and app_private.holds_slot(status)
         and tstzrange(starts_at, ends_at) && tstzrange($2, $3)`,
      [s.clinic.tenantId, SLOT.startsAt, SLOT.endsAt],
    );
    return rows.map((r) => r.patient_id as string);
  });

test("a freed slot goes to the oldest entry it suits, held 30 minutes; the link books it under every rule, once", async () => {
  const s = await setting();
  const otherDates = await wait(s, {
    doctor_id: s.clinic.doctor.doctorId,
    earliest_date: "2027-03-01",
    latest_date: "2027-03-31",
  });
  const first = await wait(s, { specialty: "General practice", weekdays: [1], earliest_time: "09:00", latest_time: "12:00" });
  const second = await wait(s, { doctor_id: s.clinic.doctor.doctorId });
  const tooLong = await wait(s, { doctor_id: s.clinic.doctor.doctorId, duration_minutes: 60 });
  await cancelVisit(s);
  await mailbox.runner.run();
  for (const other of [otherDates, second, tooLong]) expect(mailbox.smtp.to(other.email)).toHaveLength(0);
  const [offer, ...more] = mailbox.smtp.to(first.email);
  expect(more).toHaveLength(0);
  expect(offer.subject).toBe(`A time has become free at ${s.tenantName} on 1 February`);
  expect(offer.text).toContain("Monday, 1 February 2027, 10:00–10:30 CET (Europe/Madrid), at Main office, 1 High Street.");
  expect(offer.text).toMatch(/It is held for you until \d\d:\d\d CET\./);
  expect(offer.headers["list-unsubscribe"]).toMatch(/\/unsubscribe\?token=/);
  const held = await asOwner(async (client) => {
    const { rows } = await client.query(
      "select round(extract(epoch from expires_at - created_at) / 60) as minutes from app_public.waitlist_offers where tenant_id = $1",
      [s.clinic.tenantId],
    );
    return rows.map((r) => Number(r.minutes));
  });
  expect(held).toEqual([30]);

  const opened = await fetch(`${api.url}${linkIn(offer)}`);
  expect(opened.status).toBe(200);
  expect(await opened.text()).toContain('value="accept"');
  expect(await slotHolders(s)).toEqual([]); // opening books nothing

  const booked = await answer(linkIn(offer), "accept");
  expect(booked.status).toBe(200);
  expect(await booked.text()).toContain("Your appointment is booked");
  expect(await slotHolders(s)).toEqual([first.patientId]);
  expect(await offersOf(s)).toEqual([{ entry: first.entryId, status: "accepted", booked: true }]);
  const entry = await asOwner(async (client) => {
    const { rows } = await client.query(
      "select status, appointment_id is not null as booked from app_public.waitlist_entries where id = $1",
      [first.entryId],
    );
    return rows[0];
  });
  expect(entry).toEqual({ status: "booked", booked: true });

  const again = await answer(linkIn(offer), "accept");
  expect(again.status).toBe(400);
  expect(await again.text()).toContain("This offer is no longer available, or the link is not valid.");
  await mailbox.runner.run();
  expect(mailbox.smtp.to(first.email).map((m) => m.subject)).toEqual([
    offer.subject,
    `Your appointment at ${s.tenantName} on 1 February`,
  ]);
});

test("an expired or declined offer passes to the next entry; used, expired and forged links are refused alike", async () => {
  const s = await setting();
  const first = await wait(s, {});
  const second = await wait(s, {});
  await cancelVisit(s);
  await mailbox.runner.run();
  const [firstOffer] = mailbox.smtp.to(first.email);
  mailbox.now = new Date(Date.now() + 31 * 60_000);
  await asOwner((client) => client.query("select graphile_worker.add_job('expire_waitlist_offers', '{}'::json)"));
  await mailbox.runner.run();
  const [secondOffer] = mailbox.smtp.to(second.email);
  expect(secondOffer.subject).toBe(firstOffer.subject);
  const forged = linkIn(firstOffer).replace(/token=[0-9a-f]+/, `token=${"a".repeat(64)}`);
  for (const path of [linkIn(firstOffer), forged, "/waitlist-offer"]) {
    const refused = await answer(path, "accept");
    expect(refused.status).toBe(400);
    const text = await refused.text();
    expect(text).toContain("This offer is no longer available, or the link is not valid.");
    expect(text).not.toContain(s.tenantName);
  }
  const declined = await answer(linkIn(secondOffer), "decline");
  expect(declined.status).toBe(200);
  await mailbox.runner.run();
  expect(await offersOf(s)).toEqual([
    { entry: first.entryId, status: "expired", booked: false },
    { entry: second.entryId, status: "declined", booked: false },
  ]);
  expect(mailbox.smtp.to(first.email)).toHaveLength(1); // not offered the same slot again
  expect(await slotHolders(s)).toEqual([]);
});

test("an entry cancelled by staff: its pending offer is withdrawn, its link refused, and the slot goes to the next entry", async () => {
  const s = await setting();
  const first = await wait(s, {});
  const second = await wait(s, {});
  await cancelVisit(s);
  await mailbox.runner.run();
  const [firstOffer] = mailbox.smtp.to(first.email);
  await asClaims(s.clinic.receptionist.claims, (client) =>
    client.query("update app_public.waitlist_entries set status = 'cancelled' where id = $1", [first.entryId]),
  );
  await mailbox.runner.run();
  expect((await answer(linkIn(firstOffer), "accept")).status).toBe(400);
  expect(mailbox.smtp.to(second.email)).toHaveLength(1);
  expect(await offersOf(s)).toEqual([
    { entry: first.entryId, status: "withdrawn", booked: false },
    { entry: second.entryId, status: "pending", booked: false },
  ]);
});

test("a patient holds one offer at a time; a deleted visit and a time outside the doctor's hours are offered to nobody", async () => {
  const s = await setting();
  const waiting = await wait(s, {});
  // A second booked visit at 11:00, and one at 15:00, outside the Monday hours (09:00–13:00).
  const [inside, outside] = await asClaims(s.clinic.admin.claims, async (client) => {
    const patient = (await client.query("insert into app_public.patients (full_name) values ('Also Booked') returning id"))
      .rows[0].id;
    const ids = [];
    for (const [startsAt, endsAt, marked] of [
      ["2027-02-01T10:00:00Z", "2027-02-01T10:30:00Z", false],
      ["2027-02-01T14:00:00Z", "2027-02-01T14:30:00Z", true],
    ]) {
      const { rows } = await client.query(
        `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, outside_hours)
         values ($1, $2, 'main', $3, $4, $5) returning id`,
        [s.clinic.doctor.doctorId, patient, startsAt, endsAt, marked],
      );
      ids.push(rows[0].id as string);
    }
    return ids;
  });
  await asClaims(s.clinic.receptionist.claims, (client) =>
    client.query("update app_public.appointments set status = 'cancelled' where id = any($1::uuid[])", [[s.visitId, inside]]),
  );
  await mailbox.runner.run();
  expect(mailbox.smtp.to(waiting.email)).toHaveLength(1);
  expect((await offersOf(s)).map((o) => o.status)).toEqual(["pending"]);
  await answer(linkIn(mailbox.smtp.to(waiting.email)[0]), "decline");
  await mailbox.runner.run();
  expect(mailbox.smtp.to(waiting.email)).toHaveLength(2); // now the other freed slot
  await answer(linkIn(mailbox.smtp.to(waiting.email)[1]), "decline");
  await asClaims(s.clinic.receptionist.claims, async (client) => {
    await client.query("update app_public.appointments set status = 'cancelled' where id = $1", [outside]);
  });
  // Someone who wants only those two times (12:00 and 15:00 local), not the freed 10:00 and 11:00.
  const other = await wait(s, { earliest_time: "11:55", latest_time: "16:00" });
  await asClaims(s.clinic.admin.claims, async (client) => {
    const patient = (await client.query("insert into app_public.patients (full_name) values ('Deleted Visit') returning id"))
      .rows[0].id;
    const { rows } = await client.query(
      "insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at) values ($1, $2, 'main', $3, $4) returning id",
      [s.clinic.doctor.doctorId, patient, "2027-02-01T11:00:00Z", "2027-02-01T11:30:00Z"],
    );
    await client.query("delete from app_public.appointments where id = $1", [rows[0].id]);
  });
  await mailbox.runner.run();
  expect(mailbox.smtp.to(other.email)).toHaveLength(0);
  expect(mailbox.smtp.to(waiting.email)).toHaveLength(2);
});

test("time off deleted gives its working time to the waitlist: the first free start on the grid, then the next patient the rest", async () => {
  const s = await setting();
  // Monday 8 February: a visit at 10:00–10:30, then the whole day taken off.
  const timeOff = await asClaims(s.clinic.admin.claims, async (client) => {
    const patient = (await client.query("insert into app_public.patients (full_name) values ('Early Bird') returning id")).rows[0]
      .id;
    await client.query(
      "insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at) values ($1, $2, 'main', $3, $4)",
      [s.clinic.doctor.doctorId, patient, "2027-02-08T09:00:00Z", "2027-02-08T09:30:00Z"],
    );
    const { rows } = await client.query(
      "insert into app_public.time_off_periods (doctor_id, starts_at, ends_at) values ($1, $2, $3) returning id",
      [s.clinic.doctor.doctorId, "2027-02-07T23:00:00Z", "2027-02-08T23:00:00Z"],
    );
    return rows[0].id as string;
  });
  const day = { earliest_date: "2027-02-08", latest_date: "2027-02-08", earliest_time: "10:00" };
  const first = await wait(s, { ...day, doctor_id: s.clinic.doctor.doctorId });
  const second = await wait(s, day);
  await mailbox.runner.run();
  expect(mailbox.smtp.to(first.email)).toHaveLength(0); // nothing freed yet
  await asClaims(s.clinic.admin.claims, (client) =>
    client.query("delete from app_public.time_off_periods where id = $1", [timeOff]),
  );
  await mailbox.runner.run();
  const [offer] = mailbox.smtp.to(first.email);
  expect(offer.text).toContain("Monday, 8 February 2027, 10:30–11:00 CET (Europe/Madrid), at Main office, 1 High Street.");
  expect(mailbox.smtp.to(second.email)).toHaveLength(0); // one offer at a time per freed time
  expect((await answer(linkIn(offer), "accept")).status).toBe(200);
  await mailbox.runner.run();
  const [secondOffer] = mailbox.smtp.to(second.email);
  expect(secondOffer.text).toContain("Monday, 8 February 2027, 11:00–11:30 CET (Europe/Madrid), at Main office, 1 High Street.");

  // Shortened instead: off all Monday 15 February, then only until 11:00. The morning stays off.
  const shortened = await asClaims(s.clinic.admin.claims, async (client) => {
    const { rows } = await client.query(
      "insert into app_public.time_off_periods (doctor_id, starts_at, ends_at) values ($1, $2, $3) returning id",
      [s.clinic.doctor.doctorId, "2027-02-14T23:00:00Z", "2027-02-15T23:00:00Z"],
    );
    return rows[0].id as string;
  });
  const third = await wait(s, { earliest_date: "2027-02-15", latest_date: "2027-02-15" });
  await asClaims(s.clinic.admin.claims, (client) =>
    client.query("update app_public.time_off_periods set ends_at = '2027-02-15T10:00:00Z' where id = $1", [shortened]),
  );
  await mailbox.runner.run();
  const [thirdOffer] = mailbox.smtp.to(third.email);
  expect(thirdOffer.text).toContain("Monday, 15 February 2027, 11:00–11:30 CET (Europe/Madrid)");
});

test("two accept clicks at once book one appointment", async () => {
  const s = await setting();
  const waiting = await wait(s, {});
  await cancelVisit(s);
  await mailbox.runner.run();
  const link = linkIn(mailbox.smtp.to(waiting.email)[0]);
  const answers = await Promise.all([answer(link, "accept"), answer(link, "accept"), answer(link, "accept")]);
  expect(answers.map((a) => a.status).sort()).toEqual([200, 400, 400]);
  expect(await slotHolders(s)).toEqual([waiting.patientId]);
});

test("an accept racing a staff booking of the same time gives one appointment; a staff booking ends the offer", async () => {
  for (let round = 0; round < 6; round++) {
    const s = await setting();
    const waiting = await wait(s, {});
    await cancelVisit(s);
    await mailbox.runner.run();
    const link = linkIn(mailbox.smtp.to(waiting.email)[0]);
    const staff = asClaims(s.clinic.receptionist.claims, async (client) => {
      const patient = (await client.query("insert into app_public.patients (full_name) values ('Walk In') returning id")).rows[0]
        .id;
      await client.query(
        "insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at) values ($1, $2, 'main', $3, $4)",
        [s.clinic.doctor.doctorId, patient, SLOT.startsAt, SLOT.endsAt],
      );
    }).then(
      () => "booked",
      (error) => error.code,
    );
    const [patientAnswer, staffOutcome] = await Promise.all([answer(link, "accept"), staff]);
    expect(await slotHolders(s)).toHaveLength(1);
    if (staffOutcome === "booked") {
      expect([400, 409]).toContain(patientAnswer.status);
      expect((await offersOf(s)).map((o) => o.status)).toEqual(["withdrawn"]);
    } else {
      expect(staffOutcome).toBe("23P01");
      expect(patientAnswer.status).toBe(200);
    }
  }
});

test("staff read the waitlist and its offers; a doctor cannot add to it", async () => {
  const s = await setting();
  const waiting = await wait(s, {});
  await cancelVisit(s);
  await mailbox.runner.run();
  const seen = await asClaims(s.clinic.doctor.claims, async (client) => {
    const { rows } = await client.query(
      "select e.status as entry, o.status as offer from app_public.waitlist_entries e join app_public.waitlist_offers o on o.tenant_id = e.tenant_id and o.entry_id = e.id where e.id = $1",
      [waiting.entryId],
    );
    return rows;
  });
  expect(seen).toEqual([{ entry: "waiting", offer: "pending" }]);
  await expect(
    asClaims(s.clinic.doctor.claims, (client) =>
      client.query(
        "insert into app_public.waitlist_entries (patient_id, earliest_date, latest_date, duration_minutes) values ($1, '2027-01-01', '2027-01-02', 30)",
        [waiting.patientId],
      ),
    ),
  ).rejects.toMatchObject({ code: "42501" });
});
