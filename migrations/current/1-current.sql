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
