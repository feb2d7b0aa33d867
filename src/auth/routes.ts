/**
 * The REST side of authentication: POST /auth/register-clinic, /auth/login, /auth/set-password.
 * Each answers `{token, user, tenant}` or `{error: {code, message}}`. The rules (trial plan, unique
 * e-mail, one-time tokens) are in SQL (migrations, "accounts"); this module checks input shapes,
 * hashes passwords and mints tokens.
 */
import express, { type Request, type Response, type NextFunction } from "express";
import type { Pool } from "pg";
import { ApiError, httpStatus, toPublicError } from "../errors";
import { inTransactionWith } from "../db/transaction";
import { pgSettingsFor } from "../graphile.config";
import { assertAcceptablePassword, hashPassword, verifyPassword } from "./passwords";
import { signAccessToken, type TokenSettings, type UserRole } from "./tokens";

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

function answer(session: Session, tokens: TokenSettings) {
  const token = signAccessToken(
    {
      sub: session.user.id,
      tenant_id: session.tenant.id,
      user_role: session.user.userRole,
      ...(session.doctorId ? { doctor_id: session.doctorId } : {}),
    },
    tokens,
  );
  return { token, user: session.user, tenant: session.tenant };
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
 * The /auth router. `pool` connects as clinic_authenticator; `tokens` signs access tokens.
 * Bodies are JSON of at most 10 kB. Unknown body fields (a tenant id, a plan, a role) are ignored.
 */
export function authRouter(pool: Pool, tokens: TokenSettings): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: "10kb" }));

  router.post("/register-clinic", async (req, res) => {
    const clinicName = required(req.body, "clinicName", 200);
    const fullName = required(req.body, "fullName", 200);
    const email = required(req.body, "email", 254);
    const password = required(req.body, "password", 10_000);
    const timeZone = field(req.body, "timeZone", 100, true);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const session = await inTransactionWith(pool, pgSettingsFor(undefined), async (client) => {
      const { rows } = await client.query<{ session: Session }>(
        "select app_private.register_clinic($1, $2, $3, $4, coalesce($5, 'UTC')) as session",
        [clinicName, fullName, email, passwordHash, timeZone ?? null],
      );
      return rows[0].session;
    });
    res.status(201).json(answer(session, tokens));
  });

  router.post("/login", async (req, res) => {
    const email = required(req.body, "email", 254);
    const password = required(req.body, "password", 10_000);
    const candidate = await inTransactionWith(pool, pgSettingsFor(undefined), async (client) => {
      const { rows } = await client.query<{ password_hash: string; is_active: boolean; session: Session }>(
        "select password_hash, is_active, session from app_private.login_candidate($1)",
        [email],
      );
      return rows[0];
    });
    // Same answer, same work, for an unknown e-mail, a wrong password and a deactivated user.
    const matches = await verifyPassword(candidate?.password_hash, password);
    if (!matches || !candidate.is_active) throw new ApiError("CREDS", "The e-mail or password is wrong.");
    res.json(answer(candidate.session, tokens));
  });

  router.post("/set-password", async (req, res) => {
    const token = required(req.body, "token", 200);
    const password = required(req.body, "password", 10_000);
    assertAcceptablePassword(password);
    const passwordHash = await hashPassword(password);
    const session = await inTransactionWith(pool, pgSettingsFor(undefined), async (client) => {
      const { rows } = await client.query<{ session: Session }>("select app_private.set_password_with_token($1, $2) as session", [
        token,
        passwordHash,
      ]);
      return rows[0].session;
    });
    res.json(answer(session, tokens));
  });

  router.use(sendError);
  return router;
}
