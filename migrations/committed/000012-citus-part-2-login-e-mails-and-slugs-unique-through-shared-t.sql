--! Previous: sha1:7ea11a87d07268889326ecef14776d7b1896a1ee
--! Hash: sha1:7d4d608259a794d876e181b6a23e26f311a58a25
--! Message: Citus, part 2: login e-mails and slugs unique through shared tables (addUser, changeUserEmail), the medicine catalogue without a key to tenants, checks and lookups that run on a shard, the request role switched without replay, the series office checked by a trigger

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- No whole-row function under a table's dependencies (issue 12). Citus follows a table's
-- dependencies (views on it, and the functions they call) before it distributes it; the
-- operators' view called tenants_is_read_only(tenants), which depends on the table's own row
-- type: a cycle Citus refuses ("circularly depends itself").
--------------------------------------------------------------------------------
create or replace view app_private.tenant_summaries as
  select t.id, t.slug, t.name, t.subscription_plan, t.trial_ends_at,
         coalesce(app_private.tenant_is_read_only(t.id), false) as is_read_only,
         (select count(*) from app_public.doctors d where d.tenant_id = t.id and d.is_active) as active_doctors,
         p.max_doctors, t.created_at
  from app_public.tenants t join app_public.subscription_plans p on p.plan = t.subscription_plan;

--------------------------------------------------------------------------------
-- The medicine catalogue is shared (issue 12). Under Citus it is a reference table, copied to
-- every node, and a reference table cannot point at a table distributed by tenant. A tenant's own
-- medicines still name an existing tenant: the insert policy requires the caller's own tenant.
--------------------------------------------------------------------------------
alter table app_public.medicines drop constraint medicines_tenant_id_fkey;
-- The API keeps Medicine.tenant and Tenant.medicines: a foreign key for PostGraphile only.
comment on table app_public.medicines is '@foreignKey (tenant_id) references app_public.tenants (id)
Medicines that can be prescribed: the global catalogue (tenantId null, read-only) and the tenant''s own. Admins and doctors add their tenant''s own.';
comment on column app_public.medicines.tenant_id is
  'NULL: the global catalogue, read-only. Otherwise the tenant that added it, always the writer''s own (the insert policy); no foreign key, because under Citus this table is copied to every node.';

--------------------------------------------------------------------------------
-- Login e-mails and slugs unique across tenants, in tables of their own (issue 12). Sign-in comes
-- before knowing the tenant, and a slug names a tenant in URLs, so both are unique across tenants;
-- Citus cannot keep a unique key without tenant_id on a table distributed by tenant. Each value is
-- reserved in a small table (a reference table under Citus, written on the coordinator), which the
-- tenant and user rows reference. Only coordinator-side functions write them: sign-up,
-- app_public.add_user (and add_doctor through it) and app_public.change_user_email. So users are
-- added and their e-mail changed through those functions, not by inserting or updating rows.
--------------------------------------------------------------------------------
create table app_private.login_emails (
  email citext primary key,
  tenant_id uuid not null,
  unique (tenant_id, email)
);
comment on table app_private.login_emails is
  'Every user''s login e-mail, once across all tenants, with the tenant it signs in to: what keeps e-mails unique (users.email references it) and routes a sign-in to its tenant. Written only by app_private.reserve_login_email and app_public.change_user_email; a reference table under Citus.';
comment on column app_private.login_emails.email is 'The login e-mail (case-insensitive).';
comment on column app_private.login_emails.tenant_id is 'The tenant of the user with this e-mail.';

create table app_private.tenant_slugs (
  slug citext primary key,
  tenant_id uuid not null,
  unique (tenant_id, slug)
);
comment on table app_private.tenant_slugs is
  'Every tenant''s slug, once: what keeps slugs unique (tenants.slug references it). Written only by sign-up; a reference table under Citus.';
comment on column app_private.tenant_slugs.slug is 'The slug.';
comment on column app_private.tenant_slugs.tenant_id is 'The tenant with this slug.';

insert into app_private.login_emails (email, tenant_id) select email, tenant_id from app_public.users;
insert into app_private.tenant_slugs (slug, tenant_id) select slug, id from app_public.tenants;

-- A row names its reservation with its tenant: an e-mail reserved for one tenant cannot be used
-- by another tenant's user, so the single reservation makes the e-mail unique across tenants.
alter table app_public.users
  drop constraint users_email_key,
  add constraint users_tenant_id_email_key unique (tenant_id, email),
  add constraint users_email_fkey foreign key (tenant_id, email) references app_private.login_emails (tenant_id, email);
