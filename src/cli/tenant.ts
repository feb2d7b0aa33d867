/**
 * `npm run tenant -- <command>`: operator commands on tenants, run as the database owner,
 * outside the GraphQL API. The rules (plan limit, trial dates) live in the SQL functions called
 * here (migrations' "operator commands" section); this file parses arguments and prints.
 *
 *   list                          every tenant: plan, trial end, read-only, active doctors / limit
 *   set-plan <tenant> <plan>      change plan (PLANL when its active doctors exceed the new limit)
 *   extend-trial <tenant> <days>  extend a trial from its end, or from now once ended
 *   notifications <tenant> [--from <date>] [--to <date>]
 *                                 patient notices queued in a range: sent, queued, skipped and why
 *   deliveries [<tenant>]         e-mails not sent: unknown (handed over, answer lost), sending, not_sent
 *   resend <tenant> <key>         send an unknown e-mail again (its job runs anew: a fresh link)
 *
 * <tenant> is a tenant's id or slug. Errors print their code and message and exit with 1.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import type { Client } from "pg";
import { toPublicError } from "../errors";
import { runAsOwner } from "./run-as-owner";

/** Where the commands write: one line per call. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

interface TenantSummary {
  slug: string;
  name: string;
  subscription_plan: string;
  trial_ends_at: Date | null;
  is_read_only: boolean;
  active_doctors: string;
  max_doctors: number;
}

/** Lines of a table with left-aligned columns. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
}

function describe(t: { slug: string; subscription_plan: string; trial_ends_at: Date | null }): string {
  return `${t.slug}: plan ${t.subscription_plan}${t.trial_ends_at ? `, trial ends ${t.trial_ends_at.toISOString()}` : ""}`;
}

/** A date or instant as `--from`/`--to` take it (`2026-12-01`, `2026-12-01T08:00Z`). */
function instant(value: string): Date {
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at.getTime())) throw new InvalidArgumentError("Not a date (YYYY-MM-DD).");
  return at;
}

interface NotificationLine {
  created_at: Date;
  kind: string;
  status: string;
  skip_reason: string | null;
  delivery: string | null;
  appointment_id: string | null;
  series_id: string | null;
  patient_id: string;
  lead_minutes: number | null;
}

interface DeliveryLine {
  tenant_id: string;
  idempotency_key: string;
  template: string;
  status: string;
  recipient: string;
  started_at: Date;
  handed_over_at: Date | null;
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("Not a whole number of days.");
  return Number(value);
}

/**
 * The command-line program. `client` is connected as the owner; the caller ends it.
 * Database errors become `CODE: message` on `err` and exit code 1 (via `process.exitCode`).
 * Usage errors and `--help` throw commander's CommanderError (with its exitCode) after printing.
 */
