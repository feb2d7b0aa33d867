/**
 * E-mail and job helpers for tests: a real SMTP server (the npm package `smtp-server`) that keeps
 * what it accepts, parsed with `mailparser`, and a runner that works off the job queue as the
 * worker would, with a mailer and clock of the test's choosing.
 */
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { Logger, makeWorkerUtils, runOnce, type WorkerUtils } from "graphile-worker";
import { createMailer, type Mailer } from "../src/mail/mailer";
import { makeTaskList } from "../src/jobs/tasks";
import { asOwner, ownerUrl } from "./helpers";

export const APP_URL = "https://app.clinic.test";
export const PUBLIC_URL = "https://api.clinic.test";
/** The hold of waitlist offers in tests, minutes. */
export const WAITLIST_HOLD_MINUTES = 30;

export interface CapturedMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** Attached files, their content as text (the `.ics` of patients' e-mails). */
  attachments: { filename: string; contentType: string; content: string }[];
  /** Header fields by lower-case name, as text. */
  headers: Record<string, string>;
}

/** A point where the capture server waits: `reached` resolves when a session gets there. */
export interface Hold {
  reached: Promise<void>;
  /** Lets the waiting session (and later ones) go on. */
  release(): void;
}

export interface SmtpCapture {
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  url: string;
  /** Every message accepted so far, in order. */
  messages: CapturedMail[];
  /** Recipients to refuse (550), as a server would refuse an unknown mailbox. */
  refused: Set<string>;
  /** Recipients at whose RCPT the connection drops without a reply (a network failure before DATA). */
  dropped: Set<string>;
  /** How long the server waits, having received a message, before it answers (a slow server). */
  replyDelayMs: number;
  /**
   * Holds the next session at `greeting` (connected, not yet greeted: nothing handed over) or at
   * `reply` (the message received and kept, as a server that has it, with its answer withheld).
   */
  hold(point: "greeting" | "reply"): Hold;
  /** Messages accepted for this address. */
  to(address: string): CapturedMail[];
  close(): Promise<void>;
}

/** Starts an SMTP server on a free port of 127.0.0.1. */
export async function startSmtpCapture(): Promise<SmtpCapture> {
  const messages: CapturedMail[] = [];
  const refused = new Set<string>();
  const dropped = new Set<string>();
  const capture = { replyDelayMs: 0 };
  const holds = new Map<"greeting" | "reply", { reach(): void; released: Promise<void> }>();
  const wait = async (point: "greeting" | "reply") => {
    const hold = holds.get(point);
    if (!hold) return;
    hold.reach();
    await hold.released;
  };
  const hold = (point: "greeting" | "reply"): Hold => {
    let reach = () => {};
    let release = () => {};
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    holds.set(point, { reach, released });
    return {
      reached,
      release: () => {
        holds.delete(point);
        release();
      },
    };
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onConnect(_session, callback) {
      void wait("greeting").then(() => callback());
    },
    onRcptTo(address, session, callback) {
      if (dropped.has(address.address)) {
        [...server.connections].find((connection) => connection.id === session.id)?._socket.destroy();
      } else if (refused.has(address.address)) {
        callback(Object.assign(new Error("Mailbox unavailable"), { responseCode: 550 }));
      } else callback();
    },
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
          messages.push({
            to: to?.value[0]?.address ?? "",
            from: mail.from?.text ?? "",
            subject: mail.subject ?? "",
            text: mail.text ?? "",
            html: typeof mail.html === "string" ? mail.html : "",
            messageId: mail.messageId ?? "",
            attachments: mail.attachments.map((a) => ({
              filename: a.filename ?? "",
              contentType: a.contentType,
              content: a.content.toString("utf8"),
            })),
            headers: Object.fromEntries(mail.headerLines.map((h) => [h.key, h.line.slice(h.line.indexOf(":") + 1).trim()])),
          });
          return wait("reply").then(() => setTimeout(callback, capture.replyDelayMs));
        })
        .catch(callback);
    },
  });
  const port = await new Promise<number>((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.server.address() as { port: number }).port));
  });
  const smtp: SmtpCapture = Object.assign(capture, {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    refused,
    dropped,
    hold,
    to: (address: string) => messages.filter((m) => m.to.toLowerCase() === address.toLowerCase()),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return smtp;
}

/** A mailer that sends to the capture server, as SMTP_URL would configure it. */
export const smtpMailer = (smtp: SmtpCapture, query = ""): Mailer =>
  createMailer({ smtpUrl: smtp.url + query, outbox: "unused", from: "Clinic Platform <no-reply@clinic.test>" });

/** graphile-worker's logger, silenced: tests provoke failures on purpose. */
export const silentLogger = new Logger(() => () => {});

/** Moves the jobs that triggers wrote to app_private.job_outbox into graphile-worker's queue, as the worker does. */
export const drainOutbox = () => asOwner((client) => client.query("select app_private.drain_job_outbox()"));

/**
 * Drains the outbox, then runs every job that is due until none is left, with our task list bound to `mailer`, `now`
 * (the trial-notice clock) and the web app links point to. Jobs that fail are rescheduled by
 * graphile-worker's backoff.
 */
export function jobRunner(mailer: Mailer, now?: () => Date, appUrl = APP_URL, publicUrl = PUBLIC_URL) {
  const taskList = makeTaskList({ mailer, appUrl, publicUrl, waitlistHoldMinutes: WAITLIST_HOLD_MINUTES, now });
  return {
    run: async () => {
      await drainOutbox();
      await runOnce({ connectionString: ownerUrl(), taskList, noHandleSignals: true, logger: silentLogger });
    },
    close: async () => mailer.close(),
  };
}

/**
 * For a test file: a capture SMTP server and a job runner sending through it, started before the
 * file's tests (from an empty job queue) and closed after them. `now` is the clock the runner's
 * scheduled tasks read (reminders, waitlist holds); a test sets it.
 */
export function useMailWorker() {
  const mail = { now: new Date() } as { smtp: SmtpCapture; runner: ReturnType<typeof jobRunner>; now: Date };
  beforeAll(async () => {
    mail.smtp = await startSmtpCapture();
    mail.runner = jobRunner(smtpMailer(mail.smtp), () => mail.now);
    await drainJobs();
  });
  afterAll(async () => {
    await mail.runner.close();
    await mail.smtp.close();
  });
  return mail;
}

/** Runs `work` on graphile-worker's utilities with the ids of the queued jobs that `where` selects. */
async function withJobs<T>(where: string, work: (utils: WorkerUtils, ids: string[]) => Promise<T>): Promise<T> {
  const utils = await makeWorkerUtils({ connectionString: ownerUrl(), logger: silentLogger });
  try {
    const { rows } = await utils.withPgClient((client) => client.query(`select id from graphile_worker.jobs where ${where}`));
    return await work(
      utils,
      rows.map((r) => r.id),
    );
  } finally {
    await utils.release();
  }
}

/** Marks every queued job complete, so a test starts from an empty queue (other files enqueue too). */
export async function drainJobs() {
  await drainOutbox();
  await withJobs("true", async (utils, ids) => {
    if (ids.length) await utils.completeJobs(ids);
  });
}

/** Makes every failed, waiting job due now (skips graphile-worker's retry backoff); returns how many. */
export const retryFailedJobsNow = () =>
  withJobs("last_error is not null and locked_at is null", async (utils, ids) => {
    if (ids.length) await utils.rescheduleJobs(ids, { runAt: new Date().toISOString() });
    return ids.length;
  });
