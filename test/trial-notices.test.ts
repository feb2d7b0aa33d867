/**
 * Trial notices: 7, 3 and 1 days before the trial's last day and on that day, on the tenant's
 * local day from 08:00, each exactly once, only to active admins, none after an upgrade.
 * The clock is controlled: the hourly schedule is swept hour by hour over the nights clocks
 * change. Then the real crontab: a worker down over the hour backfills, two workers send once.
 */
import { run } from "graphile-worker";
import { Pool } from "pg";
import { CRONTAB, makeTaskList } from "../src/jobs/tasks";
import { asClaims, asOwner, closePool, ownerUrl, signUpClinic, uniq, type Clinic } from "./helpers";
import {
  APP_URL,
  PUBLIC_URL,
  drainJobs,
  jobRunner,
  silentLogger,
  smtpMailer,
  startSmtpCapture,
  type CapturedMail,
  type SmtpCapture,
} from "./mail";

let smtp: SmtpCapture;
let runner: ReturnType<typeof jobRunner>;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  runner = jobRunner(smtpMailer(smtp));
  await drainJobs();
});
afterAll(async () => {
  await runner.close();
  await smtp.close();
  await closePool();
});

interface TrialClinic extends Clinic {
  name: string;
  zone: string;
  secondAdmin: string;
  inactiveAdmin: string;
}

/** A clinic with two active admins and one inactive, whose trial ends at `endsLocal` in `zone`. */
async function trialClinic(zone: string, endsLocal: string): Promise<TrialClinic> {
  const name = uniq(`Trial ${zone}`);
  const clinic = await signUpClinic(name);
  const [secondAdmin, inactiveAdmin] = [`${uniq("admin2")}@example.test`, `${uniq("admin3")}@example.test`];
  await asClaims(clinic.admin.claims, async (client) => {
    await client.query("select app_public.add_user($1, 'Second Admin', 'admin')", [secondAdmin]);
    const { rows } = await client.query("select id from app_public.add_user($1, 'Former Admin', 'admin')", [inactiveAdmin]);
    await client.query("update app_public.users set is_active = false where id = $1", [rows[0].id]);
  });
  await asOwner((client) =>
    client.query("update app_public.tenants set time_zone = $2, trial_ends_at = $3::timestamp at time zone $2 where id = $1", [
      clinic.tenantId,
      zone,
      endsLocal,
    ]),
  );
  await runner.run(); // the welcome and account e-mails, out of the way
  return { ...clinic, name, zone, secondAdmin, inactiveAdmin };
}

/** Trial notices received by an address (leaving out its welcome or account e-mail). */
const notices = (address: string) => smtp.to(address).filter((mail) => SUBJECTS.includes(mail.subject));

const localDate = (at: Date, zone: string) => at.toLocaleDateString("en-CA", { timeZone: zone });
const localMinutes = (at: Date, zone: string) => {
  const [h, m] = at.toLocaleTimeString("en-GB", { timeZone: zone, hourCycle: "h23" }).split(":").map(Number);
  return h * 60 + m;
};

/**
 * Runs the hourly schedule at every UTC hour from `from` to `to` (as the cron job would, with that
 * clock), sending what it enqueues; returns each message with the hour it was sent at.
 */
async function sweep(from: string, to: string, onHour?: (at: Date) => Promise<void>) {
  const sent: { at: Date; mail: CapturedMail }[] = [];
  const pool = new Pool({ connectionString: ownerUrl() });
  try {
    for (let at = new Date(from); at <= new Date(to); at = new Date(at.getTime() + 3600_000)) {
      const { rowCount } = await pool.query("select from app_private.schedule_trial_notices($1)", [at]);
      if (rowCount) {
        const before = smtp.messages.length;
        await runner.run();
        smtp.messages.slice(before).forEach((mail) => sent.push({ at, mail }));
      }
      await onHour?.(at);
    }
  } finally {
    await pool.end();
  }
  return sent;
}

const SUBJECTS = [
  "Your Clinic Platform trial ends in 7 days",
  "Your Clinic Platform trial ends in 3 days",
  "Your Clinic Platform trial ends in 1 day",
  "Your Clinic Platform trial ends today",
];

function expectNotices(sent: { at: Date; mail: CapturedMail }[], clinic: TrialClinic, dueDates: string[], others: TrialClinic[]) {
  for (const admin of [clinic.admin.email, clinic.secondAdmin]) {
    const mine = sent.filter(({ mail }) => mail.to === admin);
    expect(mine.map(({ mail }) => mail.subject)).toEqual(SUBJECTS);
    expect(mine.map(({ at }) => localDate(at, clinic.zone))).toEqual(dueDates);
    for (const { at, mail } of mine) {
      // Delivered in the local morning: the first hourly run at or after 08:00.
      expect(localMinutes(at, clinic.zone)).toBeGreaterThanOrEqual(8 * 60);
      expect(localMinutes(at, clinic.zone)).toBeLessThan(9 * 60);
      expect(mail.text).toContain(clinic.name);
      for (const other of others) expect(mail.text).not.toContain(other.name);
    }
  }
  for (const nobody of [clinic.doctor.email, clinic.receptionist.email, clinic.inactiveAdmin]) {
    expect(sent.filter(({ mail }) => mail.to === nobody)).toEqual([]);
  }
}

