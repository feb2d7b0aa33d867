/**
 * graphile-worker tasks. Triggers and the cron schedule enqueue them with ids only; each task
 * reads what to send from an app_private function, so who receives what is decided in SQL.
 *
 *   send_welcome_email      {tenant_id}        the admin who signed the tenant up
 *   send_account_email      {user_id}          a user an admin created: set-password link (72 h, single use),
 *                                              unless the admin already handed one over
 *   schedule_trial_notices  cron, hourly       records due trial notices, enqueues send_trial_notice
 *                                              (through app_private.job_outbox, drained at once)
 *   send_trial_notice       {trial_notice_id}  the tenant's active admins
 *   schedule_appointment_reminders
 *                           cron, every minute records due reminders, enqueues send_appointment_notice
 *   send_appointment_notice {tenant_id, notice_id}
 *                                              a patient: confirmation, change, cancellation or reminder,
 *                                              decided when it runs (app_private.appointment_notice_email)
 *   offer_waitlist_slot     {tenant_id, freed_slot_id}
 *                                              the oldest waiting patient the freed slot suits: an offer held
 *                                              WAITLIST_HOLD_MINUTES, answered on /waitlist-offer
 *   send_waitlist_offer     {tenant_id, offer_id}
 *                                              an offer's e-mail again: only an operator's resend queues it
 *   expire_waitlist_offers  cron, every minute ends the holds that ran out, enqueues offer_waitlist_slot
 */
import type { JobHelpers, TaskList } from "graphile-worker";
import type { Mailer } from "../mail/mailer";
import { appointmentNoticeEmail, waitlistOfferEmail, type NoticeKind } from "../mail/appointment-notices";
import { accountEmail, trialNoticeEmail, welcomeEmail } from "../mail/templates";
import { deliverOnce } from "./deliver";

/**
 * Trial notices hourly, in UTC; a worker that was down backfills up to a day, collapsed into one
 * job by its key. Reminders every minute: each run records every reminder that is due and unsent,
 * so a worker that was down needs no backfill.
 */
export const CRONTAB = [
  "0 * * * * schedule_trial_notices ?fill=1d&jobKey=schedule_trial_notices",
  "* * * * * schedule_appointment_reminders ?jobKey=schedule_appointment_reminders",
  "* * * * * expire_waitlist_offers ?jobKey=expire_waitlist_offers",
].join("\n");

