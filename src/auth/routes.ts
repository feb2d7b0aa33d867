/**
 * The REST side of authentication: POST /auth/register-clinic, /auth/login, /auth/set-password,
 * /auth/refresh and /auth/logout. Sign-ins answer `{token, expiresIn, refreshToken, user, tenant}`;
 * errors `{error: {code, message}}`. The rules (trial plan, unique e-mail, one-time tokens,
 * refresh-token rotation and its reuse interval, session revocation) are in SQL (migrations
 * "accounts" and "sessions"); this module checks input shapes, hashes passwords, mints access
 * tokens and, when a sign-in asks for it, keeps the refresh token in an httpOnly cookie.
 */
import { randomUUID } from "node:crypto";
import cookieParser from "cookie-parser";
import express, { type Request, type Response, type NextFunction } from "express";
import type { Pool, PoolClient } from "pg";
import type { CorsOrigins } from "../config";
import { CSRF_HEADER, isAllowedOrigin } from "../cors";
import { ApiError, httpStatus, SESSION_ENDED_MESSAGE, toPublicError, UNAVAILABLE_RETRY_AFTER_SECONDS } from "../errors";
import { logUnavailable } from "../unavailable-log";
import { inTransactionWith } from "../db/transaction";
import { assertAcceptablePassword, hashPassword, verifyPassword } from "./passwords";
import { perAccountLimit, perIpLimit, type AuthRateLimits } from "./rate-limits";
import { signAccessToken, type TokenSettings, type UserRole } from "./tokens";

export interface AuthSettings {
  /** Signs access tokens. */
  tokens: TokenSettings;
  /** Lifetime of a refresh token, in days (each refresh issues a new one with a new lifetime). */
  refreshTokenDays: number;
  /** Seconds during which a just-rotated refresh token returns the same successor again; 0: never. */
  refreshTokenReuseSeconds: number;
  rateLimits: AuthRateLimits;
}

/** The refresh-token cookie: httpOnly, sent only to /auth, never cross-site. */
export const REFRESH_COOKIE = "clinic_refresh_token";

/** What `app_private.session_for` returns. */
interface Session {
  user: { id: string; email: string; fullName: string; userRole: UserRole };
  tenant: { id: string; name: string; slug: string; subscriptionPlan: string; trialEndsAt: string | null };
  doctorId: string | null;
}

function field(body: unknown, name: string, maxLength: number, optional = false): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new ApiError("INVAL", `${name} is required.`);
  }
  if (typeof value !== "string" || value.trim() === "" || value.length > maxLength) {
    throw new ApiError("INVAL", `${name} must be a non-empty text of at most ${maxLength} characters.`);
  }
  return value;
}
const required = (body: unknown, name: string, maxLength: number) => field(body, name, maxLength) as string;

/** A session as SQL hands it over: who, the refresh token, and the family (session) id. */
interface Issued {
  session: Session;
  refreshToken: string;
  sessionId: string;
}

/** The sign-in answer: a short-lived access token for the session and, from SQL, its refresh token. */
function answer({ session, refreshToken, sessionId }: Issued, tokens: TokenSettings) {
  const token = signAccessToken(
    {
      sub: session.user.id,
      tenant_id: session.tenant.id,
      user_role: session.user.userRole,
      sid: sessionId,
      ...(session.doctorId ? { doctor_id: session.doctorId } : {}),
    },
    tokens,
  );
  return { token, expiresIn: tokens.expiresInSeconds, refreshToken, user: session.user, tenant: session.tenant };
}

/**
 * A cookie-mode request (the refresh token comes from the cookie) must come from script on an
 * allowed page, not from a form another site submits: it carries the custom header, which no
 * cross-origin page can add without passing CORS, or an `Origin` that is allowed or our own.
 */
function assertNotCrossSiteForgery(req: Request, origins: CorsOrigins) {
  const origin = req.get("origin");
  const ownOrigin = `${req.protocol}://${req.get("host")}`;
  if (req.get(CSRF_HEADER) || (origin && (origin === ownOrigin || isAllowedOrigin(origins, origin)))) return;
  throw new ApiError("CREDS", `Send the ${CSRF_HEADER} header with cookie sessions.`);
}

