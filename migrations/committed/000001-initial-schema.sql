--! Previous: -
--! Hash: sha1:e91a70f2cf0e24c23a23f4626b2622c090738448
--! Message: initial schema

--! split: 1-schemas-and-claims.sql
-- Schemas, the JWT claim helpers every policy reads, and triggers shared by all tables.

drop schema if exists app_public cascade;
drop schema if exists app_private cascade;

create schema app_public;
comment on schema app_public is 'Everything the GraphQL API exposes. Every table here has row-level security enabled and forced.';
create schema app_private;
comment on schema app_private is 'Secrets and internals (password hashes, one-time tokens, trigger functions). Never exposed; API roles may call only the few functions granted to them.';

grant usage on schema app_public to :DATABASE_ANONYMOUS, :DATABASE_VISITOR;
grant usage on schema app_private to :DATABASE_ANONYMOUS, :DATABASE_VISITOR;

/*
 * Claim helpers. The API server verifies the JWT and hands its claims to PostgreSQL as
 * transaction-local settings `jwt.claims.<name>`; policies read them only through these
 * functions. A missing, empty or malformed claim reads as NULL, and NULL matches no row:
 * a request without a valid claim sees nothing and can write nothing (fail closed).
 */
create function app_private.uuid_or_null(value text) returns uuid
  language sql immutable strict parallel safe
as $$
  select case
    when value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then value::uuid
  end
$$;
comment on function app_private.uuid_or_null(text) is
  'The text as a uuid, or NULL when it is not one: a malformed claim must deny access, not raise an error.';

create function app_public.current_tenant_id() returns uuid
  language sql stable parallel safe
as $$
  select app_private.uuid_or_null(nullif(current_setting('jwt.claims.tenant_id', true), ''))
$$;
comment on function app_public.current_tenant_id() is
  'The tenant (clinic group) of the signed-in user, from the verified JWT claim `tenant_id`; NULL when signed out.';

create function app_public.current_user_id() returns uuid
  language sql stable parallel safe
as $$
  select app_private.uuid_or_null(nullif(current_setting('jwt.claims.sub', true), ''))
$$;
comment on function app_public.current_user_id() is
  'The signed-in user, from the JWT registered claim `sub`; NULL when signed out.';

create function app_public.current_user_role() returns text
  language sql stable parallel safe
as $$
  select nullif(current_setting('jwt.claims.user_role', true), '')
$$;
comment on function app_public.current_user_role() is
  'The signed-in user''s role inside the tenant (`admin`, `doctor` or `receptionist`), from the JWT claim `user_role`; NULL when signed out.';

create function app_public.current_doctor_id() returns uuid
  language sql stable parallel safe
as $$
  select app_private.uuid_or_null(nullif(current_setting('jwt.claims.doctor_id', true), ''))
$$;
comment on function app_public.current_doctor_id() is
  'The doctor profile of the signed-in user, from the JWT claim `doctor_id` (doctor users only); lets policies say "own rows" without a subquery.';

grant execute on function app_private.uuid_or_null(text) to :DATABASE_ANONYMOUS, :DATABASE_VISITOR;
grant execute on function
  app_public.current_tenant_id(), app_public.current_user_id(),
  app_public.current_user_role(), app_public.current_doctor_id()
  to :DATABASE_ANONYMOUS, :DATABASE_VISITOR;

/*
 * Shared triggers.
 */
create function app_private.tg__timestamps() returns trigger
  language plpgsql
as $$
begin
  new.created_at := case when tg_op = 'INSERT' then now() else old.created_at end;
  -- now() is the transaction start: keep updated_at strictly increasing within one transaction.
  new.updated_at := case
    when tg_op = 'UPDATE' and old.updated_at >= now() then old.updated_at + interval '1 millisecond'
    else now()
  end;
  return new;
end;
$$;
comment on function app_private.tg__timestamps() is
  'Keeps created_at and updated_at honest: set by the database, never by a client.';

create function app_private.tg__protect_columns() returns trigger
  language plpgsql
as $$
declare
  v_column text;
begin
  -- Sessions without claims are the owner or an operator; API sessions without claims see no rows.
  if app_public.current_tenant_id() is null
     or app_public.current_user_role() = any (string_to_array(tg_argv[0], ',')) then
    return new;
  end if;
  foreach v_column in array tg_argv[1:tg_nargs - 1] loop
    if to_jsonb(new) -> v_column is distinct from to_jsonb(old) -> v_column then
      raise exception 'Your role may not change %.', v_column using errcode = 'DNIED';
    end if;
  end loop;
  return new;
end;
$$;
comment on function app_private.tg__protect_columns() is
  'Row policies say who may update a row; this says which columns. Arguments: the roles (comma-separated) that may change every column, then the columns nobody else may change. Raises DNIED.';

--! split: 2-plans-and-tenants.sql
-- Subscription plans and tenants (clinic groups). A tenant's plan caps its active doctors.

