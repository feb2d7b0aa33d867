--! Previous: sha1:5043f4a60b5e5d8dabd30c5463256d9cd3206861
--! Hash: sha1:129ddbbf4e04fc257b8cf8ab9e1d95feefb780eb
--! Message: Scheduling, part 1: weekly working hours per doctor and office in local time, never overlapping; time off; offices checked and kept while in use

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Scheduling, part 1 (issue 11): when a doctor works. Weekly working hours per doctor and office
-- in the tenant's local time, and periods of time off. Admins manage every doctor's schedule, a
-- doctor their own, receptionists read it. Slot search and booking rules build on these tables.
--------------------------------------------------------------------------------

-- An office named by a row must be one of its doctor's offices: appointments, working hours and
-- time off share this check.
create or replace function app_private.assert_office_of_doctor(tenant_id uuid, doctor_id uuid, office_id text)
  returns void language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_offices jsonb;
begin
  -- FOR SHARE waits for, and then blocks, a concurrent edit of the doctor's offices.
  select d.offices into v_offices from app_public.doctors d
    where d.tenant_id = assert_office_of_doctor.tenant_id and d.id = assert_office_of_doctor.doctor_id for share;
  if found and not v_offices @> jsonb_build_array(jsonb_build_object('id', assert_office_of_doctor.office_id)) then
    raise exception 'The office is not one of this doctor''s offices.' using errcode = 'OFFIC';
  end if;
  -- Not found: the doctor is not in this tenant, and the row's foreign key rejects it.
end;
$$;
comment on function app_private.assert_office_of_doctor(uuid, uuid, text) is
  'Raises OFFIC unless `office_id` is the `id` of one of the doctor''s offices. SECURITY DEFINER to lock the doctor row (FOR SHARE), which receptionists and doctors may read but not update; the lookup is pinned to the given tenant, which callers take from the row they check.';
grant execute on function app_private.assert_office_of_doctor(uuid, uuid, text) to :DATABASE_VISITOR;

create or replace function app_private.tg_appointments__check_office() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if new.office_id is null then
    return new;
  end if;
  if tg_op = 'UPDATE' and new.office_id = old.office_id and new.doctor_id = old.doctor_id
     and not (app_private.holds_slot(new.status) and new.ends_at > now()) then
    return new; -- a past or released appointment keeps its history, even if the office is gone
  end if;
  perform app_private.assert_office_of_doctor(new.tenant_id, new.doctor_id, new.office_id);
  return new;
end;
$$;

-- Idempotent while uncommitted (graphile-migrate runs the current migration again on each change).
drop table if exists app_public.time_off_periods;
drop table if exists app_public.working_hours;

create table app_public.working_hours (
  id          uuid primary key default gen_random_uuid(),
  tenant_id   uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  doctor_id   uuid not null,
  office_id   varchar(50) not null,
  weekday     smallint not null constraint working_hours_weekday_check check (weekday between 1 and 7),
  starts_at   time not null,
  ends_at     time not null,
  valid_from  date,
  valid_until date,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint working_hours_tenant_id_id_key unique (tenant_id, id),
  constraint working_hours_doctor_fkey foreign key (tenant_id, doctor_id)
    references app_public.doctors (tenant_id, id) on delete cascade,
  constraint working_hours_times_check check (ends_at > starts_at),
  constraint working_hours_dates_check check (valid_until >= valid_from),
  -- A rule valid for a few days must contain its weekday at least once.
  constraint working_hours_weekday_in_dates check (
    valid_from is null or valid_until is null
    or valid_until >= valid_from + ((weekday - extract(isodow from valid_from)::int + 7) % 7)),
  -- Local times on a fixed date: a range of the day, comparable across weekdays' rules.
  constraint working_hours_no_overlap exclude using gist (
    tenant_id with =, doctor_id with =, weekday with =,
    tsrange(date '2000-01-03' + starts_at, date '2000-01-03' + ends_at) with &&,
    daterange(valid_from, valid_until, '[]') with &&)
);
comment on table app_public.working_hours is
  'When a doctor works, week by week: on `weekday`, from `startsAt` to `endsAt` local time (the tenant''s time zone) at one of the doctor''s offices, on the dates from `validFrom` to `validUntil`. Several rows make split days (09:00–13:00 and 15:00–19:00). Extra hours on one date: a row whose validFrom and validUntil are that date. A doctor never works two overlapping ranges, at one office or two (OVLAP). Everyone in the tenant reads them; admins manage every doctor''s, a doctor their own.';
