/**
 * `npm run bench`: the performance benchmark. Loads the data set below (every trigger enabled)
 * into a fresh database on the server named by `-- --database <superuser URL>`, or on an
 * embedded PostgreSQL in a temporary folder, and prints ratios of interleaved rounds in one run:
 * RLS vs owner-with-filter, GraphQL vs raw SQL, inserts with vs without triggers, plus the patient
 * search, the time-zone check and sign-up. `-- --sizes` also measures one tenant query at 100k,
 * 1M and 10M appointments; `-- --tenants N` scales the data set (default 1000); `-- --plans` prints the
 * free-slot search's plans. Nothing is asserted.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Client } from "pg";
import { signAccessToken, type AccessClaims } from "../src/auth/tokens";
import { roleUrls } from "../src/db/database";
import { startEmbeddedPostgres, type EmbeddedServer } from "../src/db/embedded";
import { setUpDatabase } from "../src/db/setup";
import { beginRequest, inTransactionWith } from "../src/db/transaction";
import { createApp } from "../src/server";
import { freePort } from "./stack";
import { percentile, post } from "./http";

const { values: flags } = parseArgs({
  options: {
    database: { type: "string" },
    sizes: { type: "boolean", default: false },
    tenants: { type: "string", default: "1000" },
    plans: { type: "boolean", default: false },
  },
});
const TENANTS = Number(flags.tenants);
const DOCTORS_PER_TENANT = 20;
const PATIENTS_PER_TENANT = 100;
const BIG_TENANT_PATIENTS = 100_000;
const PRESCRIPTIONS_PER_TENANT = 200;
const ROUNDS = 5;
const BASE = "2027-01-04T00:00:00Z"; // a Monday: appointment slots start here

const median = (values: number[]) => percentile(values, 0.5);
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const table = (rows: string[][]) => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log("  " + row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
};
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - start) / 1e6];
}

interface Database {
  rootUrl: string;
  ownerUrl: string;
  authenticatorUrl: string;
  roles: { owner: string; authenticator: string; anonymous: string; visitor: string };
  cleanUp(): Promise<void>;
}

/** A fresh database with its own roles, set up as `npm start` sets one up. */
async function openDatabase(): Promise<Database> {
  let rootUrl = flags.database;
  let embedded: EmbeddedServer | undefined;
  let dir: string | undefined;
  if (!rootUrl) {
    dir = mkdtempSync(path.join(tmpdir(), "clinic-perf-"));
    embedded = await startEmbeddedPostgres({
      dir,
      port: await freePort(54500, 54599),
      superuserPassword: "bench",
      persistent: false,
    });
    rootUrl = embedded.rootUrl;
  }
  const name = `clinic_bench_${process.pid}`;
  const roles = {
    owner: `${name}_owner`,
    authenticator: `${name}_authenticator`,
    anonymous: `${name}_anonymous`,
    visitor: `${name}_user`,
  };
  const urls = roleUrls(rootUrl, name, roles, randomBytes(16).toString("hex"), randomBytes(16).toString("hex"));
  await setUpDatabase(urls, roles);
  return {
    rootUrl,
    ownerUrl: urls.ownerUrl,
    authenticatorUrl: urls.authenticatorUrl,
    roles,
    async cleanUp() {
      const root = new Client({ connectionString: rootUrl });
      await root.connect();
      await root.query(`drop database if exists ${name} with (force)`);
      for (const role of Object.values(roles)) await root.query(`drop role if exists ${role}`);
      await root.end();
      await embedded?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Tenants (premium), an admin with a session each, doctors, patients and prescriptions. */
async function loadBase(owner: Client) {
  const steps: [string, string][] = [
    [
      "tenants",
      `with slugs as (
         insert into app_private.tenant_slugs (slug, tenant_id)
         select 'bench-' || i, gen_random_uuid() from generate_series(1, ${TENANTS}) i returning *)
       insert into app_public.tenants (id, name, slug, subscription_plan, time_zone)
       select tenant_id, 'Bench clinic ' || substr(slug, 7), slug, 'premium', 'Europe/Madrid' from slugs`,
    ],
    [
      "admins",
      `with emails as (
         insert into app_private.login_emails (email, tenant_id)
         select 'admin@' || slug || '.test', id from app_public.tenants returning *)
       insert into app_public.users (tenant_id, email, full_name, user_role)
       select tenant_id, email, 'Admin ' || email, 'admin' from emails`,
    ],
    [
      "doctors",
      `insert into app_public.doctors (tenant_id, full_name, specialty, offices)
       select t.id, 'Doctor ' || d, 'General practice',
              jsonb_build_array(jsonb_build_object('id', 'main', 'name', 'Main office', 'address', 'Main street 1', 'is_primary', true))
       from app_public.tenants t cross join generate_series(1, ${DOCTORS_PER_TENANT}) d`,
    ],
    [
      "patients",
      `insert into app_public.patients (tenant_id, full_name, phone, email)
       select t.id, initcap(md5(t.id::text || p)::text) || ' ' || initcap(substr(md5(p::text), 1, 8)), '+34' || (600000000 + p),
              'p' || p || '@' || t.slug || '.test'
       from app_public.tenants t
       cross join lateral generate_series(1, case when t.slug = 'bench-1' then ${BIG_TENANT_PATIENTS} else ${PATIENTS_PER_TENANT} end) p`,
    ],
    [
      "prescriptions",
      `insert into app_public.prescriptions (tenant_id, patient_id, doctor_id)
       select t.id, pt.id, d.id
       from app_public.tenants t
       cross join lateral generate_series(1, ${PRESCRIPTIONS_PER_TENANT}) i
       cross join lateral (select id from app_public.patients where tenant_id = t.id and i > 0 order by id offset i % ${PATIENTS_PER_TENANT} limit 1) pt
       cross join lateral (select id from app_public.doctors where tenant_id = t.id and i > 0 order by id offset i % ${DOCTORS_PER_TENANT} limit 1) d`,
    ],
  ];
  for (const [name, sql] of steps) {
    const [result, ms] = await timed(() => owner.query(sql));
    console.log(`  ${name.padEnd(14)} ${String(result.rowCount).padStart(9)} rows  ${fmt(ms / 1000, 1)} s`);
  }
}

/**
 * Appointments `from`..`to` (per doctor, one an hour on weekdays 08:00–17:00 UTC from BASE on),
 * each with a patient of the tenant: slot numbers keep earlier layers' weeks unchanged.
 */
async function loadAppointments(owner: Client, perDoctorFrom: number, perDoctorTo: number) {
  const [result, ms] = await timed(() =>
    owner.query(
      `insert into app_public.appointments (tenant_id, doctor_id, patient_id, office_id, starts_at, ends_at)
       select d.tenant_id, d.id, pt.id, 'main', s.at, s.at + interval '30 minutes'
       from (select id, tenant_id, row_number() over (partition by tenant_id order by id) as n from app_public.doctors) d
       cross join lateral generate_series($1::int, $2::int) k
       cross join lateral (select timestamptz '${BASE}' + ((k / 10) / 5 * 7 + (k / 10) % 5) * interval '1 day'
                                   + (8 + k % 10) * interval '1 hour' as at) s
       cross join lateral (select id from app_public.patients where tenant_id = d.tenant_id and k >= 0
                           order by id offset (k * 7 + d.n) % ${PATIENTS_PER_TENANT} limit 1) pt`,
      [perDoctorFrom, perDoctorTo - 1],
    ),
  );
  await owner.query("analyze");
  console.log(`  appointments   ${String(result.rowCount).padStart(9)} rows  ${fmt(ms / 1000, 1)} s`);
}

interface Clinic {
  tenantId: string;
  doctorId: string;
  claims: AccessClaims;
}

/** A tenant's admin claims (with a live session) and one of its doctors. */
async function clinic(owner: Client, slug: string): Promise<Clinic> {
  const { rows } = await owner.query(
    `select t.id as tenant_id, u.id as user_id, (select id from app_public.doctors where tenant_id = t.id order by id limit 1) as doctor_id
     from app_public.tenants t join app_public.users u on u.tenant_id = t.id where t.slug = $1`,
    [slug],
  );
  const sid = randomUUID();
  await owner.query("select app_private.create_refresh_token($1, interval '1 day', $2)", [rows[0].user_id, sid]);
  return {
    tenantId: rows[0].tenant_id,
    doctorId: rows[0].doctor_id,
    claims: { sub: rows[0].user_id, tenant_id: rows[0].tenant_id, user_role: "admin", sid },
  };
}

/** Runs `sql` `n` times on `client` (prepared, as PostGraphile does) and returns ms per run. */
async function perRun(client: Client, name: string, sql: string, values: unknown[], n: number) {
  const [, ms] = await timed(async () => {
    for (let i = 0; i < n; i++) await client.query({ name, text: sql, values });
  });
  return ms / n;
}

/** RLS (authenticator + begin_request) vs the owner with an explicit tenant filter, alternating. */
async function rlsVsOwner(db: Database, normal: Clinic, big: Clinic) {
  const week = BASE;
  const queries = [
    {
      name: "a doctor's 2-day schedule",
      clinic: normal,
      sql: (filter: string) => `select a.id, a.starts_at, a.ends_at, a.status, p.full_name
        from app_public.appointments a join app_public.patients p on p.tenant_id = a.tenant_id and p.id = a.patient_id
        where a.doctor_id = $1 and a.starts_at >= $2 and a.starts_at < $2::timestamptz + interval '2 days' ${filter.replaceAll("T.", "a.")}
        order by a.starts_at`,
      values: [normal.doctorId, week],
    },
    {
      name: "a tenant's week count",
      clinic: normal,
      sql: (filter: string) => `select count(*) from app_public.appointments a
        where a.starts_at >= $1 and a.starts_at < $1::timestamptz + interval '7 days' ${filter.replaceAll("T.", "a.")}`,
      values: [week],
    },
    {
      name: "patient name search (100k)",
      clinic: big,
      sql: (filter: string) => `select p.id, p.full_name from app_public.patients p
        where p.full_name ilike $1 ${filter.replaceAll("T.", "p.")} order by p.full_name limit 20`,
      values: ["%abc%"],
    },
  ];
  const rls = new Client({ connectionString: db.authenticatorUrl });
  const owner = new Client({ connectionString: db.ownerUrl });
  await Promise.all([rls.connect(), owner.connect()]);
  const rows = [["query", "RLS ms", "owner+filter ms", "RLS speed / owner speed (median of 5)"]];
  for (const [q, query] of queries.entries()) {
    const ownerValues = [...query.values, query.clinic.tenantId];
    const ownerSql = query.sql(`and T.tenant_id = $${ownerValues.length}`);
    const rlsSql = query.sql("");
    await beginRequest(rls, { claims: query.clinic.claims });
    // Warm both (and let prepared statements settle on their plans) before measuring.
    await perRun(rls, `rls${q}`, rlsSql, query.values, 20);
    await perRun(owner, `own${q}`, ownerSql, ownerValues, 20);
    const n = Math.max(20, Math.round(500 / (await perRun(owner, `own${q}`, ownerSql, ownerValues, 10))));
    const rlsMs: number[] = [];
    const ownerMs: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rlsMs.push(await perRun(rls, `rls${q}`, rlsSql, query.values, n));
      ownerMs.push(await perRun(owner, `own${q}`, ownerSql, ownerValues, n));
      ratios.push(ownerMs[round] / rlsMs[round]);
    }
    await rls.query("commit");
    rows.push([query.name, fmt(median(rlsMs), 3), fmt(median(ownerMs), 3), fmt(median(ratios))]);
  }
  // What the session check itself costs, once per request transaction.
  const [, ms] = await timed(async () => {
    for (let i = 0; i < 200; i++) {
      await beginRequest(rls, { claims: normal.claims });
      await rls.query("commit");
    }
  });
  table(rows);
  console.log(`  begin_request (the session check, once per transaction, with begin/commit): ${fmt((ms / 200) * 1000, 0)} µs`);
  await Promise.all([rls.end(), owner.end()]);
}

/**
 * GraphQL over HTTP (in this process) vs the same rows by raw pg: as the owner with a filter, and
 * under RLS in a request transaction as the API opens one (the floor for any API on these policies).
 */
async function graphqlVsRaw(db: Database, normal: Clinic) {
  const secret = randomBytes(32).toString("hex");
  const tokens = { secret, issuer: "clinic-bench", audience: "clinic-bench", expiresInSeconds: 3600 };
  const app = await createApp({
    authenticatorUrl: db.authenticatorUrl,
    roles: db.roles,
    production: true,
    graphqlRequestsPerMinute: 10_000_000,
    auth: {
      tokens,
      refreshTokenDays: 1,
      refreshTokenReuseSeconds: 10,
      rateLimits: { perIpPerMinute: 1000, failedLoginsPerAccount: 10 },
    },
  });
  await new Promise<void>((resolve) => app.server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const token = signAccessToken(normal.claims, tokens);
  const { Pool } = await import("pg");
  const raw = new Pool({ connectionString: db.ownerUrl, max: 10 });
  const requests = new Pool({ connectionString: db.authenticatorUrl, max: 10 });
  const from = BASE;
  const to = "2027-01-11T00:00:00Z";
  // Each raw query twice: as the owner with an explicit tenant filter (ownerFilter), and under RLS in a
  // request transaction exactly as the API opens one (beginRequest, the query, commit).
  const cases = [
    {
      name: "week schedule",
      graphql: {
        query: `query DoctorWeek($doctorId: UUID!, $from: Datetime!, $to: Datetime!) {
          appointments(filter: { doctorId: { equalTo: $doctorId }, startsAt: { greaterThanOrEqualTo: $from, lessThan: $to } }, orderBy: STARTS_AT_ASC) {
            nodes { rowId startsAt endsAt officeId status reason patient { rowId fullName } } } }`,
        variables: { doctorId: normal.doctorId, from, to },
      },
      sql: (
        filter: string,
      ) => `select a.id, a.starts_at, a.ends_at, a.office_id, a.status, a.reason, p.id as patient_id, p.full_name
        from app_public.appointments a join app_public.patients p on p.tenant_id = a.tenant_id and p.id = a.patient_id
        where a.doctor_id = $1 and a.starts_at >= $2 and a.starts_at < $3 ${filter} order by a.starts_at`,
      values: [normal.doctorId, from, to],
      ownerFilter: "and a.tenant_id = $4",
    },
    {
      name: "20-row doctors list",
      graphql: {
        query: "{ doctors(first: 20, orderBy: FULL_NAME_ASC) { nodes { rowId fullName specialty offices } } }",
        variables: {},
      },
      sql: (filter: string) =>
        `select id, full_name, specialty, offices from app_public.doctors where true ${filter} order by full_name limit 20`,
      values: [],
      ownerFilter: "and tenant_id = $1",
    },
  ];
  const rows = [
    [
      "operation",
      "clients",
      "GraphQL p50/p95 ms",
      "raw p50/p95 ms",
      "raw in a request transaction",
      "p50 ratio to raw",
      "p95 ratio to raw",
      "p50 ratio to the request transaction",
    ],
  ];
  for (const [i, c] of cases.entries()) {
    const graphqlOnce = async () => {
      const answer = await post(base, "/graphql", c.graphql, token);
      if (answer.status !== 200 || answer.json.errors) throw new Error(`GraphQL failed: ${answer.text}`);
    };
    const ownerSql = c.sql(c.ownerFilter);
    const rawOnce = async () =>
      void (await raw.query({ name: `raw${i}`, text: ownerSql, values: [...c.values, normal.tenantId] }));
    const requestOnce = () =>
      inTransactionWith(requests, { claims: normal.claims }, async (client) => {
        await client.query({ name: `rls${i}`, text: c.sql(""), values: c.values });
      });
    for (const clients of [1, 8]) {
      const sample = async (once: () => Promise<void>) => {
        const latencies: number[] = [];
        const until = Date.now() + 1500;
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (Date.now() < until) latencies.push((await timed(once))[1]);
          }),
        );
        return latencies;
      };
      for (const once of [graphqlOnce, rawOnce, requestOnce]) await sample(once); // warm-up
      const g: number[][] = [];
      const r: number[][] = [];
      const t: number[][] = [];
      for (let round = 0; round < ROUNDS; round++) {
        g.push(await sample(graphqlOnce));
        r.push(await sample(rawOnce));
        t.push(await sample(requestOnce));
      }
      const p = (runs: number[][], q: number) => median(runs.map((run) => percentile(run, q)));
      const ratio = (of: number[][], to: number[][], q: number) =>
        `${fmt(median(of.map((run, k) => percentile(run, q) / percentile(to[k], q))))}×`;
      rows.push([
        c.name,
        String(clients),
        `${fmt(p(g, 0.5))} / ${fmt(p(g, 0.95))}`,
        `${fmt(p(r, 0.5))} / ${fmt(p(r, 0.95))}`,
        `${fmt(p(t, 0.5))} / ${fmt(p(t, 0.95))}`,
        ratio(g, r, 0.5),
        ratio(g, r, 0.95),
        ratio(g, t, 0.5),
      ]);
    }
  }
  table(rows);
  await Promise.all([raw.end(), requests.end()]);
  await app.close();
}