create table app_public.subscription_plans (
  plan         text primary key check (plan ~ '^[a-z][a-z0-9_]*$'),
  display_name text not null check (length(btrim(display_name)) between 1 and 100),
  max_doctors  integer not null check (max_doctors >= 0),
  trial_days   integer check (trial_days > 0),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
comment on table app_public.subscription_plans is
  'What a clinic group can subscribe to. DBAs change limits here, by migration; nothing else hard-codes them.';
comment on column app_public.subscription_plans.plan is 'Stable key of the plan, e.g. `trial`, `basic`, `premium`.';
comment on column app_public.subscription_plans.display_name is 'Name of the plan as shown to people.';
comment on column app_public.subscription_plans.max_doctors is 'How many doctors a tenant on this plan may have active at once.';
comment on column app_public.subscription_plans.trial_days is 'Length of the free trial in days; NULL for paid plans.';
comment on column app_public.subscription_plans.created_at is 'When the plan was created.';
comment on column app_public.subscription_plans.updated_at is 'When the plan was last changed.';

create trigger _100_timestamps before insert or update on app_public.subscription_plans
  for each row execute function app_private.tg__timestamps();

insert into app_public.subscription_plans (plan, display_name, max_doctors, trial_days) values
  ('trial', 'Trial', 5, 14),
  ('basic', 'Basic', 20, null),
  ('premium', 'Premium', 100, null);

alter table app_public.subscription_plans enable row level security;
alter table app_public.subscription_plans force row level security;
create policy select_all on app_public.subscription_plans
  for select to :DATABASE_ANONYMOUS, :DATABASE_VISITOR using (true);
comment on policy select_all on app_public.subscription_plans is
  'Plans are public price-list information: anyone may read them, nobody but the owner may change them.';
grant select on app_public.subscription_plans to :DATABASE_ANONYMOUS, :DATABASE_VISITOR;


create function app_private.is_time_zone(name text) returns boolean
  language sql immutable strict parallel safe
as $$
  -- Immutable so a CHECK constraint may use it; the IANA list only changes with a server upgrade.
  select exists (select from pg_catalog.pg_timezone_names where pg_timezone_names.name = is_time_zone.name)
$$;
comment on function app_private.is_time_zone(text) is 'Whether the text is an IANA time zone name this server knows, e.g. `Europe/Madrid`.';
grant execute on function app_private.is_time_zone(text) to :DATABASE_VISITOR;

create table app_public.tenants (
  id                uuid primary key default gen_random_uuid(),
  name              text not null check (length(btrim(name)) between 1 and 200),
  slug              citext not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 63),
  subscription_plan text not null default 'trial' references app_public.subscription_plans (plan) on update cascade,
  trial_ends_at     timestamptz,
  time_zone         text not null default 'UTC' check (app_private.is_time_zone(time_zone)),
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
comment on table app_public.tenants is
  'A clinic group that signed up: the unit of isolation. Every other row belongs to exactly one tenant, and users see only their own.';
comment on column app_public.tenants.id is 'Identifier of the tenant; every JWT carries it as the `tenant_id` claim.';
comment on column app_public.tenants.name is 'Name of the clinic group.';
comment on column app_public.tenants.slug is 'Unique URL-safe name: the name at sign-up plus a random suffix (e.g. `sunrise-clinics-3f9a0c1b`).';
comment on column app_public.tenants.subscription_plan is 'The plan the tenant is on; changed by operators, never through the API.';
comment on column app_public.tenants.trial_ends_at is 'When the free trial ends; NULL once on a paid plan.';
comment on column app_public.tenants.time_zone is 'IANA time zone of the clinic group, used to show local times and to send notices on local days.';
comment on column app_public.tenants.created_at is 'When the tenant signed up.';
comment on column app_public.tenants.updated_at is 'When the tenant was last changed.';
create index on app_public.tenants (subscription_plan);

create trigger _100_timestamps before insert or update on app_public.tenants
  for each row execute function app_private.tg__timestamps();

alter table app_public.tenants enable row level security;
alter table app_public.tenants force row level security;
create policy select_own_tenant on app_public.tenants
  for select to :DATABASE_VISITOR using (id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.tenants is 'Users see their own tenant row and no other.';
create policy update_own_tenant_as_admin on app_public.tenants
  for update to :DATABASE_VISITOR
  using (id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin')
  with check (id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy update_own_tenant_as_admin on app_public.tenants is 'Admins rename their tenant or change its time zone; the plan is not theirs to change.';
grant select on app_public.tenants to :DATABASE_VISITOR;
grant update (name, time_zone) on app_public.tenants to :DATABASE_VISITOR;

--! split: 3-users.sql
-- Users: the people who sign in. Credentials and one-time tokens live apart, in app_private.

create table app_public.users (
  id         uuid primary key default gen_random_uuid(),
  tenant_id  uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  email      citext not null unique check (length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  full_name  text not null check (length(btrim(full_name)) between 1 and 200),
  user_role  text not null default 'receptionist' check (user_role in ('admin', 'doctor', 'receptionist')),
  is_active  boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_tenant_id_id_key unique (tenant_id, id)
);
comment on table app_public.users is
  'People who sign in to a tenant. Users see their own row; admins see and manage all users of their tenant.';
comment on column app_public.users.id is 'Identifier of the user; the JWT registered claim `sub`.';
comment on column app_public.users.tenant_id is 'The tenant the user belongs to; set from the signed-in user''s token, never by the client.';
comment on column app_public.users.email is 'Login e-mail, unique across all tenants because login comes before knowing the tenant.';
comment on column app_public.users.full_name is 'Name shown to colleagues.';
comment on column app_public.users.user_role is 'Role inside the tenant: `admin` (everything), `doctor` (own profile, own prescriptions, own appointments'' status) or `receptionist` (patients and appointments).';
comment on column app_public.users.is_active is 'Inactive users cannot sign in. Users are deactivated, not deleted, so records keep their authors.';
comment on column app_public.users.created_at is 'When the user was created.';
comment on column app_public.users.updated_at is 'When the user was last changed.';
comment on constraint users_tenant_id_id_key on app_public.users is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';

create trigger _100_timestamps before insert or update on app_public.users
  for each row execute function app_private.tg__timestamps();
create trigger _200_protect_columns before update on app_public.users
  for each row execute function app_private.tg__protect_columns('admin', 'user_role', 'is_active');

create function app_private.tg_users__keep_an_admin() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if old.user_role = 'admin' and old.is_active
     and not (new.user_role = 'admin' and new.is_active)
     and not exists (
       select from app_public.users
       where tenant_id = old.tenant_id and id <> old.id and user_role = 'admin' and is_active
     ) then
    raise exception 'A clinic group needs at least one active admin.' using errcode = 'DNIED';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_users__keep_an_admin() is
  'Refuses to demote or deactivate the last active admin of a tenant, which would lock the clinic group out of its own settings. SECURITY DEFINER to count admins whatever the caller may see.';
create trigger _300_keep_an_admin before update of user_role, is_active on app_public.users
  for each row execute function app_private.tg_users__keep_an_admin();

alter table app_public.users enable row level security;
alter table app_public.users force row level security;
create policy select_self_or_as_admin on app_public.users
  for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (id = app_public.current_user_id() or app_public.current_user_role() = 'admin'));
comment on policy select_self_or_as_admin on app_public.users is 'Users read their own row; admins read every user of their tenant.';
create policy insert_as_admin on app_public.users
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy insert_as_admin on app_public.users is 'Only admins add users (no invitation step: the seed decision).';
create policy update_self_or_as_admin on app_public.users
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (id = app_public.current_user_id() or app_public.current_user_role() = 'admin'))
  with check (tenant_id = app_public.current_tenant_id()
         and (id = app_public.current_user_id() or app_public.current_user_role() = 'admin'));
comment on policy update_self_or_as_admin on app_public.users is 'Users edit their own name and e-mail; admins also change roles and deactivate. Users are never deleted.';
grant select on app_public.users to :DATABASE_VISITOR;
grant insert (email, full_name, user_role, is_active) on app_public.users to :DATABASE_VISITOR;
grant update (email, full_name, user_role, is_active) on app_public.users to :DATABASE_VISITOR;


create table app_private.user_secrets (
  user_id         uuid primary key references app_public.users on delete cascade,
  password_hash   text not null,
  password_set_at timestamptz not null default now()
);
comment on table app_private.user_secrets is
  'Password hashes (argon2id, PHC string format, made by the API server). No API role can read this table.';
comment on column app_private.user_secrets.user_id is 'The user the password belongs to.';
comment on column app_private.user_secrets.password_hash is 'argon2id hash in PHC string format; the server never stores or logs the password itself.';
comment on column app_private.user_secrets.password_set_at is 'When the password was last set.';

create table app_private.password_tokens (
  token_hash bytea primary key,
  user_id    uuid not null references app_public.users on delete cascade,
  expires_at timestamptz not null,
  used_at    timestamptz,
  created_at timestamptz not null default now()
);
comment on table app_private.password_tokens is
  'One-time tokens that let a user set their password (account activation). Only the SHA-256 of a token is kept, so a leaked table opens no account.';
comment on column app_private.password_tokens.token_hash is 'SHA-256 of the token handed to the user.';
comment on column app_private.password_tokens.user_id is 'Whose password the token sets.';
comment on column app_private.password_tokens.expires_at is 'After this the token is refused.';
comment on column app_private.password_tokens.used_at is 'When the token was used; a used token is refused.';
comment on column app_private.password_tokens.created_at is 'When the token was issued.';
create index on app_private.password_tokens (user_id);

--! split: 4-doctors-and-offices.sql
-- Doctors and their offices. Offices stay a JSONB array on the doctor (the seed decision: no
-- offices table); this section is the one place that says what a valid array is.

create function app_private.assert_valid_offices(offices jsonb) returns boolean
  language plpgsql immutable
as $$
declare
  v_office jsonb;
  v_ids text[] := '{}';
  v_primaries integer := 0;
begin
  if jsonb_typeof(offices) is distinct from 'array' then
    raise exception 'Offices must be a list.' using errcode = 'OFFIC';
  end if;
  if jsonb_array_length(offices) > 50 then
    raise exception 'A doctor can have at most 50 offices.' using errcode = 'OFFIC';
  end if;
  for v_office in select value from jsonb_array_elements(offices) loop
    if jsonb_typeof(v_office) <> 'object' then
      raise exception 'Each office must be an object with id, name, address and is_primary.' using errcode = 'OFFIC';
    end if;
    if exists (select from jsonb_object_keys(v_office) as key where key not in ('id', 'name', 'address', 'is_primary')) then
      raise exception 'An office may only have the keys id, name, address and is_primary.' using errcode = 'OFFIC';
    end if;
    if jsonb_typeof(v_office -> 'id') is distinct from 'string'
       or btrim(v_office ->> 'id') = '' or length(v_office ->> 'id') > 50 then
      raise exception 'Each office needs an id: a non-empty text of at most 50 characters.' using errcode = 'OFFIC';
    end if;
    if (v_office ->> 'id') = any (v_ids) then
      raise exception 'Office ids must be unique for a doctor.' using errcode = 'OFFIC';
    end if;
    v_ids := v_ids || (v_office ->> 'id');
    if jsonb_typeof(v_office -> 'name') is distinct from 'string' or btrim(v_office ->> 'name') = '' then
      raise exception 'Each office needs a name.' using errcode = 'OFFIC';
    end if;
    if v_office ? 'address' and jsonb_typeof(v_office -> 'address') not in ('string', 'null') then
      raise exception 'An office address must be text or null.' using errcode = 'OFFIC';
    end if;
    if jsonb_typeof(v_office -> 'is_primary') is distinct from 'boolean' then
      raise exception 'Each office needs is_primary: true or false.' using errcode = 'OFFIC';
    end if;
    if (v_office -> 'is_primary')::boolean then
      v_primaries := v_primaries + 1;
    end if;
  end loop;
  if jsonb_array_length(offices) > 0 and v_primaries <> 1 then
    raise exception 'Exactly one office must be the primary one.' using errcode = 'OFFIC';
  end if;
  return true;
end;
$$;
comment on function app_private.assert_valid_offices(jsonb) is
  'True for a valid offices array: at most 50 objects with only the keys id (unique non-empty text, at most 50 characters), name (non-empty text), address (text or null, optional) and is_primary (boolean), exactly one primary when not empty. Otherwise raises OFFIC with what is wrong, so the client learns more than "check failed".';
grant execute on function app_private.assert_valid_offices(jsonb) to :DATABASE_VISITOR;

create table app_public.doctors (
  id             uuid primary key default gen_random_uuid(),
  tenant_id      uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  user_id        uuid,
  full_name      text not null check (length(btrim(full_name)) between 1 and 200),
  specialty      text check (length(specialty) <= 200),
  license_number text check (length(btrim(license_number)) between 1 and 100),
  email          citext check (length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  phone          text check (length(phone) <= 50),
  offices        jsonb not null default '[]' constraint doctors_offices_valid check (app_private.assert_valid_offices(offices)),
  is_active      boolean not null default true,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint doctors_tenant_id_id_key unique (tenant_id, id),
  constraint doctors_tenant_id_user_id_key unique (tenant_id, user_id),
  constraint doctors_tenant_id_license_number_key unique (tenant_id, license_number),
  constraint doctors_user_fkey foreign key (tenant_id, user_id) references app_public.users (tenant_id, id)
);
comment on table app_public.doctors is
  E'@behavior +aggregates +groupedAggregates\nDoctors of a tenant, each with the offices they practise in. Every user of the tenant reads them; admins manage them; a doctor edits their own profile.';
comment on column app_public.doctors.id is 'Identifier of the doctor; doctor users carry it in the JWT claim `doctor_id`.';
comment on column app_public.doctors.tenant_id is 'The tenant the doctor works for; set from the signed-in user''s token, never by the client.';
comment on column app_public.doctors.user_id is 'The user account the doctor signs in with, if any.';
comment on column app_public.doctors.full_name is 'Name of the doctor.';
comment on column app_public.doctors.specialty is 'Medical specialty, free text (e.g. "Cardiology").';
comment on column app_public.doctors.license_number is 'Professional license number, unique within the tenant.';
comment on column app_public.doctors.email is 'Contact e-mail of the doctor.';
comment on column app_public.doctors.phone is 'Contact phone of the doctor.';
comment on column app_public.doctors.offices is
  'Where the doctor practises: `[{"id", "name", "address", "is_primary"}]`, at most 50, ids unique, exactly one primary when not empty. An office still booked by an upcoming appointment cannot be removed.';
comment on column app_public.doctors.is_active is 'Only active doctors count towards the plan''s limit. Doctors are deactivated rather than deleted, to keep their history.';
comment on column app_public.doctors.created_at is 'When the doctor was added.';
comment on column app_public.doctors.updated_at is 'When the doctor was last changed.';
create index on app_public.doctors (tenant_id, is_active);
comment on constraint doctors_tenant_id_id_key on app_public.doctors is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint doctors_tenant_id_user_id_key on app_public.doctors is
  E'@behavior -single -update -delete\nA user account has at most one doctor profile.';
comment on constraint doctors_tenant_id_license_number_key on app_public.doctors is
  E'@behavior -single -update -delete\nA license number names one doctor within a tenant.';
comment on constraint doctors_user_fkey on app_public.doctors is
  E'@fieldName user\n@foreignFieldName doctorProfile\nThe sign-in account of the doctor, in the same tenant.';

create trigger _100_timestamps before insert or update on app_public.doctors
  for each row execute function app_private.tg__timestamps();
create trigger _200_protect_columns before update on app_public.doctors
  for each row execute function app_private.tg__protect_columns('admin', 'user_id', 'license_number', 'is_active');

alter table app_public.doctors enable row level security;
alter table app_public.doctors force row level security;
create policy select_own_tenant on app_public.doctors
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.doctors is 'Every user of a tenant reads its doctors (to book, to prescribe).';
create policy insert_as_admin on app_public.doctors
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy insert_as_admin on app_public.doctors is 'Admins add doctors directly, without invitation (the seed decision).';
create policy update_as_admin_or_self on app_public.doctors
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and id = app_public.current_doctor_id())));
comment on policy update_as_admin_or_self on app_public.doctors is
  'Admins edit any doctor of the tenant; a doctor edits their own profile and offices (not their account, license or active flag).';
create policy delete_as_admin on app_public.doctors
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy delete_as_admin on app_public.doctors is 'Admins may delete a doctor who has no appointments or prescriptions yet; otherwise deactivate.';
grant select, delete on app_public.doctors to :DATABASE_VISITOR;
grant insert (user_id, full_name, specialty, license_number, email, phone, offices, is_active) on app_public.doctors to :DATABASE_VISITOR;
grant update (user_id, full_name, specialty, license_number, email, phone, offices, is_active) on app_public.doctors to :DATABASE_VISITOR;

--! split: 5-plan-limit.sql
-- Plan limit: a tenant's active doctors never exceed its plan's max_doctors.
-- Race-free: every path that can add an active doctor first locks the tenant's row, so two
-- concurrent adds on the last free slot are serialised and the second one sees the first.

create function app_private.assert_doctor_slots(tenant_id uuid, plan text, adding integer) returns void
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_max integer;
  v_active integer;
begin
  select max_doctors into v_max from app_public.subscription_plans where subscription_plans.plan = assert_doctor_slots.plan;
  select count(*) into v_active from app_public.doctors
    where doctors.tenant_id = assert_doctor_slots.tenant_id and is_active;
  if v_active + adding > v_max then
    raise exception 'The % plan allows % active doctors; deactivate a doctor or change plan.', plan, v_max
      using errcode = 'PLANL';
  end if;
end;
$$;
comment on function app_private.assert_doctor_slots(uuid, text, integer) is
  'Raises PLANL when the tenant''s active doctors plus `adding` would exceed the plan''s max_doctors. The caller must hold the tenant row''s lock. SECURITY DEFINER so it counts every doctor of the tenant, not only those the caller can see.';

create function app_private.tg_doctors__check_plan_limit() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_plan text;
begin
  if not new.is_active or (tg_op = 'UPDATE' and old.is_active) then
    return new;
  end if;
  -- The lock serialises concurrent adds on one tenant until this transaction ends.
  select subscription_plan into v_plan from app_public.tenants where id = new.tenant_id for no key update;
  if found then
    perform app_private.assert_doctor_slots(new.tenant_id, v_plan, 1);
  end if;
  return new;
end;
$$;
comment on function app_private.tg_doctors__check_plan_limit() is
  'Before a doctor becomes active (added or reactivated), locks the tenant row and checks the plan limit. SECURITY DEFINER: the lock and the count must not depend on what the caller can see; tenant_id is never client-writable.';
create trigger _200_check_plan_limit before insert or update of is_active on app_public.doctors
  for each row execute function app_private.tg_doctors__check_plan_limit();

create function app_private.tg_tenants__check_plan_limit() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  -- The row being updated is already locked by this UPDATE.
  perform app_private.assert_doctor_slots(new.id, new.subscription_plan, 0);
  return new;
end;
$$;
comment on function app_private.tg_tenants__check_plan_limit() is
  'Refuses a plan change (a downgrade) that would leave more active doctors than the new plan allows.';
create trigger _200_check_plan_limit before update of subscription_plan on app_public.tenants
  for each row when (new.subscription_plan is distinct from old.subscription_plan)
  execute function app_private.tg_tenants__check_plan_limit();

--! split: 6-patients.sql
-- Patients of a tenant.

create table app_public.patients (
  id         uuid primary key default gen_random_uuid(),
  tenant_id  uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  full_name  text not null check (length(btrim(full_name)) between 1 and 200),
  birth_date date check (birth_date >= date '1900-01-01'),
  gender     text not null default 'unknown' check (gender in ('male', 'female', 'other', 'unknown')),
  phone      text check (length(phone) <= 50),
  email      citext check (length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  address    text check (length(address) <= 500),
  notes      text check (length(notes) <= 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint patients_tenant_id_id_key unique (tenant_id, id)
);
comment on table app_public.patients is
  E'@behavior +aggregates +groupedAggregates\nPatients of a tenant. Every user of the tenant reads them; admins and receptionists manage them.';
comment on column app_public.patients.id is 'Identifier of the patient.';
comment on column app_public.patients.tenant_id is 'The tenant the patient is registered with; set from the signed-in user''s token, never by the client.';
comment on column app_public.patients.full_name is 'Name of the patient.';
comment on column app_public.patients.birth_date is 'Date of birth.';
comment on column app_public.patients.gender is 'Administrative gender, HL7 FHIR AdministrativeGender: `male`, `female`, `other`, `unknown`.';
comment on column app_public.patients.phone is 'Contact phone.';
comment on column app_public.patients.email is 'Contact e-mail.';
comment on column app_public.patients.address is 'Postal address, free text.';
comment on column app_public.patients.notes is 'Administrative notes about the patient.';
comment on column app_public.patients.created_at is 'When the patient was registered.';
comment on column app_public.patients.updated_at is 'When the patient was last changed.';
create index on app_public.patients (tenant_id, full_name);
comment on constraint patients_tenant_id_id_key on app_public.patients is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';

create trigger _100_timestamps before insert or update on app_public.patients
  for each row execute function app_private.tg__timestamps();

alter table app_public.patients enable row level security;
alter table app_public.patients force row level security;
create policy select_own_tenant on app_public.patients
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.patients is 'Every user of a tenant reads its patients.';
create policy insert_as_front_desk on app_public.patients
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy insert_as_front_desk on app_public.patients is 'Admins and receptionists register patients.';
create policy update_as_front_desk on app_public.patients
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'))
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy update_as_front_desk on app_public.patients is 'Admins and receptionists edit patients.';
create policy delete_as_front_desk on app_public.patients
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy delete_as_front_desk on app_public.patients is 'Admins and receptionists delete patients who have no appointments or prescriptions.';
grant select, delete on app_public.patients to :DATABASE_VISITOR;
grant insert (full_name, birth_date, gender, phone, email, address, notes) on app_public.patients to :DATABASE_VISITOR;
grant update (full_name, birth_date, gender, phone, email, address, notes) on app_public.patients to :DATABASE_VISITOR;

--! split: 7-appointments.sql
-- Appointments: a patient with a doctor, at one of the doctor's offices, at a time the doctor
-- has free. Statuses are HL7 FHIR's Appointment status codes.

create function app_private.holds_slot(status text) returns boolean
  language sql immutable strict parallel safe
as $$
  select status not in ('cancelled', 'noshow', 'entered-in-error', 'waitlist')
$$;
comment on function app_private.holds_slot(text) is
  'Whether an appointment in this status occupies the doctor''s time: all but `cancelled`, `noshow`, `entered-in-error` and `waitlist` (a waiting-list entry is not a held slot).';
grant execute on function app_private.holds_slot(text) to :DATABASE_VISITOR;

create table app_public.appointments (
  id                  uuid primary key default gen_random_uuid(),
  tenant_id           uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  doctor_id           uuid not null,
  patient_id          uuid not null,
  office_id           varchar(50),
  starts_at           timestamptz not null,
  ends_at             timestamptz not null,
  status              text not null default 'booked' check (status in (
                        'proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled',
                        'cancelled', 'noshow', 'entered-in-error', 'waitlist')),
  reason              text check (length(reason) <= 1000),
  notes               text check (length(notes) <= 10000),
  cancellation_reason text check (length(cancellation_reason) <= 1000),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  check (ends_at > starts_at),
  constraint appointments_tenant_id_id_key unique (tenant_id, id),
  constraint appointments_tenant_id_id_patient_id_key unique (tenant_id, id, patient_id),
  constraint appointments_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id),
  constraint appointments_patient_fkey foreign key (tenant_id, patient_id) references app_public.patients (tenant_id, id),
  constraint appointments_no_double_booking exclude using gist (
    tenant_id with =, doctor_id with =, tstzrange(starts_at, ends_at) with &&
  ) where (app_private.holds_slot(status))
);
comment on table app_public.appointments is
  E'@behavior +aggregates +groupedAggregates\nAppointments of a tenant. Everyone in the tenant reads them; admins and receptionists book and change them; a doctor updates the status and notes of their own. A doctor never holds two overlapping appointments that hold a slot.';
comment on column app_public.appointments.id is 'Identifier of the appointment.';
comment on column app_public.appointments.tenant_id is 'The tenant of the appointment; set from the signed-in user''s token, never by the client.';
comment on column app_public.appointments.doctor_id is 'The doctor seen; must belong to the same tenant.';
comment on column app_public.appointments.patient_id is 'The patient; must belong to the same tenant.';
comment on column app_public.appointments.office_id is 'Where: the `id` of one of the doctor''s offices, or NULL when not yet decided.';
comment on column app_public.appointments.starts_at is 'Start time (with time zone).';
comment on column app_public.appointments.ends_at is 'End time, after starts_at; the slot is [starts_at, ends_at).';
comment on column app_public.appointments.status is
  'HL7 FHIR Appointment status: `proposed`, `pending`, `booked` (default), `arrived`, `checked-in`, `fulfilled`, `cancelled`, `noshow`, `entered-in-error`, `waitlist`.';
comment on column app_public.appointments.reason is 'Why the patient comes.';
comment on column app_public.appointments.notes is 'Notes from the doctor or the front desk.';
comment on column app_public.appointments.cancellation_reason is 'Why the appointment was cancelled.';
comment on column app_public.appointments.created_at is 'When the appointment was booked.';
comment on column app_public.appointments.updated_at is 'When the appointment was last changed.';
comment on constraint appointments_no_double_booking on app_public.appointments is
  'A doctor cannot be in two places at once; reported to clients as OVLAP.';
comment on constraint appointments_tenant_id_id_key on app_public.appointments is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint appointments_tenant_id_id_patient_id_key on app_public.appointments is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint appointments_doctor_fkey on app_public.appointments is
  E'@fieldName doctor\n@foreignFieldName appointments\nThe doctor, always of the same tenant.';
comment on constraint appointments_patient_fkey on app_public.appointments is
  E'@fieldName patient\n@foreignFieldName appointments\nThe patient, always of the same tenant.';
create index on app_public.appointments (tenant_id, starts_at);
create index on app_public.appointments (tenant_id, doctor_id, starts_at);
create index on app_public.appointments (tenant_id, patient_id);

create trigger _100_timestamps before insert or update on app_public.appointments
  for each row execute function app_private.tg__timestamps();
create trigger _200_protect_columns before update on app_public.appointments
  for each row execute function app_private.tg__protect_columns(
    'admin,receptionist', 'doctor_id', 'patient_id', 'office_id', 'starts_at', 'ends_at', 'reason');

create function app_private.tg_appointments__check_office() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_offices jsonb;
begin
  if new.office_id is null then
    return new;
  end if;
  if tg_op = 'UPDATE' and new.office_id = old.office_id and new.doctor_id = old.doctor_id
     and not (app_private.holds_slot(new.status) and new.ends_at > now()) then
    return new; -- a past or released appointment keeps its history, even if the office is gone
  end if;
  -- FOR SHARE waits for, and then blocks, a concurrent edit of the doctor's offices.
  select offices into v_offices from app_public.doctors
    where tenant_id = new.tenant_id and id = new.doctor_id for share;
  if found and not v_offices @> jsonb_build_array(jsonb_build_object('id', new.office_id)) then
    raise exception 'The office is not one of this doctor''s offices.' using errcode = 'OFFIC';
  end if;
  -- Not found: the doctor is not in this tenant, and the foreign key rejects the row.
  return new;
end;
$$;
comment on function app_private.tg_appointments__check_office() is
  'An appointment''s office_id must name one of its doctor''s offices (OFFIC): on booking, on a change of office or doctor, and when an appointment becomes upcoming and slot-holding again (re-activated, or moved into the future). SECURITY DEFINER to lock the doctor row, which receptionists may read but not update; the lookup is pinned to the row''s own tenant.';
create trigger _300_check_office before insert or update of office_id, doctor_id, status, starts_at, ends_at on app_public.appointments
  for each row execute function app_private.tg_appointments__check_office();

create function app_private.tg_doctors__keep_booked_offices() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_office_id text;
begin
  select a.office_id into v_office_id
    from app_public.appointments a
    where a.tenant_id = new.tenant_id and a.doctor_id = new.id
      and a.office_id is not null and a.ends_at > now() and app_private.holds_slot(a.status)
      and not new.offices @> jsonb_build_array(jsonb_build_object('id', a.office_id))
    limit 1;
  if found then
    raise exception 'Office "%" has upcoming appointments; move or cancel them first.', v_office_id
      using errcode = 'OFFIC';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_doctors__keep_booked_offices() is
  'Refuses to remove from a doctor an office that an upcoming appointment still uses (OFFIC). SECURITY DEFINER so the check sees every appointment of the doctor; it reads only the row''s own tenant.';
create trigger _300_keep_booked_offices before update of offices on app_public.doctors
  for each row when (new.offices is distinct from old.offices)
  execute function app_private.tg_doctors__keep_booked_offices();

alter table app_public.appointments enable row level security;
alter table app_public.appointments force row level security;
create policy select_own_tenant on app_public.appointments
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.appointments is 'Every user of a tenant reads its schedule.';
create policy insert_as_front_desk on app_public.appointments
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy insert_as_front_desk on app_public.appointments is 'Admins and receptionists book appointments.';
create policy update_as_front_desk_or_own_doctor on app_public.appointments
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() in ('admin', 'receptionist')
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() in ('admin', 'receptionist')
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy update_as_front_desk_or_own_doctor on app_public.appointments is
  'Admins and receptionists change any appointment; a doctor changes the status and notes of their own (columns guarded by a trigger).';
create policy delete_as_front_desk on app_public.appointments
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy delete_as_front_desk on app_public.appointments is 'Admins and receptionists delete appointments booked by mistake (prefer status `entered-in-error`).';
grant select, delete on app_public.appointments to :DATABASE_VISITOR;
grant insert (doctor_id, patient_id, office_id, starts_at, ends_at, status, reason, notes, cancellation_reason)
  on app_public.appointments to :DATABASE_VISITOR;
grant update (doctor_id, patient_id, office_id, starts_at, ends_at, status, reason, notes, cancellation_reason)
  on app_public.appointments to :DATABASE_VISITOR;

--! split: 8-medicines.sql
-- Medicines: one global catalogue (tenant_id NULL, shared read-only by every tenant) plus each
-- tenant's own additions (the seed decision).

create table app_public.medicines (
  id          uuid primary key default gen_random_uuid(),
  tenant_id   uuid default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  name        citext not null check (length(btrim(name)) between 1 and 200),
  dosage_form text not null check (length(btrim(dosage_form)) between 1 and 100),
  strength    text check (length(btrim(strength)) between 1 and 100),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint medicines_unique_per_scope unique nulls not distinct (tenant_id, name, dosage_form, strength)
);
comment on table app_public.medicines is
  'Medicines that can be prescribed: the global catalogue (tenantId null, read-only) and the tenant''s own. Admins and doctors add their tenant''s own.';
comment on column app_public.medicines.id is 'Identifier of the medicine.';
comment on column app_public.medicines.tenant_id is 'NULL for the global catalogue; otherwise the tenant that added it (set from the token, never by the client).';
comment on column app_public.medicines.name is 'Generic name, preferably the INN (e.g. "amoxicillin").';
comment on column app_public.medicines.dosage_form is 'Dosage form, e.g. "tablet", "oral suspension".';
comment on column app_public.medicines.strength is 'Strength, e.g. "500 mg", "250 mg/5 mL".';
comment on column app_public.medicines.created_at is 'When the medicine was added.';
comment on column app_public.medicines.updated_at is 'When the medicine was last changed.';
comment on constraint medicines_unique_per_scope on app_public.medicines is
  E'@behavior -single -update -delete\nOne row per (name, form, strength) in the global catalogue and in each tenant; a tenant may repeat a global medicine.';

create trigger _100_timestamps before insert or update on app_public.medicines
  for each row execute function app_private.tg__timestamps();

alter table app_public.medicines enable row level security;
alter table app_public.medicines force row level security;
create policy select_global_or_own_tenant on app_public.medicines
  for select to :DATABASE_VISITOR
  using (app_public.current_tenant_id() is not null
         and (tenant_id is null or tenant_id = app_public.current_tenant_id()));
comment on policy select_global_or_own_tenant on app_public.medicines is 'Signed-in users read the global catalogue and their own tenant''s medicines.';
create policy insert_as_prescriber on app_public.medicines
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'));
comment on policy insert_as_prescriber on app_public.medicines is 'Admins and doctors add medicines to their own tenant; nobody adds to the global catalogue through the API.';
create policy update_own_as_prescriber on app_public.medicines
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'))
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'));
comment on policy update_own_as_prescriber on app_public.medicines is 'Admins and doctors edit their tenant''s own medicines; global rows match no write policy.';
create policy delete_own_as_prescriber on app_public.medicines
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'));
comment on policy delete_own_as_prescriber on app_public.medicines is 'Admins and doctors delete their tenant''s own unused medicines.';
grant select, delete on app_public.medicines to :DATABASE_VISITOR;
grant insert (name, dosage_form, strength) on app_public.medicines to :DATABASE_VISITOR;
grant update (name, dosage_form, strength) on app_public.medicines to :DATABASE_VISITOR;

--! split: 9-prescriptions.sql
-- Prescriptions and their items. Statuses are HL7 FHIR's MedicationRequest status codes.

create table app_public.prescriptions (
  id             uuid primary key default gen_random_uuid(),
  tenant_id      uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  patient_id     uuid not null,
  doctor_id      uuid not null default app_public.current_doctor_id(),
  appointment_id uuid,
  status         text not null default 'active' check (status in (
                   'draft', 'active', 'on-hold', 'completed', 'stopped', 'cancelled', 'entered-in-error')),
  issued_at      timestamptz not null default now(),
  notes          text check (length(notes) <= 10000),
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint prescriptions_tenant_id_id_key unique (tenant_id, id),
  constraint prescriptions_tenant_id_id_doctor_id_key unique (tenant_id, id, doctor_id),
  constraint prescriptions_patient_fkey foreign key (tenant_id, patient_id) references app_public.patients (tenant_id, id),
  constraint prescriptions_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id),
  constraint prescriptions_appointment_fkey foreign key (tenant_id, appointment_id, patient_id)
    references app_public.appointments (tenant_id, id, patient_id)
);
comment on table app_public.prescriptions is
  E'@behavior +aggregates +groupedAggregates\nPrescriptions written by a doctor for a patient. Admins and doctors read them; a doctor writes their own; receptionists see none.';
comment on column app_public.prescriptions.id is 'Identifier of the prescription.';
comment on column app_public.prescriptions.tenant_id is 'The tenant of the prescription; set from the signed-in user''s token, never by the client.';
comment on column app_public.prescriptions.patient_id is 'The patient; must belong to the same tenant.';
comment on column app_public.prescriptions.doctor_id is 'The prescriber; defaults to the signed-in doctor.';
comment on column app_public.prescriptions.appointment_id is 'The appointment it was written at, if any; must be the same patient''s.';
comment on column app_public.prescriptions.status is
  'HL7 FHIR MedicationRequest status: `draft`, `active` (default), `on-hold`, `completed`, `stopped`, `cancelled`, `entered-in-error`.';
comment on column app_public.prescriptions.issued_at is 'When the prescription was issued.';
comment on column app_public.prescriptions.notes is 'Notes for the pharmacist or patient.';
comment on column app_public.prescriptions.created_at is 'When the prescription was created.';
comment on column app_public.prescriptions.updated_at is 'When the prescription was last changed.';
comment on constraint prescriptions_tenant_id_id_key on app_public.prescriptions is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint prescriptions_tenant_id_id_doctor_id_key on app_public.prescriptions is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint prescriptions_patient_fkey on app_public.prescriptions is
  E'@fieldName patient\n@foreignFieldName prescriptions\nThe patient, always of the same tenant.';
comment on constraint prescriptions_doctor_fkey on app_public.prescriptions is
  E'@fieldName doctor\n@foreignFieldName prescriptions\nThe prescriber, always of the same tenant.';
comment on constraint prescriptions_appointment_fkey on app_public.prescriptions is
  E'@fieldName appointment\n@foreignFieldName prescriptions\nThe appointment it was written at: same tenant and same patient.';
create index on app_public.prescriptions (tenant_id, patient_id);
create index on app_public.prescriptions (tenant_id, doctor_id, issued_at);
create index on app_public.prescriptions (tenant_id, appointment_id, patient_id);

create trigger _100_timestamps before insert or update on app_public.prescriptions
  for each row execute function app_private.tg__timestamps();

alter table app_public.prescriptions enable row level security;
alter table app_public.prescriptions force row level security;
create policy select_as_clinician on app_public.prescriptions
  for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'));
comment on policy select_as_clinician on app_public.prescriptions is 'Admins and doctors read the tenant''s prescriptions; receptionists do not.';
create policy insert_own_as_doctor_or_admin on app_public.prescriptions
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy insert_own_as_doctor_or_admin on app_public.prescriptions is 'A doctor writes prescriptions in their own name; an admin may enter one for any doctor.';
create policy update_own_as_doctor_or_admin on app_public.prescriptions
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy update_own_as_doctor_or_admin on app_public.prescriptions is 'A doctor changes their own prescriptions; an admin any of the tenant''s.';
create policy delete_own_as_doctor_or_admin on app_public.prescriptions
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy delete_own_as_doctor_or_admin on app_public.prescriptions is 'A doctor deletes their own prescriptions (prefer status `entered-in-error`); an admin any of the tenant''s.';
grant select, delete on app_public.prescriptions to :DATABASE_VISITOR;
grant insert (patient_id, doctor_id, appointment_id, status, issued_at, notes) on app_public.prescriptions to :DATABASE_VISITOR;
grant update (patient_id, appointment_id, status, issued_at, notes) on app_public.prescriptions to :DATABASE_VISITOR;


create table app_public.prescription_items (
  id              uuid primary key default gen_random_uuid(),
  tenant_id       uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  prescription_id uuid not null,
  doctor_id       uuid not null,
  medicine_id     uuid not null references app_public.medicines,
  dose            text not null check (length(btrim(dose)) between 1 and 200),
  frequency       text not null check (length(btrim(frequency)) between 1 and 200),
  duration_days   integer check (duration_days between 1 and 366),
  quantity        numeric check (quantity > 0),
  instructions    text check (length(instructions) <= 2000),
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  -- doctor_id copies the prescription's prescriber so policies need no subquery; the key keeps it true.
  constraint prescription_items_prescription_fkey foreign key (tenant_id, prescription_id, doctor_id)
    references app_public.prescriptions (tenant_id, id, doctor_id) on update cascade on delete cascade
);
comment on table app_public.prescription_items is
  'The medicines of a prescription, one row each, with dose and duration. Same access as the prescription.';
comment on column app_public.prescription_items.id is 'Identifier of the item.';
comment on column app_public.prescription_items.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.prescription_items.prescription_id is 'The prescription this item belongs to.';
comment on column app_public.prescription_items.doctor_id is 'The prescriber, copied from the prescription by the database.';
comment on column app_public.prescription_items.medicine_id is 'The medicine: from the global catalogue or the tenant''s own, never another tenant''s.';
comment on column app_public.prescription_items.dose is 'Dose per intake, e.g. "1 tablet", "5 mL".';
comment on column app_public.prescription_items.frequency is 'How often, e.g. "every 8 hours".';
comment on column app_public.prescription_items.duration_days is 'For how many days.';
comment on column app_public.prescription_items.quantity is 'Quantity to dispense, in units of the dosage form.';
comment on column app_public.prescription_items.instructions is 'Instructions for the patient, e.g. "after meals".';
comment on column app_public.prescription_items.created_at is 'When the item was added.';
comment on column app_public.prescription_items.updated_at is 'When the item was last changed.';
comment on constraint prescription_items_prescription_fkey on app_public.prescription_items is
  E'@fieldName prescription\n@foreignFieldName items\nThe prescription, always of the same tenant and prescriber.';
create index on app_public.prescription_items (tenant_id, prescription_id, doctor_id);
create index on app_public.prescription_items (tenant_id, doctor_id);
create index on app_public.prescription_items (medicine_id);

create trigger _100_timestamps before insert or update on app_public.prescription_items
  for each row execute function app_private.tg__timestamps();

create function app_private.tg_prescription_items__fill_and_check() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  select doctor_id into new.doctor_id from app_public.prescriptions
    where tenant_id = new.tenant_id and id = new.prescription_id;
  if not found
     or not exists (select from app_public.medicines
                    where id = new.medicine_id and (tenant_id is null or tenant_id = new.tenant_id)) then
    raise exception 'The prescription or medicine does not exist.' using errcode = 'foreign_key_violation';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_prescription_items__fill_and_check() is
  'Copies the prescriber from the prescription, and accepts only a global or own-tenant medicine (medicines.tenant_id may be NULL, so a composite foreign key cannot say it). SECURITY DEFINER; reads only the row''s own tenant and the global catalogue.';
create trigger _200_fill_and_check before insert or update of prescription_id, medicine_id on app_public.prescription_items
  for each row execute function app_private.tg_prescription_items__fill_and_check();

alter table app_public.prescription_items enable row level security;
alter table app_public.prescription_items force row level security;
create policy select_as_clinician on app_public.prescription_items
  for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'doctor'));
