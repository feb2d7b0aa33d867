/**
 * Sessions: short-lived access tokens, refresh tokens stored hashed and rotated on every use,
 * reuse of a spent token ending the whole session, logout; a deactivated user's or changed
 * role's still-valid access token refused by the database; rate limits on /auth.
 */
import { createHash } from "node:crypto";
import jwt from "jsonwebtoken";
import { loadConfig } from "../src/config";
import type { AccessClaims } from "../src/auth/tokens";
import {
  asClaims,
  asOwner,
  FIXTURE_PASSWORD,
  signUpClinic,
  sqlStateOf,
  startServer,
  roles,
  tokenSettings,
  useServer,
  type Clinic,
} from "./helpers";

// The default development CORS origins: any localhost port (the cookie tests' allowed Origin).
const server = useServer({ corsOrigins: "any-localhost-port" });
let clinic: Clinic;

beforeAll(async () => {
  clinic = await signUpClinic();
});

const login = (email: string, password = FIXTURE_PASSWORD, headers: Record<string, string> = {}) =>
  server.post("/auth/login", { email, password }, headers);
const refresh = (refreshToken: string) => server.post("/auth/refresh", { refreshToken });
/** Moves a rotated token's rotation back past the 10-second reuse interval. */
const pastReuseInterval = (refreshToken: string) =>
  asOwner((client) =>
    client.query(
      "update app_private.refresh_tokens set rotated_at = rotated_at - interval '11 seconds' where token_hash = sha256(convert_to($1, 'UTF8'))",
      [refreshToken],
    ),
  );
/** The answer to a GraphQL request with a token whose session has ended. */
const SESSION_ENDED = {
  status: 401,
  body: { errors: [{ message: "The session has ended; sign in again.", extensions: { code: "CREDS" } }] },
};

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
  await pastReuseInterval(first);
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