comment on constraint users_tenant_id_email_key on app_public.users is '@behavior -single -update -delete
One user per e-mail within a tenant; across tenants app_private.login_emails keeps it unique.';
comment on constraint users_email_fkey on app_public.users is '@behavior -single -manyToOne -oneToMany
The e-mail is reserved for this tenant in app_private.login_emails, so no two users of any tenants share it.';
create index users_email_idx on app_public.users (email);
comment on index app_public.users_email_idx is 'Operators find a user by e-mail across tenants.';
alter table app_public.tenants
  drop constraint tenants_slug_key,
  add constraint tenants_slug_fkey foreign key (id, slug) references app_private.tenant_slugs (tenant_id, slug);
create index tenants_slug_idx on app_public.tenants (slug);
comment on index app_public.tenants_slug_idx is 'Operators and the API find a tenant by slug.';
create index tenants_id_slug_idx on app_public.tenants (id, slug);
comment on index app_public.tenants_id_slug_idx is 'The key to the slug''s reservation: its check when a slug is freed.';
comment on constraint tenants_slug_fkey on app_public.tenants is '@behavior -single -manyToOne -oneToMany
The slug is reserved for this tenant in app_private.tenant_slugs, so no two tenants share it.';

-- The lookups by e-mail and slug stay in the API (userByEmail, updateTenantBySlug, …).
comment on table app_public.users is '@primaryKey id
@unique email
@behavior -insert
People who sign in to a tenant. Users see their own row; admins see and manage all users of their tenant. Added with addUser, e-mail changed with changeUserEmail.';
comment on table app_public.tenants is '@unique slug
A clinic group that signed up: the unit of isolation. Every other row belongs to exactly one tenant, and users see only their own.';

-- The e-mail is reserved by the same database user that then writes the user row: under Citus
-- a row written by one user in a transaction is invisible to another user's connections, so the
-- row's key would not find it. The request role may reserve and free its own tenant's e-mails.
alter table app_private.login_emails enable row level security;
alter table app_private.login_emails force row level security;
create policy manage_own_tenant on app_private.login_emails for all to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()) with check (tenant_id = app_public.current_tenant_id());
comment on policy manage_own_tenant on app_private.login_emails is
  'A signed-in request reserves and frees e-mails of its own tenant only (through addUser and changeUserEmail).';
grant select, insert, delete on app_private.login_emails to :DATABASE_VISITOR;

create function app_private.reserve_login_email(email text, tenant_id uuid) returns citext
  language plpgsql volatile
as $$
declare
  v_email citext := btrim(reserve_login_email.email)::citext;
begin
  insert into app_private.login_emails (email, tenant_id) values (v_email, reserve_login_email.tenant_id)
    on conflict do nothing;
  if not found then
    raise exception 'This e-mail is already registered.' using errcode = 'TAKEN';
  end if;
  return v_email;
end;
$$;
comment on function app_private.reserve_login_email(text, uuid) is
  'Reserves a login e-mail (trimmed) for a user of the tenant and returns it; TAKEN when any user of any tenant has it. Runs with the caller''s rights: sign-up as the owner, a request only for its own tenant (the table''s policy).';
grant execute on function app_private.reserve_login_email(text, uuid) to :DATABASE_VISITOR;

create function app_private.release_login_email(email citext) returns void
  language sql volatile
as $$
  -- The foreign key from users refuses to free an e-mail a user still has.
  delete from app_private.login_emails e where e.email = release_login_email.email
$$;
comment on function app_private.release_login_email(citext) is
  'Frees a login e-mail that no user has any more (after an e-mail change). Runs with the caller''s rights: a request frees only its own tenant''s.';
grant execute on function app_private.release_login_email(citext) to :DATABASE_VISITOR;

create or replace function app_private.register_clinic(clinic_name text, full_name text, email text, password_hash text, time_zone text default 'UTC')
  returns jsonb language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_slug text;
  v_tenant_id uuid := gen_random_uuid();
  v_user_id uuid;
