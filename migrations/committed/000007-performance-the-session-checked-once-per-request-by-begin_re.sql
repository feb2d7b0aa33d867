--! Previous: sha1:e3987d11c0355428657e3890003246ced89219ef
--! Hash: sha1:5043f4a60b5e5d8dabd30c5463256d9cd3206861
--! Message: Performance: the session checked once per request by begin_request, policies the planner inlines, the time-zone check on an index, patient search on a tenant-keyed trigram index through a SECURITY DEFINER matcher, unlogged rate-limit counters

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- The session is checked once per request, not per table and statement (issue 10). The
-- restrictive active_session policies called a SECURITY DEFINER function that PostgreSQL never
-- inlines (and before 18 re-plans in every statement): 0.35–0.47 of the speed of the same query
-- with an explicit tenant filter. Citus also re-creates restrictive policies as permissive on its
-- workers. Now the server's first statement in every request transaction is
-- app_private.begin_request, which checks the token's claims against the database and only then
-- applies them with SET LOCAL; the policies are plain comparisons with those claims.
--------------------------------------------------------------------------------
drop function if exists app_private.begin_request(text, text, text, text, text);
create function app_private.begin_request(sub text, tenant_id text, user_role text, doctor_id text, session_id text)
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
  -- Last: from here on the function runs as the visitor.
  set local role :DATABASE_VISITOR;
  return true;
end;
$$;
comment on function app_private.begin_request(text, text, text, text, text) is
  'The first statement of every API request''s transaction, run by the authenticator with the verified access token''s claims (all NULL when signed out). Signed out: switches to the anonymous role and returns true. Claims that still describe an active user of that tenant with that role, in a session that was not revoked, and for doctors an active profile (app_private.session_is_valid): sets them with SET LOCAL as jwt.claims.sub, tenant_id, user_role and doctor_id, switches to the visitor role and returns true. Otherwise (deactivated, demoted, logged out, refresh token reused): the visitor role with no claims at all, which sees and writes nothing, and false, on which the server answers 401 CREDS. Nothing but this function sets the claims, so the policies trust them without checking the session again.';
revoke all on function app_private.begin_request(text, text, text, text, text) from public;
grant execute on function app_private.begin_request(text, text, text, text, text) to :DATABASE_AUTHENTICATOR;
grant execute on function app_private.uuid_or_null(text) to :DATABASE_AUTHENTICATOR;

-- The per-table session check goes.
drop policy if exists active_session on app_public.tenants;
drop policy if exists active_session on app_public.users;
drop policy if exists active_session on app_public.doctors;
drop policy if exists active_session on app_public.patients;
drop policy if exists active_session on app_public.appointments;
drop policy if exists active_session on app_public.medicines;
drop policy if exists active_session on app_public.prescriptions;
drop policy if exists active_session on app_public.prescription_items;

-- issueActivationToken runs as the owner: it trusted the claims only after its own session check.
-- The claims are now set only for a live session, so the role check is enough.
create or replace function app_public.issue_activation_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.assert_tenant_writable();
  if app_public.current_user_role() is distinct from 'admin' or not exists (
       select from app_public.users u
       where u.id = issue_activation_token.user_id and u.tenant_id = app_public.current_tenant_id() and u.is_active
         and not exists (select from app_private.user_secrets s where s.user_id = u.id)) then
    raise exception 'Only an admin can issue an activation link, for an active user of the clinic who has no password yet.'
      using errcode = 'DNIED';
  end if;
  return app_private.new_password_token(issue_activation_token.user_id);
end;
$$;

drop function if exists app_private.session_is_active();
drop function if exists app_private.current_session_id();
-- Only begin_request (as the authenticator) asks it now.
revoke execute on function app_private.session_is_valid(uuid, uuid, text, uuid, uuid) from :DATABASE_VISITOR;
comment on function app_private.session_is_valid(uuid, uuid, text, uuid, uuid) is
  'Whether these claims still describe an active user (same tenant, same role, and for doctors an active profile) in a session (refresh-token family) that was not revoked. False for any NULL that matters. SECURITY DEFINER: it must see the user and session rows whatever the policies allow; app_private.begin_request asks it once per request transaction.';

-- The claim readers become plain expressions the planner inlines into every policy: a STRICT
-- function is never inlined into a call whose argument may be NULL, so uuid_or_null ran once per
-- row on joined tables. Its CASE already answers NULL for NULL.
alter function app_private.uuid_or_null(text) called on null input;
comment on function app_private.uuid_or_null(text) is
  'The text as a uuid, or NULL when it is NULL or not a uuid: a malformed claim must deny access, not raise an error. A single CASE that is not STRICT, so the planner inlines it (and the claim readers that call it) into policies instead of calling it per row.';

--------------------------------------------------------------------------------
-- The time-zone check costs an index lookup (issue 10). pg_timezone_names reads every zone file
-- of the server on each call: 64–110 ms of database CPU per sign-up and per update of a tenant.
-- The names are copied into a table once; a name that is not there (a typo, or a zone added by a
-- later PostgreSQL upgrade) is still looked up in the server's own list, so the answer is exact.
--------------------------------------------------------------------------------
create table if not exists app_private.time_zone_names (name text primary key);
comment on table app_private.time_zone_names is
  'The IANA time zone names of PostgreSQL''s pg_timezone_names, copied by the migration so that app_private.is_time_zone is an index lookup. Never written by the API; under Citus a reference table.';
