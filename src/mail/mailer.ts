/**
 * Sends e-mail with nodemailer: through the SMTP server of SMTP_URL, or, without one (the
 * embedded default), into the outbox folder as one `.eml` file per message, so nothing is lost
 * and a developer can open what would have been sent. One SMTP connection per message, driven
 * step by step, so the caller learns the moment the message starts to leave (`handOver`): what
 * fails before it certainly sent nothing.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import addressparser from "nodemailer/lib/addressparser";
import MailComposer from "nodemailer/lib/mail-composer";
import { parseConnectionUrl } from "nodemailer/lib/shared";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { MailConfig } from "../config";

/** A file sent with a message, e.g. an iCalendar `.ics`. */
export interface Attachment {
  filename: string;
  content: string;
  contentType: string;
}

/** One message, already rendered. `messageId` is an RFC 5322 Message-ID, angle brackets included. */
export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  attachments?: Attachment[];
  /** Extra header fields, e.g. `List-Unsubscribe` (RFC 8058). */
  headers?: Record<string, string>;
}

export interface Mailer {
  /** The From address, whose domain also names Message-IDs. */
  from: string;
  /**
   * Resolves once the SMTP server accepted the message (or the .eml file is written).
   * `handOver` runs once the connection is open, just before the message goes (before MAIL FROM;
   * for the outbox folder, before the write): it records that the message is leaving, and may
   * refuse by throwing, so that nothing is sent.
   * @throws NotSentError when the message certainly did not reach the server: anything that failed
   *   before `handOver` resolved (no connection, a refused login, not exactly one recipient, a
   *   refusing `handOver`), a refusal with a complete SMTP reply, or an exchange that ended before
   *   the server asked for the message (354); any other error (a timeout or dropped connection
   *   while the message was in flight) leaves it unknown whether the server has it. Messages name
   *   SMTP codes, never the server's reply text (it may quote the address).
   */
  send(message: OutgoingMessage, handOver?: () => Promise<void>): Promise<void>;
  close(): void;
}

/** The message certainly was not accepted: sending it again cannot duplicate it. */
export class NotSentError extends Error {}

/** Exactly one bare address, so a stored value like `a@x.test,b@y.test` can never fan out. */
function assertOneRecipient(to: string) {
  const parsed = addressparser(to, { flatten: true });
  if (parsed.length !== 1 || parsed[0].address !== to) throw new NotSentError("The recipient is not exactly one e-mail address.");
}

/** The message as RFC 5322 bytes (nodemailer's MailComposer): what the server or the file receives. */
const compose = (from: string, message: OutgoingMessage) => new MailComposer({ from, ...message }).compile().build();

/** Runs `step` (a failure is NotSentError): what fails before the hand-over cannot have sent anything. */
async function beforeHandOver<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw error instanceof NotSentError ? error : new NotSentError((error as Error).message, { cause: error });
  }
}

const noHandOver = async () => {};

/**
 * How long one SMTP exchange may take in all, from connecting to the server's answer; then the
 * connection is cut. Under the 15 minutes after which a claim passes on (migration 000016).
 */
const EXCHANGE_DEADLINE_MS = 10 * 60_000;

/**
 * The server's refusal, worded without its reply text (which may quote the address): a complete
 * reply of 4xx or 5xx to the envelope (EENVELOPE) or to the message's end (EMESSAGE). A code parsed
 * from a partial line before a dropped connection is no refusal.
 */
function refusal(error: unknown): NotSentError | undefined {
  const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
  if ((code === "EENVELOPE" || code === "EMESSAGE") && typeof responseCode === "number" && responseCode >= 400)
    return new NotSentError(`The mail server refused the message (SMTP ${responseCode}).`);
}

/**
 * One SMTP session (nodemailer's SMTPConnection): each step resolves on its callback and rejects
 * on the callback's error or on the connection's own `error` or unexpected `end`.
 */
function smtpSession(options: SMTPConnection.Options) {
  const connection = new SMTPConnection(options);
  let broken: Error | undefined;
  const waiting = new Set<(error: Error) => void>();
  const breakOff = (error: Error) => {
    broken ??= error;
    for (const reject of waiting) reject(error);
  };
  connection.on("error", breakOff);
  connection.on("end", () => breakOff(new Error("The SMTP connection closed unexpectedly.")));
  const step = <T>(run: (done: (error?: Error | null, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => {
      if (broken) return reject(broken);
      waiting.add(reject);
      run((error, value) => {
        waiting.delete(reject);
        if (error) reject(error);
        else resolve(value as T);
      });
    });
  return { connection, step, broken: () => broken !== undefined };
}

/** The mailer for the configuration: SMTP when `smtpUrl` is set, else the outbox folder. */
export function createMailer(
  config: Pick<MailConfig, "smtpUrl" | "outbox" | "from">,
  log: (line: string) => void = console.log,
): Mailer {
  if (config.smtpUrl) {
    const options = parseConnectionUrl(config.smtpUrl);
    const sender = addressparser(config.from, { flatten: true })[0]?.address ?? config.from;
    return {
      from: config.from,
      async send(message, handOver = noHandOver) {
        const { connection, step, broken } = smtpSession(options);
        const deadline = setTimeout(() => connection.close(), EXCHANGE_DEADLINE_MS);
        try {
          const raw = await beforeHandOver(async () => {
            assertOneRecipient(message.to);
            const raw = await compose(config.from, message);
            await step((done) => connection.connect(done));
            if (options.auth) await step((done) => connection.login(options.auth as SMTPConnection.Credentials, done));
            await handOver();
            return raw;
          });
          if (broken()) throw new NotSentError("The SMTP connection ended before the message was sent.");
          // SMTPConnection reads the message only once the server has said 354 to DATA (or, after a
          // failed envelope, to discard it): a message never read never left.
          let read = false;
          const body = new Readable({
            read() {
              read = true;
              this.push(raw);
              this.push(null);
            },
          });
          try {
            await step((done) => connection.send({ from: sender, to: [message.to] }, body, done));
          } catch (error) {
            const code = String((error as { code?: unknown }).code ?? "no code");
            throw (
              refusal(error) ??
              (read
                ? new Error(`The SMTP exchange ended while the message was in flight (${code}).`)
                : new NotSentError(`The SMTP exchange ended before the message was sent (${code}).`))
            );
          }
          connection.quit();
          // A server that never answers QUIT does not keep the socket.
          setTimeout(() => connection.close(), 10_000).unref();
        } catch (error) {
          connection.close();
          throw error;
        } finally {
          clearTimeout(deadline);
        }
      },
      close: () => {},
    };
  }
  return {
    from: config.from,
    async send(message, handOver = noHandOver) {
      const file = await beforeHandOver(async () => {
        assertOneRecipient(message.to);
        await mkdir(config.outbox, { recursive: true });
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        const name = message.messageId.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
        const file = path.join(config.outbox, `${stamp}-${name}.eml`);
        const raw = await compose(config.from, message);
        await handOver();
        return { path: file, raw };
      });
      await writeFile(file.path, file.raw, { mode: 0o600 }).catch((error) => {
        throw new NotSentError(`Could not write ${file.path}: ${error.message}`, { cause: error });
      });
      log(`E-mail "${message.subject}" to ${message.to} written to ${file.path}`);
    },
    close: () => {},
  };
}