comment on policy select_as_clinician on app_public.prescription_items is 'Admins and doctors read prescription items; receptionists do not.';
create policy insert_own_as_doctor_or_admin on app_public.prescription_items
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy insert_own_as_doctor_or_admin on app_public.prescription_items is 'Items are added to a prescription by its doctor or an admin.';
create policy update_own_as_doctor_or_admin on app_public.prescription_items
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy update_own_as_doctor_or_admin on app_public.prescription_items is 'Items are changed by the prescription''s doctor or an admin.';
create policy delete_own_as_doctor_or_admin on app_public.prescription_items
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy delete_own_as_doctor_or_admin on app_public.prescription_items is 'Items are removed by the prescription''s doctor or an admin.';
grant select, delete on app_public.prescription_items to :DATABASE_VISITOR;
grant insert (prescription_id, medicine_id, dose, frequency, duration_days, quantity, instructions)
  on app_public.prescription_items to :DATABASE_VISITOR;
grant update (medicine_id, dose, frequency, duration_days, quantity, instructions)
  on app_public.prescription_items to :DATABASE_VISITOR;

--! split: 10-accounts.sql
-- Sign-up, login, account activation and adding doctors. Passwords are hashed by the API
-- server (argon2id); these functions store and return hashes, never passwords.

create function app_private.session_for(user_id uuid) returns jsonb
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'fullName', u.full_name, 'userRole', u.user_role),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'slug', t.slug,
                                 'subscriptionPlan', t.subscription_plan, 'trialEndsAt', t.trial_ends_at),
    'doctorId', (select d.id from app_public.doctors d where d.tenant_id = u.tenant_id and d.user_id = u.id))
  from app_public.users u join app_public.tenants t on t.id = u.tenant_id
  where u.id = session_for.user_id