export interface TaskDependencies {
  mailer: Mailer;
  /** Base URL of the web app, for links in e-mails. */
  appUrl: string;
  /** This API server's public address, for the links in patients' e-mails (the unsubscribe page). */
  publicUrl: string;
  /** How long a waitlist offer holds its slot, minutes (WAITLIST_HOLD_MINUTES). */
  waitlistHoldMinutes: number;
  /** The clock trial notices, reminders and waitlist holds are scheduled by; tests pass a controlled one. */
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The uuid under `name` in a job payload. @throws when it is missing or malformed (the job fails). */
function idFrom(payload: unknown, name: string): string {
  const value = (payload as Record<string, unknown> | null)?.[name];
  if (typeof value !== "string" || !UUID.test(value)) throw new Error(`The job's payload needs a uuid "${name}".`);
  return value;
}

/** The task list, bound to a mailer and the app's address. */
export function makeTaskList({
  mailer,
  appUrl,
  publicUrl,
  waitlistHoldMinutes,
  now = () => new Date(),
}: TaskDependencies): TaskList {
  /** A new unsubscribe link for a patient's e-mail, made when it is about to be sent: it never sits in the job queue. */
  const unsubscribeUrl = async (helpers: JobHelpers, tenantId: string, patientId: string) => {
    const { rows } = await helpers.query("select app_private.new_unsubscribe_token($1, $2) as token", [tenantId, patientId]);
    return `${publicUrl}/unsubscribe?token=${rows[0].token}`;
  };
  /** The e-mail of a pending waitlist offer; a resend runs send_waitlist_offer, never a new offer. */
  const sendWaitlistOffer = async (helpers: JobHelpers, tenantId: string, offerId: string) => {
    const { rows } = await helpers.query("select * from app_private.waitlist_offer_email($1, $2)", [tenantId, offerId]);
    for (const r of rows) {
      const delivery = {
        key: `waitlist_offer:${offerId}`,
        recipient: { tenantId, patientId: r.patient_id as string },
        to: r.email as string,
        template: "waitlist_offer",
        resendJob: { task: "send_waitlist_offer", payload: { tenant_id: tenantId, offer_id: offerId } },
      };
      await deliverOnce(helpers, mailer, delivery, async (whileClaimed) => {
        const token = (await whileClaimed("select app_private.new_waitlist_offer_token($1, $2) as token", [tenantId, offerId]))
          .rows[0].token;
        return waitlistOfferEmail({
          patientName: r.patient_name,
          tenantName: r.tenant_name,
          timeZone: r.time_zone,
          startsAt: r.starts_at,
          endsAt: r.ends_at,
          expiresAt: r.expires_at,
          officeName: r.office_name,
          officeAddress: r.office_address,
          answerUrl: `${publicUrl}/waitlist-offer?token=${token}`,
          unsubscribeUrl: await unsubscribeUrl(helpers, tenantId, r.patient_id),
        });
      });
    }
  };
  return {
    async send_welcome_email(payload, helpers) {
      const tenantId = idFrom(payload, "tenant_id");
      const { rows } = await helpers.query("select * from app_private.welcome_email($1)", [tenantId]);
      for (const r of rows) {
        const delivery = { key: `welcome:${r.user_id}`, recipient: { userId: r.user_id }, to: r.email, template: "welcome" };
        await deliverOnce(helpers, mailer, delivery, async () =>
          welcomeEmail({
            fullName: r.full_name,
            tenantName: r.tenant_name,
            trialEndsAt: r.trial_ends_at,
            timeZone: r.time_zone,
            appUrl,
          }),
        );
      }
    },

    async send_account_email(payload, helpers) {
      const userId = idFrom(payload, "user_id");
      const { rows } = await helpers.query("select * from app_private.account_email($1)", [userId]);
      for (const r of rows) {
        const delivery = { key: `account:${r.user_id}`, recipient: { userId: r.user_id }, to: r.email, template: "account" };
        await deliverOnce(helpers, mailer, delivery, async (whileClaimed) => {
          // The token is made only now, when it is about to be sent: it never sits in the job queue.
          // NULL when an admin already handed the user a live link, which the e-mail must not replace.
          const token = r.has_password
            ? null
            : ((await whileClaimed("select app_private.account_email_token($1) as token", [userId])).rows[0].token as
                string | null);
          return accountEmail({
            fullName: r.full_name,
            tenantName: r.tenant_name,
            userRole: r.user_role,
            appUrl,
            access: r.has_password
              ? "password"
              : token
                ? { setPasswordUrl: `${appUrl}/set-password#token=${token}` }
                : "handed-over",
          });
        });
      }
    },

    async schedule_trial_notices(_payload, helpers) {
      const { rows } = await helpers.query("select id from app_private.schedule_trial_notices($1)", [now()]);
      if (rows.length) helpers.logger.info(`Scheduled ${rows.length} trial notice(s).`);
      // Their send jobs went to the outbox; queue them now rather than at the next drain round.
      await helpers.query("select app_private.drain_job_outbox()");
    },

    async send_trial_notice(payload, helpers) {
      const noticeId = idFrom(payload, "trial_notice_id");
      const { rows } = await helpers.query("select * from app_private.trial_notice_email($1)", [noticeId]);
      // Each admin separately: one refused address must not stop, or repeat, the others' mail.
      const failures: unknown[] = [];
      for (const r of rows) {
        const delivery = {
          key: `trial_notice:${noticeId}:${r.user_id}`,
          recipient: { userId: r.user_id },
          to: r.email,
          template: "trial_notice",
        };
        await deliverOnce(helpers, mailer, delivery, async () =>
          trialNoticeEmail({
            fullName: r.full_name,
            tenantName: r.tenant_name,
            trialEndsAt: r.trial_ends_at,
            timeZone: r.time_zone,
            daysBefore: r.days_before,
            appUrl,
          }),
        ).catch((error) => failures.push(error));
      }
      if (failures.length) throw failures[0];
    },

    async schedule_appointment_reminders(_payload, helpers) {
      const { rows } = await helpers.query("select app_private.schedule_appointment_reminders($1) as count", [now()]);
      if (rows[0].count) helpers.logger.info(`Scheduled ${rows[0].count} appointment reminder(s).`);
      await helpers.query("select app_private.drain_job_outbox()");
    },

    async send_appointment_notice(payload, helpers) {
      const tenantId = idFrom(payload, "tenant_id");
      const noticeId = idFrom(payload, "notice_id");
      // No rows: skipped (recorded with its reason), or decided by an earlier run of this job.
      const { rows } = await helpers.query("select * from app_private.appointment_notice_email($1, $2)", [tenantId, noticeId]);
      if (!rows.length) return;
      const [r] = rows;
      const delivery = {
        key: `appointment_notice:${noticeId}`,
        recipient: { tenantId, patientId: r.patient_id as string },
        to: r.email as string,
        template: "appointment_notice",
      };
      await deliverOnce(helpers, mailer, delivery, async () =>
        appointmentNoticeEmail({
          kind: r.kind as NoticeKind,
          patientName: r.patient_name as string,
          to: r.email as string,
          tenantName: r.tenant_name as string,
          timeZone: r.time_zone as string,
          visits: rows.map((v) => ({
            appointmentId: v.appointment_id as string,
            sequence: v.sequence as number,
            startsAt: v.starts_at as Date,
            endsAt: v.ends_at as Date,
            officeName: v.office_name as string | null,
            officeAddress: v.office_address as string | null,
          })),
          from: mailer.from,
          unsubscribeUrl: await unsubscribeUrl(helpers, tenantId, r.patient_id as string),
        }),
      );
      await helpers.query("select app_private.record_appointment_notice_sent($1, $2)", [tenantId, noticeId]);
    },

    async offer_waitlist_slot(payload, helpers) {
      const tenantId = idFrom(payload, "tenant_id");
      const slotId = idFrom(payload, "freed_slot_id");
      const offered = await helpers.query("select app_private.offer_freed_slot($1, $2, make_interval(mins => $3)) as id", [
        tenantId,
        slotId,
        waitlistHoldMinutes,
      ]);
      const offerId = offered.rows[0].id as string | null;
      if (offerId) await sendWaitlistOffer(helpers, tenantId, offerId);
    },

    async send_waitlist_offer(payload, helpers) {
      await sendWaitlistOffer(helpers, idFrom(payload, "tenant_id"), idFrom(payload, "offer_id"));
    },

    async expire_waitlist_offers(_payload, helpers) {
      const { rows } = await helpers.query("select app_private.expire_waitlist_offers($1) as count", [now()]);
      if (rows[0].count) helpers.logger.info(`Passed on ${rows[0].count} expired waitlist offer(s).`);
      await helpers.query("select app_private.drain_job_outbox()");
    },
  };
}
