--! Previous: sha1:6882c6ed2f22c18ebe6aafb3e0ecb6862d463bd3
--! Hash: sha1:e5b6808821d4fc46b87dcaf80b1070f474caad2f
--! Message: browser sessions: reuse interval and session id

--! split: 1-refresh-token-reuse-interval.sql
-- Browser tabs share one session: two tabs that refresh at the same moment present the same
-- refresh token, and the second must not be taken for a stolen copy. Within a short reuse
-- interval (as Supabase Auth's REFRESH_TOKEN_REUSE_INTERVAL) a rotated token presented again
-- gets the same successor it got the first time; after the interval, reuse still revokes the
-- whole family. The successor is an HMAC of its parent under a key only the database holds, so
-- it can be handed out again without storing any token: a copy of the database alone (hashes and
-- key, no token) yields no usable token, and a stolen rotated token yields its successor only by
-- asking the server inside the interval.

create table app_private.refresh_token_key (
  singleton boolean primary key default true check (singleton),
  key       bytea not null default gen_random_bytes(32)
);
comment on table app_private.refresh_token_key is
  'The one HMAC key that derives a refresh token''s successor from the token itself (app_private.refresh_token_successor). Owner only; generated when the migration runs.';
comment on column app_private.refresh_token_key.singleton is 'Always true: the table holds one row.';
comment on column app_private.refresh_token_key.key is '32 random bytes.';
insert into app_private.refresh_token_key default values;

create function app_private.refresh_token_successor(token text) returns text
  language sql stable strict set search_path = pg_catalog, public, pg_temp
as $$
  select encode(hmac(convert_to(token, 'UTF8'), (select k.key from app_private.refresh_token_key k), 'sha256'), 'hex')
$$;
comment on function app_private.refresh_token_successor(text) is
  'The token that replaces `token` when it is rotated: HMAC-SHA-256 under app_private.refresh_token_key, so the same successor can be handed out again within the reuse interval.';

drop function app_private.rotate_refresh_token(text, interval);
create function app_private.rotate_refresh_token(token text, lifetime interval, reuse_interval interval)
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
    update app_private.refresh_tokens t set revoked_at = now() where t.family_id = v_row.family_id and t.revoked_at is null;
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
    update app_private.refresh_tokens t set revoked_at = now() where t.family_id = v_row.family_id and t.revoked_at is null;
    return;
  end if;
  return query select v_successor, v_row.family_id, app_private.session_for(v_row.user_id);
end;
$$;
comment on function app_private.rotate_refresh_token(text, interval, interval) is
  'Exchanges a refresh token for its successor, the session (family) id and the user''s session. Presented again within `reuse_interval` of its rotation, it returns the same successor (two browser tabs refreshing together keep one session). No row for an unknown, expired or revoked token; a token reused after the interval (or of a deactivated user) revokes its family and returns no row. The revocation commits: it is not an error.';
grant execute on function app_private.rotate_refresh_token(text, interval, interval) to :DATABASE_ANONYMOUS;

--! split: 2-session-id-claim.sql
-- Logout ends the access token too, not only the refresh token: access tokens carry their
-- session's id (the refresh-token family) as the `sid` claim (OpenID Connect's session id, in
-- the IANA JWT claims registry), and the session check refuses a token whose family was revoked
-- (logout, reuse, deactivation, role change) from the next request on.

create function app_private.current_session_id() returns uuid
  language sql stable parallel safe
as $$
  select app_private.uuid_or_null(nullif(current_setting('jwt.claims.sid', true), ''))
$$;
comment on function app_private.current_session_id() is
  'The session (refresh-token family) the access token belongs to, from the JWT claim `sid`; NULL when missing or malformed, which fails the session check.';

-- The check itself takes the claims as arguments, so the API server can also ask it in one
-- statement before a request runs, as its login role, and refuse a dead session with CREDS
-- instead of letting the request see an empty clinic.
create function app_private.session_is_valid(
  user_id uuid, tenant_id uuid, user_role text, doctor_id uuid, session_id uuid
) returns boolean
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select exists (
    select from app_public.users u
    where u.id = session_is_valid.user_id and u.tenant_id = session_is_valid.tenant_id
      and u.user_role = session_is_valid.user_role and u.is_active
      and exists (
        select from app_private.refresh_tokens r
        where r.family_id = session_is_valid.session_id and r.user_id = u.id and r.revoked_at is null)
      and (session_is_valid.doctor_id is null or exists (
        select from app_public.doctors d
        where d.id = session_is_valid.doctor_id and d.tenant_id = u.tenant_id and d.user_id = u.id and d.is_active)))
$$;
comment on function app_private.session_is_valid(uuid, uuid, text, uuid, uuid) is
  'Whether these claims still describe an active user (same tenant, same role, and for doctors an active profile) in a session (refresh-token family) that was not revoked. False for any NULL that matters. SECURITY DEFINER: it must see the user and session rows whatever the policies allow; the API''s login role calls it to answer CREDS before a request runs.';
grant usage on schema app_private to :DATABASE_AUTHENTICATOR;
grant execute on function app_private.session_is_valid(uuid, uuid, text, uuid, uuid) to :DATABASE_AUTHENTICATOR, :DATABASE_VISITOR;

create or replace function app_private.session_is_active() returns boolean
  language sql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
  select app_private.session_is_valid(app_public.current_user_id(), app_public.current_tenant_id(),
    app_public.current_user_role(), app_public.current_doctor_id(), app_private.current_session_id())
$$;
comment on function app_private.session_is_active() is
  'app_private.session_is_valid for the caller''s own claims (including `sid`): what the active_session policies ask. False without claims.';