$$;
comment on function app_private.session_for(uuid) is
  'What the API server needs to answer a sign-in and mint a JWT: `{user: {id, email, fullName, userRole}, tenant: {id, name, slug, subscriptionPlan, trialEndsAt}, doctorId}`. Owner only.';

create function app_private.register_clinic(
  clinic_name text, full_name text, email text, password_hash text, time_zone text default 'UTC'
) returns jsonb
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
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
  insert into app_private.user_secrets (user_id, password_hash) values (v_user_id, register_clinic.password_hash);
  return app_private.session_for(v_user_id);
end;
$$;
comment on function app_private.register_clinic(text, text, text, text, text) is
  'Signs up a clinic group: a tenant on the trial plan (trial length from subscription_plans) and its first admin, in one transaction. Raises TAKEN for an e-mail in use. SECURITY DEFINER: called before anyone is signed in.';
grant execute on function app_private.register_clinic(text, text, text, text, text) to :DATABASE_ANONYMOUS;

create function app_private.login_candidate(email text)
  returns table (password_hash text, is_active boolean, session jsonb)
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select s.password_hash, u.is_active, app_private.session_for(u.id)
  from app_public.users u join app_private.user_secrets s on s.user_id = u.id
  where u.email = btrim(login_candidate.email)::citext
