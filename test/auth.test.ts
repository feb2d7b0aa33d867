/**
 * The /auth routes (register-clinic, login, set-password) and the bearer-token check in front of
 * /graphql, over real HTTP: what a client sends, what it gets back, and what ends up stored.
 */
import { createHash, randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import type { AccessClaims } from "../src/auth/tokens";
import {
  asClaims,
  asOwner,
  errorCodes,
  FIXTURE_PASSWORD,
  signUpClinic,
  tokenSettings,
  uniq,
  useServer,
  type Clinic,
} from "./helpers";

const server = useServer();

const PASSWORD = "a long enough passphrase";
const HOUR = 3600;
const DAY_MS = 24 * 3600 * 1000;

const email = (prefix = "user") => `${uniq(prefix)}@example.test`;

/** A complete, valid register-clinic body. */
const registration = (overrides: Record<string, unknown> = {}) => ({
  clinicName: uniq("Sunny Side Clinic"),
  fullName: "Ada Admin",
  email: email("admin"),
  password: PASSWORD,
  ...overrides,
});

const register = (body: unknown) => server.post("/auth/register-clinic", body);
const login = (body: unknown) => server.post("/auth/login", body);
const setPassword = (body: unknown) => server.post("/auth/set-password", body);

/** Fails the test unless `body` is exactly `{error: {code, message}}` with this code. */
function expectErrorBody(body: unknown, code: string) {
  expect(body).toEqual({ error: { code, message: expect.any(String) } });
  expect((body as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
}

/** Words that show an error leaked SQL or a stack trace. */
const leakPattern = /constraint|violates|app_public|app_private|relation|duplicate key|\n\s+at | {4}at /i;

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Signs `payload` like the server would (our secret, HS256, issuer, audience, 1 h) except for what
 * `options` overrides; an option set to undefined is left out (e.g. `expiresIn: undefined`: no exp).
 */
function signWith(payload: Record<string, unknown>, options: jwt.SignOptions = {}, secret = tokenSettings.secret) {
  const merged: jwt.SignOptions = {
    algorithm: "HS256",
    issuer: tokenSettings.issuer,
    audience: tokenSettings.audience,
    expiresIn: HOUR,
    ...options,
  };
  for (const key of Object.keys(merged) as (keyof jwt.SignOptions)[]) {
    if (merged[key] === undefined) delete merged[key];
  }
  return jwt.sign(payload, secret, merged);
}

const WHO_AM_I = "{ currentUser { email userRole } currentTenant { name } }";

const ISSUE_ACTIVATION_TOKEN = `
  mutation IssueActivationToken($userId: UUID!) {
    issueActivationToken(input: { userId: $userId }) { result }
  }
`;

describe("register-clinic creates a tenant on trial with its first admin", () => {
  test("register-clinic answers 201 with a token, the trial tenant and the admin user", async () => {
    const body = registration();
    const before = Date.now();
    const { status, body: answer } = await register(body);

    expect(status).toBe(201);
    expect(answer).toEqual({
      token: expect.any(String),
      expiresIn: 3600,
      refreshToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      tenant: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: body.clinicName,
        slug: expect.stringMatching(/^[a-z0-9]+(-[a-z0-9]+)*$/),
        subscriptionPlan: "trial",
        trialEndsAt: expect.any(String),
      },
      user: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        email: body.email,
        fullName: "Ada Admin",
        userRole: "admin",
      },
    });
    const trialEndsAt = new Date(answer.tenant.trialEndsAt).getTime();
    expect(Math.abs(trialEndsAt - (before + 14 * DAY_MS))).toBeLessThan(60_000);
  });

  test("register-clinic accepts a long clinic name whose slug would be cut right after a hyphen", async () => {
    // The slug of this name has a hyphen as its 50th character, where the slug is cut.
    const clinicName = "Northern Highlands and Islands Family Health Team Practice";

    const { status, body } = await register(registration({ clinicName }));

    expect(status).toBe(201);
    expect(body.tenant.name).toBe(clinicName);
    expect(body.tenant.slug).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(body.tenant.slug.length).toBeLessThanOrEqual(63);
  });

  test("two clinics with the same name get different slugs", async () => {
    const clinicName = uniq("Twin Clinic");

    const first = await register(registration({ clinicName }));
    const second = await register(registration({ clinicName }));

    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.tenant.slug).not.toBe(first.body.tenant.slug);
    expect(second.body.tenant.slug).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  test("login with the registered e-mail and password returns a token with sub, tenant_id, user_role, iss, aud, iat and a one-hour exp", async () => {
    const body = registration();
    const { body: registered } = await register(body);

    const { status, body: answer } = await login({ email: body.email, password: body.password });

    expect(status).toBe(200);
    expect(answer.user).toEqual(registered.user);
    expect(answer.tenant).toEqual(registered.tenant);
    const claims = jwt.decode(answer.token) as jwt.JwtPayload;
    expect(claims).toMatchObject({
      sub: registered.user.id,
      tenant_id: registered.tenant.id,
      user_role: "admin",
      iss: tokenSettings.issuer,
      aud: tokenSettings.audience,
    });
    expect(claims).not.toHaveProperty("doctor_id");
    expect(typeof claims.iat).toBe("number");
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(60);
    const header = jwt.decode(answer.token, { complete: true })!.header;
    expect(header.alg).toBe("HS256");
  });

  test("the token from register-clinic and from login works on /graphql", async () => {
    const body = registration();
    const { body: registered } = await register(body);
    const { body: loggedIn } = await login({ email: body.email, password: body.password });

    for (const token of [registered.token, loggedIn.token]) {
      const { status, body: result } = await server.graphql(token, WHO_AM_I);
      expect(status).toBe(200);
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({
        currentUser: { email: body.email, userRole: "admin" },
        currentTenant: { name: body.clinicName },
      });
    }
  });

  test("login finds the user whatever the letter case of the e-mail", async () => {
    const body = registration({ email: email("MixedCase") });
    await register(body);

    const { status, body: answer } = await login({ email: body.email.toUpperCase(), password: body.password });

    expect(status).toBe(200);
    expect(answer.user.email).toBe(body.email);
  });
});

describe("an e-mail belongs to one user only", () => {
  test("register-clinic answers 409 TAKEN for an e-mail already registered", async () => {
    const first = registration();
    expect((await register(first)).status).toBe(201);

    const { status, body } = await register(registration({ email: first.email }));

    expect(status).toBe(409);
    expectErrorBody(body, "TAKEN");
  });

  test("register-clinic answers 409 TAKEN for the same e-mail in other letter case", async () => {
    const first = registration({ email: email("casey") });
    expect((await register(first)).status).toBe(201);

    const { status, body } = await register(registration({ email: first.email.toUpperCase() }));

    expect(status).toBe(409);
    expectErrorBody(body, "TAKEN");
  });

  test("register-clinic answers 409 TAKEN for an e-mail used by a user of another clinic", async () => {
    const other = await signUpClinic();

    const { status, body } = await register(registration({ email: other.doctor.email }));

    expect(status).toBe(409);
    expectErrorBody(body, "TAKEN");
  });

  test("a refused registration leaves no tenant behind", async () => {
    const first = registration();
    await register(first);
    const clinicName = uniq("Second Clinic");

    await register(registration({ email: first.email, clinicName }));

    const count = await asOwner(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_public.tenants where name = $1", [clinicName]);
      return rows[0].n as number;
    });
    expect(count).toBe(0);
  });
});

describe("register-clinic ignores fields a client may not choose", () => {
  test("tenantId, plan, role and trial end in the body are ignored: the new admin is on trial in a new tenant", async () => {
    const victim = await signUpClinic();
    const body = registration({
      tenantId: victim.tenantId,
      tenant_id: victim.tenantId,
      subscriptionPlan: "premium",
      subscription_plan: "premium",
      userRole: "receptionist",
      user_role: "doctor",
      trialEndsAt: "2999-01-01T00:00:00Z",
      trial_ends_at: "2999-01-01T00:00:00Z",
      isActive: false,
    });

    const { status, body: answer } = await register(body);

    expect(status).toBe(201);
    expect(answer.tenant.id).not.toBe(victim.tenantId);
    expect(answer.tenant.subscriptionPlan).toBe("trial");
    expect(new Date(answer.tenant.trialEndsAt).getTime()).toBeLessThan(Date.now() + 15 * DAY_MS);
    expect(answer.user.userRole).toBe("admin");
    const claims = jwt.decode(answer.token) as jwt.JwtPayload;
    expect(claims.tenant_id).toBe(answer.tenant.id);
    expect(claims.user_role).toBe("admin");

    const stored = await asOwner(async (client) => {
      const { rows } = await client.query(
        `select u.tenant_id, u.user_role, u.is_active, t.subscription_plan, t.trial_ends_at
           from app_public.users u join app_public.tenants t on t.id = u.tenant_id
          where u.email = $1`,
        [body.email],
      );
      return rows;
    });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      tenant_id: answer.tenant.id,
      user_role: "admin",
      is_active: true,
      subscription_plan: "trial",
    });
    expect((stored[0].trial_ends_at as Date).getTime()).toBeLessThan(Date.now() + 15 * DAY_MS);

    const victimUsers = await asOwner(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_public.users where tenant_id = $1", [
        victim.tenantId,
      ]);
      return rows[0].n as number;
    });
    expect(victimUsers).toBe(3);
  });
});

