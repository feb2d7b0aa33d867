/**
 * Sets up the app's database on a Citus cluster (a coordinator and workers): the same schema as
 * on one PostgreSQL, with tenant tables distributed by tenant_id and colocated with `tenants`, the
 * shared tables (plans, the medicine catalogue, time zones, login e-mails, slugs) as reference
 * tables, and graphile-worker's queue local to the coordinator. `npm run citus:setup` and
 * `npm run test:citus` run it.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { run } from "graphile-migrate";
import type { DatabaseRoles } from "../config";
import { fallbackLogger, graphileLogger, type Logger } from "../logger";
import { DISTRIBUTED_TABLES, parameters, projectScope, withParameters } from "./lint";
import { migrateSettings, setUpDatabase, type DatabaseUrls } from "./setup";

const root = path.resolve(__dirname, "../..");

/** Runs `work` on a connection to `url` with its database replaced by `database`. */
async function on<T>(url: string, database: string, work: (client: Client) => Promise<T>): Promise<T> {
  const target = new URL(url);
  target.pathname = `/${database}`;
  const client = new Client({ connectionString: target.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * The tables to distribute (the linter's tenant tables, with their distribution column), in an
 * order where every table comes after those its foreign keys point at: `tenants` first.
 */
const TABLES_TO_DISTRIBUTE = withParameters(`
  , tables as (${DISTRIBUTED_TABLES}),
  depth(oid, level) as (
    select oid, 0 from tables
    union all
    select k.conrelid, d.level + 1 from depth d
    join pg_constraint k on k.confrelid = d.oid and k.contype = 'f' and k.conrelid <> k.confrelid
    where k.conrelid in (select oid from tables)
  )
  select t.name, t.key from depth d join tables t on t.oid = d.oid group by t.name, t.key order by max(d.level), t.name`);

/**
 * Distributes the migrated tables, once (a table already in Citus' metadata is left alone).
 * Foreign keys from tenant tables to the future reference tables are dropped for the moment and
 * put back after: Citus refuses a key from a distributed table to a plain one, and a reference
 * table referenced by a plain table would turn that table into a coordinator-only one.
 */
async function distributeTables(client: Client, roles: DatabaseRoles, logger: Logger): Promise<void> {
  await client.query("begin");
  // Keys to reference tables need one connection per node for the whole transaction.
  await client.query("set local citus.multi_shard_modify_mode to 'sequential'");
  const { rows: done } = await client.query("select count(*)::int as n from pg_dist_partition");
  if (done[0].n > 0) {
    await client.query("rollback");
    return;
  }
  const scope = projectScope(roles);
  const distributed = (await client.query<{ name: string; key: string }>(TABLES_TO_DISTRIBUTE, parameters(scope))).rows;
  const reference = scope.referenceTables;
  const { rows: keys } = await client.query<{ tbl: string; name: string; definition: string }>(
    `select k.conrelid::regclass::text as tbl, k.conname as name, pg_get_constraintdef(k.oid) as definition
     from pg_constraint k join pg_class c on c.oid = k.confrelid join pg_namespace n on n.oid = c.relnamespace
     where k.contype = 'f' and format('%s.%s', n.nspname, c.relname) = any($1)`,
    [reference],
  );
  for (const key of keys) await client.query(`alter table ${key.tbl} drop constraint ${quoteIdent(key.name)}`);
  const [anchor] = scope.distributionAnchors;
  for (const { name, key } of distributed) {
    await client.query("select create_distributed_table($1, $2, colocate_with => $3)", [
      name,
      key,
      name === anchor ? "none" : anchor,
    ]);
  }
  for (const table of reference) await client.query("select create_reference_table($1)", [table]);
  for (const key of keys) {
    await client.query(`alter table ${key.tbl} add constraint ${quoteIdent(key.name)} ${key.definition}`);
  }
  await client.query("commit");
  for (const table of reference) await client.query("select truncate_local_data_after_distributing_table($1)", [table]);
  logger.info(`Citus: ${distributed.length} tables distributed by tenant, ${reference.length} reference tables`);
}

/**
 * Lets the request roles insert whole rows into the shards of the tables they may insert some
 * columns of. The coordinator checks the column grants (`grant insert (full_name, …)`: a client
 * never writes tenant_id); it then evaluates the defaults (tenant_id from the claim, id, …) and
 * sends the shard an INSERT that names every column, which the column grants would refuse.
 */
async function grantShardInserts(client: Client): Promise<void> {
  await client.query(`
    select run_command_on_placements(t.logicalrelid, format('grant insert on %%s to %I', r.rolname))
    from (select distinct d.logicalrelid, x.grantee
          from pg_dist_partition d
          join pg_attribute a on a.attrelid = d.logicalrelid and a.attacl is not null and not a.attisdropped
          cross join lateral aclexplode(a.attacl) x
          where x.privilege_type = 'INSERT') t
    join pg_roles r on r.oid = t.grantee`);
}

/**
 * Creates on the workers the app functions that Citus kept on the coordinator only: those that
 * name a table's row type, created by the migrations before the table was distributed
 * ("will be created only locally"). Replaying their definition now propagates them.
 */
async function propagateLocalFunctions(client: Client): Promise<void> {
  const { rows } = await client.query<{ definition: string }>(`
    select pg_get_functiondef(f.oid) as definition
    from pg_proc f join pg_namespace n on n.oid = f.pronamespace
    where n.nspname in ('app_public', 'app_private')
      and not exists (select from pg_dist_object o where o.classid = 'pg_proc'::regclass and o.objid = f.oid)`);
  for (const { definition } of rows) await client.query(definition);
}

/**
 * Grants each app function's privileges again, on the coordinator, which now propagates them:
 * Citus created the functions on the workers with PostgreSQL's default (EXECUTE for PUBLIC),
 * because `alter default privileges`, which the migrations rely on, does not reach them.
 */
async function propagateFunctionPrivileges(client: Client): Promise<void> {
  const { rows } = await client.query<{ statement: string }>(`
    select format('revoke all on function %s from public', f.oid::regprocedure) as statement
    from pg_proc f join pg_namespace n on n.oid = f.pronamespace
    where n.nspname in ('app_public', 'app_private') and f.proacl is not null
    union all
    select format('grant execute on function %s to %I', f.oid::regprocedure, r.rolname)
    from pg_proc f join pg_namespace n on n.oid = f.pronamespace
    cross join lateral aclexplode(f.proacl) a join pg_roles r on r.oid = a.grantee
    where n.nspname in ('app_public', 'app_private') and a.privilege_type = 'EXECUTE'`);
  for (const { statement } of rows) await client.query(statement);
}

/**
 * Brings the app's database up to date on a Citus cluster: `nodeUrls` are superuser URLs of the
 * coordinator, then of each worker; `urls` name the app database on the coordinator. Creates the
 * database and the extension on every node, adds the workers, creates the roles inside the app
 * database (where Citus propagates them), runs the same set-up as one PostgreSQL, distributes the
 * tables, and applies what Citus does not propagate. Idempotent.
 */
export async function setUpCitus(
  nodeUrls: string[],
  urls: DatabaseUrls,
  roles: DatabaseRoles,
  options: { currentMigration?: boolean; logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? fallbackLogger();
  const [coordinator, ...workers] = nodeUrls;
  const database = decodeURIComponent(new URL(urls.ownerUrl).pathname.slice(1));
  const maintenance = decodeURIComponent(new URL(coordinator).pathname.slice(1)) || "postgres";
  for (const node of nodeUrls) {
    await on(node, maintenance, async (client) => {
      const { rowCount } = await client.query("select from pg_database where datname = $1", [database]);
      if (!rowCount) await client.query(`create database ${quoteIdent(database)}`); // not propagated by Citus
    });
    await on(node, database, (client) => client.query("create extension if not exists citus"));
  }
  await on(coordinator, database, async (client) => {
    const host = new URL(coordinator);
    await client.query("select citus_set_coordinator_host($1, $2)", [host.hostname, Number(host.port || 5432)]);
    for (const worker of workers) {
      const { hostname, port } = new URL(worker);
      const { rowCount } = await client.query("select from pg_dist_node where nodename = $1 and nodeport = $2", [
        hostname,
        Number(port || 5432),
      ]);
      if (!rowCount) await client.query("select citus_add_node($1, $2)", [hostname, Number(port || 5432)]);
    }
  });
  // Roles made in the app database, after the extension, exist on every node.
  const settings = { ...migrateSettings(urls, roles), logger: graphileLogger(logger, "debug") };
  await run(settings, readFileSync(path.join(root, "db/roles.sql"), "utf8"), "db/roles.sql", { root: true });
  // As graphile-migrate's reset makes it on one PostgreSQL: the owner owns the database (Citus
  // propagates this, and refuses it on a worker).
  await on(coordinator, database, (client) =>
    client.query(`alter database ${quoteIdent(database)} owner to ${quoteIdent(roles.owner)}`),
  );
  await on(coordinator, database, async (client) => {
    // Citus distributes tables that have triggers only when told that they are written for it.
    await client.query(`alter database ${quoteIdent(database)} set citus.enable_unsafe_triggers = on`);
    // SET LOCAL of the claims reaches the workers of each transaction.
    await client.query(`alter role ${quoteIdent(roles.authenticator)} set citus.propagate_set_commands = 'local'`);
    // Citus opens a query's worker connections as the role the query runs as, so the request
    // roles must log in on the workers. Each gets a random password that only Citus knows
    // (pg_dist_authinfo, on every node): with password authentication between the nodes, nobody
    // else can sign in as them there and set claims.
    for (const role of [roles.visitor, roles.anonymous]) {
      const secret = randomBytes(32).toString("hex");
      await client.query(`alter role ${quoteIdent(role)} login password ${literal(secret)}`);
      await client.query(
        `select run_command_on_all_nodes(format(
           'delete from pg_dist_authinfo where rolename = %L; insert into pg_dist_authinfo (nodeid, rolename, authinfo) values (0, %L, %L)',
           $1::text, $1::text, 'password=' || $2::text))`,
        [role, secret],
      );
    }
    await client.query(
      `grant connect on database ${quoteIdent(database)} to ${quoteIdent(roles.visitor)}, ${quoteIdent(roles.anonymous)}`,
    );
  });
  await setUpDatabase(urls, roles, options);
  await on(coordinator, database, async (client) => {
    await client.query("set citus.enable_unsafe_triggers = on");
    await distributeTables(client, roles, logger);
    await grantShardInserts(client);
    // db/after-reset.sql closed the database to PUBLIC on the coordinator; the workers' copies too.
    await client.query(`revoke all on database ${quoteIdent(database)} from public`);
    // And its default privileges, so that functions later migrations create reach the workers
    // without EXECUTE for PUBLIC, as on the coordinator.
    await client.query("select run_command_on_workers($1)", [
      `alter default privileges for role ${quoteIdent(roles.owner)} revoke execute on functions from public`,
    ]);
    await propagateLocalFunctions(client);
    await propagateFunctionPrivileges(client);
  });
}