$$;
comment on function app_private.login_candidate(text) is
  'The password hash and session of the user with this e-mail, for the API server to verify a password (argon2 runs in the server). No row for an unknown e-mail or a user who never set a password. SECURITY DEFINER: login comes before any claim.';
grant execute on function app_private.login_candidate(text) to :DATABASE_ANONYMOUS;

create function app_private.set_password_with_token(token text, password_hash text) returns jsonb
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_user_id uuid;
begin
  update app_private.password_tokens t set used_at = now()
    from app_public.users u
    where t.token_hash = sha256(convert_to(token, 'UTF8')) and t.used_at is null and t.expires_at > now()
      and u.id = t.user_id and u.is_active
    returning t.user_id into v_user_id;
  if v_user_id is null then
    raise exception 'This link is invalid, already used or expired.' using errcode = 'TOKEN';
  end if;
  insert into app_private.user_secrets (user_id, password_hash) values (v_user_id, set_password_with_token.password_hash)
    on conflict (user_id) do update set password_hash = excluded.password_hash, password_set_at = now();
  delete from app_private.password_tokens where user_id = v_user_id and used_at is null;
  return app_private.session_for(v_user_id);
end;
$$;
comment on function app_private.set_password_with_token(text, text) is
  'Sets a password with a one-time token (used once, within its lifetime, for an active user) and returns the session. Raises TOKEN otherwise. SECURITY DEFINER: the user is not signed in yet.';
