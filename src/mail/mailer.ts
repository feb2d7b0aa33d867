/**
 * Sends e-mail with nodemailer: through the SMTP server of SMTP_URL, or, without one (the
 * embedded default), into the outbox folder as one `.eml` file per message, so nothing is lost
 * and a developer can open what would have been sent.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import type { MailConfig } from "../config";

/** One message, already rendered. `messageId` is an RFC 5322 Message-ID, angle brackets included. */
export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
}

export interface Mailer {
  /** The From address, whose domain also names Message-IDs. */
  from: string;
  /**
   * Resolves once the SMTP server accepted the message (or the .eml file is written).
   * @throws nodemailer's error when the server refuses it or cannot be reached: nothing was accepted.
   */
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}

/** The mailer for the configuration: SMTP when `smtpUrl` is set, else the outbox folder. */
export function createMailer(config: MailConfig, log: (line: string) => void = console.log): Mailer {
  if (config.smtpUrl) {
    const transport = nodemailer.createTransport(config.smtpUrl);
    return {
      from: config.from,
      send: async (message) => {
        await transport.sendMail({ from: config.from, ...message });
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    from: config.from,
    async send(message) {
      const info = await transport.sendMail({ from: config.from, ...message });
      await mkdir(config.outbox, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const name = message.messageId.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
      const file = path.join(config.outbox, `${stamp}-${name}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      log(`E-mail "${message.subject}" to ${message.to} written to ${file}`);
    },
    close: () => transport.close(),
  };
}
