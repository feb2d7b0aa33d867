/**
 * Sending an e-mail once per idempotency key, across job retries, crashes and several workers.
 * The delivery row (app_private.email_deliveries) moves through the states the SQL functions
 * define: claimed `not_sent` before composing, `sending` at the moment the message leaves, then
 * `sent`; a refusal releases it for the retry; a hand-over whose answer is lost is `unknown`,
 * reported and never resent on its own. Each attempt claims with a token of its own, and which
 * claim may pass to another attempt is decided in SQL.
 */
import { createHash, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
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

/** A live attempt holds the claim: the job fails this attempt and graphile-worker retries it later. */
export class DeliveryBusyError extends Error {}

/**
 * Runs one statement in a transaction that first makes sure this attempt still holds the claim,
 * and keeps it locked: for what replaces earlier links (a set-password or waitlist token).
 * @throws NotSentError when the claim passed to another attempt.
 */
export type WhileClaimed = (text: string, values: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

type Helpers = Pick<JobHelpers, "query" | "withPgClient" | "job" | "logger">;

/**
 * Renders (`compose` runs only when this call will send) and sends the e-mail unless it was sent,
 * is being sent, or its fate is unknown. Returns whether it sent.
 * @throws NotSentError after releasing the claim, so the job's retry sends it; DeliveryBusyError
 *   while another live attempt holds it. A hand-over without an answer is recorded as unknown and
 *   logged, and does not throw: retrying cannot tell whether it arrived.
 */
export async function deliverOnce(
  helpers: Helpers,
  mailer: Mailer,
  delivery: Delivery,
  compose: (whileClaimed: WhileClaimed) => Promise<RenderedEmail & Pick<OutgoingMessage, "attachments" | "headers">>,
): Promise<boolean> {
  const { job, logger } = helpers;
  const poolId = job.locked_by;
  if (!poolId) throw new Error("A delivery needs the worker pool that runs its job.");
  const claimToken = randomUUID();
  const { recipient, key } = delivery;
  const resendJob = delivery.resendJob ?? { task: job.task_identifier, payload: job.payload };
  const { rows } = await helpers.query<{ claim: string; delivery_tenant_id: string }>(
    "select * from app_private.claim_email_delivery($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [
      "userId" in recipient ? null : recipient.tenantId,
      key,
      "userId" in recipient ? recipient.userId : null,
      "userId" in recipient ? null : recipient.patientId,
      delivery.template,
      messageIdFor(key, mailer.from),
      poolId,
      claimToken,
      resendJob.task,
      JSON.stringify(resendJob.payload),
    ],
  );
  const { claim, delivery_tenant_id: tenantId } = rows[0];
  if (claim === "busy") throw new DeliveryBusyError(`E-mail "${key}" is being sent by another attempt; this job will retry.`);
  if (claim === "found-unknown") reportUnknown(logger, key, "the attempt handing it to the mail server is gone");
  if (claim !== "send") return false;

  const claimArgs = [tenantId, key, claimToken];
  const whileClaimed: WhileClaimed = (text, values) =>
    helpers.withPgClient(async (client) => {
      await client.query("begin");
      try {
        const held = await client.query<{ held: boolean }>("select app_private.lock_email_claim($1, $2, $3) as held", claimArgs);
        if (!held.rows[0].held) throw new NotSentError(`Another attempt took over e-mail "${key}".`);
        const result = await client.query(text, values);
        await client.query("commit");
        return result;
      } catch (error) {
        await client.query("rollback");
        throw error;
      }
    });
  const finish = (outcome: "sent" | "not_sent" | "unknown") =>
    retried(() => helpers.query("select app_private.finish_email_delivery($1, $2, $3, $4)", [...claimArgs, outcome]));
  let handedOver = false;
  try {
    const message = await compose(whileClaimed);
    await mailer.send({ to: delivery.to, messageId: messageIdFor(key, mailer.from), ...message }, async () => {
      const handOver = await helpers.query<{ ok: boolean }>(
        "select app_private.hand_over_email_delivery($1, $2, $3) as ok",
        claimArgs,
      );
      if (!handOver.rows[0].ok) throw new NotSentError(`Another attempt took over e-mail "${key}".`);
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

/** Up to three tries a second apart: an outcome lost to a database blip would leave the claim held. */
async function retried<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt === 3) throw error;
      await sleep(1000);
    }
  }
}

/** One error line for an e-mail whose fate is unknown: the key (ids) and why, never the address. */
function reportUnknown(logger: JobHelpers["logger"], key: string, why: string) {
  logger.error(
    `E-mail "${key}" may or may not have reached the mail server (${why}). It is recorded as unknown and not resent on its own: see npm run tenant -- deliveries, and resend it there.`,
  );
}
