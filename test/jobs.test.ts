/**
 * The welcome and account e-mails, sent by the real task list through a real SMTP server (or the
 * outbox folder): enqueued with the change that causes them, sent once, carrying a set-password
 * link that works once.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { createMailer, NotSentError } from "../src/mail/mailer";
import { asClaims, asOwner, closePool, FIXTURE_HASH, signUpClinic, uniq, type Clinic } from "./helpers";
import { APP_URL, drainJobs, jobRunner, retryFailedJobsNow, smtpMailer, startSmtpCapture, type SmtpCapture } from "./mail";

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

const tokenIn = (text: string) => /#token=([0-9a-f]{64})/.exec(text)?.[1];

async function createUser(clinic: Clinic, role = "receptionist") {
  const email = `${uniq("new")}@example.test`;
  const id = await asClaims(clinic.admin.claims, async (client) => {
    const { rows } = await client.query(
      "insert into app_public.users (email, full_name, user_role) values ($1, 'Nia New', $2) returning id",
      [email, role],
    );
    return rows[0].id as string;
  });
  return { id, email };
}

const setPassword = (token: string) =>
  asOwner((client) => client.query("select app_private.set_password_with_token($1, $2)", [token, FIXTURE_HASH]));

test("signing up sends one welcome e-mail to the new admin, and no account e-mail", async () => {
  const name = uniq("Sunrise Clinics");
  const clinic = await signUpClinic(name);
  await runner.run();
  const mails = smtp.to(clinic.admin.email);
  expect(mails).toHaveLength(1);
  expect(mails[0]).toMatchObject({
    subject: `Welcome to Clinic Platform, ${name}`,
    from: '"Clinic Platform" <no-reply@clinic.test>',
  });
  expect(mails[0].text).toContain(`${name} is ready`);
  expect(mails[0].text).toContain(APP_URL);
  expect(mails[0].html).toContain(`<a href="${APP_URL}">Sign in</a>`);
});

test("a user an admin creates gets a set-password link that works once; the token never sits in the job queue", async () => {
  const clinic = await signUpClinic();
  const user = await createUser(clinic);
  const payloads = await asOwner(async (client) => {
    const { rows } =
      await client.query(`select j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
       where t.identifier = 'send_account_email'`);
    return rows.map((r) => r.payload);
  });
  expect(payloads).toContainEqual({ user_id: user.id });
  await runner.run();
  const [mail, ...more] = smtp.to(user.email);
  expect(more).toHaveLength(0);
  expect(mail.subject).toBe("Your " + (await tenantName(clinic)) + " account: set your password");
  expect(mail.text).toMatch(/expires in 72 hours/);
  const token = tokenIn(mail.text) as string;
  expect(mail.text).toContain(`${APP_URL}/set-password#token=${token}`);
  expect(mail.html).toContain(`${APP_URL}/set-password#token=${token}`);
  const expiry = await asOwner(async (client) => {
    const { rows } = await client.query(
      "select (extract(epoch from expires_at - created_at) / 3600)::float8 as hours from app_private.password_tokens where user_id = $1",
      [user.id],
    );
    return rows;
  });
  expect(expiry).toEqual([{ hours: 72 }]);
  await expect(setPassword(token)).resolves.toBeDefined();
  await expect(setPassword(token)).rejects.toMatchObject({ code: "TOKEN" });
});

async function tenantName(clinic: Clinic) {
  return asOwner(
    async (client) => (await client.query("select name from app_public.tenants where id = $1", [clinic.tenantId])).rows[0].name,
  );
}

test("an expired set-password link is refused", async () => {
  const clinic = await signUpClinic();
  const user = await createUser(clinic);
  await runner.run();
  const token = tokenIn(smtp.to(user.email)[0].text) as string;
  await asOwner((client) =>
    client.query("update app_private.password_tokens set expires_at = now() - interval '1 second' where user_id = $1", [user.id]),
  );
  await expect(setPassword(token)).rejects.toMatchObject({ code: "TOKEN" });
});

test("a user who already set a password gets the account e-mail without a link", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  // signUpClinic sets the doctor's and receptionist's passwords before any job runs.
  for (const member of [clinic.doctor, clinic.receptionist]) {
    const mails = smtp.to(member.email);
    expect(mails).toHaveLength(1);
    expect(mails[0].text).toContain("Your account is active");
    expect(tokenIn(mails[0].text)).toBeUndefined();
  }
});

test("a rolled-back change enqueues nothing; a user deactivated before the job runs gets nothing", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const email = `${uniq("ghost")}@example.test`;
  await expect(
    asClaims(clinic.admin.claims, async (client) => {
      await client.query("insert into app_public.users (email, full_name) values ($1, 'Gus Ghost')", [email]);
      throw new Error("roll back");
    }),
  ).rejects.toThrow("roll back");
  const user = await createUser(clinic);
  await asClaims(clinic.admin.claims, (client) =>
    client.query("update app_public.users set is_active = false where id = $1", [user.id]),
  );
  await runner.run();
  expect(smtp.to(email)).toHaveLength(0);
  expect(smtp.to(user.email)).toHaveLength(0);
});

test("a job that fails after the server accepted the message does not send it again on retry", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const user = await createUser(clinic);
  // Recording the acceptance fails, after the SMTP server has accepted the message.
  await asOwner((client) =>
    client.query(`
      create schema if not exists test_faults;
      create or replace function test_faults.fail_acceptance() returns trigger language plpgsql as $$
      begin raise exception 'database went away'; end $$;
      create trigger fail_acceptance before insert or update on app_private.email_deliveries
        for each row when (new.accepted_at is not null and new.user_id = '${user.id}')
        execute function test_faults.fail_acceptance();`),
  );
  try {
    await runner.run();
    expect(smtp.to(user.email)).toHaveLength(1);
    expect(await retryFailedJobsNow()).toBe(1);
    await runner.run();
    expect(smtp.to(user.email)).toHaveLength(1);
    expect(await retryFailedJobsNow()).toBe(0);
  } finally {
    await asOwner((client) => client.query("drop schema test_faults cascade"));
  }
});

test("a message the server refuses is sent on retry, once", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const user = await createUser(clinic);
  smtp.refused.add(user.email);
  await runner.run();
  expect(smtp.to(user.email)).toHaveLength(0);
  smtp.refused.delete(user.email);
  expect(await retryFailedJobsNow()).toBe(1);
  await runner.run();
  await runner.run();
  const mails = smtp.to(user.email);
  expect(mails).toHaveLength(1);
  // The first attempt's token was replaced by the one that was sent; it works.
  await expect(setPassword(tokenIn(mails[0].text) as string)).resolves.toBeDefined();
});

test("a send that times out after the server received the message is not sent again", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const user = await createUser(clinic);
  const impatient = jobRunner(smtpMailer(smtp, "/?socketTimeout=300"));
  smtp.replyDelayMs = 1000; // the server has the message but answers after the client gave up
  try {
    await impatient.run();
  } finally {
    await impatient.close();
    smtp.replyDelayMs = 0;
  }
  expect(smtp.to(user.email)).toHaveLength(1);
  expect(await retryFailedJobsNow()).toBe(1);
  await runner.run();
  const mails = smtp.to(user.email);
  expect(mails).toHaveLength(1);
  // No second token was issued: the link in the message the server got still works.
  await expect(setPassword(tokenIn(mails[0].text) as string)).resolves.toBeDefined();
});

test("an address list can be neither stored as a login e-mail nor sent to", async () => {
  const clinic = await signUpClinic();
  for (const email of [`x@a.test,${clinic.doctor.email}`, `Nia <${clinic.doctor.email}>`, `x@a.test;${clinic.doctor.email}`]) {
    await expect(
      asClaims(clinic.admin.claims, (client) =>
        client.query("insert into app_public.users (email, full_name) values ($1, 'Nia')", [email]),
      ),
    ).rejects.toMatchObject({ code: "23514" });
    const message = { to: email, subject: "s", text: "t", html: "h", messageId: "<m@clinic.test>" };
    await expect(smtpMailer(smtp).send(message)).rejects.toBeInstanceOf(NotSentError);
  }
  expect(smtp.to(clinic.doctor.email)).toHaveLength(0);
});

test("without SMTP_URL each message is written to the outbox folder as an .eml file and logged", async () => {
  const outbox = path.join(mkdtempSync(path.join(tmpdir(), "clinic-outbox-")), "outbox");
  const logged: string[] = [];
  const mailer = createMailer(
    { smtpUrl: undefined, outbox, from: "Clinic Platform <no-reply@clinic.test>", appUrl: APP_URL },
    (line) => logged.push(line),
  );
  const outboxRunner = jobRunner(mailer);
  try {
    await drainJobs();
    const clinic = await signUpClinic();
    const user = await createUser(clinic, "doctor");
    await outboxRunner.run();
    const files = readdirSync(outbox).filter((file) => file.endsWith(".eml"));
    const mails = await Promise.all(files.map((file) => simpleParser(readFileSync(path.join(outbox, file)))));
    const recipients = mails.map((mail) => (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text).sort();
    expect(recipients).toEqual([clinic.admin.email, clinic.receptionist.email, clinic.doctor.email, user.email].sort());
    const account = mails.find((mail) => tokenIn(mail.text ?? ""));
    expect(account?.subject).toMatch(/: set your password$/);
    expect(logged).toHaveLength(4);
    expect(logged.join("\n")).toContain(user.email);
  } finally {
    await outboxRunner.close();
  }
});
