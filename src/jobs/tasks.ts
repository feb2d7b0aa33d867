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
 */
import type { JobHelpers, TaskList } from "graphile-worker";
import type { Mailer } from "../mail/mailer";
import { accountEmail, trialNoticeEmail, welcomeEmail } from "../mail/templates";
import { deliverOnce } from "./deliver";

/** Hourly, in UTC; a worker that was down backfills up to a day, collapsed into one job by its key. */
export const CRONTAB = "0 * * * * schedule_trial_notices ?fill=1d&jobKey=schedule_trial_notices";

export interface TaskDependencies {
  mailer: Mailer;
  /** Base URL of the web app, for links in e-mails. */
  appUrl: string;
  /** The clock trial notices are scheduled by; tests pass a controlled one. */
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The uuid under `name` in a job payload. @throws when it is missing or malformed (the job fails). */
function idFrom(payload: unknown, name: string): string {
  const value = (payload as Record<string, unknown> | null)?.[name];
  if (typeof value !== "string" || !UUID.test(value)) throw new Error(`The job's payload needs a uuid "${name}".`);
  return value;
}

const query = (helpers: JobHelpers) => (text: string, values?: unknown[]) => helpers.query(text, values);

/** The task list, bound to a mailer and the app's address. */
export function makeTaskList({ mailer, appUrl, now = () => new Date() }: TaskDependencies): TaskList {
  return {
    async send_welcome_email(payload, helpers) {
      const tenantId = idFrom(payload, "tenant_id");
      const { rows } = await helpers.query("select * from app_private.welcome_email($1)", [tenantId]);
      for (const r of rows) {
        const delivery = { key: `welcome:${r.user_id}`, userId: r.user_id, to: r.email, template: "welcome" };
        await deliverOnce(query(helpers), mailer, delivery, async () =>
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
        const delivery = { key: `account:${r.user_id}`, userId: r.user_id, to: r.email, template: "account" };
        await deliverOnce(query(helpers), mailer, delivery, async () => {
          // The token is made only now, when it is about to be sent: it never sits in the job queue.
          // NULL when an admin already handed the user a live link, which the e-mail must not replace.
          const token: string | null = r.has_password
            ? null
            : (await helpers.query("select app_private.account_email_token($1) as token", [userId])).rows[0].token;
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
          userId: r.user_id,
          to: r.email,
          template: "trial_notice",
        };
        await deliverOnce(query(helpers), mailer, delivery, async () =>
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
  };
}
