-- Cluster-level roles, run as a superuser before the database exists (the set-up does it, and
-- graphile-migrate's afterReset runs it again so `reset` rebuilds everything). Idempotent.
-- PostgreSQL roles are shared by every database of a cluster, so their names are placeholders
-- filled from configuration (README, "Database roles"): two deployments, or a deployment and
-- a test run, on one server each have their own four roles and never alter the other's.
--
--   :DATABASE_OWNER          owns every object and runs migrations (the user of DATABASE_URL).
--                            BYPASSRLS: RLS is FORCEd on every table, so without it the owner's
--                            own SECURITY DEFINER functions (login, plan-limit check) and
--                            operators could not see across tenants.
--   :DATABASE_AUTHENTICATOR  the API server's login (the user of AUTH_DATABASE_URL); NOINHERIT, so
--                            it holds no privilege of its own until it switches (SET ROLE) to one
--                            of the two roles below.
--   :DATABASE_ANONYMOUS      a request without a token: sign-up, login, the plan list.
--   :DATABASE_VISITOR        a request with a verified JWT; the JWT's claims, not the role, say
--                            which tenant and which in-tenant role (admin, doctor, receptionist)
--                            it is.
do $$
begin
  if not exists (select from pg_roles where rolname = ':DATABASE_OWNER') then
    create role :DATABASE_OWNER with login;
  end if;
  if not exists (select from pg_roles where rolname = ':DATABASE_AUTHENTICATOR') then
    create role :DATABASE_AUTHENTICATOR with login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = ':DATABASE_ANONYMOUS') then
    create role :DATABASE_ANONYMOUS with nologin;
  end if;
  if not exists (select from pg_roles where rolname = ':DATABASE_VISITOR') then
    create role :DATABASE_VISITOR with nologin;
  end if;
end
$$;

alter role :DATABASE_OWNER with login nosuperuser nocreaterole createdb bypassrls password ':OWNER_PASSWORD';
alter role :DATABASE_AUTHENTICATOR with login noinherit nosuperuser nocreatedb nocreaterole nobypassrls password ':AUTHENTICATOR_PASSWORD';
alter role :DATABASE_ANONYMOUS with nologin nosuperuser nobypassrls;
alter role :DATABASE_VISITOR with nologin nosuperuser nobypassrls;

grant :DATABASE_ANONYMOUS to :DATABASE_AUTHENTICATOR;
grant :DATABASE_VISITOR to :DATABASE_AUTHENTICATOR;