test("New York, Kolkata: each notice once, on the local day, in the morning, also across the end of daylight saving time", async () => {
  // New York falls back on 1 November 2026 (the 3-day notice's night); Kolkata is UTC+05:30 and
  // its trial ends at 02:00 local, still the previous day in UTC.
  const newYork = await trialClinic("America/New_York", "2026-11-04 15:00");
  const kolkata = await trialClinic("Asia/Kolkata", "2026-10-31 02:00");
  const upgraded = await trialClinic("America/New_York", "2026-11-04 15:00");
  let upgradedAt: Date | undefined;
  const sent = await sweep("2026-10-23T00:00Z", "2026-11-06T00:00Z", async (at) => {
    // Upgraded to a paid plan the day after its first notice.
    if (!upgradedAt && notices(upgraded.admin.email).length === 1) {
      upgradedAt = at;
      await asOwner((client) => client.query("select app_private.change_plan($1, 'basic')", [upgraded.tenantId]));
    }
  });
  expectNotices(sent, newYork, ["2026-10-28", "2026-11-01", "2026-11-03", "2026-11-04"], [kolkata, upgraded]);
  expectNotices(sent, kolkata, ["2026-10-24", "2026-10-28", "2026-10-30", "2026-10-31"], [newYork, upgraded]);
  expect(sent.filter(({ mail }) => mail.to === upgraded.admin.email).map(({ mail }) => mail.subject)).toEqual([SUBJECTS[0]]);
  expect(upgradedAt).toBeDefined();
});

test("Auckland: each notice once, on the local day, also across the start of daylight saving time", async () => {
  // Auckland springs forward on 27 September 2026 (the 1-day notice's night), UTC+12 to UTC+13.
  const auckland = await trialClinic("Pacific/Auckland", "2026-09-28 10:00");
  const sent = await sweep("2026-09-19T00:00Z", "2026-09-30T00:00Z");
  expectNotices(sent, auckland, ["2026-09-21", "2026-09-25", "2026-09-27", "2026-09-28"], []);
});

test("after days without a worker, only the latest due notice is sent, with the true days left", async () => {
  const late = await trialClinic("Europe/Madrid", "2026-11-10 12:00");
  // Nothing ran from the 7-day notice's morning until the 2nd: the 3-day notice is the one due.
  const sent = await sweep("2026-11-07T10:00Z", "2026-11-07T12:00Z");
  expect(sent.filter(({ mail }) => mail.to === late.admin.email).map(({ mail }) => mail.subject)).toEqual([SUBJECTS[1]]);
});

test("the hourly task schedules by its clock; ten workers scheduling at once record each notice once", async () => {
  // Dates from today: the suite's other clinics (14-day trials from today) have no notice due by
  // then, so the scheduling and the run below touch this clinic and the few whose trials ended.
  const day = (fromToday: number) => new Date(Date.now() + fromToday * 86_400_000).toISOString().slice(0, 10);
  const clinic = await trialClinic("America/New_York", `${day(8)} 18:00`);
  const at = new Date(`${day(1)}T14:00Z`); // 09:00 or 10:00 in New York, 7 days before
  const scheduled = await Promise.all(
    Array.from({ length: 10 }, () =>
      asOwner(async (client) => (await client.query("select tenant_id from app_private.schedule_trial_notices($1)", [at])).rows),
    ),
  );
  expect(scheduled.flat().filter((row) => row.tenant_id === clinic.tenantId)).toHaveLength(1);
  const clocked = jobRunner(smtpMailer(smtp), () => new Date(`${day(5)}T14:00Z`)); // 3 days before
  try {
    await asOwner((client) => client.query("select graphile_worker.add_job('schedule_trial_notices')"));
    await clocked.run();
  } finally {
    await clocked.close();
  }
  expect(notices(clinic.admin.email).map((mail) => mail.subject)).toEqual([SUBJECTS[0], SUBJECTS[1]]);
});

describe("the crontab on real workers", () => {
  /** A clinic whose trial ended two days ago: its last notice is due whatever the hour. */
  async function endedClinic() {
    const clinic = await signUpClinic();
    await asOwner((client) =>
      client.query("update app_public.tenants set trial_ends_at = now() - interval '2 days' where id = $1", [clinic.tenantId]),
    );
    await runner.run(); // the welcome and account e-mails, out of the way
    return clinic;
  }

  /** As if the workers last ran the hourly job three hours ago. */
  const missedHours = () =>
    asOwner((client) =>
      client.query(
        `insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
         values ('schedule_trial_notices', now() - interval '3 hours', now() - interval '3 hours')
         on conflict (identifier) do update set last_execution = excluded.last_execution`,
      ),
    );

  async function withWorkers<T>(count: number, work: () => Promise<T>): Promise<T> {
    const taskList = makeTaskList({ mailer: smtpMailer(smtp), appUrl: APP_URL, publicUrl: PUBLIC_URL, waitlistHoldMinutes: 30 });
    const workers = await Promise.all(
      Array.from({ length: count }, () =>
        run({
          connectionString: ownerUrl(),
          taskList,
          crontab: CRONTAB,
          noHandleSignals: true,
          logger: silentLogger,
          pollInterval: 200,
        }),
      ),
    );
    try {
      return await work();
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
  }

  async function waitForMail(address: string) {
    for (let i = 0; i < 100 && notices(address).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // time for a duplicate to arrive, if there were one
    return notices(address);
  }

  test("a worker stopped across the scheduled hour sends on restart", async () => {
    const clinic = await endedClinic();
    await missedHours();
    const mails = await withWorkers(1, () => waitForMail(clinic.admin.email));
    expect(mails.map((mail) => mail.subject)).toEqual([SUBJECTS[3]]);
  });

  test("two workers side by side send once", async () => {
    const clinic = await endedClinic();
    await missedHours();
    const mails = await withWorkers(2, () => waitForMail(clinic.admin.email));
    expect(mails.map((mail) => mail.subject)).toEqual([SUBJECTS[3]]);
  });
});
