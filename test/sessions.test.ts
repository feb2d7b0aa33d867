/**
 * Sessions: short-lived access tokens, refresh tokens stored hashed and rotated on every use,
 * reuse of a spent token ending the whole session, logout; a deactivated user's or changed
 * role's still-valid access token refused by the database; rate limits on /auth.
 */
import { createHash } from "node:crypto";
import jwt from "jsonwebtoken";
import { loadConfig } from "../src/config";
import { asClaims, asOwner, FIXTURE_PASSWORD, signUpClinic, useServer, type Clinic } from "./helpers";

const server = useServer();
let clinic: Clinic;

beforeAll(async () => {
  clinic = await signUpClinic();
});

const login = (email: string, password = FIXTURE_PASSWORD, headers: Record<string, string> = {}) =>
  server.post("/auth/login", { email, password }, headers);
const refresh = (refreshToken: string) => server.post("/auth/refresh", { refreshToken });

test("access tokens last 15 minutes by default; sign-in also gives a refresh token", async () => {
  expect(loadConfig({}).jwtExpiresInSeconds).toBe(900);
  const { status, body } = await login(clinic.receptionist.email);
  expect(status).toBe(200);
  expect(body.refreshToken).toMatch(/^[0-9a-f]{64}$/);
  const { iat, exp } = jwt.decode(body.token) as { iat: number; exp: number };
  expect(exp - iat).toBe(body.expiresIn);
});

test("refresh tokens are stored only as their SHA-256", async () => {
  const { body } = await login(clinic.receptionist.email);
  const rows = await asOwner(async (client) => (await client.query("select * from app_private.refresh_tokens")).rows);
  expect(JSON.stringify(rows)).not.toContain(body.refreshToken);
  const hash = createHash("sha256").update(body.refreshToken).digest();
  expect(rows.filter((row) => Buffer.compare(row.token_hash, hash) === 0)).toHaveLength(1);
});

test("a refresh rotates the token; presenting a spent token again ends the whole session", async () => {
  const first = (await login(clinic.receptionist.email)).body.refreshToken;
  const second = await refresh(first);
  expect(second.status).toBe(200);
  expect(second.body.refreshToken).not.toBe(first);
  expect((await server.graphql(second.body.token, "{ currentUser { email } }")).body.data.currentUser.email).toBe(
    clinic.receptionist.email,
  );
  const third = await refresh(second.body.refreshToken);
  expect(third.status).toBe(200);
  // An attacker replays the first token: refused, and the legitimate latest token dies with it.
  expect(await refresh(first)).toEqual({
    status: 401,
    body: { error: { code: "CREDS", message: "The session has ended; sign in again." } },
  });
  expect((await refresh(third.body.refreshToken)).status).toBe(401);
});

test("logout ends the session; an expired or unknown refresh token is refused", async () => {
  const { refreshToken } = (await login(clinic.receptionist.email)).body;
  expect((await server.post("/auth/logout", { refreshToken })).status).toBe(204);
  expect((await refresh(refreshToken)).status).toBe(401);
  const other = (await login(clinic.receptionist.email)).body.refreshToken;
  await asOwner((client) =>
    client.query("update app_private.refresh_tokens set expires_at = now() where token_hash = sha256(convert_to($1, 'UTF8'))", [
      other,
    ]),
  );
  expect((await refresh(other)).status).toBe(401);
  expect((await refresh("0".repeat(64))).status).toBe(401);
});