begin
  email := app_private.reserve_login_email(email, v_tenant_id);
  -- Always suffixed: a bare slug on some sign-ups and a suffixed one on others would tell anyone
  -- whether another clinic group already uses that name.
  v_slug := coalesce(nullif(btrim(left(regexp_replace(lower(clinic_name), '[^a-z0-9]+', '-', 'g'), 50), '-'), ''), 'clinic')
    || '-' || encode(gen_random_bytes(4), 'hex');
  insert into app_private.tenant_slugs (slug, tenant_id) values (v_slug, v_tenant_id);
  insert into app_public.tenants (id, name, slug, subscription_plan, trial_ends_at, time_zone)
    select v_tenant_id, btrim(clinic_name), v_slug, p.plan, now() + make_interval(days => p.trial_days), coalesce(register_clinic.time_zone, 'UTC')
    from app_public.subscription_plans p where p.plan = 'trial';
  insert into app_public.users (tenant_id, email, full_name, user_role)
    values (v_tenant_id, email, btrim(full_name), 'admin')
    returning id into v_user_id;
  insert into app_private.user_secrets (tenant_id, user_id, password_hash) values (v_tenant_id, v_user_id, register_clinic.password_hash);
  return app_private.session_for(v_user_id);
end;
$$;

-- Under Citus a transaction may not write one tenant's rows as two database users (the owner in a
-- SECURITY DEFINER function, then the caller): users are written with the caller's rights.
create function app_public.add_user(email text, full_name text, user_role text default 'receptionist') returns app_public.users
  language plpgsql volatile
as $$
declare
  v_email citext;
  v_user app_public.users;
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  if app_public.current_user_role() is distinct from 'admin' then
    raise exception 'Only an admin adds users.' using errcode = 'DNIED'; -- before the reservation says TAKEN
  end if;
  -- Into a variable first: under Citus the reservation runs on the coordinator, not in the shard's insert.
  v_email := app_private.reserve_login_email(add_user.email, app_public.current_tenant_id());
  insert into app_public.users (email, full_name, user_role)
    values (v_email, btrim(add_user.full_name), add_user.user_role)
    returning * into v_user;
  return v_user;
end;
$$;
comment on function app_public.add_user(text, text, text) is
  'Admins: adds a user to the clinic group (role `admin`, `doctor` or `receptionist`), who gets an e-mail with a set-password link. TAKEN when any clinic group''s user has the e-mail. Runs with the caller''s rights: the policies decide who may add users.';
grant execute on function app_public.add_user(text, text, text) to :DATABASE_VISITOR;

create function app_public.change_user_email(user_id uuid, email text) returns app_public.users
  language plpgsql volatile
as $$
declare
  v_user app_public.users;
  v_old citext;
  v_new citext;
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  -- Locked: two changes of one user at once would both free the same old e-mail.
  select u.email into v_old from app_public.users u
    where u.tenant_id = app_public.current_tenant_id() and u.id = change_user_email.user_id for update;
  if v_old is null then
    raise exception 'There is no such user.' using errcode = 'NTFND';
  end if;
  if v_old <> btrim(change_user_email.email)::citext then
    v_new := app_private.reserve_login_email(change_user_email.email, app_public.current_tenant_id());
    update app_public.users u set email = v_new
      where u.tenant_id = app_public.current_tenant_id() and u.id = change_user_email.user_id;
    perform app_private.release_login_email(v_old);
  end if;
  select * into v_user from app_public.users u
    where u.tenant_id = app_public.current_tenant_id() and u.id = change_user_email.user_id;
  return v_user;
end;
$$;
comment on function app_public.change_user_email(uuid, text) is
  'Changes a user''s login e-mail: users their own, admins anyone''s in their clinic group (the update policy). TAKEN when any clinic group''s user has it. Runs with the caller''s rights.';
grant execute on function app_public.change_user_email(uuid, text) to :DATABASE_VISITOR;

-- The API writes users through these two functions only (the e-mail must be reserved first).
comment on column app_public.users.email is '@behavior -update
Login e-mail, unique across all tenants because login comes before knowing the tenant. Set with addUser and changeUserEmail.';
comment on policy insert_as_admin on app_public.users is 'Only admins add users (no invitation step: the seed decision), through addUser.';

create or replace function app_public.add_doctor(full_name text, email text default null, specialty text default null,
    license_number text default null, phone text default null, offices jsonb default '[]')
  returns app_public.doctors language plpgsql
as $$
declare
  v_user_id uuid;
  v_doctor app_public.doctors;
begin
  if email is not null then
    v_user_id := (app_public.add_user(email, full_name, 'doctor')).id;
  end if;
  insert into app_public.doctors (user_id, full_name, specialty, license_number, email, phone, offices)
    values (v_user_id, add_doctor.full_name, add_doctor.specialty, add_doctor.license_number,
            btrim(add_doctor.email), add_doctor.phone, coalesce(add_doctor.offices, '[]'))
    returning * into v_doctor;
  return v_doctor;