/** Every doctor works 08:00–19:00 local time (Europe/Madrid) at `main`, Monday to Friday. */
async function loadWorkingHours(owner: Client) {
  const [result, ms] = await timed(() =>
    owner.query(
      `insert into app_public.working_hours (tenant_id, doctor_id, office_id, weekday, starts_at, ends_at)
       select d.tenant_id, d.id, 'main', w, '08:00', '19:00' from app_public.doctors d cross join generate_series(1, 5) w`,
    ),
  );
  await owner.query("analyze app_public.working_hours");
  console.log(`  working hours  ${String(result.rowCount).padStart(9)} rows  ${fmt(ms / 1000, 1)} s`);
}

/**
 * Free slots (one doctor, 30 days; a specialty's 20 doctors, 7 days) next to the plain schedule
 * query of the same doctors and days, alternating, as RLS in one request transaction; then a
 * weekly 52-occurrence series, per occurrence (rolled back each time).
 */
async function scheduling(db: Database, normal: Clinic) {
  const client = new Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  const runs = 100;
  const measure = async (name: string, sql: string, values: unknown[]) => {
    await beginRequest(client, { claims: normal.claims });
    const latencies: number[] = [];
    for (let i = 0; i < runs + 5; i++) {
      const [, ms] = await timed(() => client.query({ name, text: sql, values }));
      if (i >= 5) latencies.push(ms); // the first runs plan and warm the cache
    }
    await client.query("commit");
    return { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95) };
  };
  const slots = "select * from app_public.free_slots($1, $2, doctor_ids => $3, specialty => $4, duration_minutes => 30)";
  const schedule = `select a.id, a.starts_at, a.ends_at, a.status from app_public.appointments a
    where ($3::uuid[] is null or a.doctor_id = any ($3)) and a.starts_at >= ($1::date)::timestamptz
      and a.starts_at < ($2::date + 1)::timestamptz order by a.starts_at`;
  const cases: [string, unknown[], number][] = [
    ["one doctor, 30 days", ["2027-01-04", "2027-02-02", [normal.doctorId], null], 30],
    ["specialty (20 doctors), 7 days", ["2027-01-04", "2027-01-10", null, "General practice"], 7],
  ];
  const rows = [["free slots", "slots", "p50 ms", "p95 ms", "schedule p50 ms", "schedule p95 ms", "p50 ratio"]];
  for (const [label, values] of cases) {
    await beginRequest(client, { claims: normal.claims });
    const count = (await client.query(slots, values)).rowCount;
    await client.query("commit");
    const free = await measure(`slots ${label}`, slots, values);
    const plain = await measure(`schedule ${label}`, schedule, [values[0], values[1], values[2] ?? null]);
    rows.push([label, String(count), fmt(free.p50), fmt(free.p95), fmt(plain.p50), fmt(plain.p95), fmt(free.p50 / plain.p50, 1)]);
  }
  table(rows);
  const planText = await nestedPlans(db, normal.claims, slots, cases[0][1]);
  console.log(
    `  one doctor's plan: ${[...new Set(planText.match(/(Seq Scan|Bitmap Index Scan|Index Scan|Index Only Scan|Function Scan) (on|using) \w+/g) ?? [])].join(", ")}`,
  );
  if (flags.plans) console.log(planText);

  const perOccurrence: number[] = [];
  for (let i = 0; i < 10; i++) {
    await beginRequest(client, { claims: normal.claims });
    const { rows: patient } = await client.query("select id from app_public.patients order by id offset $1 limit 1", [i]);
    const [result, ms] = await timed(() =>
      client.query(
        "select id from app_public.create_appointment_series($1, $2, 'main', '2027-01-11', $3, 'FREQ=WEEKLY;COUNT=52', duration_minutes => 30)",
        [normal.doctorId, patient[0].id, `${8 + i}:00`],
      ),
    );
    const { rows: made } = await client.query("select count(*)::int as n from app_public.appointments where series_id = $1", [
      result.rows[0].id,
    ]);
    await client.query("rollback");
    perOccurrence.push(ms / made[0].n);
  }
  table([
    ["weekly series of 52 occurrences (10 series)", "ms per occurrence p50", "max"],
    ["create_appointment_series", fmt(percentile(perOccurrence, 0.5)), fmt(Math.max(...perOccurrence))],
  ]);
  await client.end();
}

