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
  'Rate-limit counters of the API server (rate-limiter-flexible''s RateLimiterPostgres, fixed windows): one row per limit and client, so every API instance spends the same budget. Holds no secret: keys are a limit name and an IP, a user id or a hash of an e-mail. Granted to clinic_authenticator itself, the login the API already has: the limit is counted before a request switches role, and the request roles (clinic_anonymous, clinic_user) get nothing, because the authenticator is NOINHERIT and they are its members, not the other way round. Under Citus it stays a plain table on the coordinator (neither distributed nor reference: a reference table would replicate every counter update to all workers). Expired rows are deleted by the API every 5 minutes.';
comment on column app_private.rate_limits.key is
  'The limit and the client: `<limit>:<client>`, e.g. `graphql:user:<uuid>`, `auth-ip:203.0.113.7`, `auth-login:account:<sha-256 of the e-mail>`.';
comment on column app_private.rate_limits.points is
  'Requests counted in the current window (failed logins only, for the per-account limit).';
comment on column app_private.rate_limits.expire is
  'When the window ends, in milliseconds since 1970 by the API server''s clock (instances must keep their clocks in sync); the next request after it starts a new window. NULL: never.';
-- The library upserts (INSERT … ON CONFLICT DO UPDATE … RETURNING: select, insert, update), reads,
-- and deletes expired rows.
grant select, insert, update, delete on app_private.rate_limits to clinic_authenticator;

-- Readiness (GET /readyz): the API's login role may ask which migration the database is at, and
-- nothing else about graphile-migrate's bookkeeping.
create or replace function app_private.latest_migration() returns text
  language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select filename from graphile_migrate.migrations order by filename desc limit 1
$$;
comment on function app_private.latest_migration() is
  'The file name graphile-migrate recorded for the newest applied migration (e.g. `000005.sql`), or NULL before any. SECURITY DEFINER: graphile_migrate belongs to the owner; the API''s login role (clinic_authenticator) calls it from GET /readyz to tell whether the database is at the migration the running code expects.';
revoke all on function app_private.latest_migration() from public;
grant execute on function app_private.latest_migration() to clinic_authenticator;
