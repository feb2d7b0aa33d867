--! Previous: sha1:7d4d608259a794d876e181b6a23e26f311a58a25
--! Hash: sha1:16e6ec1b255896343a3dd73c395cbf7c19ea03cf
--! Message: Citus, part 3: PL/pgSQL for SQL functions that read shared or tenant tables, Tenant.isReadOnly from columns, operators' trial and plan changes computed before the update, no empty select lists

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- SQL functions that read shared or tenant tables are PL/pgSQL (issue 12). Citus plans a
-- query before PostgreSQL inlines the SQL functions in it, and refuses one that would run such
-- a function with arguments ("parameterized queries for SQL functions referencing distributed
-- tables are not supported"). A PL/pgSQL function's queries are planned one by one, with its
-- arguments as parameters Citus routes on. Same results, same names, same comments.
--------------------------------------------------------------------------------
create or replace function app_public.search_patients(search text) returns setof app_public.patients
  language plpgsql stable
as $$
begin
  return query
    select p.* from app_public.patients p
    where p.id = any (array(select app_private.matching_patient_ids(search_patients.search)))
    order by p.full_name, p.id;
end;
$$;

create or replace function app_public.search_medicines(search text) returns setof app_public.medicines
  language plpgsql stable parallel safe
as $$
begin
  return query
    select m.* from app_public.medicines m
    where length(btrim(search_medicines.search)) > 0
      and m.name::text ilike '%' || app_private.like_pattern_text(btrim(search_medicines.search)) || '%'
    order by m.name, m.dosage_form, m.strength nulls first, m.id;
end;
$$;

create or replace function app_private.is_time_zone(name text) returns boolean
  language plpgsql immutable parallel safe strict security definer set search_path = pg_catalog, pg_temp
as $$
begin
  -- Immutable so a CHECK constraint may use it; the IANA list only grows, with a server upgrade.
  return exists (select 1 from app_private.time_zone_names z where z.name = is_time_zone.name)
      or exists (select 1 from pg_catalog.pg_timezone_names z where z.name = is_time_zone.name);
end;
$$;

create or replace function app_private.release_login_email(email citext) returns void
  language plpgsql volatile
as $$
begin
  -- The foreign key from users refuses to free an e-mail a user still has.
  delete from app_private.login_emails e where e.email = release_login_email.email;
end;
$$;

--------------------------------------------------------------------------------
-- Whether a trial has ended, from columns (issue 12). Tenant.isReadOnly called
-- tenants_is_read_only(tenant) with the whole row; Citus sends such a call to the shard, where the
-- row has the shard's own type and the function does not exist. The field now passes the trial's
-- end and its plan's trial_days (src/graphql-tenant-read-only.ts). The function reads no table:
-- called in a query Citus sends to a shard, a function may not query a Citus table itself
-- ("cannot execute a distributed query from a query on a shard"). The write check uses it too.
--------------------------------------------------------------------------------
drop function app_public.tenants_is_read_only(app_public.tenants);

create function app_private.trial_has_ended(trial_ends_at timestamptz, trial_days integer) returns boolean
  language sql stable
as $$
  select coalesce(trial_has_ended.trial_ends_at <= now(), false) and trial_has_ended.trial_days is not null
$$;
comment on function app_private.trial_has_ended(timestamptz, integer) is
  'True once a trial ending at `trial_ends_at` has ended on a plan with a trial (`trial_days`, from app_public.subscription_plans, not null): the tenant is read-only until an operator changes its plan.';
grant execute on function app_private.trial_has_ended(timestamptz, integer) to :DATABASE_VISITOR;

create or replace function app_private.tenant_is_read_only(tenant_id uuid) returns boolean
  language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  return (select app_private.trial_has_ended(t.trial_ends_at, p.trial_days)
          from app_public.tenants t join app_public.subscription_plans p on p.plan = t.subscription_plan
          where t.id = tenant_is_read_only.tenant_id);
end;
$$;

--------------------------------------------------------------------------------
-- Operators' trial and plan changes computed before the UPDATE (issue 12). Citus refuses an
-- UPDATE that applies a STABLE function or operator (now(), timestamptz + interval) to a column
-- ("STABLE functions used in UPDATE queries cannot be called with column references"); the new
-- value is computed from variables first, and the tenant is found by a variable Citus routes on.
--------------------------------------------------------------------------------
create or replace function app_private.extend_trial(tenant text, days integer) returns app_public.tenants
  language plpgsql
as $$
declare
  v_tenant app_public.tenants;
  v_tenant_id uuid;
  v_trial_ends_at timestamptz;
begin
  if days is null or days not between 1 and 365 then
    raise exception 'A trial is extended by 1 to 365 days.' using errcode = 'INVAL';
  end if;
  v_tenant_id := app_private.find_tenant(extend_trial.tenant);
  select t.trial_ends_at into v_trial_ends_at from app_public.tenants t
   where t.id = v_tenant_id
     and exists (select 1 from app_public.subscription_plans p where p.plan = t.subscription_plan and p.trial_days is not null)
   for update;
  if not found then
    raise exception 'The tenant is not on a trial plan.' using errcode = 'INVAL';
  end if;
  update app_public.tenants t
     set trial_ends_at = greatest(v_trial_ends_at, now()) + make_interval(days => extend_trial.days)
   where t.id = v_tenant_id
   returning * into v_tenant;
  return v_tenant;
end;
$$;

create or replace function app_private.change_plan(tenant text, plan text) returns app_public.tenants
  language plpgsql
as $$
declare
  v_plan app_public.subscription_plans;
  v_tenant app_public.tenants;
  v_tenant_id uuid;
  v_trial_ends_at timestamptz;
begin
  select * into v_plan from app_public.subscription_plans p where p.plan = change_plan.plan;
  if not found then
    raise exception 'There is no plan "%".', plan using errcode = 'NTFND';
  end if;
  v_tenant_id := app_private.find_tenant(change_plan.tenant);
  v_trial_ends_at := case when v_plan.trial_days is not null then now() + make_interval(days => v_plan.trial_days) end;
  -- The plan-limit trigger on tenants raises PLANL when the active doctors exceed the new limit.
  update app_public.tenants t
     set subscription_plan = v_plan.plan,
         trial_ends_at = case when v_plan.trial_days is null then null else coalesce(t.trial_ends_at, v_trial_ends_at) end
   where t.id = v_tenant_id
   returning * into v_tenant;
  return v_tenant;
end;
$$;

--------------------------------------------------------------------------------
-- No empty select list in a function (issue 12). When Citus plans a subquery such as
-- `exists (select from app_public.doctors …)` on its own, it reads the rows back through a
-- function that needs at least one column ("a column definition list is required for functions
-- returning record"): the session check of every doctor's request failed so. Every function of
-- ours that says `select from` says `select 1 from` instead; nothing else in them changes. The
-- linter's rule empty-select-list keeps new ones out.
--------------------------------------------------------------------------------
do $$
declare
  v_function regprocedure;
  v_definition text;
begin
  for v_function in
    select f.oid from pg_proc f join pg_namespace n on n.oid = f.pronamespace
    where n.nspname in ('app_public', 'app_private') and f.prosrc ~* '\mselect\s+from\M'
  loop
    v_definition := pg_get_functiondef(v_function);
    execute regexp_replace(v_definition, '\m(select)(\s+)from\M', '\1 1\2from', 'gi');
  end loop;
end;
$$;