end;
$$;

comment on policy update_self_or_as_admin on app_public.users is
  'Users edit their own name; admins also change roles and deactivate. E-mails change through changeUserEmail. Users are never deleted.';

-- Sign-in finds the tenant first, then the user on that tenant's shard.
create or replace function app_private.login_candidate(email text)
  returns table (password_hash text, is_active boolean, session jsonb)
  language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_email citext := btrim(login_candidate.email)::citext;
  v_tenant_id uuid := (select e.tenant_id from app_private.login_emails e where e.email = v_email);
begin
  return query
    select s.password_hash, u.is_active, app_private.session_for(u.id)
    from app_public.users u join app_private.user_secrets s on s.tenant_id = u.tenant_id and s.user_id = u.id
    where u.tenant_id = v_tenant_id and u.email = v_email;
end;
$$;

--------------------------------------------------------------------------------
-- No cascading update of a key that includes tenant_id (issue 12): Citus refuses ON UPDATE
-- CASCADE on a foreign key with the distribution column. An item copies its prescription's
-- doctor so that its policies need no lookup; the API cannot change a prescription's doctor, and
-- an operator who does must move the items first (the key now refuses the change).
--------------------------------------------------------------------------------
alter table app_public.prescription_items
  drop constraint prescription_items_prescription_fkey,
  add constraint prescription_items_prescription_fkey foreign key (tenant_id, prescription_id, doctor_id)
    references app_public.prescriptions (tenant_id, id, doctor_id) on delete cascade;
comment on constraint prescription_items_prescription_fkey on app_public.prescription_items is '@fieldName prescription
@foreignFieldName items
The prescription, always of the same tenant and prescriber (copied by the fill trigger); the item is deleted with it.';

--------------------------------------------------------------------------------
-- The time-zone check in a trigger (issue 12). A CHECK constraint that reads a table (the zone
-- names) runs inside the insert on a Citus shard, where Citus allows no further query; a trigger
-- there may read the local copy of a reference table. Same answer as before: 23514, INVAL.
--------------------------------------------------------------------------------
alter table app_public.tenants drop constraint tenants_time_zone_check;

create function app_private.tg_tenants__check_time_zone() returns trigger
  language plpgsql
as $$
begin
  if not app_private.is_time_zone(new.time_zone) then
    raise exception 'Unknown time zone; use an IANA name such as Europe/Madrid.' using errcode = 'check_violation';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_tenants__check_time_zone() is
  'A tenant''s time zone must be an IANA name this server knows (app_private.is_time_zone); raises 23514, answered as INVAL. A trigger, not a CHECK constraint: under Citus only a trigger may read the zone names on a shard.';
create trigger _090_check_time_zone before insert or update of time_zone on app_public.tenants
  for each row execute function app_private.tg_tenants__check_time_zone();

--------------------------------------------------------------------------------
-- PL/pgSQL where a function's arguments filter tenant tables (issue 12). Citus cannot plan a
-- query of a LANGUAGE sql function that PostgreSQL does not inline when it uses the function's
-- arguments ("could not create distributed plan"); a PL/pgSQL query passes them as parameters,
-- which Citus routes to the tenant's shard. Same results; the set-returning SQL functions the
-- API reads (search_patients, free_slots) are inlined and stay SQL.
--------------------------------------------------------------------------------
create or replace function app_private.session_for(user_id uuid)
  returns jsonb language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  return (
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'fullName', u.full_name, 'userRole', u.user_role),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'slug', t.slug,
                                 'subscriptionPlan', t.subscription_plan, 'trialEndsAt', t.trial_ends_at),
    'doctorId', (select d.id from app_public.doctors d where d.tenant_id = u.tenant_id and d.user_id = u.id))
  from app_public.users u join app_public.tenants t on t.id = u.tenant_id
  where u.id = session_for.user_id);
end;
$$;

create or replace function app_private.welcome_email(tenant_id uuid)
  returns table (user_id uuid, email citext, full_name text, tenant_name text, trial_ends_at timestamptz, time_zone text) language plpgsql stable
as $$
#variable_conflict use_column
begin
  return query
  select u.id, u.email, u.full_name, t.name, t.trial_ends_at, t.time_zone
  from app_public.tenants t
  join app_public.users u on u.tenant_id = t.id and u.user_role = 'admin' and u.is_active
  where t.id = welcome_email.tenant_id
  order by u.created_at
  limit 1;
end;
$$;

