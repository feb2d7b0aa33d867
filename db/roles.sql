-- Cluster-level roles, run as a superuser before the database exists (the set-up does it, and
-- graphile-migrate's afterReset runs it again so `reset` rebuilds everything). Idempotent:
-- PostgreSQL roles are shared by every database of a cluster, so a second database (tests,
-- a shadow) finds them already there and only has their passwords brought up to date.
--
--   clinic_owner          owns every object and runs migrations. BYPASSRLS: RLS is FORCEd on
--                         every table, so without it the owner's own SECURITY DEFINER functions
--                         (login, plan-limit check) and operators could not see across tenants.
--   clinic_authenticator  the API server's login; NOINHERIT, so it holds no privilege of its
--                         own until it switches (SET ROLE) to one of the two roles below.
--   clinic_anonymous      a request without a token: sign-up, login, the plan list.
--   clinic_user           a request with a verified JWT; the JWT's claims, not the role, say which
--                         tenant and which in-tenant role (admin, doctor, receptionist) it is.
do $$
begin
  if not exists (select from pg_roles where rolname = 'clinic_owner') then
    create role clinic_owner with login;
  end if;
  if not exists (select from pg_roles where rolname = 'clinic_authenticator') then
    create role clinic_authenticator with login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'clinic_anonymous') then
    create role clinic_anonymous with nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'clinic_user') then
    create role clinic_user with nologin;
  end if;
end
$$;

alter role clinic_owner with login nosuperuser nocreaterole createdb bypassrls password ':OWNER_PASSWORD';
alter role clinic_authenticator with login noinherit nosuperuser nocreatedb nocreaterole nobypassrls password ':AUTHENTICATOR_PASSWORD';
alter role clinic_anonymous with nologin nosuperuser nobypassrls;
alter role clinic_user with nologin nosuperuser nobypassrls;

grant clinic_anonymous to clinic_authenticator;
grant clinic_user to clinic_authenticator;
