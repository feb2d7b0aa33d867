/**
 * Sends e-mail with nodemailer: through the SMTP server of SMTP_URL, or, without one (the
 * embedded default), into the outbox folder as one `.eml` file per message, so nothing is lost
 * and a developer can open what would have been sent.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import addressparser from "nodemailer/lib/addressparser";
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
   * @throws NotSentError when the message certainly did not reach the server (refused with an SMTP
   *   reply, no connection, or not exactly one recipient); any other error (a timeout while the
   *   message was in flight) leaves it unknown whether the server has it.
   */
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}

/** The message certainly was not accepted: sending it again cannot duplicate it. */
export class NotSentError extends Error {}

/**
 * Whether a nodemailer SMTP error proves that nothing was accepted: the server answered with a
 * reply code (it refused), or the connection was never made. Timeouts and dropped connections
 * carry neither, since they can happen after the server received the message.
 */
function certainlyNotSent(error: unknown): boolean {
  const e = error as { responseCode?: unknown; code?: unknown; syscall?: unknown } | null;
  return typeof e?.responseCode === "number" || e?.code === "EDNS" || e?.syscall === "connect";
}

/** Exactly one bare address, so a stored value like `a@x.test,b@y.test` can never fan out. */
function assertOneRecipient(to: string) {
  const parsed = addressparser(to, { flatten: true });
  if (parsed.length !== 1 || parsed[0].address !== to) throw new NotSentError("The recipient is not exactly one e-mail address.");
}

/** The mailer for the configuration: SMTP when `smtpUrl` is set, else the outbox folder. */
export function createMailer(
  config: Pick<MailConfig, "smtpUrl" | "outbox" | "from">,
  log: (line: string) => void = console.log,
): Mailer {
  if (config.smtpUrl) {
    const transport = nodemailer.createTransport(config.smtpUrl);
    return {
      from: config.from,
      async send(message) {
        assertOneRecipient(message.to);
        try {
          await transport.sendMail({ from: config.from, ...message });
        } catch (error) {
          throw certainlyNotSent(error) ? new NotSentError((error as Error).message, { cause: error }) : error;
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    from: config.from,
    async send(message) {
      assertOneRecipient(message.to);
      const info = await transport.sendMail({ from: config.from, ...message });
      await mkdir(config.outbox, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const name = message.messageId.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
      const file = path.join(config.outbox, `${stamp}-${name}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 }).catch((error) => {
        throw new NotSentError(`Could not write ${file}: ${error.message}`, { cause: error });
      });
      log(`E-mail "${message.subject}" to ${message.to} written to ${file}`);
    },
    close: () => transport.close(),
  };
}
