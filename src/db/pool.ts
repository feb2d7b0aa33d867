/** Connection pools (pg) whose lost connections are logged instead of crashing the process. */
import { Pool, type PoolClient } from "pg";
import type { Logger } from "../logger";

/** Each pool's open connections, for closePool to wait on. */
const openConnections = new WeakMap<Pool, Set<PoolClient>>();

/**
 * A pool on `connectionString` with at most `max` connections. A connection the server drops
 * (restart, failover, an administrator) emits 'error', which without a listener would be an
 * uncaught exception; here it is one warning line, naming the pool, without a stack.
 */
export function createPool(name: string, connectionString: string, max: number, logger: Logger): Pool {
  // A database that does not answer (a network partition rather than a refusal) fails a request
  // after 10 s (answered 503 UNAVL) instead of holding it for minutes; keep-alive finds dead sockets.
  const pool = new Pool({ connectionString, max, connectionTimeoutMillis: 10_000, keepAlive: true });
  const open = new Set<PoolClient>();
  openConnections.set(pool, open);
  // The server's words and code are the news; the stack (always pg's parser) is not.
  const lost = (error: Error & { code?: string }) =>
    logger.warn({ pool: name, code: error.code }, `database connection lost: ${error.message}`);
  // Checked-out and idle connections alike report on the client; the pool repeats idle ones.
  pool.on("connect", (client) => {
    client.on("error", lost);
    open.add(client);
    client.once("end", () => open.delete(client));
  });
  pool.on("error", () => {});
  return pool;
}

/**
 * Ends a pool made by createPool and resolves once the server has closed every connection.
 * `pool.end()` resolves as soon as it has asked them to close: a database stopped right after
 * would end them with "terminating connection", logged as a lost connection on a clean shutdown.
 * Waits at most `timeoutMs` for a server that no longer answers.
 */
export async function closePool(pool: Pool, timeoutMs = 5_000): Promise<void> {
  const open = [...(openConnections.get(pool) ?? [])];
  const closed = Promise.all(open.map((client) => new Promise((resolve) => client.once("end", resolve))));
  await pool.end();
  // A server that no longer answers would keep the sockets (and the shutdown) waiting for minutes.
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([closed, gaveUp]);
  clearTimeout(timer);
}
