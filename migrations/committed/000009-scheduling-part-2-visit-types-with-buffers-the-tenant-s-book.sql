--! Previous: sha1:129ddbbf4e04fc257b8cf8ab9e1d95feefb780eb
--! Hash: sha1:32f966f673d48008f7973ec5372bd15b81056aa5
--! Message: Scheduling, part 2: visit types with buffers, the tenant's booking policy (notice, horizon, slot grid) and the free-slot search, correct across daylight-saving nights

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Scheduling, part 2 (issue 11): visit types and the tenant's booking policy. A visit type says
-- how long a visit lasts and how much time the doctor needs before and after it; the policy says
-- how soon and how far ahead patients may be booked, and the grid free slots start on. Slot
-- search and booking rules read them.
--------------------------------------------------------------------------------

-- Idempotent while uncommitted (graphile-migrate runs the current migration again on each change).
alter table app_public.appointments drop column if exists visit_type_id;
drop table if exists app_public.visit_types;

create table app_public.visit_types (
  id                    uuid primary key default gen_random_uuid(),
  tenant_id             uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  name                  text not null
    constraint visit_types_name_check check (length(btrim(name)) between 1 and 200)
    constraint visit_types_name_clean check (app_private.assert_clean_text(name)),
  duration_minutes      integer not null constraint visit_types_duration_check check (duration_minutes between 5 and 480),
  buffer_before_minutes integer not null default 0
    constraint visit_types_buffer_before_check check (buffer_before_minutes between 0 and 120),
  buffer_after_minutes  integer not null default 0
    constraint visit_types_buffer_after_check check (buffer_after_minutes between 0 and 120),
  is_active             boolean not null default true,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  constraint visit_types_tenant_id_id_key unique (tenant_id, id),
  constraint visit_types_tenant_id_name_key unique (tenant_id, name)
);
comment on table app_public.visit_types is
  'The kinds of visit a clinic group offers: how long each lasts and how much time the doctor keeps free before and after it. Everyone in the tenant reads them; admins manage them. A type in use is deactivated rather than deleted.';
comment on column app_public.visit_types.id is 'Identifier of the visit type.';
comment on column app_public.visit_types.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.visit_types.name is 'What the clinic calls it, unique in the tenant (e.g. `First visit`).';
comment on column app_public.visit_types.duration_minutes is 'How long the visit lasts: 5 to 480 minutes.';
comment on column app_public.visit_types.buffer_before_minutes is 'Minutes the doctor keeps free before the visit (preparation): 0 to 120.';
comment on column app_public.visit_types.buffer_after_minutes is 'Minutes the doctor keeps free after the visit (notes, cleaning): 0 to 120.';
comment on column app_public.visit_types.is_active is 'Whether new appointments may use it.';
comment on column app_public.visit_types.created_at is 'When the visit type was created.';
comment on column app_public.visit_types.updated_at is 'When the visit type was last changed.';
comment on constraint visit_types_tenant_id_id_key on app_public.visit_types is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint visit_types_tenant_id_name_key on app_public.visit_types is
  E'@behavior -single -update -delete\nOne visit type of a name per tenant (TAKEN).';

create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.visit_types
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _100_timestamps before insert or update on app_public.visit_types
  for each row execute function app_private.tg__timestamps();

alter table app_public.visit_types enable row level security;
alter table app_public.visit_types force row level security;
create policy select_own_tenant on app_public.visit_types
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.visit_types is 'Everyone in the tenant reads its visit types.';
create policy insert_as_admin on app_public.visit_types
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy insert_as_admin on app_public.visit_types is 'Admins create visit types.';
create policy update_as_admin on app_public.visit_types
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin')
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy update_as_admin on app_public.visit_types is 'Admins change visit types.';
create policy delete_as_admin on app_public.visit_types
  for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() = 'admin');
comment on policy delete_as_admin on app_public.visit_types is 'Admins delete a visit type no appointment uses (NOREF otherwise; deactivate it instead).';
grant select, delete on app_public.visit_types to :DATABASE_VISITOR;
grant insert (name, duration_minutes, buffer_before_minutes, buffer_after_minutes, is_active) on app_public.visit_types to :DATABASE_VISITOR;
grant update (name, duration_minutes, buffer_before_minutes, buffer_after_minutes, is_active) on app_public.visit_types to :DATABASE_VISITOR;

-- An appointment may say what kind of visit it is; its buffers then keep the doctor's time around it.
alter table app_public.appointments add column visit_type_id uuid;
alter table app_public.appointments add constraint appointments_visit_type_fkey
  foreign key (tenant_id, visit_type_id) references app_public.visit_types (tenant_id, id);
