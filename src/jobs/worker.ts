/**
 * The background worker: graphile-worker on the owner's connection (jobs read across tenants,
 * as the owner's SECURITY DEFINER functions do), with our tasks and the trial-notice schedule.
 */
import { run, type Runner } from "graphile-worker";
import { CRONTAB, makeTaskList, type TaskDependencies } from "./tasks";

export interface WorkerOptions extends TaskDependencies {
  /** clinic_owner's URL on the app's database. */
  ownerUrl: string;
  /** Jobs run at once. */
  concurrency: number;
}

/** Starts the worker; `stop()` on the result waits for running jobs. Signals are the caller's to handle. */
export function startWorker({ ownerUrl, concurrency, ...dependencies }: WorkerOptions): Promise<Runner> {
  return run({
    connectionString: ownerUrl,
    concurrency,
    noHandleSignals: true,
    taskList: makeTaskList(dependencies),
    crontab: CRONTAB,
  });
}
