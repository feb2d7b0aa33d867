/**
 * The background worker: graphile-worker on the owner's connection (jobs read across tenants,
 * as the owner's SECURITY DEFINER functions do), with our tasks and the trial-notice schedule.
 */
import { run } from "graphile-worker";
import { closePool, createPool } from "../db/pool";
import { graphileLogger, type Logger } from "../logger";
import type { Metrics } from "../metrics";
import { CRONTAB, makeTaskList, type TaskDependencies } from "./tasks";

export interface WorkerOptions extends TaskDependencies {
  /** The owner's URL on the app's database. */
  ownerUrl: string;
  /** Jobs run at once. */
  concurrency: number;
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
  logger,
  metrics,
  ...dependencies
}: WorkerOptions): Promise<RunningWorker> {
  // Our own pool, whose error handlers outlive the runner: a database that goes away (a restart)
  // is logged, not an unhandled 'error' crash.
  const pool = createPool("worker", ownerUrl, concurrency + 2, logger);
  metrics?.observePool("worker", pool);
  const runner = await run({
    pgPool: pool,
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
  return {
    async stop() {
      await runner.stop();
      await closePool(pool);
    },
  };
}