/** Single-row inserts as the owner, with every trigger vs with the table's own triggers disabled. */
async function insertThroughput(db: Database, normal: Clinic) {
  const owner = new Client({ connectionString: db.ownerUrl });
  await owner.connect();
  const { rows: patients } = await owner.query("select id from app_public.patients where tenant_id = $1 limit 1", [
    normal.tenantId,
  ]);
  const inserts = {
    doctors: (i: number) =>
      owner.query(
        `insert into app_public.doctors (tenant_id, full_name, offices)
         values ($1, $2, '[{"id":"main","name":"Main office","is_primary":true}]')`,
        [normal.tenantId, `Extra doctor ${i}`],
      ),
    appointments: (i: number) =>
      owner.query(
        `insert into app_public.appointments (tenant_id, doctor_id, patient_id, office_id, starts_at, ends_at)
         values ($1, $2, $3, 'main', timestamptz '2030-01-01' + $4 * interval '1 hour', timestamptz '2030-01-01' + $4 * interval '1 hour' + interval '30 minutes')`,
        [normal.tenantId, normal.doctorId, patients[0].id, i],
      ),
  };
  const rows = [["table", "with triggers rows/s", "without rows/s", "ratio"]];
  for (const [tableName, insert] of Object.entries(inserts)) {
    const n = tableName === "doctors" ? 60 : 300; // the premium plan's room for doctors: 80
    const round = async (triggers: boolean) => {
      await owner.query("begin");
      if (!triggers) await owner.query(`alter table app_public.${tableName} disable trigger user`);
      const [, ms] = await timed(async () => {
        for (let i = 0; i < n; i++) await insert(i);
      });
      await owner.query("rollback");
      return (n / ms) * 1000;
    };
    await round(true);
    const withT: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      withT.push(await round(true));
      without.push(await round(false));
    }
    rows.push([tableName, fmt(median(withT), 0), fmt(median(without), 0), fmt(median(withT.map((w, i) => w / without[i])))]);
  }
  table(rows);
  await owner.end();
}

