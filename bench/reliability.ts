/**
 * Reliability figures (issue 9): one command starts its own stack (the API as `npm start` runs it,
 * on the embedded database in a temporary DATA_DIR, a separate worker, a real SMTP server) on free
 * ports of 127.0.0.1, runs the phases, prints a table per phase, and stops everything.
 *
 *   npm run bench:reliability -- [--phase load|restart|worker|soak|limits|all] [--duration-seconds 60] [--soak-minutes 10]
 *
 * - load: 1, 8 and 32 clients run sessions of the documented operations (client/operations:
 *   CurrentSession, SearchPatients, CreatePatient, BookAppointment, WeekSchedule, DoctorWeek,
 *   CancelAppointment; AddDoctor only at set-up, as the plan caps doctors) for the duration, half
 *   as the demo admin, half as a second clinic's admin: throughput, p50/p95/p99, errors, API RSS.
 * - restart: 8 clients while the database is stopped (pg_ctl -m fast) for 5 s and started again.
 * - worker: the worker is SIGKILLed while a slow SMTP server holds messages, then restarted;
 *   every e-mail must arrive once, or be reported as unknown (the README's "Sent once"), and the
 *   dead worker's jobs must run again within WORKER_DEAD_AFTER_SECONDS (10 here).
 * - soak: 4 clients for the soak minutes; the API's RSS at the end against its plateau.
 * - limits: two more API instances on the same database, with the default budgets; /auth hammered on both against the per-IP
 *   budget; one user floods /graphql (16 clients) while another user's latency is measured.
 *
 * Every answer is checked: a failure must carry a documented code (5 letters, or INTERNAL) and no stack or SQL; a success
 * must hold no id or name of the other clinic. Exits 1 only when a hard rule broke (errors under
 * load, a wrong-tenant answer, a leak, a lost or duplicated e-mail).
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Client } from "pg";
import * as ops from "../client/generated/graphql";
import { graphqlBody } from "../client/request";
import { DEMO_ADMIN } from "../src/db/demo";
import { startSmtpCapture } from "../test/mail";
import { percentile, post } from "./http";
import { AppProcess, EmbeddedCluster, freePort, rssMiB } from "./stack";

const { values: args } = parseArgs({
  options: {
    phase: { type: "string", default: "all" },
    "duration-seconds": { type: "string", default: "60" },
    "soak-minutes": { type: "string", default: "10" },
  },
});
const PHASES = ["load", "restart", "worker", "soak", "limits"];
const phases = args.phase === "all" ? PHASES : [args.phase ?? ""];
const DURATION = Number(args["duration-seconds"]);
const SOAK_MINUTES = Number(args["soak-minutes"]);
/** The worker's dead-after bound in this bench: short, so a crashed worker's jobs come back within the phase. */
const WORKER_DEAD_AFTER_SECONDS = 10;
if (!phases.every((phase) => PHASES.includes(phase)) || !(DURATION > 0) || !(SOAK_MINUTES > 0)) {
  console.error("Usage: reliability.ts [--phase load|restart|worker|soak|limits|all] [--duration-seconds N] [--soak-minutes N]");
  process.exit(2);
}
/** The /graphql per-user budget of the limits phase's instances: the default (GRAPHQL_RATE_LIMIT_PER_MINUTE). */
const DEFAULT_GRAPHQL_BUDGET = 600;
/** The load phases' budget: their two users stand for a clinic's whole traffic, far beyond one person's. */
const LOAD_GRAPHQL_BUDGET = 1_000_000;
/** The /auth per-IP budget the instances are started with (AUTH_RATE_LIMIT_PER_IP, per minute). */
const AUTH_BUDGET = 30;
const PASSWORD = "a long passphrase for the bench";
const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** What must never reach a client: a stack frame, SQL, a constraint or relation name, a driver error. */
const LEAK =
  /\n\s+at \S|\bat \S+ \(|\.(ts|js):\d+:\d+|\bselect\b.+\bfrom\b|\binsert into\b|constraint "|relation "|ECONN|Connection terminated/i;
const hardFailures: string[] = [];
const notes: string[] = [];

interface Tenant {
  tag: string;
  clinicName: string;
  email: string;
  password: string;
  token: string;
  tokenAt: number;
  doctorId: string;
  ids: Set<string>;
}
interface Outcome {
  ok: boolean;
  ms: number;
  /** performance.now() when the request started and when its answer arrived. */
  started: number;
  at: number;
  code?: string;
  leak?: string;
  wrongTenant?: string;
}

let base = "";
let stack: Awaited<ReturnType<typeof setUp>> | undefined;
const tenants: Tenant[] = [];

async function signIn(tenant: Tenant) {
  const { json } = await post(base, "/auth/login", { email: tenant.email, password: tenant.password });
  if (!json.token) throw new Error(`Sign-in of ${tenant.email} failed: ${JSON.stringify(json)}`);
  Object.assign(tenant, { token: json.token, tokenAt: Date.now() });
}

/** Runs a documented operation as `tenant`, checking the answer; the access token is renewed every 10 minutes. */
async function gql<Result, Variables>(
  tenant: Tenant,
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  on = base,
): Promise<{ outcome: Outcome; data?: Result }> {
  if (Date.now() - tenant.tokenAt > 600_000) await signIn(tenant);
  const started = performance.now();
  try {
    const answer = await post(on, "/graphql", graphqlBody(document, variables, { trusted: false }), tenant.token);
    const outcome: Outcome = { ok: answer.status === 200 && !answer.json.errors, ms: answer.ms, started, at: performance.now() };
    if (!outcome.ok) {
      outcome.code = answer.json.errors?.[0]?.extensions?.code ?? answer.json.error?.code ?? `HTTP ${answer.status}`;
      const leak = LEAK.exec(answer.text)?.[0] ?? (/^([A-Z]{5}|INTERNAL)$/.test(outcome.code) ? undefined : "no documented code");
      if (leak) outcome.leak = `${outcome.code}: ${leak} in ${answer.text.slice(0, 300)}`;
      return { outcome };
    }
    for (const other of tenants.filter((t) => t !== tenant)) {
      const foreign =
        [other.tag, other.clinicName].find((name) => answer.text.includes(name)) ??
        answer.text.match(UUIDS)?.find((id) => other.ids.has(id));
      if (foreign) outcome.wrongTenant = `${tenant.tag} saw ${foreign} of ${other.tag}`;
    }
    for (const id of answer.text.match(UUIDS) ?? []) tenant.ids.add(id);
    return { outcome, data: answer.json.data as Result };
  } catch (error) {
    const code = (error as Error).name === "TimeoutError" ? "TIMEOUT" : "NETWORK";
    return { outcome: { ok: false, ms: performance.now() - started, started, at: performance.now(), code } };
  }
}

let slot = 0;
/** One client session of the documented operations; every appointment gets a slot of its own. */
async function session(tenant: Tenant, record: (outcome: Outcome) => void, on = base) {
  let last: Outcome | undefined;
  const run = async <R, V>(document: TypedDocumentNode<R, V>, variables: V) => {
    const { outcome, data } = await gql(tenant, document, variables, on);
    record((last = outcome));
    return data;
  };
  const me = await run(ops.CurrentSessionDocument, {});
  if (me && last && me.currentTenant?.name !== tenant.clinicName)
    last.wrongTenant = `${tenant.tag} got tenant ${me.currentTenant?.name}`;
  if (!me || !(await run(ops.SearchPatientsDocument, { search: "a" }))) return false;
  const patient = await run(ops.CreatePatientDocument, { fullName: `${tenant.tag} patient ${slot}`, birthDate: "1990-01-01" });
  const patientId = patient?.createPatient?.patient?.rowId;
  if (!patientId) return false;
  const startsAt = new Date(Date.UTC(2030, 0, 1) + ++slot * 1_800_000);
  const plus = (minutes: number) => new Date(startsAt.getTime() + minutes * 60_000).toISOString();
  const booked = await run(ops.BookAppointmentDocument, {
    doctorId: tenant.doctorId,
    patientId,
    officeId: "main",
    startsAt: startsAt.toISOString(),
    endsAt: plus(30),
    reason: "Check-up",
    // Years ahead, on a doctor without working hours: an admin's booking outside the hours and horizon.
    outsideHours: true,
  });
  const now = Date.now();
  await run(ops.WeekScheduleDocument, { from: new Date(now).toISOString(), to: new Date(now + 7 * 86_400_000).toISOString() });
  await run(ops.DoctorWeekDocument, { doctorId: tenant.doctorId, from: plus(-60), to: plus(7 * 1440) });
  const rowId = booked?.createAppointment?.appointment?.rowId;
  return !!rowId && !!(await run(ops.CancelAppointmentDocument, { rowId, cancellationReason: "Bench" }));
}

/** `clients` concurrent clients running sessions while `going()`; a failed session waits `backoffMs`. */
async function load(clients: number, going: () => boolean, pick: (client: number) => [Tenant, string], backoffMs = 100) {
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (going()) {
        const [tenant, on] = pick(client);
        if (!(await session(tenant, (outcome) => outcomes.push(outcome), on)) && backoffMs) await sleep(backoffMs);
      }
    }),
  );
  return outcomes;
}
const forSeconds = (seconds: number) => {
  const until = performance.now() + seconds * 1000;
  return () => performance.now() < until;
};
const bothTenants = (client: number): [Tenant, string] => [tenants[client % 2], base];

