/**
 * The catalogue linter: the migrated database has no findings, and each rule fires on a
 * deliberately broken object in scratch schemas (created in a transaction that is rolled back).
 */
import { Client } from "pg";
import { lintDatabase, projectScope, RULES, type Finding } from "../src/db/lint";
import { ownerUrl, roles } from "./helpers";

/** A superuser on the test database (roles and objects owned by other roles need one). */
function superuserUrl() {
  const url = new URL(process.env.TEST_ROOT_URL as string);
  url.pathname = new URL(ownerUrl()).pathname;
  return url.toString();
}

test("the migrated database has no findings", async () => {
  const client = new Client({ connectionString: ownerUrl() });
  await client.connect();
  try {
    expect(await lintDatabase(client, projectScope(roles()))).toEqual([]);
  } finally {
    await client.end();
  }
});

const api = `lint_api_${process.pid}`;
const anon = `lint_anon_${process.pid}`;

/** One broken object (or more) per rule; comments name the rule each line breaks. */
const BROKEN = `
  create role ${api} nologin bypassrls;                                              -- api-role-attributes
  create role ${anon} nologin;
  create schema lint_pub;
  create schema lint_priv;
  create table lint_pub.no_rls (id int primary key);                                  -- rls-enabled, tenant-column
  create table lint_pub.not_forced (id int primary key,
    tenant_id uuid not null default app_public.current_tenant_id());
  alter table lint_pub.not_forced enable row level security;                          -- rls-forced
  grant select on lint_pub.not_forced to ${api};                                      -- grant-without-policy
  create table lint_pub.open_writes (id int primary key,
    tenant_id uuid not null default app_public.current_tenant_id());
  create index on lint_pub.open_writes (tenant_id);
  alter table lint_pub.open_writes enable row level security;
  alter table lint_pub.open_writes force row level security;
  create policy anything on lint_pub.open_writes for update to ${api} using (true);   -- permissive-true-write, write-policy-with-check
  create policy raw_claim on lint_pub.open_writes for select to ${api}
    using (tenant_id = current_setting('jwt.claims.tenant_id')::uuid);                -- claim-read
  create policy checked_elsewhere on lint_pub.open_writes as restrictive for select to ${api}
    using ((select true));                                                            -- restrictive-policy, policy-subquery
  create function lint_priv.claim_strict(value text) returns uuid language sql immutable strict
    as $$ select value::uuid $$;
  create function lint_pub.tenant_claim() returns uuid language sql stable
    as $$ select lint_priv.claim_strict(nullif(current_setting('jwt.claims.tenant_id', true), '')) $$;
  create policy per_row on lint_pub.open_writes for delete to ${api}
    using (tenant_id = lint_pub.tenant_claim());                                      -- policy-function-inlined (nested STRICT)
  create function lint_pub.raw_sub() returns text language sql
    as $$ select current_setting('jwt.claims.sub', true) $$;                          -- claim-read (no nullif)
  create function lint_priv.act_as(tenant text) returns void language sql
    as $$ select set_config('jwt.claims.tenant_id', tenant, true) $$;                 -- claim-set-config
  create table lint_pub.parents (id uuid primary key,
    tenant_id uuid not null default app_public.current_tenant_id(), code text unique); -- tenant-unique
  create table lint_pub.children (id uuid primary key,
    tenant_id uuid not null default app_public.current_tenant_id(),
    parent_id uuid references lint_pub.parents);                                      -- tenant-foreign-key, foreign-key-index
  alter table lint_pub.children enable row level security;
  alter table lint_pub.children force row level security;
  create policy by_parent on lint_pub.children for select to ${api}
    using (parent_id is not null);                                                    -- policy-column-index
  create view lint_pub.plain_view as select 1 as one;                                 -- view-security-invoker
  create materialized view lint_pub.snapshot as select 1 as one;                      -- no-matview-or-foreign-table
  create function lint_pub.definer() returns int language sql security definer
    as $$ select 1 $$;                                                                -- definer-search-path, definer-execute
  create table lint_pub.owned (id int);
  alter table lint_pub.owned owner to ${api};                                         -- api-role-owns
  create table lint_priv.secrets (secret text);
  grant select on lint_priv.secrets to ${api};                                        -- api-role-private-access
  create function lint_priv.enqueue_direct() returns void language sql
    as $$ select graphile_worker.add_job('lint') $$;                                  -- job-outside-outbox
  create function lint_pub.parent_label(parent lint_pub.parents) returns text
    language sql as $$ select parent.code $$;                                         -- whole-row-argument
  create function lint_priv.tg_log() returns trigger language plpgsql
    as $$ begin insert into lint_priv.secrets values ('x'); return new; end $$;
  create trigger log_parent after insert on lint_pub.parents
    for each row execute function lint_priv.tg_log();                                 -- shard-writes-shared-table
  create table lint_priv.tenant_keyed (id uuid primary key, tenant_id uuid not null); -- tenant-unique (a primary key)
  create function lint_pub.parent_codes(prefix text) returns setof text language sql
    as $$ select code from lint_pub.parents where code like prefix || '%' $$;         -- sql-function-reads-table
  create function lint_priv.has_parents() returns boolean language plpgsql
    as $$ begin return exists (select from lint_pub.parents); end $$;                 -- empty-select-list
`;

