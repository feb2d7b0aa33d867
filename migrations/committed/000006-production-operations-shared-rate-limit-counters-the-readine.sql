--! Previous: sha1:75800d0e4499a7ffb704910dd1a6cb055632be2b
--! Hash: sha1:e3987d11c0355428657e3890003246ced89219ef
--! Message: Production operations: shared rate-limit counters, the readiness check's migration, names without control characters, no existence oracle on prescription items, one activation token per user

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Rate-limit counters, shared by every API instance (issue 9: several instances). In memory, each
-- process counted on its own, so N instances allowed N times the budget.
--------------------------------------------------------------------------------
drop table if exists app_private.rate_limits;
-- The columns, their order (the library inserts positionally) and the primary key are exactly what
-- rate-limiter-flexible 11.4.0's RateLimiterPostgres reads and writes; it is told the table exists.
create table app_private.rate_limits (
  key    varchar(255) primary key,
  points integer not null default 0,
  expire bigint
);
comment on table app_private.rate_limits is
  'Rate-limit counters of the API server (rate-limiter-flexible''s RateLimiterPostgres, fixed windows): one row per limit and client, so every API instance spends the same budget. Holds no secret: keys are a limit name and an IP, a user id or a hash of an e-mail. Granted to the authenticator role itself, the login the API already has: the limit is counted before a request switches role, and the request roles (anonymous, visitor) get nothing, because the authenticator is NOINHERIT and they are its members, not the other way round. Under Citus it stays a plain table on the coordinator (neither distributed nor reference: a reference table would replicate every counter update to all workers). Expired rows are deleted by the API every 5 minutes.';
comment on column app_private.rate_limits.key is
  'The limit and the client: `<limit>:<client>`, e.g. `graphql:user:<uuid>`, `auth-ip:203.0.113.7`, `auth-login:account:<sha-256 of the e-mail>`.';
comment on column app_private.rate_limits.points is
  'Requests counted in the current window (failed logins only, for the per-account limit).';
comment on column app_private.rate_limits.expire is
  'When the window ends, in milliseconds since 1970 by the API server''s clock (instances must keep their clocks in sync); the next request after it starts a new window. NULL: never.';
-- The library upserts (INSERT … ON CONFLICT DO UPDATE … RETURNING: select, insert, update), reads,
-- and deletes expired rows.
grant select, insert, update, delete on app_private.rate_limits to :DATABASE_AUTHENTICATOR;

-- Readiness (GET /readyz): the API's login role may ask which migration the database is at, and
-- nothing else about graphile-migrate's bookkeeping.
create or replace function app_private.latest_migration() returns text
  language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select filename from graphile_migrate.migrations order by filename desc limit 1
$$;
comment on function app_private.latest_migration() is
  'The file name graphile-migrate recorded for the newest applied migration (e.g. `000005.sql`), or NULL before any. SECURITY DEFINER: graphile_migrate belongs to the owner; the API''s login role (the authenticator) calls it from GET /readyz to tell whether the database is at the migration the running code expects.';
revoke all on function app_private.latest_migration() from public;
grant execute on function app_private.latest_migration() to :DATABASE_AUTHENTICATOR;

--! split: 1-names-without-control-characters.sql
-- Names are one line of printable text. A free sign-up could name its clinic "X\r\nBcc: …" or
-- put forged lines into the account e-mails' text, which quote clinic and user names. Every
-- name column now refuses C0 controls (including CR, LF and tab), DEL and C1 controls (NUL
-- cannot be stored in text at all). Existing rows are validated as the constraints are added.

create function app_private.assert_clean_text(value text) returns boolean
  language plpgsql immutable strict parallel safe
as $$
begin
  if value ~ '[\x01-\x1f\x7f-\x9f]' then
    raise exception 'Names may not contain line breaks, tabs or other control characters.' using errcode = 'INVAL';
  end if;
  return true;
end;
$$;
comment on function app_private.assert_clean_text(text) is
  'True for text without control characters (C0 including CR, LF and tab, DEL, C1); otherwise raises INVAL, so a client learns what is wrong rather than "check failed". Immutable, for CHECK constraints on name columns.';
grant execute on function app_private.assert_clean_text(text) to :DATABASE_VISITOR;

alter table app_public.tenants add constraint tenants_name_clean check (app_private.assert_clean_text(name));
comment on constraint tenants_name_clean on app_public.tenants is 'A clinic group''s name is one line without control characters (INVAL).';
alter table app_public.users add constraint users_full_name_clean check (app_private.assert_clean_text(full_name));
comment on constraint users_full_name_clean on app_public.users is 'A user''s name is one line without control characters (INVAL).';
alter table app_public.doctors add constraint doctors_full_name_clean check (app_private.assert_clean_text(full_name));
comment on constraint doctors_full_name_clean on app_public.doctors is 'A doctor''s name is one line without control characters (INVAL).';
alter table app_public.patients add constraint patients_full_name_clean check (app_private.assert_clean_text(full_name));
comment on constraint patients_full_name_clean on app_public.patients is 'A patient''s name is one line without control characters (INVAL).';
alter table app_public.medicines add constraint medicines_names_clean
  check (app_private.assert_clean_text(name::text) and app_private.assert_clean_text(dosage_form)
         and (strength is null or app_private.assert_clean_text(strength)));
comment on constraint medicines_names_clean on app_public.medicines is
  'A medicine''s name, dosage form and strength (printed on prescriptions) are one line without control characters (INVAL).';