comment on column app_public.working_hours.id is 'Identifier of the rule.';
comment on column app_public.working_hours.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.working_hours.doctor_id is 'The doctor who works these hours.';
comment on column app_public.working_hours.office_id is 'Where: the `id` of one of the doctor''s offices (OFFIC otherwise). An office with current or future working hours cannot be removed from the doctor.';
comment on column app_public.working_hours.weekday is 'ISO 8601 day of the week: 1 Monday … 7 Sunday.';
comment on column app_public.working_hours.starts_at is 'Local start time, in the tenant''s time zone.';
comment on column app_public.working_hours.ends_at is 'Local end time, after startsAt (`24:00` for midnight at the end of the day).';
comment on column app_public.working_hours.valid_from is 'First date the rule applies (local); NULL: since always.';
comment on column app_public.working_hours.valid_until is 'Last date the rule applies (local, included); NULL: until further notice.';
comment on column app_public.working_hours.created_at is 'When the rule was created.';
comment on column app_public.working_hours.updated_at is 'When the rule was last changed.';
comment on constraint working_hours_tenant_id_id_key on app_public.working_hours is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint working_hours_doctor_fkey on app_public.working_hours is
  E'@fieldName doctor\n@foreignFieldName workingHours\nThe doctor, always of the same tenant.';
comment on constraint working_hours_weekday_in_dates on app_public.working_hours is
  'A rule for a few days must fall on its weekday at least once.';
comment on constraint working_hours_no_overlap on app_public.working_hours is
  'A doctor cannot work two overlapping ranges on the same weekday and dates, at one office or two; reported to clients as OVLAP.';

