/**
 * What only a Citus cluster can show (`npm run test:citus`): every node holds the same policies
 * and function privileges, nothing restrictive reached a shard, tenants on different workers stay
 * apart with the claims applied on the workers, and a query with an explicit tenant goes to one
 * shard, as every GraphQL read does.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import {
  asClaims,
  asOwner,
  closePool,
  errorCodes,
  ownerUrl,
  seedClinicalRows,
  signUpClinic,
  startServer,
  useServer,
  type Clinic,
} from "../helpers";

const server = useServer();

afterAll(async () => {
  await closePool();
});

const nodes = (): string[] => JSON.parse(process.env.TEST_CITUS_NODES as string);

/** The value of `sql` (one row, one column) on the coordinator and on every worker, by node. */
async function onEveryNode(sql: string): Promise<string[]> {
  return asOwner(async (client) => {
    const { rows } = await client.query<{ result: string; success: boolean }>(
      "select success, result from run_command_on_all_nodes($1) order by nodeid",
      [sql],
    );
    for (const row of rows) expect(row).toMatchObject({ success: true });
    return rows.map((row) => row.result);
  });
}

/** The worker (host:port) that holds the tenant's rows. */
async function nodeOf(tenantId: string): Promise<string> {
  return asOwner(async (client) => {
    const { rows } = await client.query(
      `select nodename || ':' || nodeport as node from pg_dist_shard_placement
       where shardid = get_shard_id_for_distribution_column('app_public.tenants', $1::uuid)`,
      [tenantId],
    );
    return rows[0].node as string;
  });
}

test("the cluster has a coordinator and at least two workers, and the tenant tables are distributed", async () => {
  expect(nodes().length).toBeGreaterThanOrEqual(3);
  const kinds = await asOwner(async (client) => {
    const { rows } = await client.query(
      "select logicalrelid::text as name, partmethod from pg_dist_partition where logicalrelid::text in ('app_public.appointments', 'app_private.login_emails')",
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.partmethod]));
  });
  expect(kinds).toEqual({ "app_public.appointments": "h", "app_private.login_emails": "n" });
});

test("every node has the same policies on the app's tables, all permissive, also on the shards", async () => {
  const policies = await onEveryNode(
    `select md5(string_agg(format('%s %s %s %s %s %s', c.relname, p.polname, p.polpermissive, p.polcmd,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)), ',' order by c.relname, p.polname))
     from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'app_public' and c.oid in (select logicalrelid from pg_dist_partition)`,
  );
  expect(new Set(policies).size).toBe(1);
  expect(await onEveryNode("select count(*) from pg_policy where not polpermissive")).toEqual(nodes().map(() => "0"));
});

test("every node grants the same functions to the same roles", async () => {
  const privileges = await onEveryNode(
    `select md5(string_agg(format('%s %s', f.oid::regprocedure, f.proacl), ',' order by f.oid::regprocedure::text))
     from pg_proc f join pg_namespace n on n.oid = f.pronamespace where n.nspname in ('app_public', 'app_private')`,
  );
  expect(new Set(privileges).size).toBe(1);
});

describe("two tenants on different workers", () => {
  let a: Clinic;
  let b: Clinic;
  let patientOfA: string;
  beforeAll(async () => {
    a = await signUpClinic();
    do b = await signUpClinic();
    while ((await nodeOf(b.tenantId)) === (await nodeOf(a.tenantId)));
    patientOfA = (await seedClinicalRows(a)).patient;
  });

  test("A's admin reads A's patient over GraphQL: the claims reached the worker that holds it", async () => {
    const { body } = await server.graphql(
      a.admin.token,
      `{ patient(rowId: "${patientOfA}") { fullName } patients { totalCount } }`,
    );
    expect(body).toEqual({ data: { patient: { fullName: "Pat Patient" }, patients: { totalCount: 1 } } });
  });

  test("B's admin finds nothing of A's, by id or by listing", async () => {
    const { body } = await server.graphql(
      b.admin.token,
      `{ patient(rowId: "${patientOfA}") { fullName } patients { totalCount } }`,
    );
    expect(body).toEqual({ data: { patient: null, patients: { totalCount: 0 } } });
  });

  test("B's admin cannot write A's patient, even naming A's tenant in SQL", async () => {
    const changed = await asClaims(b.admin.claims, async (client) => {
      const { rowCount } = await client.query(
        "update app_public.patients set full_name = 'Mallory' where tenant_id = $1 and id = $2",
        [a.tenantId, patientOfA],
      );
      return rowCount;
    });
    expect(changed).toBe(0);
  });
});

