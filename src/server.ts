/**
 * The Express app, in middleware order: request log and metrics, health probes, /metrics (with
 * METRICS_TOKEN), CORS for /auth and /graphql, /auth routes, bearer-token check, the per-user
 * request budget, then PostGraphile at /graphql (and Ruru at /graphiql outside production), and,
 * without APP_URL, the sign-in and set-password pages the e-mails link to.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { createServer, type Server } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { authRouter, type AuthSettings } from "./auth/routes";
import type { CorsOrigins } from "./config";
import { corsFor } from "./cors";
import { pagesRouter } from "./pages";
import { patientPagesRouter } from "./patient-pages";
import { verifyAccessToken, type TokenSettings } from "./auth/tokens";
import {
  ApiError,
  httpStatus,
  internalError,
  isDatabaseUnavailable,
  unavailableError,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from "./errors";
import { makePreset, type ApiRoles } from "./graphile.config";
import { DEFAULT_GRAPHQL_LIMITS, graphqlRequestGuard, type GraphqlLimits } from "./graphql-limits";
import { closePool, createPool } from "./db/pool";
import { healthRouter } from "./health";
import { fallbackLogger, type Logger } from "./logger";
import { countRequests, createMetrics, metricsHandler, type Metrics } from "./metrics";
import { requestLogger } from "./request-log";
import { logUnavailable } from "./unavailable-log";
import { DEFAULT_GRAPHQL_REQUESTS_PER_MINUTE, graphqlRateLimit } from "./graphql-rate-limit";

export interface AppOptions {
  authenticatorUrl: string;
  /** The roles the authenticator switches to per request (configuration's database roles). */
  roles: ApiRoles;
  production: boolean;
  /** Introspection and Ruru; defaults to "not in production". */
  introspection?: boolean;
  /** Express `trust proxy` hop count: the client IP (for rate limits) comes from X-Forwarded-For. */
  trustProxyHops?: number;
  auth: AuthSettings;
  /** GraphQL request limits; the defaults when left out. */
  graphqlLimits?: GraphqlLimits;
  /** Each user's (signed out: each IP's) budget of /graphql requests per minute, shared by all instances; 600 when left out. */
  graphqlRequestsPerMinute?: number;
  /** Browser origins allowed to call the API (CORS); none when left out. */
  corsOrigins?: CorsOrigins;
  /** Serve /sign-in and /set-password (when no APP_URL names the clinic's own web app). */
  servePages?: boolean;
  /** Where request lines and errors go; errors only, on stderr, when left out. */
  logger?: Logger;
  /** The process's metrics (shared with the worker); a registry of the app's own when left out. */
  metrics?: Metrics;
  /** Serve GET /metrics on this server to `Authorization: Bearer <metricsToken>`; not at all when left out. */
  metricsToken?: string;
  /** Development: a superuser URL on the app's database turns on schema watch mode (see makePreset). */
  watchSuperuserUrl?: string;
  /** Add the caller's tenant to every select (src/graphql-routing.ts); on when left out. */
  tenantRouting?: boolean;
}

export interface RunningApp {
  server: Server;
  /**
   * Stops accepting connections, answers /readyz with 503, lets in-flight requests finish for up
   * to `timeoutMs` (0 when left out) and then cuts the connections still open, then closes every
   * database connection.
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * A token, when sent, must be valid: a bad, expired or unsigned token gets 401 CREDS, never
 * a silent downgrade to anonymous access. Whether its session still holds (logout, reuse,
 * deactivation, role change) the database answers in the request's own transaction
 * (src/graphql-session.ts), from the next request on, even before the token expires.
 */
function bearerToken(tokens: TokenSettings) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header === undefined) return next();
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/.exec(header);
    try {
      if (!match) throw new ApiError("CREDS", "The Authorization header must be `Bearer <token>`.");
      req.claims = verifyAccessToken(match[1], tokens);
      next();
    } catch (error) {
      if (!(error instanceof ApiError)) return next(error);
      res.status(401).json({ errors: [{ message: error.message, extensions: { code: error.code } }] });
    }
  };
}

/** Builds the app and its HTTP server (not yet listening); the schema is ready when it resolves. */
export async function createApp(options: AppOptions): Promise<RunningApp> {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", options.trustProxyHops ?? 0);
  const server = createServer(app);
  const logger = options.logger ?? fallbackLogger();
  const metrics = options.metrics ?? createMetrics();
  const pool = createPool("auth", options.authenticatorUrl, 5, logger);
  const graphqlPool = createPool("graphql", options.authenticatorUrl, 10, logger);
  metrics.observePool("auth", pool);
  metrics.observePool("graphql", graphqlPool);
  let closing = false;

  app.use(...requestLogger(logger), countRequests(metrics));
  app.use(healthRouter(pool, () => closing));
  if (options.metricsToken) app.get("/metrics", metricsHandler(metrics.registry, options.metricsToken));
  const corsOrigins = options.corsOrigins ?? [];
  app.use(["/auth", "/graphql"], corsFor(corsOrigins));
  app.use("/auth", authRouter(pool, options.auth, corsOrigins));
  if (options.servePages) app.use(pagesRouter());
  app.use(patientPagesRouter(pool));
  const limits = options.graphqlLimits ?? DEFAULT_GRAPHQL_LIMITS;
  const requestsPerMinute = options.graphqlRequestsPerMinute ?? DEFAULT_GRAPHQL_REQUESTS_PER_MINUTE;
  app.use(
    "/graphql",
    bearerToken(options.auth.tokens),
    graphqlRateLimit(requestsPerMinute, pool),
    ...graphqlRequestGuard(limits),
  );

  const introspection = options.introspection ?? !options.production;
  const pgl = postgraphile(
    makePreset({
      authenticatorUrl: options.authenticatorUrl,
      roles: options.roles,
      introspection,
      limits,
      pool: graphqlPool,
      logger,
      watchSuperuserUrl: options.watchSuperuserUrl,
      tenantRouting: options.tenantRouting,
    }),
  );
  const serv = pgl.createServ(grafserv);
  await serv.addTo(app, server);
  // Last resort: Express's own handler would print a stack trace outside production. A database
  // that cannot be reached (the rate limiter's counters) is 503 UNAVL, told by the request's line alone.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { code, message } = isDatabaseUnavailable(error) ? unavailableError : internalError;
    if (code === "UNAVL") {
      logUnavailable(logger, error);
      res.setHeader("Retry-After", String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    } else req.log.error({ err: error }, "unexpected error, answered INTERNAL");
    res.status(httpStatus[code]).json({ errors: [{ message, extensions: { code } }] });
  });

  return {
    server,
    async close(timeoutMs = 0) {
      closing = true;
      // server.close stops accepting and closes idle connections; busy ones close after their response.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = setTimeout(() => {
        if (timeoutMs > 0)
          logger.warn({ timeoutMs }, "requests still running at the shutdown deadline; closing their connections");
        server.closeAllConnections();
      }, timeoutMs);
      await closed;
      clearTimeout(deadline);
      await pgl.release();
      for (const service of pgl.getResolvedPreset().pgServices ?? []) await service.release?.();
      await Promise.all([closePool(pool), closePool(graphqlPool)]);
    },
  };
}
