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
    const { rows } = await client.query("select id from app_public.add_user($1, 'Nia New', $2)", [email, role]);
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
    const { rows } = await client.query("select payload from app_private.job_outbox where task = 'send_account_email'");
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

test("drains running at once move each outbox job into the queue exactly once", async () => {
  await drainJobs();
  const clinic = await signUpClinic();
  const ids = await asOwner(async (client) => {
    await client.query("delete from app_private.job_outbox");
    for (let i = 0; i < 3; i++) {
      await client.query("select app_private.enqueue_job($1, 'send_welcome_email', jsonb_build_object('tenant_id', $1::uuid))", [
        clinic.tenantId,
      ]);
    }
    return (await client.query("select id from app_private.job_outbox")).rows.map((r) => `outbox:${r.id}`);
  });
  const drained = await Promise.all(
    [1, 2, 3].map(() => asOwner(async (client) => (await client.query("select app_private.drain_job_outbox() as n")).rows[0].n)),
  );
  expect(drained.reduce((a, b) => a + b, 0)).toBe(3);
  const queued = await asOwner(async (client) => {
    const { rows } = await client.query("select key from graphile_worker.jobs where key = any($1)", [ids]);
    return rows.map((r) => r.key).sort();
  });
  expect(queued).toEqual([...ids].sort());
  expect(
    await asOwner(async (client) => (await client.query("select count(*)::int as n from app_private.job_outbox")).rows[0].n),
  ).toBe(0);
});

