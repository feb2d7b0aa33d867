/**
 * How every request's transaction starts, for PostGraphile (src/graphql-session.ts) and the
 * /auth routes alike: its first statement is `app_private.begin_request`, which checks the access
 * token's claims against the database once and applies the role and the claims for the transaction.
 */
import type { ClientBase, Pool, PoolClient, QueryResult } from "pg";
import type { AccessClaims } from "../auth/tokens";

/** What a request's transaction is started with. */
export interface RequestSettings {
  /** The verified access token's claims; none when signed out. */
  claims?: AccessClaims;
  /** The request's statement_timeout; the server's default when left out. */
  statementTimeoutMs?: number;
}

/**
 * Starts a request's transaction: `begin`, `app_private.begin_request` and transaction-local
 * settings in one round trip, a simple query whose values are quoted literals (they come from a
 * verified token, and escapeLiteral quotes anything). The settings: the statement timeout, and no
 * JIT optimisation, which costs these short queries more than it gains (PostGraphile's own
 * adaptor turns it off too). Resolves to false when the claims no longer describe a live session:
 * the transaction then runs as the visitor role without any claim, which sees and writes nothing.
 */
export async function beginRequest(client: ClientBase, settings: RequestSettings): Promise<boolean> {
  const claims = settings.claims;
  const literal = (value: string | null | undefined) => (value == null ? "null" : client.escapeLiteral(value));
  const args = [claims?.sub, claims?.tenant_id, claims?.user_role, claims?.doctor_id, claims?.sid].map(literal);
  const timeout =
    settings.statementTimeoutMs === undefined
      ? ""
      : `; select set_config('statement_timeout', ${literal(`${settings.statementTimeoutMs}ms`)}, true)`;
  // A simple query with several statements answers with one result each. The settings go through
  // set_config, not SET LOCAL: Citus replays a SET LOCAL on its worker connections by re-sending
  // the text of the query it came in, which here would call begin_request again there.
  const results = (await client.query(
    `begin; select set_config('jit_optimize_above_cost', '-1', true); select app_private.begin_request(${args.join(", ")}) as valid${timeout}`,
  )) as unknown as QueryResult<{ valid: boolean }>[];
  return results[2].rows[0].valid;
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
  let broken: Error | undefined;
  try {
    const result = await work(client, await beginRequest(client, settings));
    await client.query("commit");
    return result;
  } catch (error) {
    // A connection that cannot even roll back is discarded, not handed to the next request.
    await client.query("rollback").catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.release(broken);
  }
}