/**
 * The plans of every statement `sql` runs, nested ones included (the dynamic SQL inside
 * plpgsql), as the visitor with `claims`: auto_explain on a superuser connection.
 */
async function nestedPlans(db: Database, claims: AccessClaims, sql: string, values: unknown[]): Promise<string> {
  const url = new URL(db.rootUrl);
  url.pathname = new URL(db.ownerUrl).pathname;
  const root = new Client({ connectionString: url.toString() });
  await root.connect();
  const plans: string[] = [];
  root.on("notice", (notice) => plans.push(notice.message ?? ""));
  await root.query("load 'auto_explain'");
  for (const setting of ["log_min_duration = 0", "log_nested_statements = on", "log_level = notice"])
    await root.query(`set auto_explain.${setting}`);
  await beginRequest(root, { claims });
  plans.length = 0;
  await root.query(sql, values);
  await root.query("rollback");
  await root.end();
  return plans.join("\n");
}

/** search_patients on the 100,000-patient tenant: latency and the plan. */
async function patientSearch(db: Database, big: Clinic) {
  const client = new Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  await beginRequest(client, { claims: big.claims });
  const { rows: names } = await client.query("select full_name from app_public.patients order by id limit 200");
  const fragments = names.map((r: { full_name: string }, i: number) => r.full_name.slice(i % 8, (i % 8) + 4));
  const sql = "select id, full_name from app_public.search_patients($1) limit 20";
  const latencies: number[] = [];
  for (const fragment of fragments)
    latencies.push((await timed(() => client.query({ name: "search", text: sql, values: [fragment] })))[1]);
  await client.query("commit");
  await client.end();
  const planText = await nestedPlans(db, big.claims, sql, [fragments[0]]);
  const scans = [...new Set(planText.match(/(Seq Scan|Bitmap Index Scan|Index Scan|Index Only Scan) (on|using) \w+/g) ?? [])];
  table([
    ["searches", "p50 ms", "p95 ms", "scans"],
    [String(latencies.length), fmt(percentile(latencies, 0.5)), fmt(percentile(latencies, 0.95)), scans.join(", ")],
  ]);
}

