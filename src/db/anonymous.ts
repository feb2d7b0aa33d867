/**
 * Runs the /auth routes' SQL the way PostGraphile runs a request without a token: on the
 * authenticator's pool, in a transaction, as `clinic_anonymous`. So sign-up and login get no
 * privilege beyond the few functions db migrations grant to that role.
 */
import type { Pool, PoolClient } from "pg";

/** Runs `work` in a transaction as clinic_anonymous; commits on success, rolls back on a throw. */
export async function asAnonymous<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("set local role clinic_anonymous");
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
