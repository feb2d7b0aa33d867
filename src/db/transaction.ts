/**
 * How every request's transaction starts, for PostGraphile (src/db/request-adaptor.ts) and the
 * /auth routes alike: its first statement is `app_private.begin_request`, which checks the access
 * token's claims against the database once and applies the role and the claims with SET LOCAL.
 */
import type { ClientBase, Pool, PoolClient } from "pg";
import type { AccessClaims } from "../auth/tokens";

/** What a request's transaction is started with. */
export interface RequestSettings {
  /** The verified access token's claims; none when signed out. */
  claims?: AccessClaims;
  /** The request's statement_timeout; the server's default when left out. */
  statementTimeoutMs?: number;
}

/**
 * Runs `app_private.begin_request` (and sets the statement timeout, transaction-local) on a client
 * inside a transaction. Resolves to false when the claims no longer describe a live session: the
 * transaction then runs as the visitor role without any claim, which sees and writes nothing.
 */
export async function beginRequest(client: ClientBase, settings: RequestSettings): Promise<boolean> {
  const claims = settings.claims;
  const { rows } = await client.query<{ valid: boolean }>(
    `select app_private.begin_request($1, $2, $3, $4, $5) as valid${
      settings.statementTimeoutMs === undefined ? "" : ", set_config('statement_timeout', $6, true)"
    }`,
    [
      claims?.sub ?? null,
      claims?.tenant_id ?? null,
      claims?.user_role ?? null,
      claims?.doctor_id ?? null,
      claims?.sid ?? null,
      ...(settings.statementTimeoutMs === undefined ? [] : [`${settings.statementTimeoutMs}ms`]),
    ],
  );
  return rows[0].valid;
}

/**
 * Runs `work` in a transaction started by `beginRequest`; commits on success, rolls back on a
 * throw. `work` runs even when the session has ended (it then sees nothing); callers that must
 * refuse such a request check the boolean it is given.
 */
export async function inTransactionWith<T>(
  pool: Pool,
  settings: RequestSettings,
  work: (client: PoolClient, sessionValid: boolean) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client, await beginRequest(client, settings));
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