-- Its argument is renamed: PL/pgSQL cannot have an argument and a result column of one name.
drop function app_private.account_email(uuid);
create function app_private.account_email(for_user_id uuid)
  returns table (user_id uuid, email citext, full_name text, user_role text, tenant_name text, has_password boolean) language plpgsql stable
as $$
#variable_conflict use_column
begin
  return query
  select u.id, u.email, u.full_name, u.user_role, t.name,
         exists (select from app_private.user_secrets s where s.tenant_id = u.tenant_id and s.user_id = u.id)
  from app_public.users u join app_public.tenants t on t.id = u.tenant_id
  where u.id = account_email.for_user_id and u.is_active;
end;
$$;
comment on function app_private.account_email(uuid) is
  'The recipient and facts of the e-mail to a user an admin created: nothing for a deactivated user; has_password says whether a set-password link is still needed.';

create or replace function app_private.trial_notice_email(trial_notice_id uuid)
  returns table (user_id uuid, email citext, full_name text, tenant_name text, trial_ends_at timestamptz, time_zone text, days_before integer) language plpgsql stable
as $$
#variable_conflict use_column
begin
  return query
  select u.id, u.email, u.full_name, t.name, t.trial_ends_at, t.time_zone, n.days_before
  from app_private.trial_notices n
  join app_public.tenants t on t.id = n.tenant_id and t.trial_ends_at = n.trial_ends_at
  join app_public.subscription_plans p on p.plan = t.subscription_plan and p.trial_days is not null
  join app_public.users u on u.tenant_id = t.id and u.user_role = 'admin' and u.is_active
  where n.id = trial_notice_email.trial_notice_id
  order by u.created_at;
end;
$$;

create or replace function app_private.session_is_valid(user_id uuid, tenant_id uuid, user_role text, doctor_id uuid, session_id uuid)
  returns boolean language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  return (
  select exists (
    select from app_public.users u
    where u.tenant_id = session_is_valid.tenant_id and u.id = session_is_valid.user_id
      and u.user_role = session_is_valid.user_role and u.is_active
      and exists (
        select from app_private.refresh_tokens r
        where r.tenant_id = u.tenant_id and r.family_id = session_is_valid.session_id and r.user_id = u.id and r.revoked_at is null)
      and (session_is_valid.doctor_id is null or exists (
        select from app_public.doctors d
        where d.tenant_id = u.tenant_id and d.id = session_is_valid.doctor_id and d.user_id = u.id and d.is_active))));
end;
$$;

create or replace function app_private.within_working_hours(tenant_id uuid, doctor_id uuid, office_id text, starts_at timestamptz, ends_at timestamptz)
  returns boolean language plpgsql stable
as $$
begin
  return (
  -- One working range of the appointment's local day holds all of it, and no time off of that
  -- office (or of all offices) touches it. An undecided office (NULL) may be any of the doctor's.
  select exists (
    select
    from app_public.tenants t
    cross join lateral (select (within_working_hours.starts_at at time zone t.time_zone)::date as day) d
    join app_public.working_hours w
      on w.tenant_id = within_working_hours.tenant_id
     and w.doctor_id = within_working_hours.doctor_id
     and (within_working_hours.office_id is null or w.office_id = within_working_hours.office_id)
     and w.weekday = extract(isodow from d.day)
     and (w.valid_from is null or w.valid_from <= d.day)
     and (w.valid_until is null or w.valid_until >= d.day)
    where t.id = within_working_hours.tenant_id
      and (d.day + w.starts_at) at time zone t.time_zone <= within_working_hours.starts_at
      and (d.day + w.ends_at) at time zone t.time_zone >= within_working_hours.ends_at
      and not exists (
        select from app_public.time_off_periods o
        where o.tenant_id = within_working_hours.tenant_id and o.doctor_id = within_working_hours.doctor_id
          and (o.office_id is null or o.office_id = w.office_id)
          and tstzrange(o.starts_at, o.ends_at) && tstzrange(within_working_hours.starts_at, within_working_hours.ends_at))));
end;
$$;

create or replace function app_private.enqueue_job(tenant_id uuid, task text, payload jsonb)
  returns void language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  insert into app_private.job_outbox (tenant_id, task, payload) values (enqueue_job.tenant_id, enqueue_job.task, enqueue_job.payload);
end;
$$;

create or replace function app_private.tenant_is_read_only(tenant_id uuid)
  returns boolean language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  return (
  select coalesce(t.trial_ends_at <= now(), false) and p.trial_days is not null
  from app_public.tenants t join app_public.subscription_plans p on p.plan = t.subscription_plan
  where t.id = tenant_is_read_only.tenant_id);
