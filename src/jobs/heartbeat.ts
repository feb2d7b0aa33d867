/**
 * Worker heartbeats. graphile-worker 0.17 leaves a dead worker's jobs locked for four hours; every
 * worker process here records a heartbeat for its worker pool (app_private.beat_workers) several
 * times per WORKER_DEAD_AFTER_SECONDS, and in the same round unlocks the jobs of workers silent
 * for longer (app_private.unlock_dead_workers). So a crashed process's jobs run again within about
 * twice that bound, and its unsent e-mail claims pass on to the retry. Each round also counts the
 * e-mails not sent, by state, for the metric operators alert on.
 */
import type { WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import { repeatedTaskLog, type Logger } from "../logger";
import type { Metrics } from "../metrics";

export interface HeartbeatOptions {
  deadAfterSeconds: number;
  logger: Logger;
  metrics?: Metrics;
}

/** Heartbeats, four rounds per bound: a live pool is never silent for longer than a quarter of it plus a round's time. */
export function keepWorkersAlive(
  pool: Pool,
  events: WorkerEvents,
  { deadAfterSeconds, logger, metrics }: HeartbeatOptions,
): { stop(): Promise<void> } {
  const log = repeatedTaskLog(logger, "The worker heartbeat");
  // graphile-worker locks jobs in the name of a pool (one per runner), so pools are what beat.
  const beating = new Set<string>();
  const seen = new Set<string>();
  events.on("pool:create", ({ workerPool }) => {
    beating.add(workerPool.id);
    seen.add(workerPool.id);
    // At once, rather than at the next round: a pool without a heartbeat counts as dead.
    pool.query("select app_private.beat_workers($1)", [[workerPool.id]]).catch((error: Error) => log.failed(error));
  });
  // A pool that ended (stopped, or aborted by graphile-worker) beats no more: jobs it left locked
  // are unlocked once its heartbeat is stale.
  events.on("pool:release", ({ workerPool }) => beating.delete(workerPool.id));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // A process unlocks nobody until the others have had a whole bound to beat: after it starts (it
  // may start as the database comes back), and after one of its rounds failed (an outage stales
  // every heartbeat at once).
  let beatingSince = Date.now();
  const beat = async () => {
    // Every round queries, pools or none, so each round an outage spans fails and counts.
    await pool.query("select app_private.beat_workers($1)", [[...beating]]);
    if (Date.now() - beatingSince < deadAfterSeconds * 1000) return;
    const dead = (
      await pool.query<{ ids: string[] }>("select app_private.unlock_dead_workers(make_interval(secs => $1)) as ids", [
        deadAfterSeconds,
      ])
    ).rows[0].ids;
    if (dead.length)
      logger.warn({ pools: dead }, `Unlocked the jobs of ${dead.length} worker pool(s) silent for over ${deadAfterSeconds} s`);
  };
  // The metric's count, apart: a count that fails (under Citus, a worker node away) must not hold up the heartbeat.
  const count = async () => {
    if (!metrics) return;
    const { rows } = await pool.query<{ status: string; count: number }>("select * from app_private.open_delivery_counts()");
    for (const status of ["not_sent", "sending", "unknown"])
      metrics.openEmails.set({ status }, rows.find((r) => r.status === status)?.count ?? 0);
  };
  const countLog = repeatedTaskLog(logger, "Counting the e-mails not sent");
  let round: Promise<void> = Promise.resolve();
  // The next round is scheduled when this one ends; a failed round is one warning, and the next retries.
  const run = () => {
    round = beat()
      .then(
        () => log.succeeded(),
        (error: Error) => {
          beatingSince = Date.now();
          log.failed(error);
        },
      )
      .then(() => count().then(countLog.succeeded, countLog.failed))
      .then(() => {
        if (!stopped) timer = setTimeout(run, (deadAfterSeconds * 1000) / 4);
      });
  };
  run();
  return {
    /** Ends the rounds and forgets this process's pools; call it once they have stopped. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
      if (seen.size) {
        await pool
          .query("select app_private.forget_workers($1)", [[...seen]])
          .catch((error: Error) => logger.warn(`Worker heartbeats not removed: ${error.message}`));
      }
    },
  };
}
