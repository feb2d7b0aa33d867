--! Previous: sha1:e91a70f2cf0e24c23a23f4626b2622c090738448
--! Hash: sha1:8043bc6ff1b3b673741270a315d4f1c743c4c6f3
--! Message: background jobs, trial expiry and operator commands

--! split: 1-trial-read-only.sql
-- Trial expiry: once a tenant's trial has ended and it is still on a plan with a trial, the
-- tenant is read-only. Every write made with its users' claims is refused with TRIAL; reads keep
-- working and nothing is deleted. Operators (no claims) change the plan to lift it.

create function app_public.tenants_is_read_only(tenant app_public.tenants) returns boolean
  language sql stable
as $$
  select coalesce(tenant.trial_ends_at <= now(), false) and exists (
    select from app_public.subscription_plans p where p.plan = tenant.subscription_plan and p.trial_days is not null)
$$;
comment on function app_public.tenants_is_read_only(app_public.tenants) is
  E'@notNull\nTrue once the trial has ended on a plan with a trial: the clinic group can read everything but change nothing until an operator changes its plan.';
grant execute on function app_public.tenants_is_read_only(app_public.tenants) to :DATABASE_VISITOR;

create function app_private.assert_tenant_writable() returns void
  language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if (select app_public.tenants_is_read_only(t) from app_public.tenants t where t.id = app_public.current_tenant_id()) then
    raise exception 'The trial has ended, so this clinic group is read-only until its plan is changed.' using errcode = 'TRIAL';
  end if;
end;
$$;
comment on function app_private.assert_tenant_writable() is
  'Raises TRIAL when the tenant in the caller''s claims is read-only (trial ended). Without claims (operators, the worker, sign-up, password activation) the write is not a tenant''s users'' and passes. SECURITY DEFINER: reads the tenant row whatever the caller may see.';
grant execute on function app_private.assert_tenant_writable() to :DATABASE_VISITOR;

create function app_private.tg__refuse_writes_when_read_only() returns trigger
  language plpgsql volatile
as $$
begin
  perform app_private.assert_tenant_writable();
  return null;
end;
$$;
comment on function app_private.tg__refuse_writes_when_read_only() is
  'Statement trigger for every table a tenant''s users write: a read-only tenant''s write is refused with TRIAL, even one that matches no row.';

-- One trigger per table a tenant's users can write, named to run before any row trigger.
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.tenants
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.users
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.doctors
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.patients
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.appointments
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.medicines
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.prescriptions
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.prescription_items
  for each statement execute function app_private.tg__refuse_writes_when_read_only();

--! split: 2-email-jobs.sql
-- E-mail jobs. Triggers enqueue graphile-worker jobs in the same transaction as the change that
-- causes them, so a rolled-back change sends nothing and a committed one is never forgotten.
-- Payloads carry ids only: the worker reads what to send when it runs, so an e-mail address
-- or a name changed meanwhile is honoured, and no secret sits in the job queue.

create table app_private.email_deliveries (
  idempotency_key text primary key,
  user_id         uuid not null references app_public.users on delete cascade,
  template        text not null,
  message_id      text not null,
  started_at      timestamptz not null default now(),
  accepted_at     timestamptz
);
comment on table app_private.email_deliveries is
  'One row per e-mail the worker sends, claimed before sending: a retried job finds its row and does not send twice. A row with no accepted_at was interrupted between claiming and the mail server''s answer; it is not resent (at most once), and an operator deletes it to resend.';
comment on column app_private.email_deliveries.idempotency_key is 'What makes the e-mail unique, e.g. `welcome:<user id>` or `trial_notice:<notice id>:<user id>`.';
comment on column app_private.email_deliveries.user_id is 'Recipient.';
comment on column app_private.email_deliveries.template is 'Which template was sent (`welcome`, `account`, `trial_notice`).';
comment on column app_private.email_deliveries.message_id is 'RFC 5322 Message-ID, derived from the idempotency key, so a duplicate would be recognisable as one.';
comment on column app_private.email_deliveries.started_at is 'When sending began.';
comment on column app_private.email_deliveries.accepted_at is 'When the mail server (or the outbox folder) accepted the message.';
create index on app_private.email_deliveries (user_id);