/** Counts per code, e.g. "NETWORK 12, DBERR 3". */
function byCode(outcomes: Outcome[]) {
  const counts = new Map<string, number>();
  for (const o of outcomes) if (!o.ok) counts.set(o.code ?? "?", (counts.get(o.code ?? "?") ?? 0) + 1);
  return [...counts].map(([code, n]) => `${code} ${n}`).join(", ") || "none";
}
const ms = (value: number) => `${value.toFixed(1)} ms`;
const mib = (value: number) => `${value.toFixed(0)} MiB`;

/** Reports answers that leaked internals or another tenant's data (hard failures), with one example each. */
function checkAnswers(phase: string, outcomes: Outcome[]) {
  const leaks = outcomes.filter((o) => o.leak);
  const wrong = outcomes.filter((o) => o.wrongTenant);
  if (leaks.length) hardFailures.push(`${phase}: ${leaks.length} answer(s) leaked internals, e.g. ${leaks[0].leak}`);
  if (wrong.length) hardFailures.push(`${phase}: ${wrong.length} wrong-tenant answer(s), e.g. ${wrong[0].wrongTenant}`);
  return [
    ["leaks (stack, SQL, no code)", String(leaks.length)],
    ["wrong-tenant answers", String(wrong.length)],
  ];
}