describe("register-clinic validates its input", () => {
  test.each([
    ["clinicName missing", { clinicName: undefined }],
    ["fullName missing", { fullName: undefined }],
    ["email missing", { email: undefined }],
    ["password missing", { password: undefined }],
    ["clinicName blank", { clinicName: "   " }],
    ["fullName empty", { fullName: "" }],
    ["email blank", { email: " " }],
    ["clinicName a number", { clinicName: 42 }],
    ["fullName an object", { fullName: { first: "Ada" } }],
    ["email an array", { email: ["a@example.test"] }],
    ["password a number", { password: 12345678901 }],
    ["email null", { email: null }],
    ["timeZone a number", { timeZone: 5 }],
    ["timeZone blank", { timeZone: " " }],
    ["clinicName too long", { clinicName: "x".repeat(201) }],
    ["email not an e-mail", { email: "not-an-email" }],
    ["clinicName holding a forged e-mail line (CR LF)", { clinicName: "Sunrise\r\nBcc: victim@example.test" }],
    ["fullName holding a line feed", { fullName: "Ada\nAdmin" }],
    ["fullName holding a tab", { fullName: "Ada\tAdmin" }],
    ["clinicName holding a C1 control (NEL)", { clinicName: "Sunrise\u0085Clinics" }],
    ["clinicName holding NUL", { clinicName: "Sunrise\u0000Clinics" }],
  ])("register-clinic answers 400 INVAL when %s", async (_case, override) => {
    const { status, body } = await register(registration(override));

    expect(status).toBe(400);
    expectErrorBody(body, "INVAL");
  });

  test("register-clinic answers 400 INVAL for an empty body", async () => {
    const { status, body } = await register({});

    expect(status).toBe(400);
    expectErrorBody(body, "INVAL");
  });

  test("register-clinic answers 400 INVAL for an unknown time zone", async () => {
    const body = registration({ timeZone: "Mars/Olympus" });

    const { status, body: answer } = await register(body);

    expect(status).toBe(400);
    expectErrorBody(answer, "INVAL");
    const stored = await asOwner(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_public.users where email = $1", [body.email]);
      return rows[0].n as number;
    });
    expect(stored).toBe(0);
  });

  test("register-clinic stores a valid IANA time zone", async () => {
    const { status, body } = await register(registration({ timeZone: "Asia/Kolkata" }));

    expect(status).toBe(201);
    const timeZone = await asOwner(async (client) => {
      const { rows } = await client.query("select time_zone from app_public.tenants where id = $1", [body.tenant.id]);
      return rows[0].time_zone as string;
    });
    expect(timeZone).toBe("Asia/Kolkata");
  });

  test("register-clinic stores UTC when no time zone is given", async () => {
    const { body } = await register(registration());

    const timeZone = await asOwner(async (client) => {
      const { rows } = await client.query("select time_zone from app_public.tenants where id = $1", [body.tenant.id]);
      return rows[0].time_zone as string;
    });
    expect(timeZone).toBe("UTC");
  });

  test("register-clinic answers 400 WEAKP for a 9-character password", async () => {
    const body = registration({ password: "123456789" });

    const { status, body: answer } = await register(body);

    expect(status).toBe(400);
    expectErrorBody(answer, "WEAKP");
    const stored = await asOwner(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_public.users where email = $1", [body.email]);
      return rows[0].n as number;
    });
    expect(stored).toBe(0);
  });

  test("register-clinic accepts a 10-character password", async () => {
    const { status } = await register(registration({ password: "1234567890" }));

    expect(status).toBe(201);
  });

  test("register-clinic answers 400 INVAL for a body that is not valid JSON", async () => {
    const { status, body } = await register("{not json");

    expect(status).toBe(400);
    expectErrorBody(body, "INVAL");
  });

  test("register-clinic answers a 4xx INVAL, not a 500, for a body over 10 kB", async () => {
    const { status, body } = await register(registration({ notes: "x".repeat(20_000) }));

    expect([400, 413]).toContain(status);
    expectErrorBody(body, "INVAL");
  });
});

