/**
 * Test helpers that read like the scenario: "sign up clinic A", "as A's receptionist, run this",
 * "over HTTP, ask GraphQL this". Fixtures go through the product's own SQL functions and policies.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Client, Pool, type PoolClient } from "pg";
import { createApp, type RunningApp } from "../src/server";
import type { AuthRateLimits } from "../src/auth/rate-limits";
import type { GraphqlLimits } from "../src/graphql-limits";
import type { CorsOrigins, DatabaseRoles } from "../src/config";
import type { Logger } from "../src/logger";
import { signAccessToken, type AccessClaims, type TokenSettings } from "../src/auth/tokens";
import type { ApiRoles } from "../src/graphile.config";
import { inTransactionWith } from "../src/db/transaction";

export const ownerUrl = () => process.env.TEST_OWNER_URL as string;
export const authenticatorUrl = () => process.env.TEST_AUTHENTICATOR_URL as string;
/** The test run's own role names (global-setup), never a deployment's `clinic_*`. */
export const roles = (): DatabaseRoles => JSON.parse(process.env.TEST_DATABASE_ROLES as string);

export const tokenSettings: TokenSettings = {
  secret: "test-secret-that-is-at-least-32-bytes-long!!",
  issuer: "clinic-platform",
  audience: "clinic-platform-api",
  expiresInSeconds: 3600,
};

/** A precomputed argon2id hash of "correct horse battery", so fixtures need not hash. */
export const FIXTURE_PASSWORD = "correct horse battery";
export const FIXTURE_HASH = "$argon2id$v=19$m=65536,p=4,t=3$Ffo2Jx5LAciGPTZ0HeReHg$1iuSk/pdZ2e/HAjb2C+nhqQ2028ApqygwWKKQ+0/5e8";

