/**
 * Rate limits on /auth (express-rate-limit, in-memory: per process, so several API instances
 * each count on their own). Per client IP on every route; per account (the e-mail in the body)
 * on login, counting only failed attempts, so guessing one account's password from many IPs is
 * slowed as well. Over the limit: 429 RATEL with `Retry-After` (seconds).
 */
import type { RequestHandler } from "express";
import { rateLimit } from "express-rate-limit";

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

/** Limits every /auth request by client IP. CORS preflights (OPTIONS) never count: browsers send them on their own. */
export const perIpLimit = (limits: AuthRateLimits) =>
  rateLimit({ ...limited, windowMs: 60_000, limit: limits.perIpPerMinute, skip: (req) => req.method === "OPTIONS" });

/** Limits failed logins by the e-mail in the (already parsed) body, whatever the IP. */
export const perAccountLimit = (limits: AuthRateLimits) =>
  rateLimit({
    ...limited,
    windowMs: 15 * 60_000,
    limit: limits.failedLoginsPerAccount,
    skipSuccessfulRequests: true,
    keyGenerator: (req) =>
      `account:${String(req.body?.email ?? "")
        .trim()
        .toLowerCase()}`,
  });
