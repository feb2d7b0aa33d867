/**
 * The Express app, in middleware order: health check, CORS for /auth and /graphql, /auth routes,
 * bearer-token check, then PostGraphile at /graphql (and Ruru at /graphiql outside production),
 * and, without APP_URL, the sign-in and set-password pages the e-mails link to.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { createServer, type Server } from "node:http";
import { Pool } from "pg";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { authRouter, type AuthSettings } from "./auth/routes";
import type { CorsOrigins } from "./config";
import { corsFor } from "./cors";
import { pagesRouter } from "./pages";
import { verifyAccessToken, type TokenSettings } from "./auth/tokens";
import { ApiError, internalError } from "./errors";
import { makePreset } from "./graphile.config";
import { DEFAULT_GRAPHQL_LIMITS, graphqlRequestGuard, type GraphqlLimits } from "./graphql-limits";

export interface AppOptions {
  authenticatorUrl: string;
  production: boolean;
  /** Introspection and Ruru; defaults to "not in production". */
  introspection?: boolean;
  /** Express `trust proxy` hop count: the client IP (for rate limits) comes from X-Forwarded-For. */
  trustProxyHops?: number;
  auth: AuthSettings;
  /** GraphQL request limits; the defaults when left out. */
  graphqlLimits?: GraphqlLimits;
  /** Browser origins allowed to call the API (CORS); none when left out. */
  corsOrigins?: CorsOrigins;
  /** Serve /sign-in and /set-password (when no APP_URL names the clinic's own web app). */
  servePages?: boolean;
  /** Development: a superuser URL on the app's database turns on schema watch mode (see makePreset). */
  watchSuperuserUrl?: string;
}

export interface RunningApp {
  server: Server;
  /** Stops accepting requests and closes every database connection. */
  close(): Promise<void>;
}

/**
 * A token, when sent, must be valid: a bad, expired or unsigned token gets 401 CREDS, never
 * a silent downgrade to anonymous access. So does a token whose session the database no longer
 * holds valid (logout, reuse, deactivation, role change: app_private.session_is_valid), from
 * the next request on, even before the token expires.
 */
function bearerToken(tokens: TokenSettings, pool: Pool) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header === undefined) return next();
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/.exec(header);
    try {
      if (!match) throw new ApiError("CREDS", "The Authorization header must be `Bearer <token>`.");
      const claims = verifyAccessToken(match[1], tokens);
      const { rows } = await pool.query<{ valid: boolean }>("select app_private.session_is_valid($1, $2, $3, $4, $5) as valid", [
        claims.sub,
        claims.tenant_id,
        claims.user_role,
        claims.doctor_id ?? null,
        claims.sid,
      ]);
      if (!rows[0].valid) throw new ApiError("CREDS", "The session has ended; sign in again.");
      req.claims = claims;
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
  const pool = new Pool({ connectionString: options.authenticatorUrl, max: 5 });
  // An idle connection dropped by the server (restart, failover) must not crash the process.
  pool.on("error", (error) => console.error(`[auth pool] ${error.message}`));

  app.get("/healthz", async (_req, res) => {
    try {
      await pool.query("select 1");
      res.json({ status: "ok", database: "ok" });
    } catch {
      res.status(503).json({ status: "unavailable", database: "unreachable" });
    }
  });
  const corsOrigins = options.corsOrigins ?? [];
  app.use(["/auth", "/graphql"], corsFor(corsOrigins));
  app.use("/auth", authRouter(pool, options.auth, corsOrigins));
  if (options.servePages) app.use(pagesRouter());
  const limits = options.graphqlLimits ?? DEFAULT_GRAPHQL_LIMITS;
  app.use("/graphql", bearerToken(options.auth.tokens, pool), ...graphqlRequestGuard(limits));

  const introspection = options.introspection ?? !options.production;
  const pgl = postgraphile(
    makePreset({
      authenticatorUrl: options.authenticatorUrl,
      introspection,
      limits,
      watchSuperuserUrl: options.watchSuperuserUrl,
    }),
  );
  const serv = pgl.createServ(grafserv);
  await serv.addTo(app, server);
  // Last resort: Express's own handler would print a stack trace outside production.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    console.error(error);
    res.status(500).json({ errors: [{ message: internalError.message, extensions: { code: internalError.code } }] });
  });

  return {
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pgl.release();
      for (const service of pgl.getResolvedPreset().pgServices ?? []) await service.release?.();
      await pool.end();
    },
  };
}
