--! Previous: sha1:e5b6808821d4fc46b87dcaf80b1070f474caad2f
--! Hash: sha1:75800d0e4499a7ffb704910dd1a6cb055632be2b
--! Message: sessions: revocation waits for a concurrent rotation

--! split: 1-current.sql
-- Revoking a session must win against a refresh that is running at the same moment: logout, a
-- replayed token and deactivation all revoke with one UPDATE, which (under READ COMMITTED) waited
-- for the concurrent rotation's row lock and then never saw the successor row that rotation
-- inserted, so the successor lived on. Revocation now first locks the session's rows (waiting for
-- any rotation in progress to commit) and only then, in a new statement that sees the successor,
-- revokes them. A rotation that waits behind a revocation re-reads its row and finds it revoked.

create function app_private.revoke_sessions(family_ids uuid[]) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  -- Until none is left: a rotation that held a row while the UPDATE waited for it has committed
  -- its successor by the time the UPDATE goes on, and the next round's statements see it.
  loop
    perform from app_private.refresh_tokens t where t.family_id = any(family_ids) order by t.token_hash for update;
    update app_private.refresh_tokens t set revoked_at = now() where t.family_id = any(family_ids) and t.revoked_at is null;
    exit when not exists (
      select from app_private.refresh_tokens t where t.family_id = any(family_ids) and t.revoked_at is null);
  end loop;
end;
$$;
comment on function app_private.revoke_sessions(uuid[]) is
  'Ends sessions (refresh-token families): their refresh tokens and, through the `sid` claim, their access tokens. Locks the rows first, so a successor inserted by a rotation running at the same moment is revoked too.';

create or replace function app_private.revoke_refresh_token(token text) returns void
  language sql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
  select app_private.revoke_sessions(array(
    select t.family_id from app_private.refresh_tokens t where t.token_hash = sha256(convert_to(token, 'UTF8'))))
$$;

create or replace function app_private.tg_users__revoke_sessions() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.revoke_sessions(array(
    select distinct t.family_id from app_private.refresh_tokens t where t.user_id = new.id and t.revoked_at is null));
  return null;
end;
$$;

create or replace function app_private.tg_doctors__revoke_sessions() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.revoke_sessions(array(
    select distinct t.family_id from app_private.refresh_tokens t
    where t.user_id in (old.user_id, new.user_id) and t.revoked_at is null));
  return null;
end;
$$;

create or replace function app_private.rotate_refresh_token(token text, lifetime interval, reuse_interval interval)
  returns table (refresh_token text, family_id uuid, session jsonb)
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
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
  if not exists (select from app_public.users u where u.id = v_row.user_id and u.is_active) then
    perform app_private.revoke_sessions(array[v_row.family_id]);
    return;
  end if;
  if v_row.rotated_at is null then
    update app_private.refresh_tokens t set rotated_at = now() where t.token_hash = v_row.token_hash;
    insert into app_private.refresh_tokens (token_hash, user_id, family_id, expires_at)
      values (sha256(convert_to(v_successor, 'UTF8')), v_row.user_id, v_row.family_id, now() + lifetime);
  elsif reuse_interval > interval '0' and v_row.rotated_at > now() - reuse_interval then
    -- Another tab (or a retried request) with the token just rotated: the same successor, or, when
    -- that was rotated in turn meanwhile, the newest token of the family.
    loop
      select * into v_row from app_private.refresh_tokens t
        where t.token_hash = sha256(convert_to(v_successor, 'UTF8')) for update;
      exit when not found or v_row.rotated_at is null;
      v_successor := app_private.refresh_token_successor(v_successor);
    end loop;
    if not found or v_row.revoked_at is not null or v_row.expires_at <= now() then
      return;
    end if;
  else
    -- A rotated token presented again after the interval was stolen or replayed: end the session.
    perform app_private.revoke_sessions(array[v_row.family_id]);
    return;
  end if;
  return query select v_successor, v_row.family_id, app_private.session_for(v_row.user_id);
end;
$$;

comment on table app_private.refresh_token_key is
  'The one HMAC key that derives a refresh token''s successor from the token itself (app_private.refresh_token_successor). Owner only; generated when the migration runs. A copy of the database alone yields no usable token (only hashes are stored), but with it and any token of a session, the session''s newer tokens can be computed: keep backups as secret as the key.';