function table(title: string, rows: string[][]) {
  if (!rows.length) return;
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  console.log(`\n== ${title}`);
  for (const row of rows) console.log("  " + row.map((cell, column) => cell.padEnd(widths[column])).join("  "));
}

async function setUp() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "clinic-bench-"));
  chmodSync(dataDir, 0o755); // the embedded PostgreSQL runs as the OS user postgres when we are root
  const [httpPort, httpPort2, httpPort3, pgPort] = [
    await freePort(3100, 3139),
    await freePort(3140, 3169),
    await freePort(3170, 3199),
    await freePort(54400, 54499),
  ];
  const smtp = await startSmtpCapture();
  const cluster = new EmbeddedCluster(dataDir, pgPort);
  const env = (port: number, graphqlBudget = LOAD_GRAPHQL_BUDGET) => ({
    ...{ NODE_ENV: "development", DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(port) },
    ...{
      DATABASE_URL: "",
      AUTH_DATABASE_URL: "",
      ROOT_DATABASE_URL: "",
      APP_URL: "",
      SMTP_URL: smtp.url,
      MAIL_FROM: "Clinic Bench <bench@clinic.test>",
    },
    ...{ RUN_WORKER: "false", AUTH_RATE_LIMIT_PER_IP: String(AUTH_BUDGET), GRAPHQL_RATE_LIMIT_PER_MINUTE: String(graphqlBudget) },
  });
  base = `http://127.0.0.1:${httpPort}`;
  const api = new AppProcess("API", env(httpPort));
  const workerEnv = { ...env(0), RUN_WORKER: "true", WORKER_DEAD_AFTER_SECONDS: String(WORKER_DEAD_AFTER_SECONDS) };
  const started = {
    dataDir,
    smtp,
    cluster,
    env,
    httpPort2,
    httpPort3,
    workerEnv,
    api,
    worker: undefined as AppProcess | undefined,
    api2: undefined as AppProcess | undefined,
    api3: undefined as AppProcess | undefined,
  };
  stack = started;
  const probe = await api.waitReady(base);
  started.worker = await startSibling("worker", started.workerEnv, ["--worker-only"], (p) => p.waitFor(/Worker running/, 90_000));
  notes.push(`API ready on ${base} (probe ${probe}); DATA_DIR ${dataDir}; embedded PostgreSQL on ${pgPort}; SMTP ${smtp.url}`);

  const demo: Tenant = {
    tag: "Bench A",
    clinicName: "Demo Clinic",
    email: DEMO_ADMIN.email,
    password: DEMO_ADMIN.password,
    token: "",
    tokenAt: 0,
    doctorId: "",
    ids: new Set(),
  };
  await signIn(demo);
  const run = Date.now().toString(36);
  const second: Tenant = {
    ...demo,
    tag: "Bench B",
    clinicName: `Bench B clinic ${run}`,
    email: `admin.${run}@bench-b.test`,
    password: PASSWORD,
    ids: new Set(),
  };
  const registered = await post(base, "/auth/register-clinic", {
    clinicName: second.clinicName,
    fullName: "Bench B admin",
    email: second.email,
    password: PASSWORD,
    timeZone: "Europe/Madrid",
  });
  Object.assign(second, { token: registered.json.token, tokenAt: Date.now() });
  tenants.push(demo, second);
  for (const tenant of tenants) {
    // A doctor of the tenant's own, then every id the tenant can see (the wrong-tenant check's reference).
    const { data } = await gql(tenant, ops.AddDoctorDocument, {
      fullName: `${tenant.tag} doctor`,
      offices: [{ id: "main", name: `${tenant.tag} office`, is_primary: true }],
    });
    if (!data?.addDoctor?.result) throw new Error(`AddDoctor failed for ${tenant.tag}`);
    tenant.doctorId = data.addDoctor.result.rowId;
    await session(tenant, () => {});
    await gql(tenant, ops.SearchPatientsDocument, { search: "" });
  }
  return started;
}

