/**
 * Where rate limits count: PostgreSQL's `app_private.rate_limits` (our migration), through
 * rate-limiter-flexible's RateLimiterPostgres, so every API instance spends one shared budget per
 * client. This is an express-rate-limit `Store`, so the limits keep express-rate-limit's
 * behaviour and headers (`RateLimit`, `RateLimit-Policy`, `Retry-After`).
 *
 * When the counters cannot be reached (database down, privilege missing), each instance counts in
 * its own memory instead (rate-limiter-flexible's `insuranceLimiter`): the limit still holds, per
 * instance, as before issue 9, and requests are neither all refused nor all let through. Once a
 * client is over its budget, the instance that refused it also remembers that in memory until the
 * window ends (`inMemoryBlockOnConsumed`), so a flood costs no database round trip per request.
 */
import { createHash } from "node:crypto";
import type { IncrementResponse, Options, Store } from "express-rate-limit";
import type { Pool } from "pg";
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";

/** The table our migration creates; the library neither creates nor migrates it. */
const TABLE = { schemaName: "app_private", tableName: "rate_limits" } as const;

/**
 * A key part that may be long or personal (an e-mail), as a fixed-length SHA-256: keys are
 * varchar(255), and the counter table then holds no e-mail address.
 */
export const hashedKey = (value: string) => createHash("sha256").update(value).digest("base64url");

/**
 * An express-rate-limit store over `pool` (the authenticator role's, which holds the table's
 * grants). `prefix` names the limit: its rows are `<prefix>:<key>`. One store per limiter.
 */
export class SharedRateLimitStore implements Store {
  /** Counts are shared across instances (express-rate-limit's double-count check reads this). */
  readonly localKeys = false;
  private limiter: RateLimiterPostgres | undefined;

  constructor(
    private readonly pool: Pool,
    readonly prefix: string,
  ) {}

  /** Called by express-rate-limit with the limiter's options: the window and the limit. */
  init(options: Options) {
    if (typeof options.limit !== "number") throw new Error(`rate limit ${this.prefix}: the limit must be a number`);
    const common = { keyPrefix: this.prefix, points: options.limit, duration: options.windowMs / 1000 };
    this.limiter = new RateLimiterPostgres({
      ...common,
      ...TABLE,
      storeClient: this.pool,
      storeType: "pool",
      tableCreated: true,
      inMemoryBlockOnConsumed: options.limit + 1,
      insuranceLimiter: new RateLimiterMemory(common),
    });
  }

  /**
   * Counts a request. A refusal is reported as at least the limit plus one: a client the instance
   * already refused is answered from memory, where the library reports no count.
   */
  async increment(key: string): Promise<IncrementResponse> {
    const limiter = this.started();
    const { consumedPoints, msBeforeNext } = await limiter.consume(key).catch((refused: unknown) => {
      if (!(refused instanceof RateLimiterRes)) throw refused;
      return { consumedPoints: Math.max(refused.consumedPoints, limiter.points + 1), msBeforeNext: refused.msBeforeNext };
    });
    return { totalHits: consumedPoints, resetTime: new Date(Date.now() + msBeforeNext) };
  }

  /** Gives a request back (express-rate-limit's skipSuccessfulRequests: a login that succeeded). */
  async decrement(key: string) {
    await this.started().reward(key);
  }

  async resetKey(key: string) {
    await this.started().delete(key);
  }

  private started(): RateLimiterPostgres {
    if (!this.limiter) throw new Error(`rate limit ${this.prefix}: the store is used before express-rate-limit initialised it`);
    return this.limiter;
  }
}