let unique = 0;
/** A string unique within the run, for e-mails and names. */
export const uniq = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++unique}`;

/** Runs SQL as the owner (bypasses RLS: for setting up and for checking what really is stored). */
export async function asOwner<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ownerUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs `work` while the test database is away: it refuses new connections and its sessions are
 * ended (all but this one's), as a stopped or restarting server does. It is back afterwards.
 */
export async function whileDatabaseAway<T>(work: () => Promise<T>): Promise<T> {
  const database = new URL(ownerUrl()).pathname.slice(1);
  const admin = new Client({ connectionString: process.env.TEST_ROOT_URL });
  await admin.connect();
  try {
    await admin.query(`alter database "${database}" with allow_connections false`);
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [
      database,
    ]);
    return await work();
  } finally {
    await admin.query(`alter database "${database}" with allow_connections true`);
    await admin.end();
  }
}

let pool: Pool | undefined;
/** The authenticator's pool shared by a test file; close it with `closePool` in afterAll. */
export function authenticatorPool(): Pool {
  // Idle clients may be terminated by a test that takes the database away; that is not a crash.
  pool ??= new Pool({ connectionString: authenticatorUrl(), max: 25 }).on("error", () => {});
  return pool;
}
export async function closePool() {
  await pool?.end();
  pool = undefined;
}

/**
 * Runs `work` in a transaction started exactly as the server starts a request carrying `claims`
 * (or none), by app_private.begin_request: claims of an ended session leave no claim set at all.
 * Commits, or rolls back when `work` throws.
 */
export function asClaims<T>(claims: AccessClaims | undefined, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransactionWith(authenticatorPool(), { claims }, work);
}

/** Like asClaims, but returns the SQLSTATE the work failed with (throws when it succeeded). */
export async function sqlStateOf(
  claims: AccessClaims | undefined,
  work: (client: PoolClient) => Promise<unknown>,
): Promise<string> {
  try {
    await asClaims(claims, work);
  } catch (error) {
    return (error as { code: string }).code;
  }
  throw new Error("expected the statement to fail, but it succeeded");
}

export interface Member {
  userId: string;
  email: string;
  claims: AccessClaims;
  token: string;
}

export interface Clinic {
  tenantId: string;
  admin: Member;
  receptionist: Member;
  doctor: Member & { doctorId: string };
  /** Offices of `doctor`. */
  offices: { id: string; name: string; address: string | null; is_primary: boolean }[];
}

/**
 * A session (refresh-token family) for the user, as a sign-in opens one, and claims naming it:
 * the database refuses claims whose `sid` names no live session of that user.
 */
export async function openSession(userId: string): Promise<string> {
  const sid = randomUUID();
  await asOwner((client) => client.query("select app_private.create_refresh_token($1, interval '1 day', $2)", [userId, sid]));
  return sid;
}

const member = async (userId: string, email: string, claims: Omit<AccessClaims, "sid">): Promise<Member> => {
  const withSession = { ...claims, sid: await openSession(userId) };
  return { userId, email, claims: withSession, token: signAccessToken(withSession, tokenSettings) };
};

/**
 * Signs up a clinic (register_clinic, as /auth/register-clinic does) and, as its admin, adds a
 * receptionist and a doctor with an account and two offices. All three can log in with
 * FIXTURE_PASSWORD.
 */
export async function signUpClinic(name = uniq("Clinic")): Promise<Clinic> {
  const adminEmail = `${uniq("admin")}@example.test`;
  const session = await asOwner(async (client) => {
    const { rows } = await client.query("select app_private.register_clinic($1, 'Ada Admin', $2, $3) as s", [
      name,
      adminEmail,
      FIXTURE_HASH,
    ]);
    return rows[0].s;
  });
  const admin = await member(session.user.id, adminEmail, {
    sub: session.user.id,
    tenant_id: session.tenant.id,
    user_role: "admin",
  });
  const offices = [
    { id: "main", name: "Main office", address: "1 High Street", is_primary: true },
    { id: "north", name: "North office", address: null, is_primary: false },
  ];
  const receptionistEmail = `${uniq("reception")}@example.test`;
  const doctorEmail = `${uniq("doctor")}@example.test`;
  const { receptionistId, doctor } = await asClaims(admin.claims, async (client) => {
    const {
      rows: [receptionist],
    } = await client.query("select id from app_public.add_user($1, 'Rae Reception', 'receptionist')", [receptionistEmail]);
    const {
      rows: [doctorRow],
    } = await client.query(
      "select id, user_id from app_public.add_doctor('Dr Dee', $1, 'General practice', null, null, $2::jsonb)",
      [doctorEmail, JSON.stringify(offices)],
    );
    return { receptionistId: receptionist.id as string, doctor: doctorRow as { id: string; user_id: string } };
  });
  await asOwner((client) =>
    client.query(
      "insert into app_private.user_secrets (tenant_id, user_id, password_hash) select u.tenant_id, u.id, $2 from app_public.users u where u.id = any($1::uuid[])",
      [[receptionistId, doctor.user_id], FIXTURE_HASH],
    ),
  );
  return {
    tenantId: session.tenant.id,
    admin,
    receptionist: await member(receptionistId, receptionistEmail, {
      sub: receptionistId,
      tenant_id: session.tenant.id,
      user_role: "receptionist",
    }),
    doctor: {
      ...(await member(doctor.user_id, doctorEmail, {
        sub: doctor.user_id,
        tenant_id: session.tenant.id,
        user_role: "doctor",
        doctor_id: doctor.id,
      })),
      doctorId: doctor.id,
    },
    offices,
  };
}

/**
 * As `clinic`'s admin, a patient, an appointment, an own medicine, a prescription with one item,
 * the doctor's Monday morning hours, a day off, a visit type, a weekly series of two visits and a
 * waitlist entry.
 */
export async function seedClinicalRows(clinic: Clinic) {
  return asClaims(clinic.admin.claims, async (client) => {
    const one = async (sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows[0].id as string;
    const patient = await one("insert into app_public.patients (full_name) values ('Pat Patient') returning id");
    const appointment = await one(
      `insert into app_public.appointments (doctor_id, patient_id, office_id, starts_at, ends_at, outside_hours)
       values ($1, $2, 'main', now() + interval '1 day', now() + interval '1 day 30 minutes', true) returning id`,
      [clinic.doctor.doctorId, patient],
    );
    const medicine = await one(
      "insert into app_public.medicines (name, dosage_form, strength) values ('house syrup', 'syrup', '5 mg/mL') returning id",
    );
    const prescription = await one(
      "insert into app_public.prescriptions (patient_id, doctor_id, appointment_id) values ($1, $2, $3) returning id",
      [patient, clinic.doctor.doctorId, appointment],
    );
    const item = await one(
      "insert into app_public.prescription_items (prescription_id, medicine_id, dose, frequency) values ($1, $2, '5 mL', 'daily') returning id",
      [prescription, medicine],
    );
    const workingHours = await one(
      `insert into app_public.working_hours (doctor_id, office_id, weekday, starts_at, ends_at)
       values ($1, 'main', 1, '09:00', '13:00') returning id`,
      [clinic.doctor.doctorId],
    );
    const timeOff = await one(
      `insert into app_public.time_off_periods (doctor_id, starts_at, ends_at, reason)
       values ($1, now() + interval '30 days', now() + interval '31 days', 'Holiday') returning id`,
      [clinic.doctor.doctorId],
    );
    const visitType = await one(
      "insert into app_public.visit_types (name, duration_minutes, buffer_after_minutes) values ('Check-up', 20, 5) returning id",
    );
    const series = await one(
      `select id from app_public.create_appointment_series($1, $2, 'main', current_date + 21, '09:00', 'FREQ=WEEKLY;COUNT=2',
         duration_minutes => 30, visit_type_id => null, reason => 'Physiotherapy', outside_hours => true)`,
      [clinic.doctor.doctorId, patient],
    );
    const waitlistEntry = await one(
      `insert into app_public.waitlist_entries (patient_id, doctor_id, duration_minutes, earliest_date, latest_date)
       values ($1, $2, 30, current_date + 1, current_date + 60) returning id`,
      [patient, clinic.doctor.doctorId],
    );
    return { patient, appointment, medicine, prescription, item, workingHours, timeOff, visitType, series, waitlistEntry };
  });
}

/** An HTTP server on a free port running the real app, and a GraphQL client for it. */
export interface TestServer {
  url: string;
  app: RunningApp;
  /** POSTs a GraphQL operation with an optional bearer token; returns status and parsed body. */
  graphql(
    token: string | undefined,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<{ status: number; body: GraphQLBody }>;
  /** POSTs JSON to a path; returns status and parsed body. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export interface GraphQLBody {
  data?: any;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Limits high enough that only the rate-limit tests meet them. */
const generousLimits: AuthRateLimits = { perIpPerMinute: 100_000, failedLoginsPerAccount: 100_000 };

export interface ServerOptions {
  /** Another deployment's database (authenticator URL and roles); the test run's when left out. */
  database?: { authenticatorUrl: string; roles: ApiRoles };
  production?: boolean;
  graphqlLimits?: GraphqlLimits;
  rateLimits?: AuthRateLimits;
  /** /graphql requests per user (or IP) per minute; high enough that only the rate-limit tests meet it when left out. */
  graphqlRequestsPerMinute?: number;
  trustProxyHops?: number;
  corsOrigins?: CorsOrigins;
  servePages?: boolean;
  /** Seconds a rotated refresh token returns the same successor; the default 10 when left out. */
  refreshTokenReuseSeconds?: number;
  /** Where the app logs (errors on stderr when left out). */
  logger?: Logger;
  /** Serve /metrics to this bearer token. */
  metricsToken?: string;
  /** false: no tenant filter beside the policies (src/graphql-routing.ts), to attack the policies alone. */
  tenantRouting?: boolean;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const app = await createApp({
    authenticatorUrl: options.database?.authenticatorUrl ?? authenticatorUrl(),
    roles: options.database?.roles ?? roles(),
    production: options.production ?? false,
    graphqlLimits: options.graphqlLimits,
    graphqlRequestsPerMinute: options.graphqlRequestsPerMinute ?? 100_000,
    trustProxyHops: options.trustProxyHops,
    corsOrigins: options.corsOrigins,
    servePages: options.servePages,
    logger: options.logger,
    metricsToken: options.metricsToken,
    tenantRouting: options.tenantRouting,
    auth: {
      tokens: tokenSettings,
      refreshTokenDays: 30,
      refreshTokenReuseSeconds: options.refreshTokenReuseSeconds ?? 10,
      rateLimits: options.rateLimits ?? generousLimits,
    },
  });
  await new Promise<void>((resolve) => app.server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    url,
    app,
    post,
    graphql: (token, query, variables) =>
      post("/graphql", { query, variables }, token ? { authorization: `Bearer ${token}` } : {}),
    close: () => app.close(),
  };
}

/**
 * Starts the app before the enclosing file's (or describe's) tests and closes it, with the
 * authenticator pool, after them. Returns the server, usable from inside tests and hooks.
 */
export function useServer(options: ServerOptions = {}): TestServer {
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startServer(options);
  });
  afterAll(async () => {
    await started?.close();
    await closePool();
  });
  const current = () => {
    if (!started) throw new Error("useServer: the server starts in beforeAll; use it inside tests or hooks");
    return started;
  };
  return {
    get url() {
      return current().url;
    },
    get app() {
      return current().app;
    },
    graphql: (token, query, variables) => current().graphql(token, query, variables),
    post: (path, body, headers) => current().post(path, body, headers),
    close: () => current().close(),
  };
}

/** The error codes of a GraphQL response, in order. */
export const errorCodes = (body: GraphQLBody) => (body.errors ?? []).map((error) => error.extensions?.code);