end;
$$;

-- Citus plans no subquery inside INSERT … VALUES: the tenant is looked up first.
create or replace function app_private.create_refresh_token(user_id uuid, lifetime interval, family_id uuid default gen_random_uuid())
  returns text language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
  v_tenant_id uuid := (select u.tenant_id from app_public.users u where u.id = create_refresh_token.user_id);
begin
  insert into app_private.refresh_tokens (tenant_id, token_hash, user_id, family_id, expires_at)
    values (v_tenant_id, sha256(convert_to(v_token, 'UTF8')), create_refresh_token.user_id, create_refresh_token.family_id, now() + lifetime);
  return v_token;
end;
$$;

--------------------------------------------------------------------------------
-- The request's role is switched without propagating it (issue 12). Citus replays each SET
-- LOCAL of a transaction on its worker connections, including those a SECURITY DEFINER function
-- (session_is_valid) opened as the owner, who cannot take the visitor's role; and it opens the
-- request's own worker connections as the role in effect. set_config('role', …, true) is SET
-- LOCAL ROLE without the replay. The claims stay SET LOCAL, so they do reach every worker.
--------------------------------------------------------------------------------
create or replace function app_private.begin_request(sub text, tenant_id text, user_role text, doctor_id text, session_id text)
  returns boolean language plpgsql volatile
as $$
begin
  if begin_request.sub is null then
    perform set_config('role', ':DATABASE_ANONYMOUS', true);
    return true;
  end if;
  if not app_private.session_is_valid(app_private.uuid_or_null(begin_request.sub), app_private.uuid_or_null(begin_request.tenant_id),
       begin_request.user_role, app_private.uuid_or_null(begin_request.doctor_id), app_private.uuid_or_null(begin_request.session_id)) then
    -- Signed in but no longer valid: the visitor role without a single claim reads and writes nothing.
    perform set_config('role', ':DATABASE_VISITOR', true);
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
  perform set_config('role', ':DATABASE_VISITOR', true);
  return true;
end;
$$;

-- Citus runs an upsert's DO UPDATE on the shard and allows only immutable functions there: the
-- time is taken first, into a variable.
create or replace function app_private.account_email_token(user_id uuid) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
  v_tenant_id uuid := (select u.tenant_id from app_public.users u where u.id = account_email_token.user_id);
  v_now timestamptz := now();