describe("login answers the same 401 CREDS whatever is wrong", () => {
  let clinic: Clinic;
  beforeAll(async () => {
    clinic = await signUpClinic();
  });

  test("login answers 200 for a fixture user with the right password", async () => {
    const { status, body } = await login({ email: clinic.receptionist.email, password: FIXTURE_PASSWORD });

    expect(status).toBe(200);
    expect(body.user).toMatchObject({ id: clinic.receptionist.userId, userRole: "receptionist" });
  });

  test("login gives a doctor a token with their doctor_id", async () => {
    const { status, body } = await login({ email: clinic.doctor.email, password: FIXTURE_PASSWORD });

    expect(status).toBe(200);
    expect(jwt.decode(body.token)).toMatchObject({ user_role: "doctor", doctor_id: clinic.doctor.doctorId });
  });

  test("login answers 401 CREDS for an unknown e-mail, a wrong password and a deactivated user, with identical bodies", async () => {
    const deactivated = await signUpClinic();
    await asOwner((client) =>
      client.query("update app_public.users set is_active = false where id = $1", [deactivated.receptionist.userId]),
    );

    const unknown = await login({ email: email("nobody"), password: FIXTURE_PASSWORD });
    const wrongPassword = await login({ email: clinic.admin.email, password: "not the right password" });
    const inactive = await login({ email: deactivated.receptionist.email, password: FIXTURE_PASSWORD });

    for (const answer of [unknown, wrongPassword, inactive]) {
      expect(answer.status).toBe(401);
      expectErrorBody(answer.body, "CREDS");
      expect(answer.body).not.toHaveProperty("token");
    }
    expect(wrongPassword.body).toEqual(unknown.body);
    expect(inactive.body).toEqual(unknown.body);
  });

  test("login answers 401 CREDS for a user who never set a password", async () => {
    const userEmail = email("nopassword");
    await asClaims(clinic.admin.claims, (client) =>
      client.query("select app_public.add_user($1, 'No Password', 'receptionist')", [userEmail]),
    );

    const { status, body } = await login({ email: userEmail, password: FIXTURE_PASSWORD });

    expect(status).toBe(401);
    expectErrorBody(body, "CREDS");
  });

  test("login answers 400 INVAL when the e-mail or password is missing or not text", async () => {
    for (const body of [
      {},
      { email: clinic.admin.email },
      { password: FIXTURE_PASSWORD },
      { email: 1, password: FIXTURE_PASSWORD },
      { email: clinic.admin.email, password: "" },
    ]) {
      const answer = await login(body);
      expect(answer.status).toBe(400);
      expectErrorBody(answer.body, "INVAL");
    }
  });
});