test("a rolled-back change enqueues nothing; a user deactivated before the job runs gets nothing", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const email = `${uniq("ghost")}@example.test`;
  await expect(
    asClaims(clinic.admin.claims, async (client) => {
      await client.query("select app_public.add_user($1, 'Gus Ghost')", [email]);
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
  // One statement per query: Citus passes a DDL statement's text on to the shards.
  await asOwner(async (client) => {
    await client.query("create schema if not exists test_faults");
    await client.query(`create or replace function test_faults.fail_acceptance() returns trigger language plpgsql as $$
      begin raise exception 'database went away'; end $$`);
    await client.query(`create trigger fail_acceptance before insert or update on app_private.email_deliveries
      for each row when (new.accepted_at is not null and new.user_id = '${user.id}')
      execute function test_faults.fail_acceptance()`);
  });
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

test("a connection dropped before the server asked for the message (no reply) sent nothing: the retry sends it, once", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const user = await createUser(clinic);
  smtp.dropped.add(user.email);
  await runner.run();
  expect(smtp.to(user.email)).toHaveLength(0);
  smtp.dropped.clear();
  expect(await retryFailedJobsNow()).toBe(1);
  await runner.run();
  expect(smtp.to(user.email)).toHaveLength(1);
});

test("a send that times out after the server received the message is recorded as unknown and not resent, until an operator resends it with a fresh link", async () => {
  const clinic = await signUpClinic();
  await runner.run();
  const user = await createUser(clinic);
  const key = `account:${user.id}`;
  const impatient = jobRunner(smtpMailer(smtp, "/?socketTimeout=300"));
  smtp.replyDelayMs = 1000; // the server has the message but answers after the client gave up
  try {
    await impatient.run();
  } finally {
    await impatient.close();
    smtp.replyDelayMs = 0;
  }
  expect(smtp.to(user.email)).toHaveLength(1);
  // Retrying cannot tell whether it arrived: the job ends, the delivery says so.
  expect(await retryFailedJobsNow()).toBe(0);
  const report = () => asOwner((client) => client.query("select * from app_private.delivery_report($1)", [clinic.tenantId]));
  expect((await report()).rows).toEqual([
    expect.objectContaining({ idempotency_key: key, status: "unknown", recipient: `user:${user.id}` }),
  ]);
  await runner.run();
  expect(smtp.to(user.email)).toHaveLength(1);

  // The operator resends: the job runs anew with a new link, and the first one stops working.
  await asOwner((client) => client.query("select app_private.resend_email_delivery($1, $2)", [clinic.tenantId, key]));
  await runner.run();
  const mails = smtp.to(user.email);
  expect(mails).toHaveLength(2);
  expect((await report()).rows).toEqual([]);
  await expect(setPassword(tokenIn(mails[0].text) as string)).rejects.toMatchObject({ code: "TOKEN" });
  await expect(setPassword(tokenIn(mails[1].text) as string)).resolves.toBeDefined();
  // Only an unknown (or released) e-mail can be resent.
  await expect(
    asOwner((client) => client.query("select app_private.resend_email_delivery($1, $2)", [clinic.tenantId, key])),
  ).rejects.toMatchObject({ code: "NTFND" });
});

test("an address list can be neither stored as a login e-mail nor sent to", async () => {
  const clinic = await signUpClinic();
  for (const email of [`x@a.test,${clinic.doctor.email}`, `Nia <${clinic.doctor.email}>`, `x@a.test;${clinic.doctor.email}`]) {
    await expect(
      asClaims(clinic.admin.claims, (client) => client.query("select app_public.add_user($1, 'Nia')", [email])),
    ).rejects.toMatchObject({ code: "23514" });
    const message = { to: email, subject: "s", text: "t", html: "h", messageId: "<m@clinic.test>" };
    await expect(smtpMailer(smtp).send(message)).rejects.toBeInstanceOf(NotSentError);
  }
  expect(smtp.to(clinic.doctor.email)).toHaveLength(0);
});

test("without SMTP_URL each message is written to the outbox folder as an .eml file and logged", async () => {
  const outbox = path.join(mkdtempSync(path.join(tmpdir(), "clinic-outbox-")), "outbox");
  const logged: string[] = [];
  const mailer = createMailer({ smtpUrl: undefined, outbox, from: "Clinic Platform <no-reply@clinic.test>" }, (line) =>
    logged.push(line),
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

describe("a name cannot put forged lines into an e-mail: control characters are refused (INVAL)", () => {
  const forged = "Nia\r\nBcc: victim@example.test";
  test.each([
    ["a clinic's name", "update app_public.tenants set name = $1"],
    ["a user's name", "select app_public.add_user('n-' || gen_random_uuid() || '@example.test', $1)"],
    ["a doctor's name", "insert into app_public.doctors (full_name) values ($1)"],
    ["a patient's name", "insert into app_public.patients (full_name) values ($1)"],
    ["a medicine's name", "insert into app_public.medicines (name, dosage_form) values ($1, 'tablet')"],
    ["a medicine's dosage form", "insert into app_public.medicines (name, dosage_form) values ('syrup', $1)"],
    ["a medicine's strength", "insert into app_public.medicines (name, dosage_form, strength) values ('syrup', 'syrup', $1)"],
  ])("%s", async (_what, sql) => {
    const clinic = await signUpClinic();
    for (const value of [forged, "Nia\nNew", "Nia\tNew", "Nia\u007fNew", "Nia\u0085New", "Nia\u009bNew"]) {
      const refusal = asClaims(clinic.admin.claims, (client) => client.query(sql, [value]));
      await expect(refusal).rejects.toMatchObject({
        code: "INVAL",
        message: "Names may not contain line breaks, tabs or other control characters.",
      });
    }
    // The same statement with a clean name goes through: the refusal is about the characters.
    await asClaims(clinic.admin.claims, (client) => client.query(sql, ["Nia New-Name (ß, 東京)"]));
  });
});

describe("one activation token per user at a time: the account e-mail never replaces the admin's hand-over", () => {
  const issue = (clinic: Clinic, userId: string) =>
    asClaims(
      clinic.admin.claims,
      async (client) => (await client.query("select app_public.issue_activation_token($1) as token", [userId])).rows[0].token,
    ) as Promise<string>;
  const unusedTokens = async (userId: string) =>
    asOwner(async (client) => {
      const { rows } = await client.query(
        "select count(*)::int as n from app_private.password_tokens where user_id = $1 and used_at is null",
        [userId],
      );
      return rows[0].n as number;
    });

  test("issued right after creating the user, the admin's token survives the account e-mail, which carries no link", async () => {
    const clinic = await signUpClinic();
    await runner.run();
    const user = await createUser(clinic);
    const handedOver = await issue(clinic, user.id);
    await runner.run();
    const [mail, ...more] = smtp.to(user.email);
    expect(more).toHaveLength(0);
    expect(tokenIn(mail.text)).toBeUndefined();
    expect(mail.text).toContain("Your administrator has given you a link to set your password");
    expect(await unusedTokens(user.id)).toBe(1);
    await expect(setPassword(handedOver)).resolves.toBeDefined();
  });

  test("issued after the account e-mail went out, the admin's token replaces the e-mailed link, as the admin asked", async () => {
    const clinic = await signUpClinic();
    await runner.run();
    const user = await createUser(clinic);
    await runner.run();
    const mailed = tokenIn(smtp.to(user.email)[0].text) as string;
    expect(mailed).toBeDefined();
    const handedOver = await issue(clinic, user.id);
    expect(await unusedTokens(user.id)).toBe(1);
    await expect(setPassword(mailed)).rejects.toMatchObject({ code: "TOKEN" });
    await expect(setPassword(handedOver)).resolves.toBeDefined();
  });

  test("an e-mail token issued while the admin's issue is uncommitted waits for it, then issues nothing", async () => {
    const clinic = await signUpClinic();
    const user = await createUser(clinic);
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let issued!: () => void;
    const hasIssued = new Promise<void>((resolve) => (issued = resolve));
    const admin = asClaims(clinic.admin.claims, async (client) => {
      const { rows } = await client.query("select app_public.issue_activation_token($1) as token", [user.id]);
      issued();
      await committing;
      return rows[0].token as string;
    });
    await Promise.race([hasIssued, admin]);
    const job = asOwner(
      async (client) => (await client.query("select app_private.account_email_token($1) as token", [user.id])).rows[0].token,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    commit();
    const [handedOver, mailed] = await Promise.all([admin, job]);
    expect(mailed).toBeNull();
    expect(await unusedTokens(user.id)).toBe(1);
    await expect(setPassword(handedOver)).resolves.toBeDefined();
  });

  test("an admin's issue while the e-mail's token is uncommitted waits for it, then replaces it without an error", async () => {
    const clinic = await signUpClinic();
    const user = await createUser(clinic);
    const mailed = await asOwner(async (client) => {
      await client.query("begin");
      const { rows } = await client.query("select app_private.account_email_token($1) as token", [user.id]);
      const admin = issue(clinic, user.id);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await client.query("commit");
      return { token: rows[0].token as string, handedOver: await admin };
    });
    expect(await unusedTokens(user.id)).toBe(1);
    await expect(setPassword(mailed.token)).rejects.toMatchObject({ code: "TOKEN" });
    await expect(setPassword(mailed.handedOver)).resolves.toBeDefined();
  });
});
