/**
 * Sending an e-mail once per idempotency key, across job retries, crashes and several workers.
 * The delivery row (app_private.email_deliveries) moves through the states the SQL functions
 * define: claimed `not_sent` before composing, `sending` at the moment the message leaves, then
 * `sent`; a refusal releases it for the retry; a hand-over whose answer is lost is `unknown`,
 * reported and never resent on its own. Which claim a worker may take over is decided in SQL.
 */
import { createHash } from "node:crypto";
import type { JobHelpers } from "graphile-worker";
import { NotSentError, type Mailer, type OutgoingMessage } from "../mail/mailer";
import type { RenderedEmail } from "../mail/templates";

export interface Delivery {
  /** What makes this e-mail unique, e.g. `welcome:<user id>`. */
  key: string;
  /** The recipient, a user or a patient, and their address. */
  recipient: { userId: string } | { tenantId: string; patientId: string };
  to: string;
  /** Template name, recorded with the delivery. */
  template: string;
  /** The job an operator's resend runs again; the running job when left out. */
  resendJob?: { task: string; payload: unknown };
}

/** A Message-ID derived from the key, so a duplicate (were one ever sent) shows as the same message. */
export function messageIdFor(key: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "localhost";
  return `<${createHash("sha256").update(key).digest("hex").slice(0, 32)}@${domain}>`;
}

/** A live worker holds the claim: the job fails this attempt and graphile-worker retries it later. */
export class DeliveryBusyError extends Error {}

/**
 * Renders (`compose` runs only when this call will send) and sends the e-mail unless it was sent,
 * is being sent, or its fate is unknown. Returns whether it sent.
 * @throws NotSentError after releasing the claim, so the job's retry sends it; DeliveryBusyError
 *   while another live worker holds it. A hand-over without an answer is recorded as unknown and
 *   logged, and does not throw: retrying cannot tell whether it arrived.
 */
export async function deliverOnce(
  helpers: Pick<JobHelpers, "query" | "job" | "logger">,
  mailer: Mailer,
  delivery: Delivery,
  compose: () => Promise<RenderedEmail & Pick<OutgoingMessage, "attachments" | "headers">>,
): Promise<boolean> {
  const { job, logger } = helpers;
  const workerId = job.locked_by;
  if (!workerId) throw new Error("A delivery needs the id of the worker that runs its job.");
  const { recipient, key } = delivery;
  const resendJob = delivery.resendJob ?? { task: job.task_identifier, payload: job.payload };
  const { rows } = await helpers.query<{ claim: string; delivery_tenant_id: string }>(
    "select * from app_private.claim_email_delivery($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    [
      "userId" in recipient ? null : recipient.tenantId,
      key,
      "userId" in recipient ? recipient.userId : null,
      "userId" in recipient ? null : recipient.patientId,
      delivery.template,
      messageIdFor(key, mailer.from),
      workerId,
      resendJob.task,
      JSON.stringify(resendJob.payload),
    ],
  );
  const { claim, delivery_tenant_id: tenantId } = rows[0];
  if (claim === "busy") throw new DeliveryBusyError(`E-mail "${key}" is being sent by another worker; this job will retry.`);
  if (claim === "found-unknown") reportUnknown(logger, key, "its worker stopped while handing it to the mail server");
  if (claim !== "send") return false;

  const finish = (outcome: "sent" | "not_sent" | "unknown") =>
    helpers.query("select app_private.finish_email_delivery($1, $2, $3, $4)", [tenantId, key, workerId, outcome]);
  let handedOver = false;
  try {
    const message = await compose();
    await mailer.send({ to: delivery.to, messageId: messageIdFor(key, mailer.from), ...message }, async () => {
      const handOver = await helpers.query<{ ok: boolean | null }>(
        "select app_private.hand_over_email_delivery($1, $2, $3) as ok",
        [tenantId, key, workerId],
      );
      if (!handOver.rows[0].ok) throw new NotSentError(`Another worker took over e-mail "${key}".`);
      handedOver = true;
    });
  } catch (error) {
    if (!handedOver || error instanceof NotSentError) {
      await finish("not_sent");
      throw error;
    }
    await finish("unknown");
    reportUnknown(logger, key, (error as Error).message);
    return false;
  }
  await finish("sent");
  return true;
}

/** One error line for an e-mail whose fate is unknown: ids only (the key), never the address. */
function reportUnknown(logger: JobHelpers["logger"], key: string, why: string) {
  logger.error(
    `E-mail "${key}" may or may not have reached the mail server (${why}). It is recorded as unknown and not resent on its own: see npm run tenant -- deliveries, and resend it there.`,
  );
}