-- Offices: the same rule for an office's name and address, inside the one function that says
-- what a valid offices array is (still OFFIC, like every other office error).
create or replace function app_private.assert_valid_offices(offices jsonb) returns boolean
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
    if concat(v_office ->> 'id', v_office ->> 'name', v_office ->> 'address') ~ '[\x01-\x1f\x7f-\x9f]' then
      raise exception 'An office''s id, name and address may not contain line breaks, tabs or other control characters.'
        using errcode = 'OFFIC';
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
  'True for a valid offices array: at most 50 objects with only the keys id (unique non-empty text, at most 50 characters), name (non-empty text), address (text or null, optional) and is_primary (boolean), exactly one primary when not empty; id, name and address without control characters. Otherwise raises OFFIC with what is wrong, so the client learns more than "check failed".';
-- The constraint predates the control-character rule: check the stored offices against it now.
alter table app_public.doctors drop constraint doctors_offices_valid;
alter table app_public.doctors add constraint doctors_offices_valid check (app_private.assert_valid_offices(offices));
comment on constraint doctors_offices_valid on app_public.doctors is 'The offices array is valid (app_private.assert_valid_offices; OFFIC).';

--! split: 2-prescription-items-no-existence-oracle.sql
-- Adding an item to a prescription: the lookup of the prescription and the medicine now runs
-- with the caller's rights. A receptionist, who reads no prescriptions, used to get NOREF for an
-- id that does not exist and DNIED for one that does (the check ran as the owner, then the
-- policy refused): an oracle for which prescription ids exist. Now every prescription the caller
-- cannot read does not exist for them: NOREF alike, whether absent, hidden or another tenant's.

create or replace function app_private.tg_prescription_items__fill_and_check() returns trigger
  language plpgsql security invoker set search_path = pg_catalog, public, pg_temp
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
  'Copies the prescriber from the prescription, and accepts only a global or own-tenant medicine (medicines.tenant_id may be NULL, so a composite foreign key cannot say it). Runs with the caller''s rights: a prescription or medicine the caller cannot read is answered NOREF exactly like one that does not exist, so the answer reveals no other row.';

--! split: 3-one-activation-token-at-a-time.sql
-- Activation tokens: one live token per user at a time, and the account e-mail never replaces
-- one. Before, an admin's issueActivationToken right after creating a user was silently replaced
-- by the account e-mail job's token a moment later, so the link the admin handed over was dead.
-- The rule now: the admin's call always issues a fresh token, replacing any earlier one (also an
-- e-mailed link: the admin asked for it); the e-mail job never replaces a live token the admin
-- handed over, and then mails no link. A unique index makes "one at a time" hold under
-- concurrency: of two transactions issuing at once, the second waits for the first.

-- At most one unused token per user can have existed only by a race; keep the newest.
delete from app_private.password_tokens t
  where t.used_at is null
    and exists (select from app_private.password_tokens n
                where n.user_id = t.user_id and n.used_at is null
                  and (n.created_at, n.token_hash) > (t.created_at, t.token_hash));
alter table app_private.password_tokens
  add column issued_for text not null default 'admin' check (issued_for in ('admin', 'account_email'));
comment on column app_private.password_tokens.issued_for is
  'Who the token was issued for: `admin` (issueActivationToken, handed over by the admin; tokens older than this column count as such) or `account_email` (the link of the account e-mail, which a retry of that e-mail may replace).';
create unique index password_tokens_one_unused_per_user on app_private.password_tokens (user_id) where used_at is null;
comment on index app_private.password_tokens_one_unused_per_user is
  'One unused activation token per user at a time: an admin''s issue replaces it; the account e-mail leaves a live one the admin handed over.';

create or replace function app_private.new_password_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  -- Upsert on the unique index: a concurrent issue for the same user is waited for, then replaced.
  insert into app_private.password_tokens as t (token_hash, user_id, expires_at, issued_for)
    values (sha256(convert_to(v_token, 'UTF8')), new_password_token.user_id, now() + interval '72 hours', 'admin')
    on conflict (user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = now();
  return v_token;
end;
$$;
comment on function app_private.new_password_token(uuid) is
  'A fresh one-time set-password token for the user (valid 72 hours), replacing the unused one if any: what an admin''s issueActivationToken hands over. Only its SHA-256 is stored. Owner only: callers check who may ask.';

create function app_private.account_email_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  -- Replaces an expired token, or this e-mail's own from an attempt that was not sent; a live token
  -- the admin handed over stays, and NULL is returned.
  insert into app_private.password_tokens as t (token_hash, user_id, expires_at, issued_for)
    values (sha256(convert_to(v_token, 'UTF8')), account_email_token.user_id, now() + interval '72 hours', 'account_email')
    on conflict (user_id) where used_at is null
    do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, issued_for = excluded.issued_for,
                  created_at = now()
      where t.expires_at <= now() or t.issued_for = 'account_email';
  return case when found then v_token end;
end;
$$;
comment on function app_private.account_email_token(uuid) is
  'The set-password token for a user''s account e-mail (valid 72 hours), or NULL when the user has a live token an admin handed over: the e-mail never replaces a link given by hand (it may replace its own, from an attempt that was not sent). Only its SHA-256 is stored. Owner only: the worker calls it.';

comment on function app_public.issue_activation_token(uuid) is
  'Admins: a one-time token (valid 72 hours) with which a new user sets their password at `POST /auth/set-password`. A user has one live token at a time: this one replaces any earlier one, including the link of the account e-mail, and the account e-mail sent later carries no link of its own. Only for users who have never set a password, so an admin cannot take over an active account. Only its SHA-256 is stored.';