/**
 * A second process on the same database: first as the README describes (same DATA_DIR and
 * EMBEDDED_PG_PORT); when that cannot start, with DATABASE_URL on the same cluster, noted.
 */
async function startSibling(
  name: string,
  env: Record<string, string>,
  argv: string[],
  ready: (p: AppProcess) => Promise<unknown>,
) {
  const shared = new AppProcess(name, env, argv);
  try {
    await ready(shared);
    notes.push(`${name}: second process on the same embedded database`);
    return shared;
  } catch (error) {
    await shared.stop(2_000);
    const reason = (error as Error).message.split("\n").filter(Boolean).at(-1);
    // Without ROOT_DATABASE_URL, graphile-migrate refuses the owner URL as its root URL (settings validation).
    const { rootUrl, ownerUrl, authenticatorUrl } = stack!.cluster.urls();
    Object.assign(env, { DATABASE_URL: ownerUrl, AUTH_DATABASE_URL: authenticatorUrl, ROOT_DATABASE_URL: rootUrl }); // restarts too
    const external = new AppProcess(name, env, argv);
    await ready(external);
    notes.push(
      `${name}: a second process on the same embedded database did not start ("${reason}"); ran with DATABASE_URL on the same cluster`,
    );
    return external;
  }
}

async function phaseLoad() {
  const rows = [["clients", "requests", "req/s", "p50", "p95", "p99", "errors", "RSS start → end"]];
  const all: Outcome[] = [];
  for (const clients of [1, 8, 32]) {
    const rssStart = rssMiB(stack!.api.servingPid);
    const outcomes = await load(clients, forSeconds(DURATION), bothTenants);
    const times = outcomes.map((o) => o.ms);
    const errors = outcomes.filter((o) => !o.ok);
    if (errors.length) hardFailures.push(`load, ${clients} clients: ${errors.length} error(s) (${byCode(outcomes)})`);
    rows.push([
      String(clients),
      String(outcomes.length),
      (outcomes.length / DURATION).toFixed(1),
      ...[0.5, 0.95, 0.99].map((p) => ms(percentile(times, p))),
      `${errors.length} (${byCode(outcomes)})`,
      `${mib(rssStart)} → ${mib(rssMiB(stack!.api.servingPid))}`,
    ]);
    all.push(...outcomes);
  }
  table(`load: ${DURATION} s per level, sessions of the documented operations, 2 tenants`, rows);
  table("load: answers", checkAnswers("load", all));
}

