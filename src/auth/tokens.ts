/**
 * Access tokens: JWTs (RFC 7519) signed with HS256 by `jsonwebtoken`. Their claims are what the
 * database's policies read (as `jwt.claims.<name>` settings), so verification is strict.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { ApiError } from "../errors";

export type UserRole = "admin" | "doctor" | "receptionist";

/** The claims we issue besides `iss`, `aud`, `iat` and `exp`. */
export interface AccessClaims {
  /** The user's id (registered claim "subject"). */
  sub: string;
  tenant_id: string;
  user_role: UserRole;
  /** The session (refresh-token family) the token belongs to: logout ends the token with it. */
  sid: string;
  /** Only for users with a doctor profile. */
  doctor_id?: string;
}

export interface TokenSettings {
  secret: string;
  issuer: string;
  audience: string;
  /** Lifetime in seconds. */
  expiresInSeconds: number;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const roles = new Set<string>(["admin", "doctor", "receptionist"]);

/**
 * The secret as a key object, made once per secret: given the string, jsonwebtoken first tries
 * it as a PEM public key (and fails) on every call, a measurable share of each request's CPU.
 */
const secretKeys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) secretKeys.set(secret, (key = createSecretKey(Buffer.from(secret))));
  return key;
}

/** Signs an access token (HS256) with `iat` now and `exp` after the configured lifetime. */
export function signAccessToken(claims: AccessClaims, settings: TokenSettings): string {
  return jwt.sign({ ...claims }, secretKey(settings.secret), {
    algorithm: "HS256",
    issuer: settings.issuer,
    audience: settings.audience,
    expiresIn: settings.expiresInSeconds,
  });
}

/**
 * Verifies a token: HS256 only (no `none`, no other algorithm), our issuer and audience, an `exp`
 * in the future, and well-formed claims.
 * @throws ApiError CREDS for any token that fails, whatever the reason (the reason is not told).
 */
export function verifyAccessToken(token: string, settings: TokenSettings): AccessClaims {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secretKey(settings.secret), {
      algorithms: ["HS256"],
      issuer: settings.issuer,
      audience: settings.audience,
    });
  } catch {
    throw new ApiError("CREDS", "The access token is invalid or expired.");
  }
  if (
    typeof payload !== "object" ||
    typeof payload.exp !== "number" ||
    typeof payload.sub !== "string" ||
    !uuid.test(payload.sub) ||
    typeof payload.tenant_id !== "string" ||
    !uuid.test(payload.tenant_id) ||
    typeof payload.user_role !== "string" ||
    !roles.has(payload.user_role) ||
    typeof payload.sid !== "string" ||
    !uuid.test(payload.sid) ||
    (payload.doctor_id !== undefined && (typeof payload.doctor_id !== "string" || !uuid.test(payload.doctor_id)))
  ) {
    throw new ApiError("CREDS", "The access token is invalid or expired.");
  }
  return {
    sub: payload.sub,
    tenant_id: payload.tenant_id,
    user_role: payload.user_role as UserRole,
    sid: payload.sid,
    ...(payload.doctor_id ? { doctor_id: payload.doctor_id as string } : {}),
  };
}
