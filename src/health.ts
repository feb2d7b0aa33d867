/**
 * Probes for an orchestrator. GET /healthz (liveness): the process answers HTTP, nothing else; a
 * database outage must not get healthy processes restarted. GET /readyz (readiness): the database
 * answers and is at the newest migration this code ships, so traffic goes only to an instance
 * that can serve it (not to one older than a migration a newer deploy applied, nor to one whose
 * database is behind), and, from the moment shutdown begins, no longer to this one.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import express, { type Response } from "express";
import type { Pool } from "pg";

const COMMITTED = path.resolve(__dirname, "../migrations/committed");

/**
 * The name graphile-migrate records for the newest committed migration: its number plus `.sql`
 * (`000005-sessions-….sql` is recorded as `000005.sql`).
 */
export function newestMigration(folder = COMMITTED): string | null {
  const numbers = readdirSync(folder)
    .map((file) => /^(\d+)(?:-.*)?\.sql$/.exec(file)?.[1])
    .filter((number): number is string => number !== undefined)
    .sort();
  return numbers.length ? `${numbers[numbers.length - 1]}.sql` : null;
}

const MIGRATION_MISMATCH = "The database is not at the migration this version expects.";

const unavailable = (res: Response, message: string) =>
  res.status(503).json({ status: "unavailable", error: { code: "UNAVL", message } });

/** The probes' router; `isClosing` turns readiness off during shutdown. `pool` is the authenticator's. */
export function healthRouter(pool: Pool, isClosing: () => boolean): express.Router {
  const expected = newestMigration();
  const router = express.Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    if (isClosing()) return unavailable(res, "The server is shutting down.");
    let latest: string | null;
    try {
      latest = (await pool.query<{ latest: string | null }>("select app_private.latest_migration() as latest")).rows[0].latest;
    } catch (error) {
      // 42883: the function is missing, so the schema predates it.
      const behind = (error as { code?: unknown }).code === "42883";
      return unavailable(res, behind ? MIGRATION_MISMATCH : "The database is unreachable.");
    }
    if (latest !== expected) return unavailable(res, MIGRATION_MISMATCH);
    res.json({ status: "ok" });
  });
  return router;
}