create table app_public.time_off_periods (
  id         uuid primary key default gen_random_uuid(),
  tenant_id  uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  doctor_id  uuid not null,
  office_id  varchar(50),
  starts_at  timestamptz not null,
  ends_at    timestamptz not null,
  reason     text constraint time_off_periods_reason_check check (length(reason) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint time_off_periods_tenant_id_id_key unique (tenant_id, id),
  constraint time_off_periods_doctor_fkey foreign key (tenant_id, doctor_id)
    references app_public.doctors (tenant_id, id) on delete cascade,
  constraint time_off_periods_times_check check (ends_at > starts_at)
);
comment on table app_public.time_off_periods is
  'A doctor away from `startsAt` to `endsAt`: at one office, or at all of them. A whole day off is local midnight to local midnight. Working hours in such a period offer no slots. Everyone in the tenant reads them; admins manage every doctor''s, a doctor their own.';
comment on column app_public.time_off_periods.id is 'Identifier of the period.';
comment on column app_public.time_off_periods.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.time_off_periods.doctor_id is 'The doctor who is away.';
comment on column app_public.time_off_periods.office_id is 'The office the doctor is away from (one of the doctor''s offices), or NULL for all of them.';
comment on column app_public.time_off_periods.starts_at is 'Start of the period (with time zone).';
comment on column app_public.time_off_periods.ends_at is 'End of the period, after startsAt; the period is [startsAt, endsAt).';
comment on column app_public.time_off_periods.reason is 'Why (holiday, training…), for the clinic''s staff.';
comment on column app_public.time_off_periods.created_at is 'When the period was entered.';
comment on column app_public.time_off_periods.updated_at is 'When the period was last changed.';
comment on constraint time_off_periods_tenant_id_id_key on app_public.time_off_periods is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint time_off_periods_doctor_fkey on app_public.time_off_periods is
  E'@fieldName doctor\n@foreignFieldName timeOffPeriods\nThe doctor, always of the same tenant.';
create index time_off_periods_doctor_idx on app_public.time_off_periods (tenant_id, doctor_id, starts_at);

create or replace function app_private.tg__check_office() returns trigger
  language plpgsql
as $$
begin
  if new.office_id is not null then
    perform app_private.assert_office_of_doctor(new.tenant_id, new.doctor_id, new.office_id);
  end if;
  return new;
end;
$$;
comment on function app_private.tg__check_office() is
  'A row''s office_id, when set, must name one of its doctor''s offices (OFFIC): working hours and time off.';

create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.working_hours
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _100_timestamps before insert or update on app_public.working_hours
  for each row execute function app_private.tg__timestamps();
create trigger _300_check_office before insert or update of office_id, doctor_id on app_public.working_hours
  for each row execute function app_private.tg__check_office();
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.time_off_periods
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _100_timestamps before insert or update on app_public.time_off_periods
  for each row execute function app_private.tg__timestamps();
create trigger _300_check_office before insert or update of office_id, doctor_id on app_public.time_off_periods
  for each row execute function app_private.tg__check_office();

-- An office a doctor still works at, like one with upcoming appointments, cannot be removed.
create or replace function app_private.tg_doctors__keep_booked_offices() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_office_id text;
begin
  select a.office_id into v_office_id
    from app_public.appointments a
    where a.tenant_id = new.tenant_id and a.doctor_id = new.id
      and a.office_id is not null and a.ends_at > now() and app_private.holds_slot(a.status)
      and not new.offices @> jsonb_build_array(jsonb_build_object('id', a.office_id))
    limit 1;
  if found then
    raise exception 'Office "%" has upcoming appointments; move or cancel them first.', v_office_id
      using errcode = 'OFFIC';
  end if;
  select w.office_id into v_office_id
    from app_public.working_hours w
    where w.tenant_id = new.tenant_id and w.doctor_id = new.id
      and (w.valid_until is null or w.valid_until >= current_date) -- ended rules are history
      and not new.offices @> jsonb_build_array(jsonb_build_object('id', w.office_id))
    limit 1;
  if found then
    raise exception 'Office "%" has working hours; delete them first.', v_office_id
      using errcode = 'OFFIC';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_doctors__keep_booked_offices() is
  'Refuses to remove from a doctor an office that an upcoming appointment or a current or future working-hours rule still uses (OFFIC). SECURITY DEFINER so the check sees every row of the doctor; it reads only the row''s own tenant.';

alter table app_public.working_hours enable row level security;
alter table app_public.working_hours force row level security;
create policy select_own_tenant on app_public.working_hours
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.working_hours is 'Everyone in the tenant reads every doctor''s hours.';
create policy insert_as_admin_or_own_doctor on app_public.working_hours
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy insert_as_admin_or_own_doctor on app_public.working_hours is 'Admins set any doctor''s hours; a doctor their own.';
create policy update_as_admin_or_own_doctor on app_public.working_hours
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy update_as_admin_or_own_doctor on app_public.working_hours is 'Admins change any doctor''s hours; a doctor their own, and cannot hand them to another doctor.';
create policy delete_as_admin_or_own_doctor on app_public.working_hours
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy delete_as_admin_or_own_doctor on app_public.working_hours is 'Admins delete any doctor''s hours; a doctor their own.';
grant select, delete on app_public.working_hours to :DATABASE_VISITOR;
grant insert (doctor_id, office_id, weekday, starts_at, ends_at, valid_from, valid_until) on app_public.working_hours to :DATABASE_VISITOR;
grant update (doctor_id, office_id, weekday, starts_at, ends_at, valid_from, valid_until) on app_public.working_hours to :DATABASE_VISITOR;

alter table app_public.time_off_periods enable row level security;
alter table app_public.time_off_periods force row level security;
create policy select_own_tenant on app_public.time_off_periods
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.time_off_periods is 'Everyone in the tenant reads every doctor''s time off.';
create policy insert_as_admin_or_own_doctor on app_public.time_off_periods
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy insert_as_admin_or_own_doctor on app_public.time_off_periods is 'Admins enter any doctor''s time off; a doctor their own.';
create policy update_as_admin_or_own_doctor on app_public.time_off_periods
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())))
  with check (tenant_id = app_public.current_tenant_id()
              and (app_public.current_user_role() = 'admin'
                   or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy update_as_admin_or_own_doctor on app_public.time_off_periods is 'Admins change any doctor''s time off; a doctor their own, and cannot hand it to another doctor.';
create policy delete_as_admin_or_own_doctor on app_public.time_off_periods
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id()
         and (app_public.current_user_role() = 'admin'
              or (app_public.current_user_role() = 'doctor' and doctor_id = app_public.current_doctor_id())));
comment on policy delete_as_admin_or_own_doctor on app_public.time_off_periods is 'Admins delete any doctor''s time off; a doctor their own.';
grant select, delete on app_public.time_off_periods to :DATABASE_VISITOR;
grant insert (doctor_id, office_id, starts_at, ends_at, reason) on app_public.time_off_periods to :DATABASE_VISITOR;
grant update (doctor_id, office_id, starts_at, ends_at, reason) on app_public.time_off_periods to :DATABASE_VISITOR;