describe("a still-valid access token is refused by the database once it no longer describes the user", () => {
  test("a deactivated user's token reads and writes nothing, and their sessions end", async () => {
    const own = await signUpClinic();
    const { body } = await login(own.receptionist.email);
    const query = "{ currentUser { email } patients { totalCount } }";
    expect((await server.graphql(body.token, query)).body.data.currentUser).not.toBeNull();
    await asClaims(own.admin.claims, (c) =>
      c.query("update app_public.users set is_active = false where id = $1", [own.receptionist.userId]),
    );
    expect((await server.graphql(body.token, query)).body.data).toEqual({ currentUser: null, patients: { totalCount: 0 } });
    const write = await server.graphql(
      body.token,
      'mutation { createPatient(input: { patient: { fullName: "X" } }) { patient { rowId } } }',
    );
    expect(write.body.errors?.[0].extensions?.code).toBe("DNIED");
    expect((await refresh(body.refreshToken)).status).toBe(401);
  });

  test("an admin demoted to receptionist: the old admin token sees nothing", async () => {
    const own = await signUpClinic();
    await asClaims(own.admin.claims, (c) =>
      c.query("insert into app_public.users (email, full_name, user_role) values ($1, 'Second Admin', 'admin')", [
        `second-${own.admin.email}`,
      ]),
    );
    const old = own.admin.token;
    await asOwner((c) => c.query("update app_public.users set user_role = 'receptionist' where id = $1", [own.admin.userId]));
    const { body } = await server.graphql(old, "{ users { totalCount } currentTenant { name } }");
    expect(body.data).toEqual({ users: { totalCount: 0 }, currentTenant: null });
    const token = await server.graphql(
      old,
      `mutation { issueActivationToken(input: { userId: "${own.doctor.userId}" }) { result } }`,
    );
    expect(token.body.errors?.[0].extensions?.code).toBe("DNIED");
  });

  test("a doctor whose profile was deactivated or unlinked: the token sees nothing and the sessions end", async () => {
    for (const change of ["is_active = false", "is_active = false, user_id = null"]) {
      const own = await signUpClinic();
      const { body: session } = await login(own.doctor.email);
      await asClaims(own.admin.claims, (c) =>
        c.query(`update app_public.doctors set ${change} where id = $1`, [own.doctor.doctorId]),
      );
      const { body } = await server.graphql(session.token, "{ appointments { totalCount } patients { totalCount } }");
      expect(body.data).toEqual({ appointments: { totalCount: 0 }, patients: { totalCount: 0 } });
      expect((await refresh(session.refreshToken)).status).toBe(401);
    }
  });
});

describe("rate limits on /auth", () => {
  const limited = useServer({ rateLimits: { perIpPerMinute: 5, failedLoginsPerAccount: 3 }, trustProxyHops: 1 });
  const from = (ip: string) => ({ "x-forwarded-for": ip });

  test("per client IP: the 6th request in a minute gets 429 RATEL with Retry-After", async () => {
    for (let i = 0; i < 5; i++)
      expect((await limited.post("/auth/login", { email: `ip${i}@b.test`, password: "x" }, from("10.0.0.1"))).status).toBe(401);
    const response = await fetch(`${limited.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", ...from("10.0.0.1") },
      body: JSON.stringify({ email: "ip5@b.test", password: "x" }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toEqual({ error: { code: "RATEL", message: "Too many attempts; wait and try again." } });
    // Another client is not affected.
    expect((await limited.post("/auth/login", { email: "ip6@b.test", password: "x" }, from("10.0.0.2"))).status).toBe(401);
  });

  test("per account: failed logins for one e-mail from many IPs are limited; other accounts are not", async () => {
    const email = clinic.doctor.email;
    expect((await limited.post("/auth/login", { email, password: FIXTURE_PASSWORD }, from("10.1.0.1"))).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expect((await limited.post("/auth/login", { email, password: "wrong password!" }, from(`10.1.1.${i}`))).status).toBe(401);
    }
    const blocked = await limited.post("/auth/login", { email, password: FIXTURE_PASSWORD }, from("10.1.2.1"));
    expect(blocked).toEqual({
      status: 429,
      body: { error: { code: "RATEL", message: "Too many attempts; wait and try again." } },
    });
    expect(
      (await limited.post("/auth/login", { email: clinic.receptionist.email, password: FIXTURE_PASSWORD }, from("10.1.2.2")))
        .status,
    ).toBe(200);
  });
});

test("the API server's defaults limit /auth", () => {
  expect(loadConfig({})).toMatchObject({
    authRateLimitPerIp: 30,
    authFailedLoginsPerAccount: 10,
    refreshTokenDays: 30,
    trustProxyHops: 0,
  });
});