describe("browser sessions: tabs that refresh together, logout, and the refresh-token cookie", () => {
  test("two tabs refreshing with the same token at once get the same successor and keep one working session", async () => {
    const { body: signIn } = await login(clinic.receptionist.email);
    const [a, b] = await Promise.all([refresh(signIn.refreshToken), refresh(signIn.refreshToken)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.refreshToken).toBe(b.body.refreshToken);
    const sessionOf = (token: string) => (jwt.decode(token) as AccessClaims).sid;
    expect(sessionOf(a.body.token)).toBe(sessionOf(signIn.token));
    expect(sessionOf(b.body.token)).toBe(sessionOf(signIn.token));
    // No new family member was made for the second tab: one successor row, not two.
    const members = await asOwner(
      async (c) =>
        (
          await c.query("select count(*)::int as n from app_private.refresh_tokens where family_id = $1", [
            sessionOf(signIn.token),
          ])
        ).rows[0].n,
    );
    expect(members).toBe(2);
    for (const token of [a.body.token, b.body.token]) {
      expect((await server.graphql(token, "{ currentUser { email } }")).body.data.currentUser.email).toBe(
        clinic.receptionist.email,
      );
    }
    // The session goes on: the shared successor refreshes normally.
    expect((await refresh(a.body.refreshToken)).status).toBe(200);
  });

  test("ten concurrent refreshes with one token all get the same successor", async () => {
    const { body: signIn } = await login(clinic.receptionist.email);
    const answers = await Promise.all(Array.from({ length: 10 }, () => refresh(signIn.refreshToken)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((answer) => answer.body.refreshToken)).size).toBe(1);
  });

  test("a token presented again after the interval ends the session, even though a tab used it within", async () => {
    const { body: signIn } = await login(clinic.receptionist.email);
    const first = await refresh(signIn.refreshToken);
    expect((await refresh(signIn.refreshToken)).body.refreshToken).toBe(first.body.refreshToken);
    await pastReuseInterval(signIn.refreshToken);
    expect((await refresh(signIn.refreshToken)).status).toBe(401);
    expect((await refresh(first.body.refreshToken)).status).toBe(401);
    expect(await server.graphql(first.body.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
  });

  test("with the reuse interval off, the second of two refreshes ends the session", async () => {
    const strict = await startServer({ refreshTokenReuseSeconds: 0 });
    try {
      const { body: signIn } = await strict.post("/auth/login", { email: clinic.receptionist.email, password: FIXTURE_PASSWORD });
      const first = await strict.post("/auth/refresh", { refreshToken: signIn.refreshToken });
      expect(first.status).toBe(200);
      expect((await strict.post("/auth/refresh", { refreshToken: signIn.refreshToken })).status).toBe(401);
      expect((await strict.post("/auth/refresh", { refreshToken: first.body.refreshToken })).status).toBe(401);
    } finally {
      await strict.close();
    }
  });

  test("a logout racing a refresh of the same token still ends the session", async () => {
    for (let trial = 0; trial < 20; trial++) {
      const { body: signIn } = await login(clinic.receptionist.email);
      const [refreshed, loggedOut] = await Promise.all([
        refresh(signIn.refreshToken),
        server.post("/auth/logout", { refreshToken: signIn.refreshToken }),
      ]);
      expect(loggedOut.status).toBe(204);
      if (refreshed.status === 200) {
        expect((await refresh(refreshed.body.refreshToken)).status).toBe(401);
        expect(await server.graphql(refreshed.body.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
      }
      expect(await server.graphql(signIn.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
    }
  });

  test("a replay after the interval ends the session even while a thief keeps rotating it", async () => {
    for (let trial = 0; trial < 5; trial++) {
      const { body: signIn } = await login(clinic.receptionist.email);
      let latest = (await refresh(signIn.refreshToken)).body;
      await pastReuseInterval(signIn.refreshToken);
      let replayed = false;
      const thief = (async () => {
        while (!replayed) {
          const next = await refresh(latest.refreshToken);
          if (next.status !== 200) return;
          latest = next.body;
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 20 * trial));
      expect((await refresh(signIn.refreshToken)).status).toBe(401);
      replayed = true;
      await thief;
      expect((await refresh(latest.refreshToken)).status).toBe(401);
      expect(await server.graphql(latest.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
    }
  });

  test("logout ends the access token at once: the next request is refused with CREDS", async () => {
    const { body: signIn } = await login(clinic.doctor.email);
    expect((await server.graphql(signIn.token, "{ currentUser { email } }")).status).toBe(200);
    expect((await server.post("/auth/logout", { refreshToken: signIn.refreshToken })).status).toBe(204);
    expect(await server.graphql(signIn.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
    // Another session of the same user is untouched.
    const { body: other } = await login(clinic.doctor.email);
    expect((await server.graphql(other.token, "{ currentUser { email } }")).body.data.currentUser.email).toBe(
      clinic.doctor.email,
    );
  });

  test("a token without a session id, or naming another user's session, is refused", async () => {
    const { body: signIn } = await login(clinic.doctor.email);
    const {
      sid: _sid,
      iat: _iat,
      exp: _exp,
      ...noSession
    } = jwt.decode(signIn.token) as AccessClaims & { iat: number; exp: number };
    const sign = (claims: object) => jwt.sign(claims, tokenSettings.secret, { expiresIn: 60 });
    expect((await server.graphql(sign(noSession), "{ currentUser { email } }")).body.errors?.[0].extensions?.code).toBe("CREDS");
    const receptionistSession = (jwt.decode((await login(clinic.receptionist.email)).body.token) as AccessClaims).sid;
    expect(await server.graphql(sign({ ...noSession, sid: receptionistSession }), "{ currentUser { email } }")).toEqual(
      SESSION_ENDED,
    );
  });

  describe("refresh token in an httpOnly cookie", () => {
    const cookieOf = (response: Response) => response.headers.getSetCookie().find((c) => c.startsWith("clinic_refresh_token="));
    const signInWithCookie = async () => {
      const response = await fetch(`${server.url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: clinic.receptionist.email, password: FIXTURE_PASSWORD, refreshTokenCookie: true }),
      });
      return { response, body: (await response.json()) as any, cookie: cookieOf(response) as string };
    };
    const withCookie = (path: string, cookie: string, headers: Record<string, string>) =>
      fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { cookie: cookie.split(";")[0], "content-type": "application/json", ...headers },
        body: "{}",
      });

    test("sign-in sets a Secure, httpOnly, SameSite=Strict cookie on /auth and leaves the token out of the body", async () => {
      const { response, body, cookie } = await signInWithCookie();
      expect(response.status).toBe(200);
      expect(body.refreshToken).toBeUndefined();
      expect(body.token).toEqual(expect.any(String));
      expect(cookie).toMatch(/^clinic_refresh_token=[0-9a-f]{64};/);
      const attributes = cookie.split("; ").slice(1);
      expect(attributes.filter((attribute) => !attribute.startsWith("Expires=")).sort()).toEqual(
        ["HttpOnly", "Max-Age=2592000", "Path=/auth", "SameSite=Strict", "Secure"].sort(),
      );
    });

    test("refresh with the cookie and the custom header (or an allowed Origin) works and rotates the cookie", async () => {
      const { cookie } = await signInWithCookie();
      const refreshed = await withCookie("/auth/refresh", cookie, { "x-requested-with": "fetch" });
      expect(refreshed.status).toBe(200);
      const next = cookieOf(refreshed) as string;
      expect(next).not.toBe(cookie);
      expect(((await refreshed.json()) as any).refreshToken).toBeUndefined();
      const byOrigin = await withCookie("/auth/refresh", next, { origin: "http://localhost:5173" });
      expect(byOrigin.status).toBe(200);
    });

    test("refresh or logout with the cookie but without the header, or from a foreign Origin, is refused", async () => {
      const { cookie } = await signInWithCookie();
      for (const headers of [{}, { origin: "https://evil.example" }, { origin: "null" }] as Record<string, string>[]) {
        for (const path of ["/auth/refresh", "/auth/logout"]) {
          const response = await withCookie(path, cookie, headers);
          expect(response.status).toBe(401);
          expect(((await response.json()) as any).error.code).toBe("CREDS");
        }
      }
      // The session survived the forged requests.
      expect((await withCookie("/auth/refresh", cookie, { "x-requested-with": "fetch" })).status).toBe(200);
    });

    test("logout with the cookie ends the session and clears the cookie", async () => {
      const { cookie, body } = await signInWithCookie();
      const response = await withCookie("/auth/logout", cookie, { "x-requested-with": "fetch" });
      expect(response.status).toBe(204);
      expect(cookieOf(response)).toMatch(/^clinic_refresh_token=;.*Expires=Thu, 01 Jan 1970/);
      expect(await server.graphql(body.token, "{ currentUser { email } }")).toEqual(SESSION_ENDED);
      expect((await withCookie("/auth/refresh", cookie, { "x-requested-with": "fetch" })).status).toBe(401);
    });

    test("refresh or logout with neither a refresh token nor the cookie is signed out: 401 CREDS", async () => {
      for (const path of ["/auth/refresh", "/auth/logout"]) {
        const { status, body } = await server.post(path, {}, { "x-requested-with": "fetch" });
        expect([status, body.error.code]).toEqual([401, "CREDS"]);
      }
    });

    test("two session cookies (one planted by another page of the site) are refused, and neither is used", async () => {
      const { cookie } = await signInWithCookie();
      const planted = (await login(clinic.doctor.email)).body.refreshToken;
      for (const order of [
        [`clinic_refresh_token=${planted}`, cookie.split(";")[0]],
        [cookie.split(";")[0], `clinic_refresh_token=${planted}`],
      ]) {
        const response = await fetch(`${server.url}/auth/refresh`, {
          method: "POST",
          headers: { cookie: order.join("; "), "content-type": "application/json", "x-requested-with": "fetch" },
          body: "{}",
        });
        expect(response.status).toBe(401);
      }
      expect((await refresh(planted)).status).toBe(200);
    });

    test("a token with a NUL byte is refused as malformed input, not an internal error", async () => {
      expect((await refresh("ab\u0000cd")).status).toBe(400);
      expect((await server.post("/auth/logout", { refreshToken: "ab\u0000cd" })).body.error.code).toBe("INVAL");
    });

    test("a refresh token in the JSON body still works, and wins over a cookie", async () => {
      const { body: signIn } = await login(clinic.receptionist.email);
      const { cookie } = await signInWithCookie();
      const response = await fetch(`${server.url}/auth/refresh`, {
        method: "POST",
        headers: { cookie: cookie.split(";")[0], "content-type": "application/json" },
        body: JSON.stringify({ refreshToken: signIn.refreshToken }),
      });
      expect(response.status).toBe(200);
      expect(cookieOf(response)).toBeUndefined();
      expect(((await response.json()) as any).refreshToken).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});

describe("a still-valid access token is refused by the database once it no longer describes the user", () => {
  test("a deactivated user's token is refused with CREDS, its claims read and write nothing, and their sessions end", async () => {
    const own = await signUpClinic();
    const { body } = await login(own.receptionist.email);
    const query = "{ currentUser { email } patients { totalCount } }";
    expect((await server.graphql(body.token, query)).body.data.currentUser).not.toBeNull();
    await asClaims(own.admin.claims, (c) =>
      c.query("update app_public.users set is_active = false where id = $1", [own.receptionist.userId]),
    );
    expect(await server.graphql(body.token, query)).toEqual(SESSION_ENDED);
    // Below the API server, the policies refuse the same claims on their own.
    const claims = jwt.decode(body.token) as AccessClaims;
    expect(
      await asClaims(claims, async (c) => (await c.query("select count(*)::int as n from app_public.patients")).rows[0].n),
    ).toBe(0);
    expect(await sqlStateOf(claims, (c) => c.query("insert into app_public.patients (full_name) values ('X')"))).toBe("42501");
    expect((await refresh(body.refreshToken)).status).toBe(401);
  });

  test("an admin demoted to receptionist: the old admin token sees nothing", async () => {
    const own = await signUpClinic();
    await asClaims(own.admin.claims, (c) =>
      c.query("select app_public.add_user($1, 'Second Admin', 'admin')", [`second-${own.admin.email}`]),
    );
    const old = own.admin.token;
    await asOwner((c) => c.query("update app_public.users set user_role = 'receptionist' where id = $1", [own.admin.userId]));
    expect(await server.graphql(old, "{ users { totalCount } currentTenant { name } }")).toEqual(SESSION_ENDED);
    // The same claims straight in SQL: nothing to read, and no activation token.
    const rows = await asClaims(
      own.admin.claims,
      async (c) => (await c.query("select count(*)::int as n from app_public.users")).rows,
    );
    expect(rows).toEqual([{ n: 0 }]);
    expect(
      await sqlStateOf(own.admin.claims, (c) => c.query("select app_public.issue_activation_token($1)", [own.doctor.userId])),
    ).toBe("DNIED");
  });

  test("a doctor whose profile was deactivated or unlinked: the token sees nothing and the sessions end", async () => {
    for (const change of ["is_active = false", "is_active = false, user_id = null"]) {
      const own = await signUpClinic();
      const { body: session } = await login(own.doctor.email);
      await asClaims(own.admin.claims, (c) =>
        c.query(`update app_public.doctors set ${change} where id = $1`, [own.doctor.doctorId]),
      );
      expect(await server.graphql(session.token, "{ appointments { totalCount } patients { totalCount } }")).toEqual(
        SESSION_ENDED,
      );
      const claims = jwt.decode(session.token) as AccessClaims;
      const counts = await asClaims(
        claims,
        async (c) => (await c.query("select count(*)::int as n from app_public.patients")).rows,
      );
      expect(counts).toEqual([{ n: 0 }]);
      expect((await refresh(session.refreshToken)).status).toBe(401);
    }
  });
});

test("begin_request's claims are quoted literals: a claim holding SQL is a value that matches no session", async () => {
  const own = await signUpClinic();
  const hostile = { ...own.admin.claims, user_role: "admin') as valid; reset role; select ('" } as unknown as AccessClaims;
  const seen = await asClaims(hostile, async (c) => ({
    role: (await c.query("select current_user as role")).rows[0].role,
    patients: (await c.query("select count(*)::int as n from app_public.patients")).rows[0].n,
  }));
  expect(seen).toEqual({ role: roles().visitor, patients: 0 });
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
