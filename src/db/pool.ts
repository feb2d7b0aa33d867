/** Connection pools (pg) whose lost connections are logged instead of crashing the process. */
import { Pool } from "pg";
import type { Logger } from "../logger";

/**
 * A pool on `connectionString` with at most `max` connections. A connection the server drops
 * (restart, failover, an administrator) emits 'error', which without a listener would be an
 * uncaught exception; here it is one warning line, naming the pool.
 */
export function createPool(name: string, connectionString: string, max: number, logger: Logger): Pool {
  const pool = new Pool({ connectionString, max });
  const lost = (error: Error) => logger.warn({ pool: name, err: error }, "database connection lost");
  // Checked-out and idle connections alike report on the client; the pool repeats idle ones.
  pool.on("connect", (client) => client.on("error", lost));
  pool.on("error", () => {});
  return pool;
}