async function phaseRestart() {
  const seconds = Math.max(DURATION, 15);
  let going = true;
  const t0 = performance.now();
  const running = load(8, () => going, bothTenants);
  await sleep((seconds * 1000) / 3);
  const downAt = performance.now();
  await stack!.cluster.stop();
  await sleep(5_000);
  await stack!.cluster.start();
  const upAt = performance.now();
  await sleep(Math.max(10_000, seconds * 1000 - (upAt - t0)));
  going = false;
  const outcomes = await running;
  const failed = outcomes.filter((o) => !o.ok);
  const firstOk = outcomes.filter((o) => o.ok && o.at > upAt).sort((a, b) => a.at - b.at)[0];
  const lastFail = Math.max(upAt, ...failed.map((o) => o.at)) - upAt;
  const outside = failed.filter((o) => o.at < downAt || o.at > upAt + 5_000).length;
  table(
    `restart: 8 clients, database stopped (pg_ctl -m fast) at ${((downAt - t0) / 1000).toFixed(1)} s for ${((upAt - downAt) / 1000).toFixed(1)} s`,
    [
      ["requests", String(outcomes.length)],
      ["failed", `${failed.length} (${byCode(outcomes)})`],
      ["failed outside the outage (+5 s)", `${outside} ${outside ? "✗" : "✓"}`],
      ["first success after the database is back", firstOk ? ms(firstOk.at - upAt) : "none ✗"],
      ["last failure after the database is back", `${ms(lastFail)} ${lastFail <= 5_000 ? "✓ (≤ 5 s)" : "✗ (> 5 s)"}`],
      ["API process alive", stack!.api.alive ? "yes" : `no ✗ (${stack!.api.exitCode})`],
      ["worker process alive", stack!.worker?.alive ? "yes" : `no ✗ (${stack!.worker?.exitCode})`],
      ...checkAnswers("restart", outcomes),
    ],
  );
  if (!stack!.worker?.alive) {
    notes.push(
      `worker exited during the database restart (${stack!.worker?.exitCode}); restarted. Its last lines:`,
      ...(stack!.worker?.output.slice(-40) ?? []),
    );
    stack!.worker = new AppProcess("worker", stack!.workerEnv, ["--worker-only"]);
    await stack!.worker.waitFor(/Worker running/, 90_000);
  }
}

