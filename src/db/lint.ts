/**
 * A linter over the migrated database's catalogue: SQL against `pg_catalog`, never the text of
 * migrations, so it judges what is really there. Each rule has a stable id, names the object,
 * and says how to fix it. `npm run lint:db` prints the findings; the test suite fails on any.
 */
import type { Client } from "pg";
import type { DatabaseRoles } from "../config";

/** Where the rules look, and what they forgive. Every allow-list entry says why. */
export interface LintScope {
  /** Schemas PostGraphile exposes. */
  exposedSchemas: string[];
  /** Schemas no API role may read or write. */
  privateSchemas: string[];
  /** Roles the API connects as or switches to. */
  apiRoles: string[];
  /** Roles that act before sign-in. */
  anonymousRoles: string[];
  /** `schema.table`s that need no `tenant_id`. */
  tenantlessTables: string[];
  /** `schema.table`s whose `tenant_id` may be NULL. */
  nullableTenantTables: string[];
  /** `schema.constraint_or_index`es that are unique across tenants on purpose. */
  globalUniques: string[];
  /** `schema.function`s that are SECURITY DEFINER and callable before sign-in. */
  publicDefinerFunctions: string[];
  /** `schema.constraint`s: foreign keys between tenant tables that leave out tenant_id on purpose. */
  crossTenantForeignKeys: string[];
  /** `schema.table: role`: a private table one API role reads and writes directly, on purpose. */
  privateTablesForApi: string[];
  /** `schema.table`s distributed by their `id` that tenant tables' `tenant_id` points at (Citus colocates by it). */
  distributionAnchors: string[];
  /** `schema.function`s that may write graphile-worker's queue: they run on the coordinator only. */
  jobQueueWriters: string[];
  /** `schema.table`s shared by every tenant: Citus copies them to every node (reference tables). */
  referenceTables: string[];
}

/** Tables distributed by their own `id` (every other tenant table by `tenant_id`, which points at it). */
export const DISTRIBUTION_ANCHORS = ["app_public.tenants"];

/** The project's scope for a deployment's database roles (configuration). */
export const projectScope = (roles: DatabaseRoles): LintScope => ({
  exposedSchemas: ["app_public"],
  privateSchemas: ["app_private", "graphile_worker", "graphile_migrate"],
  apiRoles: [roles.authenticator, roles.anonymous, roles.visitor],
  anonymousRoles: [roles.anonymous],
  tenantlessTables: [
    "app_public.subscription_plans", // the public price list: the same for every tenant
    "app_public.tenants", // the tenant itself: its `id` is what `tenant_id` points at
  ],
  nullableTenantTables: [
    "app_public.medicines", // NULL: the global catalogue, shared read-only by every tenant
  ],
  globalUniques: [
    "app_public.medicines_tenant_id_name_dosage_form_strength_key", // includes tenant_id, NULLS NOT DISTINCT for the global catalogue
  ],
  publicDefinerFunctions: [
    "app_private.register_clinic", // sign-up: nobody is signed in yet
    "app_private.login_candidate", // login: nobody is signed in yet
    "app_private.set_password_with_token", // account activation: nobody is signed in yet
    "app_private.unsubscribe_patient", // the link in a patient's e-mail: patients never sign in
    "app_private.answer_waitlist_offer", // the waitlist offer's link: patients never sign in
    "app_private.create_refresh_token", // the server starts a session after it verified a password
    "app_private.rotate_refresh_token", // refresh: the access token has expired, so nobody is signed in
    "app_private.revoke_refresh_token", // logout with only the refresh token
  ],
  crossTenantForeignKeys: [
    // An item may prescribe a global medicine (tenant_id NULL); the trigger
    // tg_prescription_items__fill_and_check refuses another tenant's own medicine.
    "app_public.prescription_items_medicine_id_fkey",
  ],
  privateTablesForApi: [
    // Rate-limit counters, kept by the API's own login before any request role is set (rate-limiter-flexible
    // runs plain SQL on them); they hold no secret, and the request roles get nothing.
    `app_private.rate_limits: ${roles.authenticator}`,
    // Login e-mails, reserved by addUser and changeUserEmail with the caller's rights (under Citus
    // the user row must see the reservation, made on the same connection); row-level security
    // limits a request to its own tenant's e-mails.
    `app_private.login_emails: ${roles.visitor}`,
  ],
  distributionAnchors: DISTRIBUTION_ANCHORS,
  jobQueueWriters: [
    "app_private.drain_job_outbox", // the outbox's drain: the worker calls it on the coordinator
    "app_private.unlock_dead_workers", // unlocks a dead worker's jobs: every worker process calls it on the coordinator
  ],
  referenceTables: [
    "app_public.subscription_plans", // the price list
    "app_public.medicines", // the global catalogue, with each tenant's own beside it
    "app_private.time_zone_names", // read by the tenants' time-zone check on every node
    "app_private.login_emails", // login e-mails, unique across tenants
    "app_private.tenant_slugs", // slugs, unique across tenants
  ],
});