comment on column app_public.appointments.visit_type_id is 'The kind of visit, optional: its buffers keep the doctor free before and after the appointment.';
comment on constraint appointments_visit_type_fkey on app_public.appointments is
  E'@fieldName visitType\n@foreignFieldName appointments\nThe visit type, always of the same tenant.';
create index appointments_tenant_id_visit_type_id_idx on app_public.appointments (tenant_id, visit_type_id);
grant insert (visit_type_id), update (visit_type_id) on app_public.appointments to :DATABASE_VISITOR;
-- Like the time and the doctor, only the front desk changes what kind of visit it is.
drop trigger if exists _200_protect_columns on app_public.appointments;
create trigger _200_protect_columns before update on app_public.appointments
  for each row execute function app_private.tg__protect_columns(
    'admin,receptionist', 'doctor_id', 'patient_id', 'office_id', 'starts_at', 'ends_at', 'reason', 'visit_type_id');

-- The booking policy: one row of settings per tenant, on the tenant.
alter table app_public.tenants
  add column if not exists booking_notice_minutes integer not null default 0
    constraint tenants_booking_notice_check check (booking_notice_minutes between 0 and 43200),
  add column if not exists booking_horizon_days integer not null default 365
    constraint tenants_booking_horizon_check check (booking_horizon_days between 1 and 730),
  add column if not exists slot_grid_minutes integer not null default 15
    constraint tenants_slot_grid_check check (slot_grid_minutes in (5, 10, 15, 20, 30, 60));
comment on column app_public.tenants.booking_notice_minutes is 'Minimum notice: how many minutes from now the earliest bookable start is (0 to 43,200, i.e. 30 days). Admins may book inside it.';
comment on column app_public.tenants.booking_horizon_days is 'How far ahead appointments may be booked, in days (1 to 730). Admins may book beyond it.';
comment on column app_public.tenants.slot_grid_minutes is 'Free slots start on this grid of the local clock: 5, 10, 15 (default), 20, 30 or 60 minutes.';
grant update (booking_notice_minutes, booking_horizon_days, slot_grid_minutes) on app_public.tenants to :DATABASE_VISITOR;
comment on policy update_own_tenant_as_admin on app_public.tenants is
  'Admins rename their tenant, change its time zone and its booking policy; the plan is not theirs to change.';

--------------------------------------------------------------------------------
-- Free-slot search (issue 11): the start times a front desk can offer. Working hours are local
-- times in the tenant's zone, turned into instants by PostgreSQL's zone rules day by day; slots
-- are then walked instant by instant on the local clock's grid. So a local time that does not
-- exist (the spring-forward hour) offers no slot, and the repeated hour of a fall-back night
-- offers each of its real instants once.
--------------------------------------------------------------------------------
drop function if exists app_public.free_slots(date, date, uuid[], text, integer, uuid);
drop type if exists app_public.free_slot;
create type app_public.free_slot as (
  doctor_id uuid,
  office_id text,
  starts_at timestamptz,
  ends_at   timestamptz
);
comment on type app_public.free_slot is 'A time a doctor can see a patient: free, inside the doctor''s working hours at that office.';
comment on column app_public.free_slot.doctor_id is 'The doctor.';
comment on column app_public.free_slot.office_id is 'The office, one of the doctor''s.';
comment on column app_public.free_slot.starts_at is 'Start of the slot (with time zone).';
comment on column app_public.free_slot.ends_at is 'End of the slot: the start plus the duration asked for.';

create function app_public.free_slots(
  from_date date,
  to_date date,
  doctor_ids uuid[] default null,
  specialty text default null,
  duration_minutes integer default null,
  visit_type_id uuid default null
) returns setof app_public.free_slot
  language plpgsql stable
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_tenant app_public.tenants;
  v_duration interval;
  v_before interval := interval '0';
  v_after interval := interval '0';
