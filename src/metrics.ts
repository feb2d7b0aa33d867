/**
 * Prometheus metrics (prom-client), on a registry of their own rather than prom-client's global
 * one, so that each app (and each test's app) counts for itself. Labels take values from small
 * fixed sets only (route names, error codes, task names); anything a client chooses freely, like
 * an operation name, is capped, since every new label value is a new time series held in memory.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Pool } from "pg";
import { NotSentError, type Mailer } from "./mail/mailer";
import { notesOf } from "./request-log";

export interface Metrics {
  registry: Registry;
  /** Seconds from request to response, by method, route and status code. */
  httpDuration: Histogram<"method" | "route" | "status_code">;
  /** GraphQL operations by operation name and outcome (`ok` or `error`). */
  graphqlOperations: Counter<"operation" | "outcome">;
  /** GraphQL errors by their `extensions.code`. */
  graphqlErrors: Counter<"code">;
  /** Background jobs by task and outcome (`success`, `error`: will retry, `failed`: out of attempts). */
  workerJobs: Counter<"task" | "outcome">;
  /** E-mails by outcome (`sent`, `failed`: certainly not sent, `unknown`: may have arrived). */
  emails: Counter<"outcome">;
  /** E-mails not sent, by delivery state (`not_sent`, `sending`, `unknown`), as the worker last counted them. */
  openEmails: Gauge<"status">;
  /** Has a pool's connections and waiting clients read at every scrape. */
  observePool(name: string, pool: Pool): void;
  /** An operation name as a label value: itself for the first few hundred names seen, then `other`. */
  operationLabel(name: string | undefined): string;
}

/** Distinct operation names kept as label values; trusted documents stay well below it. */
const MAX_OPERATION_NAMES = 200;

/** A fresh registry with the process's default metrics and ours. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const pools = new Map<string, Pool>();
  const poolGauge = (name: string, help: string, read: (pool: Pool) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["pool"],
      registers,
      collect() {
        for (const [pool, value] of pools) this.set({ pool }, read(value));
      },
    });
  poolGauge("db_pool_connections", "Open connections in the database pool.", (pool) => pool.totalCount);
  poolGauge("db_pool_idle_connections", "Idle connections in the database pool.", (pool) => pool.idleCount);
  poolGauge(
    "db_pool_waiting_clients",
    "Queries waiting for a free connection in the database pool.",
    (pool) => pool.waitingCount,
  );
  const operationNames = new Set<string>();
  return {
    registry,
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency.",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    graphqlOperations: new Counter({
      name: "graphql_operations_total",
      help: "GraphQL operations by operation name and outcome.",
      labelNames: ["operation", "outcome"],
      registers,
    }),
    graphqlErrors: new Counter({
      name: "graphql_errors_total",
      help: "GraphQL errors by error code.",
      labelNames: ["code"],
      registers,
    }),
    workerJobs: new Counter({
      name: "worker_jobs_total",
      help: "Background jobs by task and outcome.",
      labelNames: ["task", "outcome"],
      registers,
    }),
    emails: new Counter({
      name: "emails_total",
      help: "E-mails by outcome: sent, failed (certainly not sent; retried) or unknown (may have arrived; not resent).",
      labelNames: ["outcome"],
      registers,
    }),
    openEmails: new Gauge({
      name: "email_deliveries_open",
      help: "E-mails not sent, by state: not_sent (its job retries), sending, unknown (waits for an operator: npm run tenant -- deliveries).",
      labelNames: ["status"],
      registers,
    }),
    observePool(name, pool) {
      pools.set(name, pool);
    },
    operationLabel(name) {
      if (!name) return "anonymous";
      if (operationNames.has(name)) return name;
      if (operationNames.size >= MAX_OPERATION_NAMES) return "other";
      operationNames.add(name);
      return name;
    },
  };
}

/**
 * The route label of a finished request: the matched Express route (`/auth/login`), GraphQL's
 * paths, or `other` (404s, pages): never the raw path, which a client could vary without end.
 */
function routeOf(req: Request): string {
  if (req.route) return `${req.baseUrl}${String(req.route.path)}`;
  const path = req.originalUrl.split("?")[0];
  return path === "/graphql" || path === "/graphiql" ? path : "other";
}

/** Middleware: observes each request's latency and, for GraphQL, its operation and error codes. */
export function countRequests(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = metrics.httpDuration.startTimer();
    res.once("finish", () => {
      const route = routeOf(req);
      end({ method: req.method, route, status_code: String(res.statusCode) });
      if (route !== "/graphql") return;
      const notes = notesOf(res);
      const outcome = notes.errorCodes.length ? "error" : "ok";
      metrics.graphqlOperations.inc({ operation: metrics.operationLabel(notes.operationName), outcome });
      for (const code of notes.errorCodes) metrics.graphqlErrors.inc({ code });
    });
    next();
  };
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * GET /metrics in Prometheus's text format. With `token`, only for `Authorization: Bearer
 * <token>` (compared in constant time); 401 CREDS otherwise. Without, for anyone who can reach
 * the port: use it only on METRICS_PORT.
 */
export function metricsHandler(registry: Registry, token: string | undefined) {
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);
  return async (req: Request, res: Response) => {
    if (expected && !timingSafeEqual(digest(req.get("authorization") ?? ""), expected)) {
      res.status(401).json({ error: { code: "CREDS", message: "Send Authorization: Bearer <METRICS_TOKEN>." } });
      return;
    }
    res.type(registry.contentType).send(await registry.metrics());
  };
}

/**
 * Serves GET /metrics, without a token, on a port of its own (METRICS_PORT): for a scraper on a
 * private network, away from the public port. Resolves once listening.
 */
export async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<Server> {
  const app = express();
  app.disable("x-powered-by");
  app.get("/metrics", metricsHandler(metrics.registry, undefined));
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  return server;
}

/** The mailer, counting each message as `sent`, `failed` (certainly not sent) or `unknown` (it may have arrived). */
export function countEmails(mailer: Mailer, metrics: Metrics): Mailer {
  return {
    ...mailer,
    async send(message, handOver) {
      try {
        await mailer.send(message, handOver);
      } catch (error) {
        metrics.emails.inc({ outcome: error instanceof NotSentError ? "failed" : "unknown" });
        throw error;
      }
      metrics.emails.inc({ outcome: "sent" });
    },
  };
}