export interface Finding {
  rule: string;
  object: string;
  problem: string;
  fix: string;
}

interface Rule {
  id: string;
  problem: string;
  fix: string;
  /** Returns one row `{object}` per offending object. Parameters: see `parameters()`. */
  sql: string;
}

// $1 exposed schemas, $2 private schemas, $3 API roles, $4 anonymous roles,
// $5 tenantless tables, $6 global uniques, $7 public definer functions, $8 nullable tenant tables,
// $9 cross-tenant foreign keys, $10 private tables for an API role, $11 distribution anchors,
// $12 job queue writers, $13 reference tables.
export const parameters = (s: LintScope) => [
  s.exposedSchemas,
  s.privateSchemas,
  s.apiRoles,
  s.anonymousRoles,
  s.tenantlessTables,
  s.globalUniques,
  s.publicDefinerFunctions,
  s.nullableTenantTables,
  s.crossTenantForeignKeys,
  s.privateTablesForApi,
  s.distributionAnchors,
  s.jobQueueWriters,
  s.referenceTables,
];

/** Exposed tables (plain and partitioned), as `schema.table` with their oid. */
const EXPOSED_TABLES = `
  select c.oid, format('%s.%s', n.nspname, c.relname) as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = any($1) and c.relkind in ('r', 'p')`;

/** Exposed tables that belong to a tenant: not allow-listed as tenantless. */
const TENANT_TABLES = `select * from (${EXPOSED_TABLES}) t where name <> all($5)`;

/**
 * The tables Citus distributes by tenant, with the column it distributes them by: every table of
 * our schemas with a NOT NULL tenant_id that is not a reference table, and the anchors (tenants,
 * by id). The reference tables (plans, the medicine catalogue, …) are copied to every node.
 */
export const DISTRIBUTED_TABLES = `
  select c.oid, c.reltype, format('%s.%s', n.nspname, c.relname) as name,
         case when format('%s.%s', n.nspname, c.relname) = any($11) then 'id' else 'tenant_id' end as key
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = any($1 || $2) and c.relkind in ('r', 'p') and format('%s.%s', n.nspname, c.relname) <> all($13)
    and (format('%s.%s', n.nspname, c.relname) = any($11)
         or exists (select from pg_attribute a
                    where a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnotnull and not a.attisdropped))`;

/** Our functions, and (recursively) the schema-qualified functions their source calls. */
const CALLED_FUNCTIONS = (roots: string) => `
  with recursive called(origin, fn) as (
    select r.origin, r.fn from (${roots}) r
    union
    select c.origin, g.oid
    from called c join pg_proc f on f.oid = c.fn
    cross join lateral regexp_matches(f.prosrc, '(\\w+)\\.(\\w+)\\s*\\(', 'g') as m(part)
    join pg_namespace gn on gn.nspname = m.part[1]
    join pg_proc g on g.pronamespace = gn.oid and g.proname = m.part[2]
  )
  select * from called`;

