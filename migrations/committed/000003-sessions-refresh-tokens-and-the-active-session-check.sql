--! Previous: sha1:8043bc6ff1b3b673741270a315d4f1c743c4c6f3
--! Hash: sha1:6882c6ed2f22c18ebe6aafb3e0ecb6862d463bd3
--! Message: sessions: refresh tokens and the active-session check

--! split: 1-sessions.sql
-- Sessions: short-lived access tokens (JWT, 15 minutes by default) plus opaque refresh tokens,
-- stored hashed and rotated on every use; reusing a rotated token revokes its whole family
-- (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP "refresh token rotation"). And a still-valid access
-- token of a user who was deactivated, or whose role changed, is refused by the database itself.

create table app_private.refresh_tokens (
  token_hash bytea primary key,
  user_id    uuid not null references app_public.users on delete cascade,
  family_id  uuid not null,
  expires_at timestamptz not null,
  rotated_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table app_private.refresh_tokens is
  'Refresh tokens, one row per token; a sign-in starts a family, each refresh adds the next token of it. Only the SHA-256 of a token is kept.';
comment on column app_private.refresh_tokens.token_hash is 'SHA-256 of the token handed to the client.';
comment on column app_private.refresh_tokens.user_id is 'Whose session it is.';
comment on column app_private.refresh_tokens.family_id is 'The sign-in the token descends from; revoking it ends the session on every device copy.';
comment on column app_private.refresh_tokens.expires_at is 'After this the token is refused.';
comment on column app_private.refresh_tokens.rotated_at is 'When the token was exchanged for its successor; presenting it again revokes the family.';
comment on column app_private.refresh_tokens.revoked_at is 'When the token''s family was revoked (logout, reuse, deactivation).';
comment on column app_private.refresh_tokens.created_at is 'When the token was issued.';
create index on app_private.refresh_tokens (user_id);
create index on app_private.refresh_tokens (family_id);

create function app_private.create_refresh_token(user_id uuid, lifetime interval, family_id uuid default gen_random_uuid())
  returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  insert into app_private.refresh_tokens (token_hash, user_id, family_id, expires_at)
    values (sha256(convert_to(v_token, 'UTF8')), create_refresh_token.user_id, create_refresh_token.family_id, now() + lifetime);
  return v_token;
end;
$$;
comment on function app_private.create_refresh_token(uuid, interval, uuid) is
  'A new refresh token for the user, in a new family unless one is given. Called by the API server after it verified a password or a set-password token; app_private is never exposed over GraphQL.';
grant execute on function app_private.create_refresh_token(uuid, interval, uuid) to :DATABASE_ANONYMOUS;

create function app_private.rotate_refresh_token(token text, lifetime interval)
  returns table (refresh_token text, session jsonb)
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_row app_private.refresh_tokens;
begin
  select * into v_row from app_private.refresh_tokens t
    where t.token_hash = sha256(convert_to(token, 'UTF8')) for update;
  if not found or v_row.revoked_at is not null or v_row.expires_at <= now() then
    return;
  end if;
  if v_row.rotated_at is not null
     or not exists (select from app_public.users u where u.id = v_row.user_id and u.is_active) then
    -- A rotated token presented again was stolen or replayed: end the whole session.
    update app_private.refresh_tokens set revoked_at = now() where family_id = v_row.family_id and revoked_at is null;
    return;
  end if;
  update app_private.refresh_tokens set rotated_at = now() where token_hash = v_row.token_hash;
  return query select app_private.create_refresh_token(v_row.user_id, lifetime, v_row.family_id), app_private.session_for(v_row.user_id);
end;
$$;
comment on function app_private.rotate_refresh_token(text, interval) is
  'Exchanges a refresh token for its successor and the user''s session. No row for an unknown, expired or revoked token; a token used before (or of a deactivated user) revokes its family and returns no row. The revocation commits: it is not an error.';
grant execute on function app_private.rotate_refresh_token(text, interval) to :DATABASE_ANONYMOUS;

create function app_private.revoke_refresh_token(token text) returns void
  language sql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
  update app_private.refresh_tokens set revoked_at = now()
  where revoked_at is null
    and family_id = (select family_id from app_private.refresh_tokens where token_hash = sha256(convert_to(token, 'UTF8')))
$$;
comment on function app_private.revoke_refresh_token(text) is 'Logout: revokes the family of the token (the whole session). Does nothing for an unknown token.';
grant execute on function app_private.revoke_refresh_token(text) to :DATABASE_ANONYMOUS;

create function app_private.tg_users__revoke_sessions() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  update app_private.refresh_tokens set revoked_at = now() where user_id = new.id and revoked_at is null;
  return null;
end;
$$;
comment on function app_private.tg_users__revoke_sessions() is 'Ends every session of a user who is deactivated or whose role changes: they must sign in again (or cannot).';
create trigger _900_revoke_sessions after update of is_active, user_role on app_public.users
  for each row when (old.is_active and not new.is_active or old.user_role is distinct from new.user_role)
  execute function app_private.tg_users__revoke_sessions();

create function app_private.tg_doctors__revoke_sessions() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  update app_private.refresh_tokens set revoked_at = now()
  where user_id in (old.user_id, new.user_id) and revoked_at is null;
  return null;
end;
$$;
comment on function app_private.tg_doctors__revoke_sessions() is
  'Ends the sessions of the user a doctor profile is (or was) linked to when the profile is deactivated or relinked: their tokens carry the profile''s id.';
create trigger _900_revoke_sessions after update of is_active, user_id on app_public.doctors
  for each row when (old.is_active and not new.is_active or old.user_id is distinct from new.user_id)
  execute function app_private.tg_doctors__revoke_sessions();

-- The session check: the claims must still describe an active user of that tenant with that role
-- (and, for a doctor, their active doctor profile). Each policy below wraps it in a scalar
-- subquery, so it runs once per statement, not once per row.
create function app_private.session_is_active() returns boolean
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select exists (
    select from app_public.users u
    where u.id = app_public.current_user_id() and u.tenant_id = app_public.current_tenant_id()
      and u.user_role = app_public.current_user_role() and u.is_active
      and (app_public.current_doctor_id() is null or exists (
        select from app_public.doctors d
        where d.id = app_public.current_doctor_id() and d.tenant_id = u.tenant_id and d.user_id = u.id and d.is_active)))
$$;
comment on function app_private.session_is_active() is
  'Whether the caller''s claims still match an active user (same tenant, same role, and for doctors an active profile). False without claims. SECURITY DEFINER: it must see the user row whatever the policies allow.';
grant execute on function app_private.session_is_active() to :DATABASE_VISITOR;

create policy active_session on app_public.tenants as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.users as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.doctors as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.patients as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.appointments as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.medicines as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.prescriptions as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
create policy active_session on app_public.prescription_items as restrictive for all to :DATABASE_VISITOR
  using ((select app_private.session_is_active())) with check ((select app_private.session_is_active()));
comment on policy active_session on app_public.tenants is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.users is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.doctors is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.patients is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.appointments is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.medicines is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.prescriptions is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';
comment on policy active_session on app_public.prescription_items is 'Restrictive: nothing for a token whose user was deactivated or changed role since it was issued.';

-- issueActivationToken runs as the owner (it writes app_private), so the policies above do not
-- bind it: it checks the session itself.
create or replace function app_public.issue_activation_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.assert_tenant_writable();
  if app_public.current_user_role() is distinct from 'admin' or not app_private.session_is_active() or not exists (
       select from app_public.users u
       where u.id = issue_activation_token.user_id and u.tenant_id = app_public.current_tenant_id() and u.is_active
         and not exists (select from app_private.user_secrets s where s.user_id = u.id)) then
    raise exception 'Only an admin can issue an activation link, for an active user of the clinic who has no password yet.'
      using errcode = 'DNIED';
  end if;
  return app_private.new_password_token(issue_activation_token.user_id);
end;
$$;
