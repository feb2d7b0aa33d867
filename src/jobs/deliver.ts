/**
 * Sending an e-mail at most once per idempotency key, across job retries and several workers.
 * The delivery row is claimed (committed) before sending: a retry that finds it does not send
 * again, even when the job failed after the server accepted the message. Only when the message
 * certainly did not reach the server (NotSentError) is the claim released, so the retry sends.
 */
import { createHash } from "node:crypto";
import { NotSentError, type Mailer, type OutgoingMessage } from "../mail/mailer";
import type { RenderedEmail } from "../mail/templates";

/** graphile-worker's `helpers.query`: one statement on the worker's pool, committed on return. */
export type Query = (text: string, values?: unknown[]) => Promise<{ rowCount: number | null; rows: Record<string, unknown>[] }>;

export interface Delivery {
  /** What makes this e-mail unique, e.g. `welcome:<user id>`. */
  key: string;
  /** The recipient, a user or a patient, and their address. */
  recipient: { userId: string } | { tenantId: string; patientId: string };
  to: string;
  /** Template name, recorded with the delivery. */
  template: string;
}

/** A Message-ID derived from the key, so a duplicate (were one ever sent) shows as the same message. */
export function messageIdFor(key: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "localhost";
  return `<${createHash("sha256").update(key).digest("hex").slice(0, 32)}@${domain}>`;
}

/**
 * Renders (`compose` runs only when this call will send) and sends the e-mail unless a delivery
 * with its key exists. Returns whether it sent.
 * @throws NotSentError after releasing the claim, so the job's retry sends again; any other error
 *   keeps the claim (the server may have the message), so the retry does not send it.
 */
export async function deliverOnce(
  query: Query,
  mailer: Mailer,
  delivery: Delivery,
  compose: () => Promise<RenderedEmail & Pick<OutgoingMessage, "attachments" | "headers">>,
) {
  const messageId = messageIdFor(delivery.key, mailer.from);
  const { recipient } = delivery;
  const claimed = await query(
    "userId" in recipient
      ? `insert into app_private.email_deliveries (tenant_id, idempotency_key, user_id, template, message_id)
         select u.tenant_id, $1, u.id, $3, $4 from app_public.users u where u.id = $2
         on conflict (tenant_id, idempotency_key) do nothing`
      : `insert into app_private.email_deliveries (tenant_id, idempotency_key, patient_id, template, message_id)
         select p.tenant_id, $1, p.id, $3, $4 from app_public.patients p where p.tenant_id = $5 and p.id = $2
         on conflict (tenant_id, idempotency_key) do nothing`,
    "userId" in recipient
      ? [delivery.key, recipient.userId, delivery.template, messageId]
      : [delivery.key, recipient.patientId, delivery.template, messageId, recipient.tenantId],
  );
  if (claimed.rowCount === 0) return false;
  try {
    await mailer.send({ to: delivery.to, messageId, ...(await compose()) });
  } catch (error) {
    if (!(error instanceof NotSentError)) {
      throw new Error(
        `Sending "${delivery.key}" failed in a way that may have delivered it (${(error as Error).message}); it will not be resent. Delete its app_private.email_deliveries row to resend.`,
        { cause: error },
      );
    }
    await query("delete from app_private.email_deliveries where idempotency_key = $1", [delivery.key]);
    throw error;
  }
  await query("update app_private.email_deliveries set accepted_at = now() where idempotency_key = $1", [delivery.key]);
  return true;
}
