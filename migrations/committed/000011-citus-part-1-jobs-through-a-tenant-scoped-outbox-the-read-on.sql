--! Previous: sha1:69e128d350bd95979d16da2efacbcaa7bada6f42
--! Hash: sha1:7ea11a87d07268889326ecef14776d7b1896a1ee
--! Message: Citus, part 1: jobs through a tenant-scoped outbox, the read-only check from a claim, keys that include tenant_id, private tables keyed by tenant

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Jobs through a tenant-scoped outbox (issue 12). On Citus a trigger runs on the shard that
-- holds the row, where graphile-worker's tables do not exist, so no trigger or function that
-- writes tenant rows calls graphile_worker.add_job. It writes app_private.job_outbox, in the
-- same transaction as the change; the worker drains the outbox into graphile-worker on the
-- coordinator (app_private.drain_job_outbox), one statement over every shard.
--------------------------------------------------------------------------------
create table app_private.job_outbox (
  tenant_id uuid not null references app_public.tenants on delete cascade,
  id uuid not null default gen_random_uuid(),
  task text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
comment on table app_private.job_outbox is
  'Jobs waiting to be handed to graphile-worker: written by triggers and functions in the transaction of the change that causes them, moved into graphile_worker''s queue by app_private.drain_job_outbox. Distributed by tenant_id under Citus, so a trigger on a shard writes it locally.';
comment on column app_private.job_outbox.tenant_id is 'The tenant the job is about: where the row lives under Citus.';
comment on column app_private.job_outbox.id is 'Also the graphile-worker job key (`outbox:<id>`), so a drain that ran twice enqueues the job once.';
comment on column app_private.job_outbox.task is 'The graphile-worker task identifier, e.g. `send_welcome_email`.';
comment on column app_private.job_outbox.payload is 'The job''s payload: ids only; the task reads what it needs when it runs.';
comment on column app_private.job_outbox.created_at is 'When the job was enqueued: the drain''s lag is measured from here.';

create function app_private.enqueue_job(tenant_id uuid, task text, payload jsonb) returns void
  language sql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
  insert into app_private.job_outbox (tenant_id, task, payload) values (enqueue_job.tenant_id, enqueue_job.task, enqueue_job.payload)
$$;
comment on function app_private.enqueue_job(uuid, text, jsonb) is
  'Enqueues a graphile-worker job for a tenant through app_private.job_outbox, in the caller''s transaction. The one way triggers and functions enqueue jobs: it writes only the tenant''s own shard.';

create function app_private.drain_job_outbox() returns integer
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_job record;
  v_count integer := 0;
begin
  -- One drain at a time (several workers may run): the others find nothing to do this round.
  if not pg_try_advisory_xact_lock(hashtext('app_private.drain_job_outbox')) then
    return 0;
  end if;
  -- One DELETE over every shard; under Citus the deletes and the enqueues commit together (2PC).
  for v_job in delete from app_private.job_outbox returning * loop
    perform graphile_worker.add_job(v_job.task, v_job.payload::json, job_key => 'outbox:' || v_job.id,
                                     job_key_mode => 'preserve_run_at');
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function app_private.drain_job_outbox() is
  'Moves every job of app_private.job_outbox into graphile-worker''s queue and returns how many. The worker calls it every JOB_OUTBOX_INTERVAL_MS on the coordinator; a second caller at the same moment returns 0. Owner only.';

create or replace function app_private.tg_tenants__send_welcome_email() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.enqueue_job(new.id, 'send_welcome_email', jsonb_build_object('tenant_id', new.id));
  return null;
end;
$$;

create or replace function app_private.tg_users__send_account_email() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.enqueue_job(new.tenant_id, 'send_account_email', jsonb_build_object('user_id', new.id));
  return null;
end;
$$;

create or replace function app_private.schedule_trial_notices(at timestamptz default now())
  returns setof app_private.trial_notices language plpgsql
as $$
declare
  v_notice app_private.trial_notices;
begin
  -- For each tenant on a trial, the latest notice whose morning has come. After a worker was down
  -- for days, only that one is sent: a "7 days left" mail on the day before the end would mislead.
  -- A trial that ended more than a week before `at` gets no more notices.
  for v_notice in
    insert into app_private.trial_notices (tenant_id, trial_ends_at, days_before, due_on)
    select t.id, t.trial_ends_at, m.days_before, m.due_on
    from app_public.tenants t
    join app_public.subscription_plans p on p.plan = t.subscription_plan and p.trial_days is not null
    cross join lateral (
      select d.days_before, (t.trial_ends_at at time zone t.time_zone)::date - d.days_before as due_on
      from unnest(array[7, 3, 1, 0]) as d(days_before)
      where (((t.trial_ends_at at time zone t.time_zone)::date - d.days_before) + time '08:00') at time zone t.time_zone <= at
      order by d.days_before
      limit 1
    ) m
    where t.trial_ends_at > at - interval '7 days'
    on conflict (tenant_id, trial_ends_at, days_before) do nothing
    returning *
  loop
    perform app_private.enqueue_job(v_notice.tenant_id, 'send_trial_notice', jsonb_build_object('trial_notice_id', v_notice.id));
    return next v_notice;
  end loop;
end;
$$;

--------------------------------------------------------------------------------
-- The read-only check reads no table on a shard (issue 12). Every write statement on a tenant
-- table asks whether the tenant is read-only; the statement trigger runs on each shard (and on
-- every node for the medicine catalogue, a reference table under Citus), where a lookup keyed
-- by a claim function cannot be routed. app_private.begin_request already reads the tenant once
-- per request; it now also sets jwt.claims.read_only, and the check compares that claim.
-- A session with a tenant claim but no read_only claim was not started by begin_request (a DBA
-- acting as a user): it is looked up by a plpgsql variable, which routes to the tenant's shard.
-- The computed column Tenant.isReadOnly keeps its whole-row argument for the API (no shard-side
-- SQL calls it); app_private.tenant_is_read_only(id) is what SQL uses.
--------------------------------------------------------------------------------
create function app_private.tenant_is_read_only(tenant_id uuid) returns boolean
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select coalesce(t.trial_ends_at <= now(), false) and p.trial_days is not null
  from app_public.tenants t join app_public.subscription_plans p on p.plan = t.subscription_plan
  where t.id = tenant_is_read_only.tenant_id
$$;
comment on function app_private.tenant_is_read_only(uuid) is
  'Whether the tenant''s trial has ended on a plan with a trial (read-only until an operator changes its plan); NULL for no such tenant. SECURITY DEFINER: reads the tenant whatever the caller may see.';
-- app_private.begin_request runs as the authenticator.
grant execute on function app_private.tenant_is_read_only(uuid) to :DATABASE_AUTHENTICATOR;

create or replace function app_public.tenants_is_read_only(tenant app_public.tenants) returns boolean
  language sql stable
as $$
  select coalesce(tenant.trial_ends_at <= now(), false) and exists (
    select from app_public.subscription_plans p where p.plan = tenant.subscription_plan and p.trial_days is not null)
$$;
comment on function app_public.tenants_is_read_only(app_public.tenants) is '@notNull
True once the trial has ended on a plan with a trial: the clinic group can read everything but change nothing until an operator changes its plan.';

create or replace function app_private.assert_tenant_writable() returns void
  language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_read_only text := nullif(current_setting('jwt.claims.read_only', true), '');
begin
  if v_tenant_id is null then
    return;
  end if;
  if coalesce(v_read_only::boolean, app_private.tenant_is_read_only(v_tenant_id), false) then
    raise exception 'The trial has ended, so this clinic group is read-only until its plan is changed.' using errcode = 'TRIAL';
  end if;
end;
$$;
comment on function app_private.assert_tenant_writable() is
  'Raises TRIAL when the tenant in the caller''s claims is read-only (trial ended): from the read_only claim that app_private.begin_request sets, else looked up. Without claims (operators, the worker, sign-up, password activation) the write is not a tenant''s users'' and passes. Reads no table when the claim is set, so it runs on any Citus node.';

create or replace function app_private.begin_request(sub text, tenant_id text, user_role text, doctor_id text, session_id text)
  returns boolean language plpgsql volatile
as $$
begin
  if begin_request.sub is null then
    set local role :DATABASE_ANONYMOUS;
    return true;
  end if;
  if not app_private.session_is_valid(app_private.uuid_or_null(begin_request.sub), app_private.uuid_or_null(begin_request.tenant_id),
       begin_request.user_role, app_private.uuid_or_null(begin_request.doctor_id), app_private.uuid_or_null(begin_request.session_id)) then
    -- Signed in but no longer valid: the visitor role without a single claim reads and writes nothing.
    set local role :DATABASE_VISITOR;
    return false;
  end if;
  -- SET LOCAL, not set_config: Citus forwards SET LOCAL to its workers, never set_config.
  execute format('set local jwt.claims.sub = %L', begin_request.sub);
  execute format('set local jwt.claims.tenant_id = %L', begin_request.tenant_id);
  execute format('set local jwt.claims.user_role = %L', begin_request.user_role);
  execute format('set local jwt.claims.doctor_id = %L', coalesce(begin_request.doctor_id, ''));
  execute format('set local jwt.claims.read_only = %L',
                 app_private.tenant_is_read_only(app_private.uuid_or_null(begin_request.tenant_id)));
  -- Last: from here on the function runs as the visitor.
  set local role :DATABASE_VISITOR;
  return true;
end;
$$;
comment on function app_private.begin_request(text, text, text, text, text) is
  'The first statement of every API request''s transaction, run by the authenticator with the verified access token''s claims (all NULL when signed out). Signed out: switches to the anonymous role and returns true. Claims that still describe an active user of that tenant with that role, in a session that was not revoked, and for doctors an active profile (app_private.session_is_valid): sets them with SET LOCAL as jwt.claims.sub, tenant_id, user_role and doctor_id, plus read_only (whether the tenant''s trial has ended, for the write check), switches to the visitor role and returns true. Otherwise (deactivated, demoted, logged out, refresh token reused): the visitor role with no claims at all, which sees and writes nothing, and false, on which the server answers 401 CREDS. Nothing but this function sets the claims, so the policies trust them without checking the session again.';

--------------------------------------------------------------------------------
-- Keys that include tenant_id (issue 12). Citus refuses a primary or unique key, and a
-- foreign key between distributed tables, that leaves out the distribution column. Rows keep
-- their uuid `id` and the API its `doctor(rowId)` and `updateDoctor({rowId})`: the table tag
-- @primaryKey id tells PostGraphile what identifies a row, and unique (tenant_id, id) is the
-- index every lookup uses (the policies add tenant_id = the caller's tenant). The replica
-- identity moves to that index, so Citus can move a shard by logical replication.
-- The private tables keyed by a user gain the user's tenant_id.
--------------------------------------------------------------------------------
alter table app_private.email_deliveries add column tenant_id uuid;
alter table app_private.password_tokens add column tenant_id uuid;
alter table app_private.refresh_tokens add column tenant_id uuid;
alter table app_private.user_secrets add column tenant_id uuid;
update app_private.email_deliveries x set tenant_id = u.tenant_id from app_public.users u where u.id = x.user_id;
update app_private.password_tokens x set tenant_id = u.tenant_id from app_public.users u where u.id = x.user_id;
update app_private.refresh_tokens x set tenant_id = u.tenant_id from app_public.users u where u.id = x.user_id;
update app_private.user_secrets x set tenant_id = u.tenant_id from app_public.users u where u.id = x.user_id;

alter table app_private.email_deliveries
  alter column tenant_id set not null,
  drop constraint email_deliveries_user_id_fkey,
  drop constraint email_deliveries_pkey,
  add primary key (tenant_id, idempotency_key),
  add constraint email_deliveries_user_fkey foreign key (tenant_id, user_id) references app_public.users (tenant_id, id) on delete cascade;
drop index app_private.email_deliveries_user_id_idx;
create index email_deliveries_user_idx on app_private.email_deliveries (tenant_id, user_id);
comment on column app_private.email_deliveries.tenant_id is 'The recipient''s tenant: where the row lives under Citus.';

alter table app_private.password_tokens
  alter column tenant_id set not null,
  drop constraint password_tokens_user_id_fkey,
  drop constraint password_tokens_pkey,
  add primary key (tenant_id, token_hash),
  add constraint password_tokens_user_fkey foreign key (tenant_id, user_id) references app_public.users (tenant_id, id) on delete cascade;
drop index app_private.password_tokens_one_unused_per_user;
create unique index password_tokens_one_unused_per_user on app_private.password_tokens (tenant_id, user_id) where used_at is null;
create index password_tokens_token_hash_idx on app_private.password_tokens (token_hash);
comment on column app_private.password_tokens.tenant_id is 'The user''s tenant: where the row lives under Citus.';
comment on index app_private.password_tokens_token_hash_idx is 'A set-password link carries only the token: app_private.set_password_with_token finds it here.';

alter table app_private.refresh_tokens
  alter column tenant_id set not null,
  drop constraint refresh_tokens_user_id_fkey,
  drop constraint refresh_tokens_pkey,
  add primary key (tenant_id, token_hash),
  add constraint refresh_tokens_user_fkey foreign key (tenant_id, user_id) references app_public.users (tenant_id, id) on delete cascade;
create index refresh_tokens_token_hash_idx on app_private.refresh_tokens (token_hash);
comment on column app_private.refresh_tokens.tenant_id is 'The user''s tenant: where the row lives under Citus.';
comment on index app_private.refresh_tokens_token_hash_idx is 'A refresh cookie carries only the token: rotation and logout find it here.';

alter table app_private.user_secrets
  alter column tenant_id set not null,
  drop constraint user_secrets_user_id_fkey,
  drop constraint user_secrets_pkey,
  add primary key (tenant_id, user_id),
  add constraint user_secrets_user_fkey foreign key (tenant_id, user_id) references app_public.users (tenant_id, id) on delete cascade;
comment on column app_private.user_secrets.tenant_id is 'The user''s tenant: where the row lives under Citus.';

-- Two keys that had none with tenant_id.
alter table app_public.prescription_items add constraint prescription_items_tenant_id_id_key unique (tenant_id, id);
comment on constraint prescription_items_tenant_id_id_key on app_public.prescription_items is '@behavior -single -update -delete
What identifies an item (the table''s @primaryKey id) within its tenant; not a lookup of its own.';
alter table app_private.trial_notices add constraint trial_notices_tenant_id_id_key unique (tenant_id, id);
comment on constraint trial_notices_tenant_id_id_key on app_private.trial_notices is 'What identifies a notice within its tenant.';

do $$
declare
  v_table regclass;
begin
  foreach v_table in array array[
    'app_public.users', 'app_public.doctors', 'app_public.patients', 'app_public.appointment_series',
    'app_public.appointments', 'app_public.prescriptions', 'app_public.prescription_items',
    'app_public.visit_types', 'app_public.working_hours', 'app_public.time_off_periods',
    'app_private.trial_notices']::regclass[]
  loop
    execute format('alter table %s drop constraint %I', v_table, (select relname from pg_class where oid = v_table) || '_pkey');
    execute format('alter table %s alter column id set not null', v_table);
    execute format('alter table %s replica identity using index %I', v_table, (select relname from pg_class where oid = v_table) || '_tenant_id_id_key');
    -- The table tag that tells PostGraphile what identifies a row; the description stays.
    execute format('comment on table %s is %L', v_table, '@primaryKey id' || chr(10) || obj_description(v_table, 'pg_class'));
  end loop;
end
$$;


-- The functions on those tables, keyed by tenant. Each looks the tenant up once into a variable
-- (a lookup by token or user id alone runs on the coordinator) and then reads and writes
-- (tenant_id, …) only, so under Citus each statement goes to one shard.
create or replace function app_private.account_email(user_id uuid)
  returns table (user_id uuid, email citext, full_name text, user_role text, tenant_name text, has_password boolean)
  language sql stable
as $$
  select u.id, u.email, u.full_name, u.user_role, t.name,
         exists (select from app_private.user_secrets s where s.tenant_id = u.tenant_id and s.user_id = u.id)
  from app_public.users u join app_public.tenants t on t.id = u.tenant_id
  where u.id = account_email.user_id and u.is_active
$$;

create or replace function app_private.account_email_token(user_id uuid) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
  v_tenant_id uuid := (select u.tenant_id from app_public.users u where u.id = account_email_token.user_id);
begin
  -- Replaces an expired token, or this e-mail's own from an attempt that was not sent; a live token
  -- the admin handed over stays, and NULL is returned.
  insert into app_private.password_tokens as t (tenant_id, token_hash, user_id, expires_at, issued_for)
    values (v_tenant_id, sha256(convert_to(v_token, 'UTF8')), account_email_token.user_id, now() + interval '72 hours', 'account_email')
    on conflict (tenant_id, user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = now()
      where t.expires_at <= now() or t.issued_for = 'account_email';
  return case when found then v_token end;
end;
$$;

create or replace function app_private.new_password_token(user_id uuid) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
  v_tenant_id uuid := (select u.tenant_id from app_public.users u where u.id = new_password_token.user_id);
begin
  -- Upsert on the unique index: a concurrent issue for the same user is waited for, then replaced.
  insert into app_private.password_tokens as t (tenant_id, token_hash, user_id, expires_at, issued_for)
    values (v_tenant_id, sha256(convert_to(v_token, 'UTF8')), new_password_token.user_id, now() + interval '72 hours', 'admin')
    on conflict (tenant_id, user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = now();
  return v_token;
end;
$$;

create or replace function app_private.set_password_with_token(token text, password_hash text) returns jsonb
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid;
  v_user_id uuid;
begin
  update app_private.password_tokens t set used_at = now()
    from app_public.users u
    where t.token_hash = sha256(convert_to(token, 'UTF8')) and t.used_at is null and t.expires_at > now()
      and u.tenant_id = t.tenant_id and u.id = t.user_id and u.is_active
    returning t.tenant_id, t.user_id into v_tenant_id, v_user_id;
  if v_user_id is null then
    raise exception 'This link is invalid, already used or expired.' using errcode = 'TOKEN';
  end if;
  insert into app_private.user_secrets (tenant_id, user_id, password_hash)
    values (v_tenant_id, v_user_id, set_password_with_token.password_hash)
    on conflict (tenant_id, user_id) do update set password_hash = excluded.password_hash, password_set_at = now();
  delete from app_private.password_tokens t where t.tenant_id = v_tenant_id and t.user_id = v_user_id and t.used_at is null;
  return app_private.session_for(v_user_id);
end;
$$;

create or replace function app_private.create_refresh_token(user_id uuid, lifetime interval, family_id uuid default gen_random_uuid())
  returns text language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  insert into app_private.refresh_tokens (tenant_id, token_hash, user_id, family_id, expires_at)
    values ((select u.tenant_id from app_public.users u where u.id = create_refresh_token.user_id),
            sha256(convert_to(v_token, 'UTF8')), create_refresh_token.user_id, create_refresh_token.family_id, now() + lifetime);
  return v_token;
end;
$$;

drop function app_private.revoke_sessions(uuid[]);
create function app_private.revoke_sessions(tenant_id uuid, family_ids uuid[]) returns void
  language plpgsql set search_path = pg_catalog, public, pg_temp
as $$
begin
  -- Until none is left: a rotation that held a row while the UPDATE waited for it has committed
  -- its successor by the time the UPDATE goes on, and the next round's statements see it.
  loop
    perform from app_private.refresh_tokens t
      where t.tenant_id = revoke_sessions.tenant_id and t.family_id = any(family_ids) order by t.token_hash for update;
    update app_private.refresh_tokens t set revoked_at = now()
      where t.tenant_id = revoke_sessions.tenant_id and t.family_id = any(family_ids) and t.revoked_at is null;
    exit when not exists (
      select from app_private.refresh_tokens t
      where t.tenant_id = revoke_sessions.tenant_id and t.family_id = any(family_ids) and t.revoked_at is null);
  end loop;
end;
$$;
comment on function app_private.revoke_sessions(uuid, uuid[]) is
  'Ends sessions (refresh-token families) of one tenant''s users: their refresh tokens and, through the `sid` claim, their access tokens. Locks the rows first, so a successor inserted by a rotation running at the same moment is revoked too. Keyed by tenant: triggers on a Citus shard call it.';

create or replace function app_private.revoke_refresh_token(token text) returns void
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token app_private.refresh_tokens;
begin
  select * into v_token from app_private.refresh_tokens t where t.token_hash = sha256(convert_to(token, 'UTF8'));
  if found then
    perform app_private.revoke_sessions(v_token.tenant_id, array[v_token.family_id]);
  end if;
end;
$$;

create or replace function app_private.tg_users__revoke_sessions() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.revoke_sessions(new.tenant_id, array(
    select distinct t.family_id from app_private.refresh_tokens t
    where t.tenant_id = new.tenant_id and t.user_id = new.id and t.revoked_at is null));
  return null;
end;
$$;

create or replace function app_private.tg_doctors__revoke_sessions() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.revoke_sessions(new.tenant_id, array(
    select distinct t.family_id from app_private.refresh_tokens t
    where t.tenant_id = new.tenant_id and t.user_id in (old.user_id, new.user_id) and t.revoked_at is null));
  return null;
end;
$$;

create or replace function app_private.rotate_refresh_token(token text, lifetime interval, reuse_interval interval)
  returns table (refresh_token text, family_id uuid, session jsonb)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_row app_private.refresh_tokens;
  v_successor text := app_private.refresh_token_successor(token);
begin
  select * into v_row from app_private.refresh_tokens t
    where t.token_hash = sha256(convert_to(token, 'UTF8')) for update;
  if not found or v_row.revoked_at is not null or v_row.expires_at <= now() then
    return;
  end if;
  if not exists (select from app_public.users u where u.tenant_id = v_row.tenant_id and u.id = v_row.user_id and u.is_active) then
    perform app_private.revoke_sessions(v_row.tenant_id, array[v_row.family_id]);
    return;
  end if;
  if v_row.rotated_at is null then
    update app_private.refresh_tokens t set rotated_at = now() where t.tenant_id = v_row.tenant_id and t.token_hash = v_row.token_hash;
    insert into app_private.refresh_tokens (tenant_id, token_hash, user_id, family_id, expires_at)
      values (v_row.tenant_id, sha256(convert_to(v_successor, 'UTF8')), v_row.user_id, v_row.family_id, now() + lifetime);
  elsif reuse_interval > interval '0' and v_row.rotated_at > now() - reuse_interval then
    -- Another tab (or a retried request) with the token just rotated: the same successor, or, when
    -- that was rotated in turn meanwhile, the newest token of the family.
    loop
      select * into v_row from app_private.refresh_tokens t
        where t.tenant_id = v_row.tenant_id and t.token_hash = sha256(convert_to(v_successor, 'UTF8')) for update;
      exit when not found or v_row.rotated_at is null;
      v_successor := app_private.refresh_token_successor(v_successor);
    end loop;
    if not found or v_row.revoked_at is not null or v_row.expires_at <= now() then
      return;
    end if;
  else
    -- A rotated token presented again after the interval was stolen or replayed: end the session.
    perform app_private.revoke_sessions(v_row.tenant_id, array[v_row.family_id]);
    return;
  end if;
  return query select v_successor, v_row.family_id, app_private.session_for(v_row.user_id);
end;
$$;

create or replace function app_private.login_candidate(email text)
  returns table (password_hash text, is_active boolean, session jsonb)
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select s.password_hash, u.is_active, app_private.session_for(u.id)
  from app_public.users u join app_private.user_secrets s on s.tenant_id = u.tenant_id and s.user_id = u.id
  where u.email = btrim(login_candidate.email)::citext
$$;

create or replace function app_private.session_is_valid(user_id uuid, tenant_id uuid, user_role text, doctor_id uuid, session_id uuid)
  returns boolean language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select exists (
    select from app_public.users u
    where u.tenant_id = session_is_valid.tenant_id and u.id = session_is_valid.user_id
      and u.user_role = session_is_valid.user_role and u.is_active
      and exists (
        select from app_private.refresh_tokens r
        where r.tenant_id = u.tenant_id and r.family_id = session_is_valid.session_id and r.user_id = u.id and r.revoked_at is null)
      and (session_is_valid.doctor_id is null or exists (
        select from app_public.doctors d
        where d.tenant_id = u.tenant_id and d.id = session_is_valid.doctor_id and d.user_id = u.id and d.is_active)))
$$;

create or replace function app_private.register_clinic(clinic_name text, full_name text, email text, password_hash text, time_zone text default 'UTC')
  returns jsonb language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_slug text;
  v_tenant_id uuid;
  v_user_id uuid;
begin
  email := btrim(email);
  if exists (select from app_public.users where users.email = register_clinic.email::citext) then
    raise exception 'This e-mail is already registered.' using errcode = 'TAKEN';
  end if;
  -- Always suffixed: a bare slug on some sign-ups and a suffixed one on others would tell anyone
  -- whether another clinic group already uses that name.
  v_slug := coalesce(nullif(btrim(left(regexp_replace(lower(clinic_name), '[^a-z0-9]+', '-', 'g'), 50), '-'), ''), 'clinic')
    || '-' || encode(gen_random_bytes(4), 'hex');
  insert into app_public.tenants (name, slug, subscription_plan, trial_ends_at, time_zone)
    select btrim(clinic_name), v_slug, p.plan, now() + make_interval(days => p.trial_days), coalesce(register_clinic.time_zone, 'UTC')
    from app_public.subscription_plans p where p.plan = 'trial'
    returning id into v_tenant_id;
  insert into app_public.users (tenant_id, email, full_name, user_role)
    values (v_tenant_id, email, btrim(full_name), 'admin')
    returning id into v_user_id;
  insert into app_private.user_secrets (tenant_id, user_id, password_hash) values (v_tenant_id, v_user_id, register_clinic.password_hash);
  return app_private.session_for(v_user_id);
end;
$$;