describe("error bodies tell a code and a plain message, never SQL or stack traces", () => {
  test("every /auth error body is {error: {code, message}} without SQL words or stack frames", async () => {
    const taken = registration();
    await register(taken);
    const answers = [
      await register(registration({ email: taken.email })), // TAKEN (duplicate)
      await register(registration({ email: taken.email.toUpperCase() })), // TAKEN (citext)
      await register(registration({ timeZone: "Mars/Olympus" })), // INVAL from a CHECK constraint
      await register(registration({ email: "no-at-sign" })), // INVAL from a CHECK constraint
      await register(registration({ fullName: "" })), // INVAL from the route
      await register(registration({ password: "short" })), // WEAKP
      await login({ email: taken.email, password: "wrong password!" }), // CREDS
      await setPassword({ token: "0".repeat(64), password: PASSWORD }), // TOKEN
    ];

    expect(answers.map((answer) => answer.body.error?.code)).toEqual([
      "TAKEN",
      "TAKEN",
      "INVAL",
      "INVAL",
      "INVAL",
      "WEAKP",
      "CREDS",
      "TOKEN",
    ]);
    for (const { body } of answers) {
      expect(Object.keys(body)).toEqual(["error"]);
      expect(Object.keys(body.error).sort()).toEqual(["code", "message"]);
      expect(JSON.stringify(body)).not.toMatch(leakPattern);
    }
  });
});

