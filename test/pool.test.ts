/**
 * Closing a pool waits for the server to close its connections: `npm start` stops the embedded
 * database right after, and a connection still open then ends with an error that is logged as
 * "database connection lost" on a clean shutdown.
 */
import type { PoolClient } from "pg";
import { closePool, createPool } from "../src/db/pool";
import { createLogger } from "../src/logger";
import { ownerUrl } from "./helpers";

test("closePool resolves once every connection, idle or just released, has ended", async () => {
  const pool = createPool("test", ownerUrl(), 3, createLogger({ level: "silent", pretty: false }));
  const clients: PoolClient[] = [];
  const ended = new Set<PoolClient>();
  pool.on("connect", (client) => {
    clients.push(client);
    client.once("end", () => ended.add(client));
  });
  const checkedOut = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
  for (const client of checkedOut) await client.query("select 1");
  checkedOut.forEach((client) => client.release());

  await closePool(pool);

  expect(clients).toHaveLength(3);
  expect(ended.size).toBe(3);
});