/**
 * Express 5 forwards a rejected promise to the error handler; this one speaks our error shape.
 * body-parser's own errors (not JSON, over the size limit) carry a 4xx `status`: they are the
 * client's, answered as INVAL and never logged, since the body may hold a password.
 */
function sendError(error: unknown, req: Request, res: Response, _next: NextFunction) {
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    res.status(status).json({ error: { code: "INVAL", message: "The body must be a JSON object of at most 10 kB." } });
    return;
  }
  const publicError = toPublicError(error);
  if (publicError.code === "INTERNAL") req.log.error({ err: error }, "unexpected error in an /auth route, answered INTERNAL");
  if (publicError.code === "UNAVL") {
    logUnavailable(req.log, error);
    res.setHeader("Retry-After", String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  }
  res.status(httpStatus[publicError.code]).json({ error: publicError });
}

/**
 * The /auth router. `pool` connects as the authenticator; app_private.begin_request switches each transaction to the anonymous role. Bodies are JSON of at most 10 kB.
 * Unknown body fields (a tenant id, a plan, a role) are ignored. A cookie-mode request from one
 * of `corsOrigins` passes the CSRF check by its `Origin`.
 */
export function authRouter(pool: Pool, settings: AuthSettings, corsOrigins: CorsOrigins): express.Router {
  const { tokens } = settings;
  const router = express.Router();
  router.use(perIpLimit(settings.rateLimits, pool));
  router.use(express.json({ limit: "10kb" }));
  router.use(cookieParser());
  const anonymously = <T>(work: (client: PoolClient) => Promise<T>) => inTransactionWith(pool, {}, work);
  /** A new session (refresh-token family) for a user who just proved who they are. */
  const newSession = async (client: PoolClient, session: Session): Promise<Issued> => {
    const sessionId = randomUUID();
    const { rows } = await client.query<{ token: string }>(
      "select app_private.create_refresh_token($1, make_interval(days => $2), $3) as token",
      [session.user.id, settings.refreshTokenDays, sessionId],
    );
    return { session, refreshToken: rows[0].token, sessionId };
  };
  const cookieOptions = {
    httpOnly: true,
    secure: true,
    sameSite: "strict",
    path: "/auth",
  } as const;
  /**
   * Answers a sign-in or refresh. With `cookie`, the refresh token goes into the httpOnly cookie
   * and is left out of the body, so the page's script never holds it.
   */
  const sendSession = (res: Response, issued: Issued, cookie: boolean, status = 200) => {
    const body = answer(issued, tokens);
    if (!cookie) return res.status(status).json(body);
    res.cookie(REFRESH_COOKIE, issued.refreshToken, { ...cookieOptions, maxAge: settings.refreshTokenDays * 86_400_000 });
    const { refreshToken: _kept, ...withoutRefreshToken } = body;
    return res.status(status).json(withoutRefreshToken);
  };
  /** Sign-ins opt in to the cookie with `{"refreshTokenCookie": true}`. */
  const wantsCookie = (req: Request) => req.body?.refreshTokenCookie === true;
  /** The refresh token of a refresh or logout: from the body, or else (checked for CSRF) from the cookie. */
  const presentedRefreshToken = (req: Request): { refreshToken: string; cookie: boolean } => {
    const fromBody = field(req.body, "refreshToken", 200, true);
    if (fromBody !== undefined) return { refreshToken: fromBody, cookie: false };
    // Two cookies of that name mean another page of the site planted one (a narrower path, a
    // parent domain) to swap the session for its own: refuse rather than guess which is ours.
    const sent = (req.headers.cookie ?? "").split(";").filter((pair) => pair.trim().startsWith(`${REFRESH_COOKIE}=`));
    if (sent.length > 1) throw new ApiError("CREDS", "More than one session cookie was sent; sign in again.");
    const fromCookie: unknown = req.cookies?.[REFRESH_COOKIE];
    // Neither: a cookie client whose cookie is gone (logged out, expired) is signed out, like any other.
    if (typeof fromCookie !== "string" || fromCookie === "") {
      throw new ApiError("CREDS", "No session: send refreshToken, or the session cookie; otherwise sign in.");
    }
    assertNotCrossSiteForgery(req, corsOrigins);
    return { refreshToken: fromCookie, cookie: true };
  };

  router.post("/register-clinic", async (req, res) => {
    const clinicName = required(req.body, "clinicName", 200);
    const fullName = required(req.body, "fullName", 200);
    const email = required(req.body, "email", 254);
    const password = required(req.body, "password", 10_000);
    const timeZone = field(req.body, "timeZone", 100, true);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const issued = await anonymously(async (client) => {
      const { rows } = await client.query<{ session: Session }>(
        "select app_private.register_clinic($1, $2, $3, $4, coalesce($5, 'UTC')) as session",
        [clinicName, fullName, email, passwordHash, timeZone ?? null],
      );
      return newSession(client, rows[0].session);
    });
    sendSession(res, issued, wantsCookie(req), 201);
  });

  router.post("/login", perAccountLimit(settings.rateLimits, pool), async (req, res) => {
    const email = required(req.body, "email", 254);
    const password = required(req.body, "password", 10_000);
    const candidate = await anonymously(async (client) => {
      const { rows } = await client.query<{ password_hash: string; is_active: boolean; session: Session }>(
        "select password_hash, is_active, session from app_private.login_candidate($1)",
        [email],
      );
      return rows[0];
    });
    // Same answer, same work, for an unknown e-mail, a wrong password and a deactivated user.
    const matches = await verifyPassword(candidate?.password_hash, password);
    if (!matches || !candidate.is_active) throw new ApiError("CREDS", "The e-mail or password is wrong.");
    sendSession(res, await anonymously((client) => newSession(client, candidate.session)), wantsCookie(req));
  });

  router.post("/set-password", async (req, res) => {
    const token = required(req.body, "token", 200);
    const password = required(req.body, "password", 10_000);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const issued = await anonymously(async (client) => {
      const { rows } = await client.query<{ session: Session }>("select app_private.set_password_with_token($1, $2) as session", [
        token,
        passwordHash,
      ]);
      return newSession(client, rows[0].session);
    });
    sendSession(res, issued, wantsCookie(req));
  });

  // Rotation: the refresh token is spent and its successor returned. The same token presented
  // again within the reuse interval gets the same successor (another tab); after it, it revokes
  // the whole session (see app_private.rotate_refresh_token).
  router.post("/refresh", async (req, res) => {
    const { refreshToken, cookie } = presentedRefreshToken(req);
    const rotated = await anonymously(async (client) => {
      const { rows } = await client.query<{ refresh_token: string; family_id: string; session: Session }>(
        `select refresh_token, family_id, session
         from app_private.rotate_refresh_token($1, make_interval(days => $2), make_interval(secs => $3))`,
        [refreshToken, settings.refreshTokenDays, settings.refreshTokenReuseSeconds],
      );
      return rows[0];
    });
    if (!rotated) {
      if (cookie) res.clearCookie(REFRESH_COOKIE, cookieOptions);
      throw new ApiError("CREDS", SESSION_ENDED_MESSAGE);
    }
    sendSession(res, { session: rotated.session, refreshToken: rotated.refresh_token, sessionId: rotated.family_id }, cookie);
  });

  // Ends the session: its refresh tokens and, through the `sid` claim, its access tokens.
  router.post("/logout", async (req, res) => {
    const { refreshToken, cookie } = presentedRefreshToken(req);
    await anonymously((client) => client.query("select app_private.revoke_refresh_token($1)", [refreshToken]));
    if (cookie) res.clearCookie(REFRESH_COOKIE, cookieOptions);
    res.status(204).end();
  });

  router.use(sendError);
  return router;
}