create function app_private.new_password_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  delete from app_private.password_tokens t where t.user_id = new_password_token.user_id;
  insert into app_private.password_tokens (token_hash, user_id, expires_at)
    values (sha256(convert_to(v_token, 'UTF8')), new_password_token.user_id, now() + interval '72 hours');
  return v_token;
end;
$$;
comment on function app_private.new_password_token(uuid) is
  'A fresh one-time set-password token for the user (valid 72 hours, replacing earlier ones); only its SHA-256 is stored. Owner only: callers check who may ask.';

create or replace function app_public.issue_activation_token(user_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform app_private.assert_tenant_writable();
  if app_public.current_user_role() is distinct from 'admin' or not exists (
       select from app_public.users u
       where u.id = issue_activation_token.user_id and u.tenant_id = app_public.current_tenant_id() and u.is_active
         and not exists (select from app_private.user_secrets s where s.user_id = u.id)) then
    raise exception 'Only an admin can issue an activation link, for an active user of the clinic who has no password yet.'
      using errcode = 'DNIED';
  end if;
  return app_private.new_password_token(issue_activation_token.user_id);
end;
$$;

-- What each e-mail needs, read by the worker at send time. Who receives what is decided here.

create function app_private.welcome_email(tenant_id uuid)
  returns table (user_id uuid, email citext, full_name text, tenant_name text, trial_ends_at timestamptz, time_zone text)
  language sql stable
as $$
  select u.id, u.email, u.full_name, t.name, t.trial_ends_at, t.time_zone
  from app_public.tenants t
  join app_public.users u on u.tenant_id = t.id and u.user_role = 'admin' and u.is_active
  where t.id = welcome_email.tenant_id
  order by u.created_at
  limit 1
$$;
comment on function app_private.welcome_email(uuid) is
  'The recipient and facts of a new tenant''s welcome e-mail: its first active admin, the one who signed up.';

create function app_private.account_email(user_id uuid)
  returns table (user_id uuid, email citext, full_name text, user_role text, tenant_name text, has_password boolean)
  language sql stable
as $$
  select u.id, u.email, u.full_name, u.user_role, t.name,
         exists (select from app_private.user_secrets s where s.user_id = u.id)
  from app_public.users u join app_public.tenants t on t.id = u.tenant_id
  where u.id = account_email.user_id and u.is_active
$$;
comment on function app_private.account_email(uuid) is
  'The recipient and facts of the e-mail to a user an admin created: nothing for a deactivated user; has_password says whether a set-password link is still needed.';

create function app_private.tg_tenants__send_welcome_email() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform graphile_worker.add_job('send_welcome_email', json_build_object('tenant_id', new.id));
  return null;
end;
$$;
comment on function app_private.tg_tenants__send_welcome_email() is 'Enqueues the welcome e-mail of a tenant that just signed up.';
create trigger _900_send_welcome_email after insert on app_public.tenants
  for each row execute function app_private.tg_tenants__send_welcome_email();

create function app_private.tg_users__send_account_email() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform graphile_worker.add_job('send_account_email', json_build_object('user_id', new.id));
  return null;
end;
$$;
comment on function app_private.tg_users__send_account_email() is
  'Enqueues the account e-mail (with a one-time set-password link) of a user a signed-in admin created. SECURITY DEFINER: API roles cannot touch the job queue themselves.';
-- Sign-up creates its admin without claims and sends the welcome e-mail instead.
create trigger _900_send_account_email after insert on app_public.users
  for each row when (app_public.current_user_id() is not null)
  execute function app_private.tg_users__send_account_email();

--! split: 3-trial-notices.sql
-- Trial notices: 7, 3 and 1 days before a trial ends and on the day it ends, each on the
-- tenant's local day (its time_zone), from 08:00 local time. An hourly cron job calls
-- schedule_trial_notices(); the table's unique key makes each notice happen at most once, however
-- many workers run it, however often it is retried or backfilled.

create table app_private.trial_notices (
  id            uuid primary key default gen_random_uuid(),
  tenant_id     uuid not null references app_public.tenants on delete cascade,
  trial_ends_at timestamptz not null,
  days_before   integer not null check (days_before in (7, 3, 1, 0)),
  due_on        date not null,
  created_at    timestamptz not null default now(),
  unique (tenant_id, trial_ends_at, days_before)
);
comment on table app_private.trial_notices is
  'Trial notices that were scheduled, one per tenant, trial end and notice. An extended trial (a new trial_ends_at) gets its own notices.';
comment on column app_private.trial_notices.id is 'Identifier of the notice; the send job''s payload.';
comment on column app_private.trial_notices.tenant_id is 'The tenant on trial.';
comment on column app_private.trial_notices.trial_ends_at is 'The trial end the notice is about.';
comment on column app_private.trial_notices.days_before is 'How many local days before the trial''s last day the notice is due: 7, 3, 1, or 0 for the day itself.';
comment on column app_private.trial_notices.due_on is 'The tenant''s local date on which the notice was due.';
comment on column app_private.trial_notices.created_at is 'When the notice was scheduled (and its send job enqueued).';

create function app_private.schedule_trial_notices(at timestamptz default now())
  returns setof app_private.trial_notices
  language plpgsql volatile
as $$
declare
  v_notice app_private.trial_notices;
begin
  -- For each tenant on a trial, the latest notice whose morning has come. After a worker was down
  -- for days, only that one is sent: a "7 days left" mail on the day before the end would mislead.
  -- A trial that ended more than a week before `at` gets no more notices.
  for v_notice in
    insert into app_private.trial_notices (tenant_id, trial_ends_at, days_before, due_on)
    select t.id, t.trial_ends_at, m.days_before, m.due_on
    from app_public.tenants t
    join app_public.subscription_plans p on p.plan = t.subscription_plan and p.trial_days is not null
    cross join lateral (
      select d.days_before, (t.trial_ends_at at time zone t.time_zone)::date - d.days_before as due_on
      from unnest(array[7, 3, 1, 0]) as d(days_before)
      where (((t.trial_ends_at at time zone t.time_zone)::date - d.days_before) + time '08:00') at time zone t.time_zone <= at
      order by d.days_before
      limit 1
    ) m
    where t.trial_ends_at > at - interval '7 days'
    on conflict (tenant_id, trial_ends_at, days_before) do nothing
    returning *
  loop
    perform graphile_worker.add_job('send_trial_notice', json_build_object('trial_notice_id', v_notice.id));
    return next v_notice;
  end loop;
end;
$$;
comment on function app_private.schedule_trial_notices(timestamptz) is
  'Records the trial notices due at `at` (default now) that were not recorded yet, enqueues one send job for each, and returns them. Safe to run any number of times, concurrently: the unique key lets one transaction win.';

create function app_private.trial_notice_email(trial_notice_id uuid)
  returns table (user_id uuid, email citext, full_name text, tenant_name text, trial_ends_at timestamptz, time_zone text, days_before integer)
  language sql stable
as $$
  select u.id, u.email, u.full_name, t.name, t.trial_ends_at, t.time_zone, n.days_before
  from app_private.trial_notices n
  join app_public.tenants t on t.id = n.tenant_id and t.trial_ends_at = n.trial_ends_at
  join app_public.subscription_plans p on p.plan = t.subscription_plan and p.trial_days is not null
  join app_public.users u on u.tenant_id = t.id and u.user_role = 'admin' and u.is_active
  where n.id = trial_notice_email.trial_notice_id
  order by u.created_at
$$;
comment on function app_private.trial_notice_email(uuid) is
  'Recipients and facts of a trial notice: the tenant''s active admins (never doctors or receptionists), and nobody once the tenant left its trial or the trial end moved.';

--! split: 4-operator-commands.sql
-- Operator commands (`npm run tenant`): run as the owner, outside the GraphQL API. The rules
-- (plan limit, trial dates) stay here, so the command line only parses and prints.

create view app_private.tenant_summaries as
  select t.id, t.slug, t.name, t.subscription_plan, t.trial_ends_at, app_public.tenants_is_read_only(t) as is_read_only,
         (select count(*) from app_public.doctors d where d.tenant_id = t.id and d.is_active) as active_doctors,
         p.max_doctors, t.created_at
  from app_public.tenants t join app_public.subscription_plans p on p.plan = t.subscription_plan;
comment on view app_private.tenant_summaries is 'One line per tenant for operators: plan, trial end, read-only state and active doctors against the plan''s limit.';

create function app_private.find_tenant(ref text) returns uuid
  language plpgsql stable
as $$
declare
  v_id uuid;
begin
  select id into v_id from app_public.tenants where slug = ref::citext or id = app_private.uuid_or_null(ref);
  if v_id is null then
    raise exception 'No tenant has the id or slug "%".', ref using errcode = 'NTFND';
  end if;
  return v_id;
end;
$$;
comment on function app_private.find_tenant(text) is 'The id of the tenant with this id or slug; raises NTFND when there is none.';

create function app_private.change_plan(tenant text, plan text) returns app_public.tenants
  language plpgsql volatile
as $$
declare
  v_plan app_public.subscription_plans;
  v_tenant app_public.tenants;
begin
  select * into v_plan from app_public.subscription_plans p where p.plan = change_plan.plan;
  if not found then
    raise exception 'There is no plan "%".', plan using errcode = 'NTFND';
  end if;
  -- The plan-limit trigger on tenants raises PLANL when the active doctors exceed the new limit.
  update app_public.tenants t
     set subscription_plan = v_plan.plan,
         trial_ends_at = case when v_plan.trial_days is null then null
                              else coalesce(t.trial_ends_at, now() + make_interval(days => v_plan.trial_days)) end
   where t.id = app_private.find_tenant(change_plan.tenant)
   returning * into v_tenant;
  return v_tenant;
end;
$$;
comment on function app_private.change_plan(text, text) is
  'Moves a tenant (id or slug) to a plan. A paid plan clears the trial end, which lifts a read-only trial; PLANL when the tenant has more active doctors than the plan allows.';

create function app_private.extend_trial(tenant text, days integer) returns app_public.tenants
  language plpgsql volatile
as $$
declare
  v_tenant app_public.tenants;
begin
  if days is null or days not between 1 and 365 then
    raise exception 'A trial is extended by 1 to 365 days.' using errcode = 'INVAL';
  end if;
  update app_public.tenants t
     set trial_ends_at = greatest(t.trial_ends_at, now()) + make_interval(days => extend_trial.days)
   where t.id = app_private.find_tenant(extend_trial.tenant)
     and exists (select from app_public.subscription_plans p where p.plan = t.subscription_plan and p.trial_days is not null)
   returning * into v_tenant;
  if not found then
    raise exception 'The tenant is not on a trial plan.' using errcode = 'INVAL';
  end if;
  return v_tenant;
end;
$$;
comment on function app_private.extend_trial(text, integer) is
  'Extends a tenant''s trial by `days` from its end, or from now when it has already ended (which lifts the read-only state). INVAL for a tenant not on trial.';

--! split: 5-login-e-mails.sql
-- Login e-mails: exactly one bare address. The first check let through address-list syntax
-- (`a@x.test,b@y.test`), which a mailer would read as several recipients: an admin could have
-- had another tenant's people sent account e-mails.

alter table app_public.users drop constraint users_email_check;
alter table app_public.users add constraint users_email_check
  check (length(email) <= 254 and email ~ '^[^@\s,;:<>()\[\]\\"]+@[^@\s,;:<>()\[\]\\"]+\.[^@\s,;:<>()\[\]\\"]+$');
comment on constraint users_email_check on app_public.users is
  'One bare address (no display name, list, group or quoting), at most 254 characters (RFC 5321).';