/** The time-zone check per call, and sign-up's SQL (register_clinic as the anonymous role). */
async function signUp(db: Database) {
  const client = new Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  const owner = new Client({ connectionString: db.ownerUrl });
  await owner.connect();
  const [, checkMs] = await timed(async () => {
    for (let i = 0; i < 1000; i++) await owner.query("select app_private.is_time_zone($1)", ["America/Argentina/Buenos_Aires"]);
  });
  const latencies: number[] = [];
  for (let i = 0; i < 50; i++) {
    await beginRequest(client, {});
    latencies.push(
      (
        await timed(() =>
          client.query("select * from app_private.register_clinic($1, $2, $3, $4, $5)", [
            `Sign-up clinic ${i}`,
            "Ana Admin",
            `signup-${process.pid}-${i}@bench.test`,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "Europe/Madrid",
          ]),
        )
      )[1],
    );
    await client.query("commit");
  }
  table([
    ["check", "result"],
    ["is_time_zone, per call (as a query round trip)", `${fmt((checkMs / 1000) * 1000, 0)} µs`],
    [
      "register_clinic (sign-up's SQL, without password hashing) p50 / p95",
      `${fmt(percentile(latencies, 0.5))} / ${fmt(percentile(latencies, 0.95))} ms`,
    ],
  ]);
  await Promise.all([client.end(), owner.end()]);
}