begin
  select * into v_tenant from app_public.tenants t where t.id = v_tenant_id;
  if not found then
    return;
  end if;
  if free_slots.to_date < free_slots.from_date or free_slots.to_date - free_slots.from_date > 61 then
    raise exception 'Ask for 1 to 62 days of free slots, from_date to to_date.' using errcode = 'INVAL';
  end if;
  if free_slots.visit_type_id is not null then
    select make_interval(mins => v.duration_minutes), make_interval(mins => v.buffer_before_minutes),
           make_interval(mins => v.buffer_after_minutes)
      into v_duration, v_before, v_after
      from app_public.visit_types v
      where v.tenant_id = v_tenant_id and v.id = free_slots.visit_type_id and v.is_active;
    if not found then
      raise exception 'There is no such active visit type.' using errcode = 'INVAL';
    end if;
  elsif free_slots.duration_minutes between 5 and 480 then
    v_duration := make_interval(mins => free_slots.duration_minutes);
  else
    raise exception 'Give a visit type, or a duration of 5 to 480 minutes.' using errcode = 'INVAL';
  end if;

  return query
  with ranges as (
    -- Each working range of each day, as instants: PostgreSQL's rules for the tenant's zone.
    select w.doctor_id, w.office_id,
           (extract(hour from w.starts_at) * 60 + extract(minute from w.starts_at))::integer as start_minute,
           (day + w.starts_at) at time zone v_tenant.time_zone as range_start,
           (day + w.ends_at) at time zone v_tenant.time_zone as range_end
    from generate_series(free_slots.from_date::timestamp, free_slots.to_date::timestamp, interval '1 day') as days(day)
    join app_public.working_hours w
      on w.tenant_id = v_tenant_id
     and w.weekday = extract(isodow from days.day)
     and (w.valid_from is null or w.valid_from <= days.day::date)
     and (w.valid_until is null or w.valid_until >= days.day::date)
    join app_public.doctors d on d.tenant_id = v_tenant_id and d.id = w.doctor_id and d.is_active
    where (free_slots.doctor_ids is null or w.doctor_id = any (free_slots.doctor_ids))
      and (free_slots.specialty is null or d.specialty = free_slots.specialty)
  ), candidates as (
    -- From the range's first time on the grid (09:10 starts at 09:15 on a 15-minute grid).
    select r.doctor_id, r.office_id, s as starts_at, s + v_duration as ends_at
    from ranges r
    cross join lateral generate_series(
      r.range_start + make_interval(mins => (v_tenant.slot_grid_minutes - r.start_minute % v_tenant.slot_grid_minutes)
                                            % v_tenant.slot_grid_minutes),
      r.range_end - v_duration,
      make_interval(mins => v_tenant.slot_grid_minutes)) as s
  )
  select c.doctor_id, c.office_id::text, c.starts_at, c.ends_at
  from candidates c
  -- Still on the local grid: an offset change inside a range moves the clock by a whole hour
  -- almost everywhere, but not in every zone.
  where (extract(hour from c.starts_at at time zone v_tenant.time_zone) * 60
         + extract(minute from c.starts_at at time zone v_tenant.time_zone))::integer % v_tenant.slot_grid_minutes = 0
    and c.starts_at >= now() + make_interval(mins => v_tenant.booking_notice_minutes)
    and c.starts_at < now() + make_interval(days => v_tenant.booking_horizon_days)
    and not exists (
      select from app_public.time_off_periods o
      where o.tenant_id = v_tenant_id and o.doctor_id = c.doctor_id
        and (o.office_id is null or o.office_id = c.office_id)
        and tstzrange(o.starts_at, o.ends_at) && tstzrange(c.starts_at, c.ends_at))
    and not exists (
      -- Buffers keep the doctor free around a visit; they may overlap each other, not a visit.
      select from app_public.appointments a
      left join app_public.visit_types v on v.tenant_id = a.tenant_id and v.id = a.visit_type_id
      where a.tenant_id = v_tenant_id and a.doctor_id = c.doctor_id and app_private.holds_slot(a.status)
        -- Buffers are at most 120 minutes: this range finds every candidate on the exclusion index.
        and tstzrange(a.starts_at, a.ends_at) && tstzrange(c.starts_at - interval '120 minutes', c.ends_at + interval '120 minutes')
        and (tstzrange(a.starts_at, a.ends_at) && tstzrange(c.starts_at - v_before, c.ends_at + v_after)
             or tstzrange(a.starts_at - make_interval(mins => coalesce(v.buffer_before_minutes, 0)),
                          a.ends_at + make_interval(mins => coalesce(v.buffer_after_minutes, 0)))
                && tstzrange(c.starts_at, c.ends_at)))
  order by c.starts_at, c.doctor_id, c.office_id;
end;
$$;
comment on function app_public.free_slots(date, date, uuid[], text, integer, uuid) is
  'Free start times from `fromDate` to `toDate` (local dates, at most 62 days): for the doctors listed, or those of a specialty, or all active doctors. Give a visit type (its duration and buffers) or a duration in minutes. Slots start on the tenant''s slot grid of the local clock, inside working hours, outside time off (of that office or of all), clear of every slot-holding appointment and the buffers around both, no sooner than the booking notice and within the booking horizon. A local time that does not exist on a spring-forward day offers no slot; the repeated hour of a fall-back night offers each real instant once. INVAL for a bad range, duration or visit type.';
grant execute on function app_public.free_slots(date, date, uuid[], text, integer, uuid) to :DATABASE_VISITOR;