test("a query with an explicit tenant goes to one shard; under the policies alone it goes to all", async () => {
  const clinic = await signUpClinic();
  const tasks = (plan: string) => Number(/Task Count: (\d+)/.exec(plan)?.[1]);
  const explain = (sql: string, params: unknown[]) =>
    asClaims(clinic.admin.claims, async (client) => {
      const { rows } = await client.query(`explain ${sql}`, params);
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
  const routed = await explain("select * from app_public.appointments where tenant_id = $1 order by starts_at", [
    clinic.tenantId,
  ]);
  const fannedOut = await explain("select * from app_public.appointments order by starts_at", []);
  expect(tasks(routed)).toBe(1);
  expect(tasks(fannedOut)).toBeGreaterThan(1);
});

/** Runs `work` as a superuser on the test database (Citus' counters and their setting need one). */
async function asSuperuser<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const url = new URL(process.env.TEST_ROOT_URL as string);
  url.pathname = new URL(ownerUrl()).pathname;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

test("GraphQL reads of a tenant go to one shard each (src/graphql-routing.ts); under the policies alone, to every shard", async () => {
  const clinic = await signUpClinic();
  await seedClinicalRows(clinic);
  // The front end's own operations (client/operations): the README's week schedule and the session.
  const operation = (name: string) => readFileSync(path.join(__dirname, "../../client/operations", `${name}.graphql`), "utf8");
  const week = { from: new Date().toISOString(), to: new Date(Date.now() + 7 * 86_400_000).toISOString() };
  const schedule = { query: operation("WeekSchedule"), variables: week };
  const session = { query: operation("CurrentSession"), variables: {} };
  const nested = {
    query: `{ currentUser { tenant { doctors { totalCount } } } currentTenant { isReadOnly doctors { totalCount } } }`,
    variables: {},
  };
  // Citus counts the queries it runs on one shard and on several, per database (13.1 and later).
  // The servers started below open new connections, which take the setting.
  await asSuperuser(async (client) => {
    const { rows } = await client.query("select current_database() as name");
    await client.query(`alter database "${rows[0].name}" set citus.enable_stat_counters = on`);
  });
  const executions = async (
    tenantRouting: boolean,
    { query, variables }: { query: string; variables: Record<string, unknown> },
  ) => {
    const app = await startServer({ tenantRouting });
    try {
      await app.graphql(clinic.admin.token, query, variables); // the pool's connections are made
      await asSuperuser((client) =>
        client.query("select citus_stat_counters_reset(oid) from pg_database where datname = current_database()"),
      );
      const { body } = await app.graphql(clinic.admin.token, query, variables);
      expect(errorCodes(body)).toEqual([]);
      return asSuperuser(async (client) => {
        const { rows } = await client.query(
          `select query_execution_single_shard::int as single, query_execution_multi_shard::int as multi
           from citus_stat_counters where name = current_database()`,
        );
        return rows[0] as { single: number; multi: number };
      });
    } finally {
      await app.close();
    }
  };
  for (const request of [schedule, session, nested]) {
    const routed = await executions(true, request);
    expect(routed.multi).toBe(0);
    expect(routed.single).toBeGreaterThan(0);
  }
  const fannedOut = await executions(false, schedule);
  expect(fannedOut.multi).toBeGreaterThan(0);
});