describe("a token, when sent, must be valid: forged tokens get 401 CREDS on /graphql", () => {
  let clinic: Clinic;
  let claims: AccessClaims;
  beforeAll(async () => {
    clinic = await signUpClinic();
    claims = clinic.admin.claims;
  });

  /** POSTs WHO_AM_I with a raw Authorization header. */
  const withHeader = (authorization: string) => server.post("/graphql", { query: WHO_AM_I }, { authorization });

  function expectRefused(answer: { status: number; body: any }) {
    expect(answer.status).toBe(401);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors[0].extensions.code).toBe("CREDS");
    expect(JSON.stringify(answer.body)).not.toContain(clinic.admin.email);
  }

  test("a correctly signed token is accepted (the control for the forgeries below)", async () => {
    const { status, body } = await server.graphql(signWith({ ...claims }), WHO_AM_I);

    expect(status).toBe(200);
    expect(body.data.currentUser.email).toBe(clinic.admin.email);
  });

  test.each<[string, () => string]>([
    [
      "alg none (unsigned)",
      () => {
        const now = Math.floor(Date.now() / 1000);
        const payload = { ...claims, iss: tokenSettings.issuer, aud: tokenSettings.audience, iat: now, exp: now + HOUR };
        return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(payload)}.`;
      },
    ],
    ["a wrong secret", () => signWith({ ...claims }, {}, "another-secret-that-is-also-32-bytes-long!!")],
    ["HS512 with the right secret", () => signWith({ ...claims }, { algorithm: "HS512" })],
    [
      "an exp in the past",
      () => {
        const now = Math.floor(Date.now() / 1000);
        return signWith({ ...claims, iat: now - 2 * HOUR, exp: now - 60 }, { expiresIn: undefined });
      },
    ],
    ["no exp", () => signWith({ ...claims }, { expiresIn: undefined })],
    ["no tenant_id", () => signWith({ sub: claims.sub, user_role: claims.user_role })],
    ["a tenant_id that is not a uuid", () => signWith({ ...claims, tenant_id: "not-a-uuid" })],
    ["a user_role that does not exist", () => signWith({ ...claims, user_role: "superadmin" })],
    ["a sub that is not a uuid", () => signWith({ ...claims, sub: "1 or 1=1" })],
    ["a wrong issuer", () => signWith({ ...claims }, { issuer: "someone-else" })],
    ["a wrong audience", () => signWith({ ...claims }, { audience: "another-api" })],
    ["no issuer and no audience", () => jwt.sign({ ...claims }, tokenSettings.secret, { algorithm: "HS256", expiresIn: HOUR })],
  ])("/graphql answers 401 CREDS and no data for a token with %s", async (_case, makeToken) => {
    expectRefused(await server.graphql(makeToken(), WHO_AM_I));
  });

  test("/graphql answers 401 CREDS for an Authorization header that is not Bearer", async () => {
    const basic = `Basic ${Buffer.from(`${clinic.admin.email}:${FIXTURE_PASSWORD}`).toString("base64")}`;

    expectRefused(await withHeader(basic));
    expectRefused(await withHeader(`bearer ${clinic.admin.token}`));
    expectRefused(await withHeader(`Bearer  ${clinic.admin.token}`));
  });

  test("/graphql answers 401 CREDS for Bearer followed by garbage", async () => {
    expectRefused(await withHeader("Bearer garbage"));
    expectRefused(await withHeader("Bearer a.b.c"));
    expectRefused(await withHeader("Bearer"));
    expectRefused(await withHeader("Bearer ...."));
  });
});

describe("a request without a token is anonymous", () => {
  test("an anonymous request reads the three subscription plans", async () => {
    const { status, body } = await server.graphql(
      undefined,
      "{ subscriptionPlans(orderBy: MAX_DOCTORS_ASC) { totalCount nodes { plan maxDoctors trialDays } } }",
    );

    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.subscriptionPlans).toEqual({
      totalCount: 3,
      nodes: [
        { plan: "trial", maxDoctors: 5, trialDays: 14 },
        { plan: "basic", maxDoctors: 20, trialDays: null },
        { plan: "premium", maxDoctors: 100, trialDays: null },
      ],
    });
  });

  test.each([
    ["patients", "{ patients { totalCount nodes { fullName } } }"],
    ["doctors", "{ doctors { totalCount nodes { fullName offices } } }"],
    ["appointments", "{ appointments { totalCount nodes { reason } } }"],
    ["users", "{ users { totalCount nodes { email } } }"],
  ])("an anonymous request gets no %s rows", async (table, query) => {
    const clinic = await signUpClinic();
    await asClaims(clinic.admin.claims, (client) =>
      client.query("insert into app_public.patients (full_name) values ('Patty Patient')"),
    );

    const { body } = await server.graphql(undefined, query);

    const connection = body.data?.[table];
    if (connection) {
      expect(connection.totalCount).toBe(0);
      expect(connection.nodes).toEqual([]);
    } else {
      expect(body.errors?.length).toBeGreaterThan(0);
    }
    expect(JSON.stringify(body)).not.toMatch(/Patty Patient|Dr Dee|example\.test/);
  });
});

describe("set-password activates an account with a one-time token", () => {
  let clinic: Clinic;
  beforeAll(async () => {
    clinic = await signUpClinic();
  });

  /** As the clinic's admin, adds a receptionist who has no password yet; returns its id and e-mail. */
  async function addUserWithoutPassword(admin: AccessClaims = clinic.admin.claims) {
    const userEmail = email("newcomer");
    const userId = await asClaims(admin, async (client) => {
      const { rows } = await client.query("select id from app_public.add_user($1, 'Nia Newcomer', 'receptionist')", [userEmail]);
      return rows[0].id as string;
    });
    return { userId, email: userEmail };
  }

  /** issueActivationToken over HTTP with `token`; returns the activation token (or fails). */
  async function issue(userId: string, token = clinic.admin.token) {
    const { status, body } = await server.graphql(token, ISSUE_ACTIVATION_TOKEN, { userId });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.issueActivationToken.result).toMatch(/^[0-9a-f]{64}$/);
    return body.data.issueActivationToken.result as string;
  }

  test("set-password with an activation token answers 200 with a working token", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);

    const { status, body } = await setPassword({ token: activation, password: PASSWORD });

    expect(status).toBe(200);
    expect(body.user).toEqual({ id: newcomer.userId, email: newcomer.email, fullName: "Nia Newcomer", userRole: "receptionist" });
    expect(body.tenant.id).toBe(clinic.tenantId);
    expect(jwt.decode(body.token)).toMatchObject({ sub: newcomer.userId, tenant_id: clinic.tenantId, user_role: "receptionist" });
    const me = await server.graphql(body.token, WHO_AM_I);
    expect(me.body.data.currentUser).toEqual({ email: newcomer.email, userRole: "receptionist" });
    const loggedIn = await login({ email: newcomer.email, password: PASSWORD });
    expect(loggedIn.status).toBe(200);
  });

  test("set-password answers 400 TOKEN for an activation token used once already", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);
    expect((await setPassword({ token: activation, password: PASSWORD })).status).toBe(200);

    const { status, body } = await setPassword({ token: activation, password: "another good passphrase" });

    expect(status).toBe(400);
    expectErrorBody(body, "TOKEN");
    expect((await login({ email: newcomer.email, password: PASSWORD })).status).toBe(200);
    expect((await login({ email: newcomer.email, password: "another good passphrase" })).status).toBe(401);
  });

  test("set-password answers 400 TOKEN for a random token", async () => {
    const { status, body } = await setPassword({ token: randomBytes(32).toString("hex"), password: PASSWORD });

    expect(status).toBe(400);
    expectErrorBody(body, "TOKEN");
  });

  test("set-password answers 400 WEAKP for a weak password and leaves the token usable", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);

    const { status, body } = await setPassword({ token: activation, password: "123456789" });

    expect(status).toBe(400);
    expectErrorBody(body, "WEAKP");
    expect((await setPassword({ token: activation, password: PASSWORD })).status).toBe(200);
  });

  test("set-password answers 400 INVAL when the token or password is missing", async () => {
    for (const body of [{}, { token: "abc" }, { password: PASSWORD }, { token: 5, password: PASSWORD }]) {
      const answer = await setPassword(body);
      expect(answer.status).toBe(400);
      expectErrorBody(answer.body, "INVAL");
    }
  });

  test("set-password answers 400 TOKEN for an expired activation token", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);
    await asOwner((client) =>
      client.query("update app_private.password_tokens set expires_at = now() - interval '1 minute' where user_id = $1", [
        newcomer.userId,
      ]),
    );

    const { status, body } = await setPassword({ token: activation, password: PASSWORD });

    expect(status).toBe(400);
    expectErrorBody(body, "TOKEN");
  });

  test("set-password answers 400 TOKEN for a token issued before a newer one", async () => {
    const newcomer = await addUserWithoutPassword();
    const first = await issue(newcomer.userId);
    const second = await issue(newcomer.userId);

    const old = await setPassword({ token: first, password: PASSWORD });

    expect(old.status).toBe(400);
    expectErrorBody(old.body, "TOKEN");
    expect((await setPassword({ token: second, password: PASSWORD })).status).toBe(200);
  });

  test("set-password answers 400 TOKEN for a user deactivated after the token was issued", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);
    await asOwner((client) => client.query("update app_public.users set is_active = false where id = $1", [newcomer.userId]));

    const { status, body } = await setPassword({ token: activation, password: PASSWORD });

    expect(status).toBe(400);
    expectErrorBody(body, "TOKEN");
  });

  test("only a hash of the activation token is stored", async () => {
    const newcomer = await addUserWithoutPassword();
    const activation = await issue(newcomer.userId);

    const stored = await asOwner(async (client) => {
      const { rows } = await client.query(
        "select encode(token_hash, 'hex') as hash from app_private.password_tokens where user_id = $1",
        [newcomer.userId],
      );
      return rows.map((row) => row.hash as string);
    });
    expect(stored).toEqual([createHash("sha256").update(activation, "utf8").digest("hex")]);
  });

  test("issueActivationToken answers DNIED for a user who already has a password", async () => {
    const { body } = await server.graphql(clinic.admin.token, ISSUE_ACTIVATION_TOKEN, { userId: clinic.doctor.userId });

    expect(errorCodes(body)).toEqual(["DNIED"]);
    expect(body.data?.issueActivationToken ?? null).toBeNull();
  });

  test("issueActivationToken answers DNIED for a receptionist", async () => {
    const newcomer = await addUserWithoutPassword();

    const { body } = await server.graphql(clinic.receptionist.token, ISSUE_ACTIVATION_TOKEN, { userId: newcomer.userId });

    expect(errorCodes(body)).toEqual(["DNIED"]);
    expect(body.data?.issueActivationToken ?? null).toBeNull();
  });

  test("issueActivationToken answers DNIED for a doctor", async () => {
    const newcomer = await addUserWithoutPassword();

    const { body } = await server.graphql(clinic.doctor.token, ISSUE_ACTIVATION_TOKEN, { userId: newcomer.userId });

    expect(errorCodes(body)).toEqual(["DNIED"]);
  });

  test("issueActivationToken answers DNIED to the admin of another clinic", async () => {
    const newcomer = await addUserWithoutPassword();
    const otherClinic = await signUpClinic();

    const { body } = await server.graphql(otherClinic.admin.token, ISSUE_ACTIVATION_TOKEN, { userId: newcomer.userId });

    expect(errorCodes(body)).toEqual(["DNIED"]);
    const tokens = await asOwner(async (client) => {
      const { rows } = await client.query("select count(*)::int as n from app_private.password_tokens where user_id = $1", [
        newcomer.userId,
      ]);
      return rows[0].n as number;
    });
    expect(tokens).toBe(0);
  });

  test("issueActivationToken answers DNIED for a deactivated user", async () => {
    const newcomer = await addUserWithoutPassword();
    await asOwner((client) => client.query("update app_public.users set is_active = false where id = $1", [newcomer.userId]));

    const { body } = await server.graphql(clinic.admin.token, ISSUE_ACTIVATION_TOKEN, { userId: newcomer.userId });

    expect(errorCodes(body)).toEqual(["DNIED"]);
  });
});

test("the time-zone check: copied names on an index, and a name missing from the copy still checked against the server's list", async () => {
  const answers = await asOwner(async (client) => {
    await client.query("begin");
    try {
      // As after a PostgreSQL upgrade that added a zone: the copy lacks it.
      await client.query("delete from app_private.time_zone_names where name = 'Asia/Kolkata'");
      const { rows } = await client.query(
        "select app_private.is_time_zone('Asia/Kolkata') as added, app_private.is_time_zone('Europe/Madrid') as copied, app_private.is_time_zone('Mars/Olympus') as unknown, app_private.is_time_zone('PST8PDT') as posix_file, app_private.is_time_zone('UTC+3') as posix_rule",
      );
      return rows[0];
    } finally {
      await client.query("rollback");
    }
  });
  expect(answers).toEqual({ added: true, copied: true, unknown: false, posix_file: true, posix_rule: false });
});
