/**
 * Runs SQL the way PostGraphile runs a request: on the authenticator's pool, in a transaction,
 * with the request's database settings (`role` and the JWT claims, from `pgSettingsFor`). The
 * /auth routes use it with no claims (the anonymous role), so sign-up and login get no
 * privilege beyond the few functions the migrations grant to that role.
 */
import type { Pool, PoolClient } from "pg";

/**
 * Runs `work` in a transaction with `settings` applied by `set_config(name, value, true)`, local to
 * the transaction (`role` included, as PostGraphile does); commits on success, rolls back on a throw.
 */
export async function inTransactionWith<T>(
  pool: Pool,
  settings: Record<string, string>,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    for (const [name, value] of Object.entries(settings)) {
      await client.query("select set_config($1, $2, true)", [name, value]);
    }
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