begin
  -- Replaces an expired token, or this e-mail's own from an attempt that was not sent; a live token
  -- the admin handed over stays, and NULL is returned.
  insert into app_private.password_tokens as t (tenant_id, token_hash, user_id, expires_at, issued_for)
    values (v_tenant_id, sha256(convert_to(v_token, 'UTF8')), account_email_token.user_id, v_now + interval '72 hours', 'account_email')
    on conflict (tenant_id, user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = v_now
      where t.expires_at <= v_now or t.issued_for = 'account_email';
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
  v_now timestamptz := now();
begin
  -- Upsert on the unique index: a concurrent issue for the same user is waited for, then replaced.
  insert into app_private.password_tokens as t (tenant_id, token_hash, user_id, expires_at, issued_for)
    values (v_tenant_id, sha256(convert_to(v_token, 'UTF8')), new_password_token.user_id, v_now + interval '72 hours', 'admin')
    on conflict (tenant_id, user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = v_now;
  return v_token;
end;
$$;

create or replace function app_private.set_password_with_token(token text, password_hash text) returns jsonb
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid;
  v_user_id uuid;
  v_now timestamptz := now();
begin
  update app_private.password_tokens t set used_at = v_now
    from app_public.users u
    where t.token_hash = sha256(convert_to(token, 'UTF8')) and t.used_at is null and t.expires_at > v_now
      and u.tenant_id = t.tenant_id and u.id = t.user_id and u.is_active
    returning t.tenant_id, t.user_id into v_tenant_id, v_user_id;
  if v_user_id is null then
    raise exception 'This link is invalid, already used or expired.' using errcode = 'TOKEN';
  end if;
  insert into app_private.user_secrets (tenant_id, user_id, password_hash)
    values (v_tenant_id, v_user_id, set_password_with_token.password_hash)
    on conflict (tenant_id, user_id) do update set password_hash = excluded.password_hash, password_set_at = v_now;
  delete from app_private.password_tokens t where t.tenant_id = v_tenant_id and t.user_id = v_user_id and t.used_at is null;
  return app_private.session_for(v_user_id);
end;
$$;

-- Joins between tenant tables name tenant_id on both sides, so Citus joins them on one shard; and
-- `select 1`, not an empty select list, which Citus sends to a worker as a broken query.
create or replace function app_public.issue_activation_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.assert_tenant_writable();
  if app_public.current_user_role() is distinct from 'admin' or not exists (
       select 1 from app_public.users u
       where u.tenant_id = app_public.current_tenant_id() and u.id = issue_activation_token.user_id and u.is_active
         and not exists (select 1 from app_private.user_secrets s where s.tenant_id = u.tenant_id and s.user_id = u.id)) then
    raise exception 'Only an admin can issue an activation link, for an active user of the clinic who has no password yet.'
      using errcode = 'DNIED';
  end if;
  return app_private.new_password_token(issue_activation_token.user_id);
end;
$$;

--------------------------------------------------------------------------------
-- A series' office is checked by a trigger on its row, on the shard (issue 12). The series
-- functions called the SECURITY DEFINER check themselves, on the coordinator, right after
-- writing the series as the caller; Citus refuses to read, as the owner, rows the caller has
-- written in the same transaction. Same rule, same OFFIC.
--------------------------------------------------------------------------------
create trigger _300_check_office before insert or update of office_id, doctor_id on app_public.appointment_series
  for each row execute function app_private.tg__check_office();

create or replace function app_public.create_appointment_series(doctor_id uuid, patient_id uuid, office_id text, first_date date, start_time time, rrule text, duration_minutes integer default null, visit_type_id uuid default null, reason text default null, outside_hours boolean default false)
  returns app_public.appointment_series
  language plpgsql
as $$
declare
  v_time_zone text;
  v_duration integer := create_appointment_series.duration_minutes;
  v_series app_public.appointment_series;
  v_date date;
  v_starts_at timestamptz;
  v_conflict jsonb;
  v_conflicts jsonb := '[]';
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  select t.time_zone into v_time_zone from app_public.tenants t where t.id = app_public.current_tenant_id();
  if create_appointment_series.visit_type_id is not null then
    select v.duration_minutes into v_duration from app_public.visit_types v
      where v.tenant_id = app_public.current_tenant_id() and v.id = create_appointment_series.visit_type_id and v.is_active;
    if not found then
      raise exception 'There is no such active visit type.' using errcode = 'INVAL';
    end if;
  elsif v_duration is null then
    raise exception 'Give a visit type, or a duration of 5 to 480 minutes.' using errcode = 'INVAL';
  end if;
  insert into app_public.appointment_series
    (doctor_id, patient_id, office_id, visit_type_id, rrule, first_date, start_time, duration_minutes, reason)
  values (create_appointment_series.doctor_id, create_appointment_series.patient_id, create_appointment_series.office_id,
          create_appointment_series.visit_type_id, regexp_replace(upper(btrim(create_appointment_series.rrule)), '^RRULE:', ''),
          create_appointment_series.first_date,
          create_appointment_series.start_time, v_duration, create_appointment_series.reason)
  returning * into v_series;
  for v_date in select d from app_private.rrule_dates(v_series.rrule, v_series.first_date) d loop
    v_starts_at := app_private.local_instant(v_date + v_series.start_time, v_time_zone);
    v_conflict := app_private.write_occurrence(null, v_series.id, v_series.doctor_id, v_series.patient_id, v_series.office_id,
      v_starts_at, v_starts_at + make_interval(mins => v_series.duration_minutes), 'booked', null,
      v_series.visit_type_id, v_series.reason, create_appointment_series.outside_hours);
    if v_conflict is not null then
      v_conflicts := v_conflicts || jsonb_build_array(v_conflict || jsonb_build_object('date', v_date));
    end if;
  end loop;
  perform app_private.raise_series_conflicts(v_conflicts);
  return v_series;
end;
$$;

create or replace function app_public.update_appointment_series(appointment_id uuid, scope app_public.series_scope, start_time time default null, office_id text default null, doctor_id uuid default null, status text default null, cancellation_reason text default null)
  returns SETOF app_public.appointments
  language plpgsql
as $$
declare
  v_time_zone text;
  v_from app_public.appointments;
  v_series app_public.appointment_series;
  v_series_id uuid;
  v_series_now app_public.appointment_series;
  v_left integer;
  v_occurrence app_public.appointments;
  v_local timestamp;
  v_starts_at timestamptz;
  v_conflict jsonb;
  v_conflicts jsonb := '[]';
  v_ids uuid[] := '{}';
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  if update_appointment_series.scope is null then
    raise exception 'Say which occurrences to change: this, following or all.' using errcode = 'INVAL';
  end if;
  select t.time_zone into v_time_zone from app_public.tenants t where t.id = app_public.current_tenant_id();
  select * into v_from from app_public.appointments a
    where a.tenant_id = app_public.current_tenant_id() and a.id = update_appointment_series.appointment_id;
  select * into v_series from app_public.appointment_series s
    where s.tenant_id = app_public.current_tenant_id() and s.id = v_from.series_id;
  if v_series.id is null then
    raise exception 'There is no such occurrence of a series.' using errcode = 'NTFND';
  end if;
  v_series_id := v_series.id;

  if scope <> 'this' and (start_time is not null or office_id is not null or doctor_id is not null) then
    if scope = 'following' and v_from.starts_at > (
         select min(a.starts_at) from app_public.appointments a
         where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id) then
      -- Split: the series so far ends the day before; the rest becomes a series of its own, with
      -- the occurrences from this one on (a COUNT counts what is left).
      v_local := v_from.starts_at at time zone v_time_zone;
      select count(*) into v_left from app_public.appointments a
        where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id and a.starts_at >= v_from.starts_at;
      insert into app_public.appointment_series
        (doctor_id, patient_id, office_id, visit_type_id, rrule, first_date, start_time, duration_minutes, reason)
      values (v_series.doctor_id, v_series.patient_id, v_series.office_id, v_series.visit_type_id,
              regexp_replace(v_series.rrule, 'COUNT=[0-9]+', 'COUNT=' || v_left),
              v_local::date, v_series.start_time, v_series.duration_minutes, v_series.reason)
      returning id into v_series_id;
      update app_public.appointment_series s
        set rrule = regexp_replace(btrim(regexp_replace(s.rrule, '(COUNT|UNTIL)=[^;]*', '', 'g'), ';'), ';{2,}', ';', 'g')
                    || ';UNTIL=' || to_char(v_local::date - 1, 'YYYYMMDD')
        where s.tenant_id = v_series.tenant_id and s.id = v_series.id;
      update app_public.appointments a set series_id = v_series_id
        where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id and a.starts_at >= v_from.starts_at;
    end if;
    update app_public.appointment_series s
      set start_time = coalesce(update_appointment_series.start_time, s.start_time),
          office_id = coalesce(update_appointment_series.office_id, s.office_id),
          doctor_id = coalesce(update_appointment_series.doctor_id, s.doctor_id)
      where s.tenant_id = v_series.tenant_id and s.id = v_series_id
      returning * into v_series_now;
  end if;

  for v_occurrence in
    select * from app_public.appointments a
    where a.tenant_id = v_series.tenant_id and a.series_id = v_series_id
      and case scope
            when 'this' then a.id = v_from.id
            when 'following' then a.starts_at >= v_from.starts_at and app_private.holds_slot(a.status)
            else a.starts_at > now() and app_private.holds_slot(a.status)
          end
    order by a.starts_at
  loop
    v_local := v_occurrence.starts_at at time zone v_time_zone;
    v_starts_at := coalesce(app_private.local_instant(v_local::date + update_appointment_series.start_time, v_time_zone),
                            v_occurrence.starts_at);
    v_conflict := app_private.write_occurrence(v_occurrence.id, v_occurrence.series_id,
      coalesce(update_appointment_series.doctor_id, v_occurrence.doctor_id), v_occurrence.patient_id,
      coalesce(update_appointment_series.office_id, v_occurrence.office_id),
      v_starts_at, v_starts_at + (v_occurrence.ends_at - v_occurrence.starts_at),
      coalesce(update_appointment_series.status, v_occurrence.status), update_appointment_series.cancellation_reason,
      null, null, null);
    if v_conflict is not null then
      v_conflicts := v_conflicts || jsonb_build_array(v_conflict || jsonb_build_object('date', v_local::date));
    end if;
    v_ids := v_ids || v_occurrence.id;
  end loop;
  perform app_private.raise_series_conflicts(v_conflicts);
  return query select * from app_public.appointments a
    where a.tenant_id = v_series.tenant_id and a.id = any (v_ids) order by a.starts_at;
end;
$$;
comment on function app_private.tg__check_office() is
  'A row''s office_id, when set, must name one of its doctor''s offices (OFFIC): working hours, time off and appointment series.';