/** One tenant's count of Monday morning's appointments (the first layer's, the same rows at every size), as RLS. */
async function morningCountMs(db: Database, normal: Clinic) {
  const client = new Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  await beginRequest(client, { claims: normal.claims });
  const sql =
    "select count(*) from app_public.appointments where starts_at >= $1 and starts_at < $1::timestamptz + interval '5 hours'";
  const morning = "2027-01-04T08:00:00Z";
  await perRun(client, "morning", sql, [morning], 50);
  const runs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await perRun(client, "morning", sql, [morning], 200));
  await client.query("commit");
  await client.end();
  return median(runs);
}

async function main() {
  const [, totalMs] = await timed(async () => {
    const db = await openDatabase();
    const owner = new Client({ connectionString: db.ownerUrl });
    try {
      await owner.connect();
      const server = (await owner.query("select current_setting('server_version') as v")).rows[0].v;
      console.log(
        `Performance benchmark: PostgreSQL ${server}, Node ${process.version}, ${TENANTS} tenants; ratios of ${ROUNDS} interleaved rounds`,
      );
      console.log("\n== load (every trigger enabled)");
      await loadBase(owner);
      const perDoctor = 1_000_000 / (1000 * DOCTORS_PER_TENANT); // 50: 1,000 a tenant, 1M for 1,000 tenants
      const sizes: [number, number][] = [];
      const normal = await clinic(owner, "bench-2");
      const big = await clinic(owner, "bench-1");
      if (flags.sizes) {
        await loadAppointments(owner, 0, perDoctor / 10);
        sizes.push([TENANTS * DOCTORS_PER_TENANT * (perDoctor / 10), await morningCountMs(db, normal)]);
        await loadAppointments(owner, perDoctor / 10, perDoctor);
      } else await loadAppointments(owner, 0, perDoctor);
      if (flags.sizes) sizes.push([TENANTS * DOCTORS_PER_TENANT * perDoctor, await morningCountMs(db, normal)]);
      console.log("\n== RLS vs owner with an explicit tenant_id filter (same connection kind, prepared)");
      await rlsVsOwner(db, normal, big);
      console.log("\n== GraphQL over HTTP vs raw pg (owner with a filter; RLS in a request transaction), same process");
      await graphqlVsRaw(db, normal);
      console.log("\n== scheduling: free slots vs the plain schedule query (RLS, prepared, 100 runs each)");
      await loadWorkingHours(owner);
      await owner.query("update app_public.tenants set booking_horizon_days = 730");
      await scheduling(db, normal);
      console.log("\n== single-row inserts: every trigger vs the table's own triggers disabled (foreign keys kept)");
      await insertThroughput(db, normal);
      console.log("\n== patient search: search_patients on the tenant with 100,000 patients, 4-letter fragments");
      await patientSearch(db, big);
      console.log("\n== sign-up");
      await signUp(db);
      if (flags.sizes) {
        await loadAppointments(owner, perDoctor, perDoctor * 10);
        sizes.push([TENANTS * DOCTORS_PER_TENANT * perDoctor * 10, await morningCountMs(db, normal)]);
        console.log("\n== one tenant's Monday-morning count (RLS, the same 100 rows) as the table grows");
        table([
          ["appointments", "ms per query", "speed vs the smallest"],
          ...sizes.map(([n, ms]) => [n.toLocaleString("en"), fmt(ms, 3), fmt(sizes[0][1] / ms)]),
        ]);
      }
    } finally {
      await owner.end().catch(() => {});
      await db.cleanUp();
    }
  });
  console.log(`\nTotal ${fmt(totalMs / 1000, 0)} s.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