export function tenantProgram(client: Client, output: Output): Command {
  // exitOverride before the subcommands, which inherit it: commander throws instead of exiting.
  const program = new Command("tenant").description("Operator commands on tenants (clinic groups).").exitOverride();
  program.configureOutput({ writeOut: (s) => output.out(s.trimEnd()), writeErr: (s) => output.err(s.trimEnd()) });
  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      try {
        await action(...args);
      } catch (error) {
        const { code, message } = toPublicError(error);
        output.err(`${code}: ${message}`);
        process.exitCode = 1;
      }
    };
  program
    .command("list")
    .description("List tenants with plan, trial end, read-only state and active doctors against the plan's limit.")
    .action(
      run(async () => {
        const { rows } = await client.query<TenantSummary>("select * from app_private.tenant_summaries order by created_at");
        const lines = table(
          ["SLUG", "PLAN", "TRIAL ENDS (UTC)", "READ-ONLY", "DOCTORS", "NAME"],
          rows.map((t) => [
            t.slug,
            t.subscription_plan,
            t.trial_ends_at?.toISOString() ?? "-",
            t.is_read_only ? "yes" : "no",
            `${t.active_doctors}/${t.max_doctors}`,
            t.name,
          ]),
        );
        lines.forEach((line) => output.out(line));
      }),
    );
  program
    .command("set-plan")
    .description("Move a tenant to a plan (trial, basic, premium, …). A paid plan ends the trial and its read-only state.")
    .argument("<tenant>", "tenant id or slug")
    .argument("<plan>", "plan key, as in subscription_plans")
    .action(
      run(async (tenant: string, plan: string) => {
        const { rows } = await client.query("select * from app_private.change_plan($1, $2)", [tenant, plan]);
        output.out(`Changed ${describe(rows[0])}`);
      }),
    );
  program
    .command("extend-trial")
    .description("Extend a tenant's trial by a number of days, from its end or, once ended, from now.")
    .argument("<tenant>", "tenant id or slug")
    .argument("<days>", "days to add (1 to 365)", positiveInteger)
    .action(
      run(async (tenant: string, days: number) => {
        const { rows } = await client.query("select * from app_private.extend_trial($1, $2)", [tenant, days]);
        output.out(`Extended ${describe(rows[0])}`);
      }),
    );
  program
    .command("notifications")
    .description(
      "Patient notices (confirmations, changes, cancellations, reminders) queued in a range: sent, queued, or skipped and why. Ids only, no patient data.",
    )
    .argument("<tenant>", "tenant id or slug")
    .option("--from <date>", "first day (UTC), default 7 days ago", instant)
    .option("--to <date>", "day after the last (UTC), default tomorrow", instant)
    .action(
      run(async (tenant: string, options: { from?: Date; to?: Date }) => {
        const to = options.to ?? new Date(Date.now() + 86_400_000);
        const from = options.from ?? new Date(to.getTime() - 8 * 86_400_000);
        const { rows } = await client.query<NotificationLine>("select * from app_private.notification_report($1, $2, $3)", [
          tenant,
          from,
          to,
        ]);
        const lines = table(
          ["QUEUED (UTC)", "KIND", "STATUS", "WHY / DELIVERY", "APPOINTMENT OR SERIES", "PATIENT"],
          rows.map((n) => [
            n.created_at.toISOString(),
            n.kind + (n.lead_minutes ? ` ${n.lead_minutes} min` : ""),
            n.status,
            n.skip_reason ?? n.delivery ?? "-",
            n.appointment_id ?? `series ${n.series_id}`,
            n.patient_id,
          ]),
        );
        lines.forEach((line) => output.out(line));
        const count = (status: string) => rows.filter((n) => n.status === status).length;
        output.out(`${rows.length} notice(s): ${count("sent")} sent, ${count("queued")} queued, ${count("skipped")} skipped.`);
      }),
    );
  program
    .command("deliveries")
    .description(
      "E-mails not sent, of one tenant or all: unknown (handed to the mail server, answer lost: resend decides), sending, not_sent (its job retries). Ids and keys only.",
    )
    .argument("[tenant]", "tenant id or slug; all tenants when left out")
    .action(
      run(async (tenant: string | undefined) => {
        const { rows } = await client.query<DeliveryLine>("select * from app_private.delivery_report($1)", [tenant ?? null]);
        const lines = table(
          ["STATUS", "KEY", "TEMPLATE", "RECIPIENT", "CLAIMED (UTC)", "HANDED OVER (UTC)", "TENANT"],
          rows.map((d) => [
            d.status,
            d.idempotency_key,
            d.template,
            d.recipient,
            d.started_at.toISOString(),
            d.handed_over_at?.toISOString() ?? "-",
            d.tenant_id,
          ]),
        );
        lines.forEach((line) => output.out(line));
        const count = (status: string) => rows.filter((d) => d.status === status).length;
        output.out(`${count("unknown")} unknown, ${count("sending")} sending, ${count("not_sent")} not sent.`);
      }),
    );
  program
    .command("resend")
    .description(
      "Send an e-mail whose delivery is unknown again: its job runs anew and decides what to send now (an account e-mail gets a new set-password link; the old one stops working).",
    )
    .argument("<tenant>", "tenant id or slug")
    .argument("<key>", "the delivery's key, as `deliveries` lists it")
    .action(
      run(async (tenant: string, key: string) => {
        const { rows } = await client.query<{ task: string }>("select app_private.resend_email_delivery($1, $2) as task", [
          tenant,
          key,
        ]);
        output.out(`Queued ${key} again (job ${rows[0].task}).`);
      }),
    );
  return program;
}

if (require.main === module) {
  runAsOwner(async (client) => {
    try {
      await tenantProgram(client, { out: console.log, err: console.error }).parseAsync(process.argv);
      return Number(process.exitCode ?? 0);
    } catch (error) {
      if (error instanceof CommanderError) return error.exitCode;
      throw error;
    }
  });
}