insert into app_private.time_zone_names (name) select name from pg_catalog.pg_timezone_names on conflict do nothing;

create or replace function app_private.is_time_zone(name text) returns boolean
  language sql immutable parallel safe strict security definer set search_path = pg_catalog, pg_temp
as $$
  -- Immutable so a CHECK constraint may use it; the IANA list only grows, with a server upgrade.
  select exists (select from app_private.time_zone_names z where z.name = is_time_zone.name)
      or exists (select from pg_catalog.pg_timezone_names z where z.name = is_time_zone.name)
$$;
comment on function app_private.is_time_zone(text) is
  'Whether the text is an IANA time zone name this server knows, e.g. `Europe/Madrid`: an index lookup in app_private.time_zone_names, and only for a name not found there the server''s own (slow) list. SECURITY DEFINER: the API roles read nothing in app_private.';

--------------------------------------------------------------------------------
-- Searches on indexes (issue 10). A front desk searches patients on each keystroke, by any part
-- of the name or the start of a phone number or e-mail. Under row-level security no index can
-- serve ILIKE: PostgreSQL evaluates the policy's quals before any operator that is not
-- LEAKPROOF, and ILIKE is not, so a search read all of a tenant's patients (0.1 s at 100,000).
-- The matching runs in a SECURITY DEFINER function instead (the owner bypasses RLS), on a
-- trigram index keyed by tenant first (btree_gin), with the caller's tenant as an explicit
-- filter; it returns ids only, and the rows are then read under the caller's own policies.
--------------------------------------------------------------------------------
create or replace function app_private.like_pattern_text(value text) returns text
  language sql immutable parallel safe
as $$
  -- chr(92) is the backslash, LIKE's escape character (spelled out: migration files are minified).
  select replace(replace(replace(value, chr(92), chr(92) || chr(92)), '%', chr(92) || '%'), '_', chr(92) || '_')
$$;
comment on function app_private.like_pattern_text(text) is
  'The text with LIKE''s wildcards (`%`, `_`) and escape character escaped, so a search for "50%" looks for those characters.';
grant execute on function app_private.like_pattern_text(text) to :DATABASE_VISITOR;

create index if not exists patients_search_idx on app_public.patients
  using gin (tenant_id, full_name gin_trgm_ops, phone gin_trgm_ops, (email::text) gin_trgm_ops);
comment on index app_public.patients_search_idx is 'app_private.matching_patient_ids: one tenant''s patients by part of the name, phone or e-mail.';

create or replace function app_private.matching_patient_ids(search text) returns setof uuid
  language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_text text := app_private.like_pattern_text(btrim(matching_patient_ids.search));
begin
  if v_tenant_id is null or v_text = '' then
    return;
  end if;
  -- Dynamic SQL, so the tenant and the patterns are constants the planner estimates: as
  -- parameters it took a large tenant for 1/1000 of the table.
  return query execute format(
    'select p.id from app_public.patients p
     where p.tenant_id = %L and (p.full_name ilike %L or p.phone like %L or p.email::text ilike %L)',
    v_tenant_id, '%' || v_text || '%', v_text || '%', v_text || '%');
end;
$$;
comment on function app_private.matching_patient_ids(text) is
  'Ids of the caller''s tenant''s patients that app_public.search_patients describes, found on patients_search_idx. SECURITY DEFINER so the index can serve ILIKE (see the section''s header); the tenant comes from the validated claim, and nothing without one.';
grant execute on function app_private.matching_patient_ids(text) to :DATABASE_VISITOR;

create or replace function app_public.search_patients(search text) returns setof app_public.patients
  language sql stable
as $$
  select p.* from app_public.patients p
  where p.id = any (array(select app_private.matching_patient_ids(search_patients.search)))
  order by p.full_name, p.id
$$;
comment on function app_public.search_patients(text) is
  'Patients whose name contains `search` (any case), or whose phone number or e-mail starts with it, by name. Nothing for an empty search. Uses a trigram index: give at least 3 characters for a fast answer on a large clinic.';
grant execute on function app_public.search_patients(text) to :DATABASE_VISITOR;

-- Medicines need no trigram index: "global plus own" is a few hundred rows found on the tenant_id
-- of medicines_unique_per_scope (a BitmapOr of `tenant_id is null` and the caller's tenant).
create or replace function app_public.search_medicines(search text) returns setof app_public.medicines
  language sql stable parallel safe
as $$
  select m.* from app_public.medicines m
  where length(btrim(search_medicines.search)) > 0
    and m.name::text ilike '%' || app_private.like_pattern_text(btrim(search_medicines.search)) || '%'
  order by m.name, m.dosage_form, m.strength nulls first, m.id
$$;
comment on function app_public.search_medicines(text) is
  'Medicines (the global catalogue and the tenant''s own) whose name contains `search`, any case, by name. Nothing for an empty search.';
grant execute on function app_public.search_medicines(text) to :DATABASE_VISITOR;

--------------------------------------------------------------------------------
-- Rate-limit counters without WAL (issue 10). Every GraphQL request upserts its user's counter:
-- as a logged table each upsert waited for a WAL flush to disk. Unlogged, a commit that wrote
-- only this table does not wait. The price: a crash, a failover to a standby or a restore from
-- a base backup empties the table, so every budget (failed logins per account included) starts
-- afresh, as when a window ends; and a hot standby cannot read it (the API writes it anyway).
--------------------------------------------------------------------------------
alter table app_private.rate_limits set unlogged;