export const RULES: Rule[] = [
  {
    id: "rls-enabled",
    problem: "Row-level security is not enabled: every row is visible to whoever has a grant.",
    fix: "alter table … enable row level security; then add policies.",
    sql: `select t.name as object from (${EXPOSED_TABLES}) t join pg_class c on c.oid = t.oid where not c.relrowsecurity`,
  },
  {
    id: "rls-forced",
    problem:
      "Row-level security is not forced: the table owner (and its SECURITY DEFINER functions) skip the policies unless they bypass RLS on purpose.",
    fix: "alter table … force row level security;",
    sql: `select t.name as object from (${EXPOSED_TABLES}) t join pg_class c on c.oid = t.oid where not c.relforcerowsecurity`,
  },
  {
    id: "grant-without-policy",
    problem:
      "An API role has a privilege on the table but no policy for that command applies to it, so the grant either does nothing or (without RLS) everything.",
    fix: "Add a policy `for <command> to <role>`, or revoke the privilege.",
    sql: `
      select format('%s: %s to %s', t.name, g.command, r.rolname) as object
      from (${EXPOSED_TABLES}) t
      cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE']) as g(command)
      join pg_roles r on r.rolname = any($3)
      where (has_table_privilege(r.oid, t.oid, g.command)
             or (g.command in ('SELECT', 'INSERT', 'UPDATE') and has_any_column_privilege(r.oid, t.oid, g.command)))
        and not exists (
          select from pg_policy p
          where p.polrelid = t.oid and p.polpermissive
            and p.polcmd in ('*', case g.command when 'SELECT' then 'r' when 'INSERT' then 'a' when 'UPDATE' then 'w' else 'd' end)
            and (p.polroles @> array[0::oid] or exists (select from unnest(p.polroles) pr where pg_has_role(r.oid, pr, 'MEMBER'))))`,
  },
  {
    id: "tenant-column",
    problem:
      "A tenant table needs `tenant_id uuid not null default app_public.current_tenant_id()`, so rows are always stamped from the caller's claim.",
    fix: "Add the column as described, or put the table on a commented allow-list in src/db/lint.ts.",
    sql: `
      select t.name as object from (${TENANT_TABLES}) t
      where not exists (
        select from pg_attribute a join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = t.oid and a.attname = 'tenant_id' and a.atttypid = 'uuid'::regtype
          and (a.attnotnull or t.name = any($8))
          and pg_get_expr(d.adbin, d.adrelid) = 'app_public.current_tenant_id()')`,
  },
  {
    id: "permissive-true-write",
    problem: "A permissive write policy is `true`: it lets any row of any tenant through.",
    fix: "Key the policy to app_public.current_tenant_id() (and the role claims it needs).",
    sql: `
      select format('%s: policy %s', t.name, p.polname) as object
      from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
      where p.polpermissive and p.polcmd in ('*', 'a', 'w', 'd')
        and (pg_get_expr(p.polqual, p.polrelid) = 'true' or pg_get_expr(p.polwithcheck, p.polrelid) = 'true')`,
  },
  {
    id: "write-policy-with-check",
    problem: "An insert, update or all-commands policy has no WITH CHECK, so what may be written is left implicit.",
    fix: "Add `with check (…)`, usually the same condition as `using`.",
    sql: `
      select format('%s: policy %s', t.name, p.polname) as object
      from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
      where p.polcmd in ('*', 'a', 'w') and p.polwithcheck is null`,
  },
  {
    id: "claim-read",
    problem:
      "A policy or function reads a JWT claim with current_setting() without `missing_ok` and `nullif(…, '')`: a missing claim would raise, and an empty one would not read as NULL.",
    fix: "Read claims only through app_public.current_tenant_id() and its siblings, or write nullif(current_setting('jwt.claims.x', true), '').",
    sql: `
      select format('%s: policy %s', t.name, p.polname) as object
      from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
      where concat(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) ~ 'current_setting\\('
      union all
      select format('%s.%s()', n.nspname, f.proname)
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and f.prosrc ~ 'current_setting\\(\\s*''jwt\\.claims'
        and (f.prosrc ~ 'current_setting\\(\\s*''jwt\\.claims\\.[a-z_]+''\\s*\\)' or f.prosrc !~ 'nullif\\(\\s*current_setting\\(')`,
  },
  {
    id: "claim-set-config",
    problem:
      "A function sets a JWT claim with set_config(): Citus forwards SET LOCAL to the shards it queries, never set_config, so on the shards the claim is missing.",
    fix: "Set claims only in app_private.begin_request, with `execute format('set local jwt.claims.x = %L', value)`.",
    sql: `
      select format('%s.%s()', n.nspname, f.proname) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and f.prosrc ~* 'set_config\\(\\s*''jwt\\.claims'`,
  },
  {
    id: "restrictive-policy",
    problem:
      "A restrictive policy: Citus re-creates it on its workers as permissive, where it then widens access instead of narrowing it (a measured cross-tenant leak).",
    fix: "Drop it and AND its condition into each permissive policy of the table.",
    sql: `
      select format('%s: policy %s', t.name, p.polname) as object
      from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
      where not p.polpermissive`,
  },
  {
    id: "policy-subquery",
    problem:
      "A policy runs a subquery: Citus cannot push it down to the shards, and PostgreSQL plans it as a separate step of every statement.",
    fix: "Compare columns with the claims only; move a lookup into a trigger, or into app_private.begin_request when it is about the session.",
    sql: `
      select format('%s: policy %s', t.name, p.polname) as object
      from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
      where concat(pg_get_expr(p.polqual, p.polrelid), ' ', pg_get_expr(p.polwithcheck, p.polrelid)) ~* '\\mselect\\M'`,
  },
  {
    id: "policy-function-inlined",
    problem:
      "A policy calls (directly or through the functions it calls) a function the planner cannot inline: not LANGUAGE sql, SECURITY DEFINER, with a SET clause, STRICT with arguments, or volatile. It then runs once per row instead of once per scan.",
    fix: "Make it a single-SELECT LANGUAGE sql function, STABLE or IMMUTABLE, without SECURITY DEFINER, SET or STRICT (like app_public.current_tenant_id()).",
    sql: `
      select distinct format('%s calls %s', c.origin, f.oid::regprocedure) as object
      from (${CALLED_FUNCTIONS(`
        select format('%s: policy %s', t.name, p.polname) as origin, d.refobjid as fn
        from (${EXPOSED_TABLES}) t join pg_policy p on p.polrelid = t.oid
        join pg_depend d on d.classid = 'pg_policy'::regclass and d.objid = p.oid and d.refclassid = 'pg_proc'::regclass`)}) c
      join pg_proc f on f.oid = c.fn
      join pg_namespace n on n.oid = f.pronamespace join pg_language l on l.oid = f.prolang
      where n.nspname = any($1 || $2)
        and (l.lanname <> 'sql' or f.prosecdef or f.proconfig is not null or (f.proisstrict and f.pronargs > 0) or f.provolatile = 'v')`,
  },
  {
    id: "tenant-foreign-key",
    problem:
      "A foreign key between two tenant tables leaves out tenant_id, so a row could point at another tenant's row, and Citus refuses it between tables distributed by tenant.",
    fix: "Make it a composite key (tenant_id, x_id) references (tenant_id, id), with a unique (tenant_id, id) on the target.",
    sql: `
      select format('%s: %s', t.name, k.conname) as object
      from (${DISTRIBUTED_TABLES}) t join pg_constraint k on k.conrelid = t.oid and k.contype = 'f'
      join (${DISTRIBUTED_TABLES}) target on target.oid = k.confrelid
      where format('%s.%s', split_part(t.name, '.', 1), k.conname) <> all($9)
        and not exists (
          select from unnest(k.conkey, k.confkey) as col(attnum, fattnum)
          join pg_attribute a on a.attrelid = k.conrelid and a.attnum = col.attnum
          join pg_attribute fa on fa.attrelid = k.confrelid and fa.attnum = col.fattnum
          where a.attname = t.key and fa.attname = target.key)`,
  },
  {
    id: "foreign-key-index",
    problem:
      "A foreign key has no index starting with its columns: deletes on the referenced table and joins scan the whole table.",
    fix: "create index on <table> (<foreign key columns>);",
    sql: `
      select format('%s: %s', t.name, k.conname) as object
      from (${EXPOSED_TABLES}) t join pg_constraint k on k.conrelid = t.oid and k.contype = 'f'
      where not exists (
        select from pg_index i
        where i.indrelid = k.conrelid
          and (select array_agg(x order by x) from unnest(k.conkey) x)
              = (select array_agg(x order by x) from unnest((i.indkey::int2[])[0:array_length(k.conkey, 1) - 1]) x))`,
  },
  {
    id: "policy-column-index",
    problem:
      "A column a policy filters on leads no index (nor follows tenant_id at the head of one): every query pays a scan to apply the policy.",
    fix: "create index on <table> (tenant_id, <column>); or (<column>) alone.",
    sql: `
      select distinct format('%s.%s', t.name, a.attname) as object
      from (${EXPOSED_TABLES}) t
      join pg_policy p on p.polrelid = t.oid
      join pg_depend d on d.classid = 'pg_policy'::regclass and d.objid = p.oid
                      and d.refclassid = 'pg_class'::regclass and d.refobjid = t.oid and d.refobjsubid > 0
      join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
      where not exists (
        select from pg_index i
        where i.indrelid = t.oid
          and (i.indkey[0] = a.attnum
               or (i.indkey[1] = a.attnum
                   and i.indkey[0] = (select attnum from pg_attribute where attrelid = t.oid and attname = 'tenant_id'))))`,
  },
  {
    id: "tenant-unique",
    problem:
      "A primary key, unique constraint or unique index of a tenant table leaves out tenant_id: one tenant's value blocks another's, a clash tells that the value exists elsewhere, and Citus refuses it on a table distributed by tenant.",
    fix: "Add tenant_id to the key (a row's id stays the API's key through the table tag @primaryKey id), or put it on the commented allow-list in src/db/lint.ts.",
    sql: `
      select format('%s: %s', t.name, ic.relname) as object
      from (${DISTRIBUTED_TABLES}) t join pg_index i on i.indrelid = t.oid and i.indisunique
      join pg_class ic on ic.oid = i.indexrelid
      where format('%s.%s', split_part(t.name, '.', 1), ic.relname) <> all($6)
        and not exists (
          select from unnest(i.indkey::int2[]) col(attnum)
          join pg_attribute a on a.attrelid = t.oid and a.attnum = col.attnum
          where a.attname = t.key)`,
  },
  {
    id: "job-outside-outbox",
    problem:
      "A function writes graphile-worker's queue directly: under Citus a trigger or function on a tenant table runs on a shard, where the queue does not exist.",
    fix: "Call app_private.enqueue_job(tenant_id, task, payload): it writes app_private.job_outbox, which the worker drains on the coordinator.",
    sql: `
      select format('%s.%s()', n.nspname, f.proname) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and n.nspname <> 'graphile_worker'
        and f.prosrc ~* 'graphile_worker\\.(add_jobs?|_private_jobs|jobs)\\M'
        and format('%s.%s', n.nspname, f.proname) <> all($12)`,
  },
  {
    id: "whole-row-argument",
    problem:
      "A function takes a tenant table's whole row: on a shard the row has the shard's own type, so a query that calls it there fails (a PostGraphile computed column is such a call).",
    fix: "Take the columns it needs (or the row's tenant_id and id) as arguments; for an API field, a plugin that passes them (src/graphql-tenant-read-only.ts).",
    sql: `
      select format('%s.%s(%s)', n.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2)
        and exists (select from (${DISTRIBUTED_TABLES}) t where t.reltype = any(f.proargtypes::oid[]))`,
  },
  {
    id: "shard-writes-shared-table",
    problem:
      "A trigger of a tenant table (or a function it calls) writes a table that is not distributed by tenant: under Citus it runs on a shard, which cannot write a reference or coordinator table.",
    fix: "Write the tenant's own rows only (an outbox row for work elsewhere), or do it in a function the API calls on the coordinator.",
    sql: `
      select distinct format('%s: trigger %s writes %s.%s', t.name, g.tgname, w.part[2], w.part[3]) as object
      from (${DISTRIBUTED_TABLES}) t
      join pg_trigger g on g.tgrelid = t.oid and not g.tgisinternal
      join (${CALLED_FUNCTIONS(`
        select g2.oid as origin, g2.tgfoid as fn from pg_trigger g2 where not g2.tgisinternal`)}) c on c.origin = g.oid
      join pg_proc f on f.oid = c.fn
      cross join lateral regexp_matches(f.prosrc, '(insert\\s+into|\\mupdate|delete\\s+from)\\s+(\\w+)\\.(\\w+)', 'gi') as w(part)
      join pg_namespace wn on wn.nspname = w.part[2] and wn.nspname = any($1 || $2)
      join pg_class wc on wc.relnamespace = wn.oid and wc.relname = w.part[3] and wc.relkind in ('r', 'p')
      where not exists (select from (${DISTRIBUTED_TABLES}) d where d.oid = wc.oid)`,
  },
  {
    id: "sql-function-reads-table",
    problem:
      "A LANGUAGE sql function with arguments reads a tenant or reference table: Citus plans the calling query before PostgreSQL inlines the function and refuses it (parameterized queries for SQL functions referencing distributed tables).",
    fix: "Write it in PL/pgSQL (`begin return query select …; end`).",
    sql: `
      select distinct format('%s.%s(%s)', n.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      join pg_language l on l.oid = f.prolang and l.lanname = 'sql'
      join (select name from (${DISTRIBUTED_TABLES}) d union select unnest($13)) t
        on f.prosrc ~* ('\\m' || replace(t.name, '.', '\\.') || '\\M')
      where n.nspname = any($1 || $2) and f.pronargs > 0`,
  },
  {
    id: "empty-select-list",
    problem:
      "A function's query has an empty select list (`select from …`): when Citus plans such a subquery on its own it fails (a column definition list is required for functions returning record).",
    fix: "Select a constant: `exists (select 1 from …)`.",
    sql: `
      select format('%s.%s(%s)', n.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and f.prosrc ~* '\\mselect\\s+from\\M'`,
  },
  {
    id: "view-security-invoker",
    problem: "An exposed view runs with its owner's rights, so it skips the row-level security of the tables it reads.",
    fix: "alter view … set (security_invoker = true);",
    sql: `
      select format('%s.%s', n.nspname, c.relname) as object
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind = 'v'
        and not coalesce('security_invoker=true' = any(c.reloptions) or 'security_invoker=on' = any(c.reloptions), false)`,
  },
  {
    id: "no-matview-or-foreign-table",
    problem: "A materialized view or foreign table is exposed: neither can have row-level security.",
    fix: "Move it to a private schema and expose a security_invoker view or a function instead.",
    sql: `
      select format('%s.%s', n.nspname, c.relname) as object
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind in ('m', 'f')`,
  },
  {
    id: "definer-search-path",
    problem: "A SECURITY DEFINER function does not pin search_path: a caller could shadow the objects it uses with their own.",
    fix: "alter function … set search_path = pg_catalog, public, pg_temp;",
    sql: `
      select format('%s.%s(%s)', n.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and f.prosecdef
        and not exists (select from unnest(f.proconfig) c where c like 'search_path=%')`,
  },
  {
    id: "definer-execute",
    problem:
      "A SECURITY DEFINER function is executable by PUBLIC or an anonymous role: anyone could run it with its owner's rights.",
    fix: "revoke execute on function … from public (and the anonymous role), or allow-list it with a reason in src/db/lint.ts.",
    sql: `
      select format('%s.%s(%s)', n.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) as object
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
      where n.nspname = any($1 || $2) and f.prosecdef
        and format('%s.%s', n.nspname, f.proname) <> all($7)
        and (exists (select from aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) acl
                     where acl.grantee = 0 and acl.privilege_type = 'EXECUTE')
             or exists (select from pg_roles r where r.rolname = any($4) and has_function_privilege(r.oid, f.oid, 'EXECUTE')))`,
  },
  {
    id: "api-role-attributes",
    problem: "An API role is a superuser, bypasses row-level security or can create roles or databases.",
    fix: "alter role … nosuperuser nobypassrls nocreaterole nocreatedb; (db/roles.sql)",
    sql: `select rolname as object from pg_roles where rolname = any($3) and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb)`,
  },
  {
    id: "api-role-owns",
    problem: "An API role owns an object, so it may change or drop it, and policies do not bind an owner.",
    fix: "alter … owner to <the owner role>;",
    sql: `
      select format('%s owns %s', r.rolname, c.oid::regclass) as object from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = any($3)
      union all
      select format('%s owns %s()', r.rolname, f.oid::regproc) from pg_proc f join pg_roles r on r.oid = f.proowner where r.rolname = any($3)
      union all
      select format('%s owns schema %s', r.rolname, n.nspname) from pg_namespace n join pg_roles r on r.oid = n.nspowner where r.rolname = any($3)`,
  },
  {
    id: "api-role-private-access",
    problem: "An API role can read or write a table of a private schema (secrets, tokens, the job queue).",
    fix: "revoke all on … from <role>; API roles reach private data only through functions granted to them.",
    sql: `
      select format('%s: %s', c.oid::regclass, r.rolname) as object
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_roles r on r.rolname = any($3)
      where n.nspname = any($2) and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and format('%s.%s: %s', n.nspname, c.relname, r.rolname) <> all($10)
        and (has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
             or has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE'))`,
  },
];

/** A rule's query with its parameters typed: the unused CTE types every one, so a query may use any subset of them. */
export const withParameters = (sql: string) =>
  `with recursive lint_parameters as (select $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) ${sql}`;

/** Runs every rule; returns the findings, ordered by rule then object. */
export async function lintDatabase(client: Client, scope: LintScope): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const rule of RULES) {
    const { rows } = await client.query<{ object: string }>(withParameters(rule.sql), parameters(scope));
    for (const { object } of [...rows].sort((a, b) => a.object.localeCompare(b.object))) {
      findings.push({ rule: rule.id, object, problem: rule.problem, fix: rule.fix });
    }
  }
  return findings;
}