grant execute on function app_private.set_password_with_token(text, text) to :DATABASE_ANONYMOUS;

create function app_public.issue_activation_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  if app_public.current_user_role() is distinct from 'admin' or not exists (
       select from app_public.users u
       where u.id = issue_activation_token.user_id and u.tenant_id = app_public.current_tenant_id() and u.is_active
         and not exists (select from app_private.user_secrets s where s.user_id = u.id)) then
    raise exception 'Only an admin can issue an activation link, for an active user of the clinic who has no password yet.'
      using errcode = 'DNIED';
  end if;
  delete from app_private.password_tokens t where t.user_id = issue_activation_token.user_id;
  insert into app_private.password_tokens (token_hash, user_id, expires_at)
    values (sha256(convert_to(v_token, 'UTF8')), issue_activation_token.user_id, now() + interval '72 hours');
  return v_token;
end;
$$;
comment on function app_public.issue_activation_token(uuid) is
  'Admins: a one-time token (valid 72 hours, replaces earlier ones) with which a new user sets their password at `POST /auth/set-password`. Only for users who have never set a password, so an admin cannot take over an active account. Only its SHA-256 is stored.';
grant execute on function app_public.issue_activation_token(uuid) to :DATABASE_VISITOR;

create function app_public.add_doctor(
  full_name text,
  email text default null,
  specialty text default null,
  license_number text default null,
  phone text default null,
  offices jsonb default '[]'
) returns app_public.doctors
  language plpgsql volatile