const EXPECTED: Record<string, string> = {
  "rls-enabled": "lint_pub.no_rls",
  "rls-forced": "lint_pub.not_forced",
  "grant-without-policy": `lint_pub.not_forced: SELECT to ${api}`,
  "tenant-column": "lint_pub.no_rls",
  "permissive-true-write": "lint_pub.open_writes: policy anything",
  "write-policy-with-check": "lint_pub.open_writes: policy anything",
  "claim-read": "lint_pub.open_writes: policy raw_claim",
  "claim-set-config": "lint_priv.act_as()",
  "restrictive-policy": "lint_pub.open_writes: policy checked_elsewhere",
  "policy-subquery": "lint_pub.open_writes: policy checked_elsewhere",
  "policy-function-inlined": "lint_pub.open_writes: policy per_row calls lint_priv.claim_strict(text)",
  "tenant-foreign-key": "lint_pub.children: children_parent_id_fkey",
  "foreign-key-index": "lint_pub.children: children_parent_id_fkey",
  "policy-column-index": "lint_pub.children.parent_id",
  "tenant-unique": "lint_pub.parents: parents_code_key",
  "view-security-invoker": "lint_pub.plain_view",
  "no-matview-or-foreign-table": "lint_pub.snapshot",
  "definer-search-path": "lint_pub.definer()",
  "definer-execute": "lint_pub.definer()",
  "api-role-attributes": api,
  "api-role-owns": `${api} owns lint_pub.owned`,
  "api-role-private-access": `lint_priv.secrets: ${api}`,
  "job-outside-outbox": "lint_priv.enqueue_direct()",
  "whole-row-argument": "lint_pub.parent_label(parent lint_pub.parents)",
  "shard-writes-shared-table": "lint_pub.parents: trigger log_parent writes lint_priv.secrets",
  "sql-function-reads-table": "lint_pub.parent_codes(prefix text)",
  "empty-select-list": "lint_priv.has_parents()",
};

describe("each rule fires on a broken object", () => {
  let client: Client;
  let findings: Finding[];
  beforeAll(async () => {
    client = new Client({ connectionString: superuserUrl() });
    await client.connect();
    await client.query("begin");
    await client.query(BROKEN);
    findings = await lintDatabase(client, {
      ...projectScope(roles()),
      exposedSchemas: ["lint_pub"],
      privateSchemas: ["lint_priv"],
      apiRoles: [api, anon],
      anonymousRoles: [anon],
    });
  });
  afterAll(async () => {
    await client.query("rollback");
    await client.end();
  });

  test("every rule has a broken fixture here", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(RULES.map((rule) => rule.id).sort());
  });

  test.each(Object.entries(EXPECTED))("%s finds %s", (rule, object) => {
    expect(findings.filter((f) => f.rule === rule).map((f) => f.object)).toContain(object);
  });

  test("a private tenant table's primary key without tenant_id is found too", () => {
    expect(findings).toContainEqual(
      expect.objectContaining({ rule: "tenant-unique", object: "lint_priv.tenant_keyed: tenant_keyed_pkey" }),
    );
  });

  test("the raw claim read in a function is found too", () => {
    expect(findings).toContainEqual(expect.objectContaining({ rule: "claim-read", object: "lint_pub.raw_sub()" }));
  });

  test("each finding says how to fix it", () => {
    for (const finding of findings) expect(finding.fix.length).toBeGreaterThan(10);
  });
});
