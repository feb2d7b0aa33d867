/**
 * The background worker: graphile-worker on the owner's connection (jobs read across tenants,
 * as the owner's SECURITY DEFINER functions do), with our tasks and the trial-notice schedule.
 */
import { run } from "graphile-worker";
import { Pool } from "pg";
import { CRONTAB, makeTaskList, type TaskDependencies } from "./tasks";

export interface WorkerOptions extends TaskDependencies {
  /** The owner's URL on the app's database. */
  ownerUrl: string;
  /** Jobs run at once. */
  concurrency: number;
}

export interface RunningWorker {
  /** Waits for running jobs, then closes the worker's connections. */
  stop(): Promise<void>;
}

/** Starts the worker. Signals are the caller's to handle. */
export async function startWorker({ ownerUrl, concurrency, ...dependencies }: WorkerOptions): Promise<RunningWorker> {
  // Our own pool, whose error handlers outlive the runner: a database that goes away (a restart,
  // or the embedded server stopping first at shutdown) is logged, not an unhandled 'error' crash.
  const logError = (error: Error) => console.error(`[worker] database connection: ${error.message}`);
  const pool = new Pool({ connectionString: ownerUrl, max: concurrency + 2 });
  pool.on("error", logError);
  pool.on("connect", (client) => client.on("error", logError));
  const runner = await run({
    pgPool: pool,
    concurrency,
    noHandleSignals: true,
    taskList: makeTaskList(dependencies),
    crontab: CRONTAB,
  });
  return {
    async stop() {
      await runner.stop();
      await pool.end();
    },
  };
}