as $$
declare
  v_user_id uuid;
  v_doctor app_public.doctors;
begin
  if email is not null then
    insert into app_public.users (email, full_name, user_role)
      values (btrim(email), full_name, 'doctor')
      returning id into v_user_id;
  end if;
  insert into app_public.doctors (user_id, full_name, specialty, license_number, email, phone, offices)
    values (v_user_id, add_doctor.full_name, add_doctor.specialty, add_doctor.license_number,
            btrim(add_doctor.email), add_doctor.phone, coalesce(add_doctor.offices, '[]'))
    returning * into v_doctor;
  return v_doctor;
end;
$$;
comment on function app_public.add_doctor(text, text, text, text, text, jsonb) is
  'Admins: adds a doctor, with their offices, in one step. With an e-mail the doctor also gets a user account (role doctor), activated with `issueActivationToken`. Runs with the caller''s rights, so policies, the plan limit (PLANL) and office rules (OFFIC) all apply.';
grant execute on function app_public.add_doctor(text, text, text, text, text, jsonb) to :DATABASE_VISITOR;

create function app_public."current_user"() returns app_public.users
  language sql stable
as $$
  select * from app_public.users where id = app_public.current_user_id()
$$;
comment on function app_public."current_user"() is 'The signed-in user, or null when signed out.';
grant execute on function app_public."current_user"() to :DATABASE_VISITOR;

create function app_public.current_tenant() returns app_public.tenants
  language sql stable
as $$
  select * from app_public.tenants where id = app_public.current_tenant_id()
$$;
comment on function app_public.current_tenant() is 'The signed-in user''s clinic group, with its plan and trial end, or null when signed out.';
grant execute on function app_public.current_tenant() to :DATABASE_VISITOR;
