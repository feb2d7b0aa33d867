/**
 * A request budget per client on /graphql, so one client's flood cannot starve the others: keyed
 * by the user (the verified JWT's `sub`, whatever IP or instance the requests come through) or,
 * signed out, by the client IP (Express `trust proxy`). Counted in the database, shared by every
 * API instance (src/rate-limit-store.ts). Over budget: 429 with
 * `{errors: [{message, extensions: {code: "RATEL"}}]}` and `Retry-After`, before the request
 * reaches GraphQL.
 */
import type { RequestHandler } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import type { Pool } from "pg";
import { SharedRateLimitStore } from "./rate-limit-store";

/**
 * 10 a second sustained for a whole minute: more than a person using the clinic front end
 * reaches (a screen loads a few operations; a search as you type sends a few a second), far less
 * than a loop. README "Configuration": GRAPHQL_RATE_LIMIT_PER_MINUTE.
 */
export const DEFAULT_GRAPHQL_REQUESTS_PER_MINUTE = 600;

/**
 * The /graphql limiter; mount it after the bearer-token check, which sets `req.claims`.
 * `pool` connects as the authenticator role (it holds the counters' grants).
 */
export const graphqlRateLimit = (requestsPerMinute: number, pool: Pool): RequestHandler =>
  rateLimit({
    store: new SharedRateLimitStore(pool, "graphql"),
    windowMs: 60_000,
    limit: requestsPerMinute,
    standardHeaders: "draft-8",
    legacyHeaders: false,
    keyGenerator: (req) => (req.claims ? `user:${req.claims.sub}` : `ip:${ipKeyGenerator(req.ip ?? "")}`),
    handler: (_req, res) => {
      res.status(429).json({ errors: [{ message: "Too many requests; wait and try again.", extensions: { code: "RATEL" } }] });
    },
  });
