/**
 * The background worker: graphile-worker on the owner's connection (jobs read across tenants,
 * as the owner's SECURITY DEFINER functions do), with our tasks and the trial-notice schedule,
 * and the loop that moves jobs from app_private.job_outbox into graphile-worker's queue.
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { run, type Runner, type WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import { closePool, createPool } from "../db/pool";
import { graphileLogger, repeatedTaskLog, type Logger } from "../logger";
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
  // Ours, so the heartbeat sees every pool graphile-worker creates, from the first.
  const events: WorkerEvents = new EventEmitter();
  const heartbeat = keepWorkersAlive(pool, events, { deadAfterSeconds, logger, metrics });
  if (metrics) {
    for (const outcome of ["success", "error", "failed"] as const) {
      events.on(`job:${outcome}`, ({ job }) => metrics.workerJobs.inc({ task: job.task_identifier, outcome }));
    }
  }
  const taskList = makeTaskList(dependencies);
  const start = () =>
    run({
      pgPool: pool,
      events,
      concurrency,
      noHandleSignals: true,
      logger: graphileLogger(logger),
      taskList,
      crontab: CRONTAB,
      // Batched, a job's outcome that cannot be recorded (the database is away) ends the runner,
      // which is replaced below; unbatched, graphile-worker 0.17.3 leaves that failure unhandled
      // and the whole process (with `npm start`, the API's) exits.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
  let stopping = false;
  let runner: Runner | undefined = await start();
  let restarted: Promise<void> = Promise.resolve();
  // graphile-worker 0.17.3 ends its runner at the first job outcome it cannot record (its batch
  // does not retry), as when the database goes away mid-job. A new one takes over once the
  // database answers, in the same process (with `npm start`, the API's): the jobs the old one left
  // locked come back through the heartbeats, and run again (an e-mail finds its delivery settled).
  const supervise = (current: Runner) => {
    // graphile-worker settles a runner's promise when its pool ends, with an error or without one.
    const ended = (error?: Error) => {
      if (stopping) return;
      logger.error(`Worker stopped (${error?.message ?? "its pool ended"}); a new one starts when the database answers`);
      runner = undefined;
      restarted = (async () => {
        while (!stopping && !runner) {
          await sleep(RESTART_DELAY_MS);
          if (stopping) return;
          runner = await start().catch((failure: Error) => {
            logger.warn(`Worker not restarted yet: ${failure.message}`);
            return undefined;
          });
          if (runner) supervise(runner);
        }
      })();
    };
    current.promise.then(() => ended(), ended);
  };
  supervise(runner);
  const outbox = drainOutboxEvery(pool, outboxIntervalMs, logger);
  return {
    async stop() {
      stopping = true;
      await outbox.stop();
      await restarted;
      // A runner that ended on its own in the meantime refuses to stop again: nothing is left to wait for.
      await runner?.stop().catch(() => {});
      await heartbeat.stop();
      await closePool(pool);
    },
  };
}

/** How long a worker waits before it starts a new runner in place of one graphile-worker ended. */
const RESTART_DELAY_MS = 5_000;

/**
 * Drains app_private.job_outbox every `intervalMs` (one round at a time; a failed round is logged,
 * once until it works again, and the next one retries). Triggers write the outbox instead of
 * graphile-worker's queue because under Citus they run on a shard, where the queue does not exist.
 */
export function drainOutboxEvery(pool: Pool, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const log = repeatedTaskLog(logger, "Draining the job outbox");
  // The next round is scheduled when this one ends, so slow rounds never pile up.
  const schedule = () => {
    timer = setTimeout(() => {
      round = pool
        .query("select app_private.drain_job_outbox()")
        .then(
          () => log.succeeded(),
          (error: Error) => log.failed(error),
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
