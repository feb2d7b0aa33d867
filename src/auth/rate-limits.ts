/**
 * Rate limits on /auth (express-rate-limit, counted in the database: src/rate-limit-store.ts, so
 * several API instances share one budget). Per client IP on every route; per account (the e-mail
 * in the body) on login, counting only failed attempts, so guessing one account's password from
 * many IPs is slowed as well. Over the limit: 429 RATEL with `Retry-After` (seconds).
 */
import type { RequestHandler } from "express";
import { rateLimit } from "express-rate-limit";
import type { Pool } from "pg";
import { hashedKey, SharedRateLimitStore } from "../rate-limit-store";

export interface AuthRateLimits {
  /** Requests per client IP per minute, on every /auth route. */
  perIpPerMinute: number;
  /** Failed logins per e-mail address per 15 minutes. */
  failedLoginsPerAccount: number;
}

const limited = {
  standardHeaders: "draft-8",
  legacyHeaders: false,
  handler: ((_req, res) => {
    res.status(429).json({ error: { code: "RATEL", message: "Too many attempts; wait and try again." } });
  }) as RequestHandler,
} as const;

/**
 * Limits every /auth request by client IP. CORS preflights (OPTIONS) never count: browsers send
 * them on their own. `pool` connects as the authenticator role (it holds the counters' grants).
 */
export const perIpLimit = (limits: AuthRateLimits, pool: Pool) =>
  rateLimit({
    ...limited,
    store: new SharedRateLimitStore(pool, "auth-ip"),
    windowMs: 60_000,
    limit: limits.perIpPerMinute,
    skip: (req) => req.method === "OPTIONS",
  });

/** Limits failed logins by the e-mail in the (already parsed) body, whatever the IP; the e-mail is kept hashed. */
export const perAccountLimit = (limits: AuthRateLimits, pool: Pool) =>
  rateLimit({
    ...limited,
    store: new SharedRateLimitStore(pool, "auth-login"),
    windowMs: 15 * 60_000,
    limit: limits.failedLoginsPerAccount,
    skipSuccessfulRequests: true,
    keyGenerator: (req) =>
      `account:${hashedKey(
        String(req.body?.email ?? "")
          .trim()
          .toLowerCase(),
      )}`,
  });