async function phaseWorker() {
  const s = stack!;
  const run = Date.now().toString(36);
  const recipients: string[] = [];
  s.smtp.replyDelayMs = 1_500;
  for (let k = 0; k < 3; k++) {
    const email = `mail${k}.${run}@bench-mail.test`;
    const { json } = await post(base, "/auth/register-clinic", {
      clinicName: `Mail ${k} ${run}`,
      fullName: `Mail admin ${k}`,
      email,
      password: PASSWORD,
    });
    const tenant: Tenant = {
      tag: `Mail ${k}`,
      clinicName: "",
      email,
      password: PASSWORD,
      token: json.token ?? "",
      tokenAt: Date.now(),
      doctorId: "",
      ids: new Set(),
    };
    recipients.push(email);
    for (let d = 0; d < 5; d++) {
      const doctor = `dr${d}.${k}.${run}@bench-mail.test`;
      const { outcome } = await gql(tenant, ops.AddDoctorDocument, {
        fullName: `Dr ${d}`,
        email: doctor,
        offices: [{ id: "main", name: "Main", is_primary: true }],
      });
      if (outcome.ok) recipients.push(doctor);
    }
  }
  const received = () => recipients.reduce((sum, to) => sum + s.smtp.to(to).length, 0);
  for (const deadline = Date.now() + 60_000; received() < 3 && Date.now() < deadline;) await sleep(50);
  await sleep(500); // into the 1.5 s the server takes to answer
  const atKill = received();
  s.worker!.signal("SIGKILL");
  await s.worker!.exited;
  s.smtp.replyDelayMs = 0;
  const owner = new Client({ connectionString: s.cluster.urls().ownerUrl });
  await owner.connect();
  /** Worker ids holding a lock on an e-mail job, one entry per job. */
  const jobsLocked = async () =>
    (
      await owner.query(
        "select locked_by from graphile_worker.jobs where locked_at is not null and task_identifier like 'send_%'",
      )
    ).rows.map((r) => r.locked_by as string);
  const deadWorkers = [...new Set(await jobsLocked())];
  s.worker = new AppProcess("worker", s.workerEnv, ["--worker-only"]);
  await s.worker.waitFor(/Worker running/, 90_000);
  const restartedAt = performance.now();
  const settle = async (seconds: number) => {
    for (const deadline = Date.now() + seconds * 1000; Date.now() < deadline; await sleep(250)) {
      const { rows } = await owner.query(
        // The dead worker's jobs too: they count as settled only once a live worker ran them.
        `select count(*)::int as n from graphile_worker.jobs where task_identifier like 'send_%' and attempts < max_attempts`,
      );
      if (rows[0].n === 0 && recipients.every((to) => s.smtp.to(to).length > 0)) return;
    }
  };
  // Until the restarted worker's heartbeat round takes the dead worker's jobs back, and then some.
  await settle(WORKER_DEAD_AFTER_SECONDS + 30);
  const stuck = (await jobsLocked()).filter((id) => deadWorkers.includes(id));
  const { rows: claims } = await owner.query(
    `select lower(u.email) as email, d.status from app_private.email_deliveries d join app_public.users u on u.id = d.user_id where lower(u.email) = any($1)`,
    [recipients.map((r) => r.toLowerCase())],
  );
  await owner.end();
  const unknown = new Set(claims.filter((c) => c.status === "unknown").map((c) => c.email as string));
  const counts = recipients.map((to) => ({ to, n: s.smtp.to(to).length }));
  const duplicates = counts.filter((c) => c.n > 1);
  const missing = counts.filter((c) => c.n === 0 && !unknown.has(c.to));
  if (duplicates.length) hardFailures.push(`worker: duplicated e-mail(s) to ${duplicates.map((c) => c.to).join(", ")}`);
  if (missing.length) hardFailures.push(`worker: lost e-mail(s) to ${missing.map((c) => c.to).join(", ")}`);
  if (stuck.length) hardFailures.push(`worker: ${stuck.length} job(s) still locked by the dead worker`);
  table(`worker: SIGKILL while sending (SMTP answers after 1.5 s), ${recipients.length} e-mails`, [
    ["received when killed", String(atKill)],
    [
      `jobs still locked by the dead worker (WORKER_DEAD_AFTER_SECONDS=${WORKER_DEAD_AFTER_SECONDS})`,
      `${stuck.length} ${stuck.length ? "✗" : "✓"}`,
    ],
    ["sent exactly once", String(counts.filter((c) => c.n === 1).length)],
    ["duplicates", `${duplicates.length} ${duplicates.length ? "✗" : "✓"}`],
    ["unknown (reported), received by the server", String(counts.filter((c) => c.n === 1 && unknown.has(c.to)).length)],
    ["unknown (reported), not received", String(counts.filter((c) => c.n === 0 && unknown.has(c.to)).length)],
    ["missing, not reported", `${missing.length} ${missing.length ? "✗" : "✓"}`],
    ["time from worker restart to all settled", ms(performance.now() - restartedAt)],
  ]);
}

async function phaseSoak() {
  const samples: number[] = [];
  const sampling = setInterval(() => samples.push(rssMiB(stack!.api.servingPid)), 5_000);
  const outcomes = await load(4, forSeconds(SOAK_MINUTES * 60), bothTenants);
  clearInterval(sampling);
  const median = (values: number[]) => percentile(values, 0.5);
  const plateau = median(samples.slice(Math.floor(samples.length * 0.4), Math.ceil(samples.length * 0.7)));
  const end = median(samples.slice(-3));
  const growth = (end / plateau - 1) * 100;
  table(`soak: 4 clients for ${SOAK_MINUTES} min, API RSS sampled every 5 s`, [
    [
      "requests",
      `${outcomes.length} (${(outcomes.length / (SOAK_MINUTES * 60)).toFixed(1)}/s), p50 ${ms(
        percentile(
          outcomes.map((o) => o.ms),
          0.5,
        ),
      )}`,
    ],
    ["errors", `${outcomes.filter((o) => !o.ok).length} (${byCode(outcomes)})`],
    ["RSS min / max", `${mib(Math.min(...samples))} / ${mib(Math.max(...samples))}`],
    ["RSS plateau (median, 40-70 % of the run)", mib(plateau)],
    ["RSS at the end (median of the last 3)", `${mib(end)}: ${growth.toFixed(1)} % ${Math.abs(growth) <= 10 ? "✓" : "✗"}`],
    ...checkAnswers("soak", outcomes),
  ]);
}

