/**
 * The REST side of authentication: POST /auth/register-clinic, /auth/login, /auth/set-password,
 * /auth/refresh and /auth/logout. Sign-ins answer `{token, expiresIn, refreshToken, user, tenant}`;
 * errors `{error: {code, message}}`. The rules (trial plan, unique e-mail, one-time tokens,
 * refresh-token rotation) are in SQL (migrations "accounts" and "sessions"); this module checks
 * input shapes, hashes passwords and mints access tokens.
 */
import express, { type Request, type Response, type NextFunction } from "express";
import type { Pool, PoolClient } from "pg";
import { ApiError, httpStatus, toPublicError } from "../errors";
import { inTransactionWith } from "../db/transaction";
import { pgSettingsFor } from "../graphile.config";
import { assertAcceptablePassword, hashPassword, verifyPassword } from "./passwords";
import { perAccountLimit, perIpLimit, type AuthRateLimits } from "./rate-limits";
import { signAccessToken, type TokenSettings, type UserRole } from "./tokens";

export interface AuthSettings {
  /** Signs access tokens. */
  tokens: TokenSettings;
  /** Lifetime of a refresh token, in days (each refresh issues a new one with a new lifetime). */
  refreshTokenDays: number;
  rateLimits: AuthRateLimits;
}

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

/** The sign-in answer: a short-lived access token and, from SQL, the session's refresh token. */
function answer(session: Session, refreshToken: string, tokens: TokenSettings) {
  const token = signAccessToken(
    {
      sub: session.user.id,
      tenant_id: session.tenant.id,
      user_role: session.user.userRole,
      ...(session.doctorId ? { doctor_id: session.doctorId } : {}),
    },
    tokens,
  );
  return { token, expiresIn: tokens.expiresInSeconds, refreshToken, user: session.user, tenant: session.tenant };
}

/**
 * Express 5 forwards a rejected promise to the error handler; this one speaks our error shape.
 * body-parser's own errors (not JSON, over the size limit) carry a 4xx `status`: they are the
 * client's, answered as INVAL and never logged, since the body may hold a password.
 */
function sendError(error: unknown, _req: Request, res: Response, _next: NextFunction) {
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    res.status(status).json({ error: { code: "INVAL", message: "The body must be a JSON object of at most 10 kB." } });
    return;
  }
  const publicError = toPublicError(error);
  if (publicError.code === "INTERNAL") console.error(error);
  res.status(httpStatus[publicError.code]).json({ error: publicError });
}

/**
 * The /auth router. `pool` connects as clinic_authenticator. Bodies are JSON of at most 10 kB.
 * Unknown body fields (a tenant id, a plan, a role) are ignored.
 */
export function authRouter(pool: Pool, settings: AuthSettings): express.Router {
  const { tokens } = settings;
  const router = express.Router();
  router.use(perIpLimit(settings.rateLimits));
  router.use(express.json({ limit: "10kb" }));
  const anonymously = <T>(work: (client: PoolClient) => Promise<T>) => inTransactionWith(pool, pgSettingsFor(undefined), work);
  const newRefreshToken = async (client: PoolClient, userId: string) =>
    (
      await client.query<{ token: string }>("select app_private.create_refresh_token($1, make_interval(days => $2)) as token", [
        userId,
        settings.refreshTokenDays,
      ])
    ).rows[0].token;

  router.post("/register-clinic", async (req, res) => {
    const clinicName = required(req.body, "clinicName", 200);
    const fullName = required(req.body, "fullName", 200);
    const email = required(req.body, "email", 254);
    const password = required(req.body, "password", 10_000);
    const timeZone = field(req.body, "timeZone", 100, true);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const body = await anonymously(async (client) => {
      const { rows } = await client.query<{ session: Session }>(
        "select app_private.register_clinic($1, $2, $3, $4, coalesce($5, 'UTC')) as session",
        [clinicName, fullName, email, passwordHash, timeZone ?? null],
      );
      return answer(rows[0].session, await newRefreshToken(client, rows[0].session.user.id), tokens);
    });
    res.status(201).json(body);
  });

  router.post("/login", perAccountLimit(settings.rateLimits), async (req, res) => {
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
    const refreshToken = await anonymously((client) => newRefreshToken(client, candidate.session.user.id));
    res.json(answer(candidate.session, refreshToken, tokens));
  });

  router.post("/set-password", async (req, res) => {
    const token = required(req.body, "token", 200);
    const password = required(req.body, "password", 10_000);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const body = await anonymously(async (client) => {
      const { rows } = await client.query<{ session: Session }>("select app_private.set_password_with_token($1, $2) as session", [
        token,
        passwordHash,
      ]);
      return answer(rows[0].session, await newRefreshToken(client, rows[0].session.user.id), tokens);
    });
    res.json(body);
  });

  // Rotation: the refresh token is spent and its successor returned. A spent token presented
  // again revokes the whole session (see app_private.rotate_refresh_token).
  router.post("/refresh", async (req, res) => {
    const refreshToken = required(req.body, "refreshToken", 200);
    const rotated = await anonymously(async (client) => {
      const { rows } = await client.query<{ refresh_token: string; session: Session }>(
        "select refresh_token, session from app_private.rotate_refresh_token($1, make_interval(days => $2))",
        [refreshToken, settings.refreshTokenDays],
      );
      return rows[0];
    });
    if (!rotated) throw new ApiError("CREDS", "The session has ended; sign in again.");
    res.json(answer(rotated.session, rotated.refresh_token, tokens));
  });

  router.post("/logout", async (req, res) => {
    const refreshToken = required(req.body, "refreshToken", 200);
    await anonymously((client) => client.query("select app_private.revoke_refresh_token($1)", [refreshToken]));
    res.status(204).end();
  });

  router.use(sendError);
  return router;
}
