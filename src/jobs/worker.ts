/**
 * The background worker: graphile-worker on the owner's connection (jobs read across tenants,
 * as the owner's SECURITY DEFINER functions do), with our tasks and the trial-notice schedule,
 * and the loop that moves jobs from app_private.job_outbox into graphile-worker's queue.
 */
import { EventEmitter } from "node:events";
import { run, type WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import { closePool, createPool } from "../db/pool";
import { graphileLogger, type Logger } from "../logger";
import type { Metrics } from "../metrics";
import { keepWorkersAlive } from "./heartbeat";
import { CRONTAB, makeTaskList, type TaskDependencies } from "./tasks";

export interface WorkerOptions extends TaskDependencies {
  /** The owner's URL on the app's database. */
  ownerUrl: string;
  /** Jobs run at once. */
  concurrency: number;
  /** How often the outbox is drained, milliseconds. */
  outboxIntervalMs: number;
  /** A worker silent this long is taken for dead, seconds (src/jobs/heartbeat.ts). */
  deadAfterSeconds: number;
  logger: Logger;
  /** Counts jobs by task and outcome, when given. */
  metrics?: Metrics;
}

export interface RunningWorker {
  /** Waits for running jobs, then closes the worker's connections. */
  stop(): Promise<void>;
}

/** Starts the worker. Signals are the caller's to handle. */
export async function startWorker({
  ownerUrl,
  concurrency,
  outboxIntervalMs,
  deadAfterSeconds,
  logger,
  metrics,
  ...dependencies
}: WorkerOptions): Promise<RunningWorker> {
  // Our own pool, whose error handlers outlive the runner: a database that goes away (a restart)
  // is logged, not an unhandled 'error' crash.
  const pool = createPool("worker", ownerUrl, concurrency + 2, logger);
  metrics?.observePool("worker", pool);
  // Ours, so the heartbeat sees every worker graphile-worker creates, from the first.
  const events: WorkerEvents = new EventEmitter();
  const heartbeat = keepWorkersAlive(pool, events, { deadAfterSeconds, logger, metrics });
  const runner = await run({
    pgPool: pool,
    events,
    concurrency,
    noHandleSignals: true,
    logger: graphileLogger(logger),
    taskList: makeTaskList(dependencies),
    crontab: CRONTAB,
  });
  if (metrics) {
    for (const outcome of ["success", "error", "failed"] as const) {
      runner.events.on(`job:${outcome}`, ({ job }) => metrics.workerJobs.inc({ task: job.task_identifier, outcome }));
    }
  }
  const outbox = drainOutboxEvery(pool, outboxIntervalMs, logger);
  return {
    async stop() {
      await outbox.stop();
      await runner.stop();
      await heartbeat.stop();
      await closePool(pool);
    },
  };
}

/**
 * Drains app_private.job_outbox every `intervalMs` (one round at a time; a failed round is logged
 * and the next one retries). Triggers write the outbox instead of graphile-worker's queue because
 * under Citus they run on a shard, where the queue does not exist.
 */
export function drainOutboxEvery(pool: Pool, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  // The next round is scheduled when this one ends, so slow rounds never pile up.
  const schedule = () => {
    timer = setTimeout(() => {
      round = pool
        .query("select app_private.drain_job_outbox()")
        .then(
          () => undefined,
          (error: Error) => logger.warn(`Job outbox not drained: ${error.message}`),
        )
        .then(() => {
          if (!stopped) schedule();
        });
    }, intervalMs);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