async function phaseLimits() {
  const s = stack!;
  // Two more instances with the default /graphql budget (the load phases raise it: their two users
  // stand for a whole clinic's traffic); user B is measured, and /auth hammered, on them alone.
  const base2 = `http://127.0.0.1:${s.httpPort2}`;
  const base3 = `http://127.0.0.1:${s.httpPort3}`;
  s.api2 = await startSibling("API 2", s.env(s.httpPort2, DEFAULT_GRAPHQL_BUDGET), [], (p) => p.waitReady(base2));
  s.api3 = await startSibling("API 3", s.env(s.httpPort3, DEFAULT_GRAPHQL_BUDGET), [], (p) => p.waitReady(base3));
  const [a, b] = tenants;
  const seconds = Math.max(5, DURATION / 2);
  const alone = await load(1, forSeconds(seconds), () => [b, base2]);
  let flooding = true;
  const flood = load(
    16,
    () => flooding,
    (client) => [a, client % 2 ? base3 : base2],
    0,
  );
  const flooded = await load(1, forSeconds(seconds), () => [b, base2]);
  flooding = false;
  const floodOutcomes = await flood;
  const p = (outcomes: Outcome[], q: number) =>
    ms(
      percentile(
        outcomes.map((o) => o.ms),
        q,
      ),
    );
  const burstStarted = performance.now();
  const auth = [0, 0, 0, 0]; // instance 1 accepted, refused; instance 2 accepted, refused
  // Ten at a time, so the whole burst fits in the limiter's one-minute window despite argon2's cost.
  for (let batch = 0; batch < AUTH_BUDGET * 2 + 10; batch += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        const i = batch + k;
        const { status } = await post(i % 2 ? base3 : base2, "/auth/login", {
          email: `nobody${i}@bench.test`,
          password: "wrong password",
        });
        auth[(i % 2) * 2 + (status === 429 ? 1 : 0)]++;
      }),
    );
  }
  const burstSeconds = (performance.now() - burstStarted) / 1000;
  const accepted = auth[0] + auth[2];
  table(`limits: two API instances on one database`, [
    ["", "user B p50", "user B p95", "user A (flooding, 16 clients)"],
    ["user B alone", p(alone, 0.5), p(alone, 0.95), ""],
    [
      "user B while A floods",
      p(flooded, 0.5),
      p(flooded, 0.95),
      `${floodOutcomes.length} requests, refused: ${byCode(floodOutcomes)}`,
    ],
    [
      `/auth logins, ${AUTH_BUDGET * 2 + 10} sent alternately in ${burstSeconds.toFixed(1)} s`,
      `1: ${auth[0]} ok, ${auth[1]} 429`,
      `2: ${auth[2]} ok, ${auth[3]} 429`,
      `${accepted} accepted vs budget ${AUTH_BUDGET}/min per IP: ${accepted <= AUTH_BUDGET ? "shared ✓" : "not shared ✗"}`,
    ],
  ]);
  table("limits: answers", checkAnswers("limits", [...alone, ...flooded, ...floodOutcomes]));
}

async function tearDown() {
  if (!stack) return;
  const s = stack;
  stack = undefined;
  for (const app of [s.api3, s.api2, s.worker, s.api]) {
    if (app && !(await app.stop())) notes.push(`${app.name} did not stop within 15 s of SIGTERM; killed`);
  }
  if (await s.cluster.running()) await s.cluster.stop().catch((error) => notes.push(`pg_ctl stop: ${error.message}`));
  await Promise.race([s.smtp.close(), sleep(3_000)]);
  rmSync(s.dataDir, { recursive: true, force: true });
}

async function main() {
  console.log(
    `Reliability benchmark: phases ${phases.join(", ")}; ${DURATION} s per load level, soak ${SOAK_MINUTES} min; ${os.cpus().length} cores, Node ${process.version}`,
  );
  await setUp();
  const run: Record<string, () => Promise<void>> = {
    load: phaseLoad,
    restart: phaseRestart,
    worker: phaseWorker,
    soak: phaseSoak,
    limits: phaseLimits,
  };
  for (const phase of phases) await run[phase]();
}

process.once("SIGINT", () => void tearDown().finally(() => process.exit(130)));
main()
  .catch((error) => hardFailures.push(`aborted: ${error instanceof Error ? error.message : String(error)}`))
  .finally(async () => {
    await tearDown().catch((error) => notes.push(`tear-down: ${error.message}`));
    table(
      "notes",
      notes.map((note) => [note]),
    );
    table(
      hardFailures.length ? "HARD RULES BROKEN" : "hard rules: all held",
      (hardFailures.length ? hardFailures : ["none broken"]).map((f) => [f]),
    );
    process.exit(hardFailures.length ? 1 : 0);
  });
