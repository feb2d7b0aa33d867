-- Database-level set-up, run as a superuser right after graphile-migrate creates the database
-- (afterReset), before any migration, and again at each start that has a superuser URL (so an
-- existing database gets extensions added later): every statement is idempotent. Extensions need
-- a superuser; the migrations run as the owner.
create extension if not exists citext with schema public;      -- case-insensitive e-mails and slugs
create extension if not exists btree_gist with schema public;  -- uuid equality inside the double-booking exclusion constraint
create extension if not exists pgcrypto with schema public;    -- gen_random_bytes for one-time tokens
create extension if not exists pg_trgm with schema public;     -- trigram indexes: search by any part of a name
create extension if not exists btree_gin with schema public;   -- tenant_id as the first key of a trigram index

-- Nobody but the owner connects or creates objects; the API logs in as the authenticator.
revoke all on database :DATABASE_NAME from public;
grant connect, temporary on database :DATABASE_NAME to :DATABASE_OWNER;
grant connect on database :DATABASE_NAME to :DATABASE_AUTHENTICATOR;
revoke create on schema public from public;

-- Functions are executable by PUBLIC by default; every function the migrations create must be
-- granted explicitly instead, so a new SECURITY DEFINER function is never open by accident.
alter default privileges for role :DATABASE_OWNER revoke execute on functions from public;
