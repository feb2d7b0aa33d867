/**
 * Worker heartbeats. graphile-worker 0.17 leaves a dead worker's jobs locked for four hours; every
 * worker process here records a heartbeat for its workers (app_private.beat_workers) several
 * times per WORKER_DEAD_AFTER_SECONDS, and in the same round unlocks the jobs of workers silent
 * for longer (app_private.unlock_dead_workers), on start-up too. So a crashed process's jobs run
 * again within about that bound, and its unsent e-mail claims pass on to the retry. After a
 * failed round (a database outage stales every heartbeat at once) it waits a whole bound first. The round also
 * counts the e-mails whose delivery is unknown, for the metric operators alert on.
 */
import type { WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger } from "../logger";
import type { Metrics } from "../metrics";

export interface HeartbeatOptions {
  deadAfterSeconds: number;
  logger: Logger;
  metrics?: Metrics;
}

/** Heartbeats, four rounds per bound: a live worker is never silent for longer than a quarter of it plus a round's time. */
export function keepWorkersAlive(
  pool: Pool,
  events: WorkerEvents,
  { deadAfterSeconds, logger, metrics }: HeartbeatOptions,
): { stop(): Promise<void> } {
  const workerIds = new Set<string>();
  events.on("worker:create", ({ worker }) => {
    workerIds.add(worker.workerId);
    // At once, rather than at the next round: a worker without a heartbeat counts as dead.
    pool
      .query("select app_private.beat_workers($1)", [[worker.workerId]])
      .catch((error: Error) => logger.warn(`Worker heartbeat failed: ${error.message}`));
  });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // After a round failed (the database was unreachable), every process's heartbeats went stale at
  // once: this one unlocks nobody until the others have had a whole bound to beat again.
  let beatingSince = 0;
  const beat = async () => {
    if (workerIds.size) await pool.query("select app_private.beat_workers($1)", [[...workerIds]]);
    if (Date.now() - beatingSince < deadAfterSeconds * 1000) return;
    const dead = (
      await pool.query<{ ids: string[] }>("select app_private.unlock_dead_workers(make_interval(secs => $1)) as ids", [
        deadAfterSeconds,
      ])
    ).rows[0].ids;
    if (dead.length)
      logger.warn({ workerIds: dead }, `Unlocked the jobs of ${dead.length} worker(s) silent for over ${deadAfterSeconds} s`);
    if (metrics) {
      const { rows } = await pool.query<{ count: number }>(
        "select count(*)::int as count from app_private.email_deliveries where status = 'unknown'",
      );
      metrics.unknownEmails.set(rows[0].count);
    }
  };
  let round: Promise<void> = Promise.resolve();
  // The next round is scheduled when this one ends; a failed round is one warning, and the next retries.
  const run = () => {
    round = beat()
      .catch((error: Error) => {
        beatingSince = Date.now();
        logger.warn(`Worker heartbeat failed: ${error.message}`);
      })
      .then(() => {
        if (!stopped) timer = setTimeout(run, (deadAfterSeconds * 1000) / 4);
      });
  };
  run();
  return {
    /** Ends the rounds and forgets this process's workers; call it once they have stopped. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
      if (workerIds.size) {
        await pool
          .query("select app_private.forget_workers($1)", [[...workerIds]])
          .catch((error: Error) => logger.warn(`Worker heartbeats not removed: ${error.message}`));
      }
    },
  };
}
