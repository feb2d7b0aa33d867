--! Previous: sha1:32f966f673d48008f7973ec5372bd15b81056aa5
--! Hash: sha1:69e128d350bd95979d16da2efacbcaa7bada6f42
--! Message: Scheduling, part 3: booking rules on every write (working hours, time off, notice, horizon; HOURS, marked outside hours), free slots from each doctor's busy time gathered once, and recurring series from an RFC 5545 rule, all or nothing, changed one, following or all

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Scheduling, part 3 (issue 11): booking rules. Every write that books, moves or re-activates an
-- appointment is checked against the doctor's working hours and time off (HOURS) and the tenant's
-- booking notice and horizon (HOURS). The front desk may book outside hours on purpose: the row
-- then says so (`outside_hours`), and only an admin's marked booking also escapes notice and
-- horizon. Existing appointments are not touched when hours change later; a query lists the
-- upcoming ones that now fall outside.
--------------------------------------------------------------------------------

alter table app_public.appointments add column outside_hours boolean not null default false;
comment on column app_public.appointments.outside_hours is
  'Booked outside the doctor''s working hours on purpose, by an admin or a receptionist (HOURS otherwise); an admin''s marked booking may also be sooner than the booking notice or beyond the horizon. Shown in the schedule so staff see the exception.';
grant insert (outside_hours), update (outside_hours) on app_public.appointments to :DATABASE_VISITOR;
drop trigger _200_protect_columns on app_public.appointments;
create trigger _200_protect_columns before update on app_public.appointments
  for each row execute function app_private.tg__protect_columns(
    'admin,receptionist', 'doctor_id', 'patient_id', 'office_id', 'starts_at', 'ends_at', 'reason', 'visit_type_id',
    'outside_hours', 'series_id');

create function app_private.within_working_hours(
  tenant_id uuid, doctor_id uuid, office_id text, starts_at timestamptz, ends_at timestamptz
) returns boolean
  language sql stable
as $$
  -- One working range of the appointment's local day holds all of it, and no time off of that
  -- office (or of all offices) touches it. An undecided office (NULL) may be any of the doctor's.
  select exists (
    select
    from app_public.tenants t
    cross join lateral (select (within_working_hours.starts_at at time zone t.time_zone)::date as day) d
    join app_public.working_hours w
      on w.tenant_id = within_working_hours.tenant_id
     and w.doctor_id = within_working_hours.doctor_id
     and (within_working_hours.office_id is null or w.office_id = within_working_hours.office_id)
     and w.weekday = extract(isodow from d.day)
     and (w.valid_from is null or w.valid_from <= d.day)
     and (w.valid_until is null or w.valid_until >= d.day)
    where t.id = within_working_hours.tenant_id
      and (d.day + w.starts_at) at time zone t.time_zone <= within_working_hours.starts_at
      and (d.day + w.ends_at) at time zone t.time_zone >= within_working_hours.ends_at
      and not exists (
        select from app_public.time_off_periods o
        where o.tenant_id = within_working_hours.tenant_id and o.doctor_id = within_working_hours.doctor_id
          and (o.office_id is null or o.office_id = w.office_id)
          and tstzrange(o.starts_at, o.ends_at) && tstzrange(within_working_hours.starts_at, within_working_hours.ends_at)))
$$;
comment on function app_private.within_working_hours(uuid, uuid, text, timestamptz, timestamptz) is
  'Whether the doctor works the whole of [starts_at, ends_at) at the office (any of theirs when NULL): inside one range of working hours of that local day, in the tenant''s time zone, and clear of time off. Reads under the caller''s row-level security; every query is pinned to the given tenant.';
grant execute on function app_private.within_working_hours(uuid, uuid, text, timestamptz, timestamptz) to :DATABASE_VISITOR;

create function app_private.tg_appointments__check_booking_rules() returns trigger
  language plpgsql
as $$
declare
  v_role text := app_public.current_user_role();
  v_notice_minutes integer;
  v_horizon_days integer;
begin
  -- Sessions without claims are the owner or an operator; API sessions without claims write nothing.
  -- An insert is checked whatever its status (a cancelled or no-show visit in the past could
  -- otherwise be recorded, then corrected to fulfilled); later writes only when they hold a slot.
  if app_public.current_tenant_id() is null or (tg_op = 'UPDATE' and not app_private.holds_slot(new.status)) then
    return new;
  end if;
  if tg_op = 'UPDATE'
     and new.starts_at = old.starts_at and new.ends_at = old.ends_at
     and (old.ends_at <= now() -- a past appointment's corrections (noshow → fulfilled) are history
          or (app_private.holds_slot(old.status)
              and new.doctor_id = old.doctor_id and new.office_id is not distinct from old.office_id
              and (new.outside_hours or not old.outside_hours))) then
    return new; -- neither booked, moved, re-activated nor unmarked: later changes of hours leave it be
  end if;

  if not (coalesce(new.outside_hours, false) and v_role = 'admin') then
    select t.booking_notice_minutes, t.booking_horizon_days into v_notice_minutes, v_horizon_days
      from app_public.tenants t where t.id = new.tenant_id;
    if new.starts_at < now() and v_notice_minutes = 0 then
      raise exception 'An appointment cannot start in the past; an admin may record one, marked outside hours.'
        using errcode = 'HOURS';
    end if;
    if new.starts_at < now() + make_interval(mins => v_notice_minutes) then
      raise exception 'Appointments start at least % minutes from now (the booking notice); an admin may book sooner, marked outside hours.',
        v_notice_minutes using errcode = 'HOURS';
    end if;
    if new.starts_at >= now() + make_interval(days => v_horizon_days) then
      raise exception 'Appointments are booked at most % days ahead (the booking horizon); an admin may book further, marked outside hours.',
        v_horizon_days using errcode = 'HOURS';
    end if;
  end if;
  if not coalesce(new.outside_hours, false)
     and not app_private.within_working_hours(new.tenant_id, new.doctor_id, new.office_id, new.starts_at, new.ends_at) then
    raise exception 'The doctor does not work then at that office; choose a free slot, or mark the appointment outside hours.'
      using errcode = 'HOURS';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_appointments__check_booking_rules() is
  'The booking rules, on every insert and on every update that moves, re-activates or unmarks an upcoming appointment that holds a slot: inside the doctor''s working hours at that office and outside time off unless marked `outside_hours`; no sooner than the booking notice and within the horizon unless an admin marked it. Raises HOURS. Sessions without claims (the owner, operators) are not API writes and are not checked.';
create trigger _400_check_booking_rules
  before insert or update of starts_at, ends_at, doctor_id, office_id, status, outside_hours on app_public.appointments
  for each row execute function app_private.tg_appointments__check_booking_rules();

create function app_public.upcoming_appointments_outside_hours() returns setof app_public.appointments
  language plpgsql stable
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_appointment app_public.appointments;
begin
  -- One check per appointment with plain values (not a function of each row's columns inside one
  -- query), so each stays a single-tenant query when the tables are distributed.
  for v_appointment in
    select * from app_public.appointments a
    where a.tenant_id = v_tenant_id and a.ends_at > now() and app_private.holds_slot(a.status) and not a.outside_hours
    order by a.starts_at, a.id
  loop
    if not app_private.within_working_hours(v_tenant_id, v_appointment.doctor_id, v_appointment.office_id,
                                            v_appointment.starts_at, v_appointment.ends_at) then
      return next v_appointment;
    end if;
  end loop;
end;
$$;
comment on function app_public.upcoming_appointments_outside_hours() is
  'Upcoming appointments booked inside working hours that a later change of hours or new time off has left outside them: the ones to move or to confirm by marking them `outsideHours`.';
grant execute on function app_public.upcoming_appointments_outside_hours() to :DATABASE_VISITOR;

--------------------------------------------------------------------------------
-- Free-slot search, measured (issue 11): the busy time of each doctor is gathered once, as
-- multiranges over the asked dates, instead of probing the appointments for every candidate
-- (bench: 400 ms for one doctor's 30 days before, on 1,000,000 appointments).
--------------------------------------------------------------------------------
create or replace function app_public.free_slots(
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
  v_window tstzrange;
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
  -- Every instant of the asked local dates in any zone (UTC-12 to UTC+14), plus the longest buffers.
  v_window := tstzrange(free_slots.from_date::timestamp at time zone 'UTC' - interval '1 day',
                        free_slots.to_date::timestamp at time zone 'UTC' + interval '2 days');

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
  ), busy as materialized (
    -- Each doctor's slot-holding appointments in the window: as booked, and with their buffers.
    -- Materialized: gathered once, not again for every candidate the join meets.
    select a.doctor_id,
           range_agg(tstzrange(a.starts_at, a.ends_at)) as booked,
           range_agg(tstzrange(a.starts_at - make_interval(mins => coalesce(v.buffer_before_minutes, 0)),
                               a.ends_at + make_interval(mins => coalesce(v.buffer_after_minutes, 0)))) as padded
    from app_public.appointments a
    left join app_public.visit_types v on v.tenant_id = a.tenant_id and v.id = a.visit_type_id
    where a.tenant_id = v_tenant_id and a.doctor_id in (select r.doctor_id from ranges r)
      and app_private.holds_slot(a.status) and tstzrange(a.starts_at, a.ends_at) && v_window
    group by a.doctor_id
  ), away as materialized (
    -- Each doctor's time off in the window, per office (NULL: all offices); gathered once too.
    select o.doctor_id, o.office_id, range_agg(tstzrange(o.starts_at, o.ends_at)) as periods
    from app_public.time_off_periods o
    where o.tenant_id = v_tenant_id and o.doctor_id in (select r.doctor_id from ranges r)
      and tstzrange(o.starts_at, o.ends_at) && v_window
    group by o.doctor_id, o.office_id
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
  left join busy b on b.doctor_id = c.doctor_id
  -- Still on the local grid: an offset change inside a range moves the clock by a whole hour
  -- almost everywhere, but not in every zone.
  where (extract(hour from c.starts_at at time zone v_tenant.time_zone) * 60
         + extract(minute from c.starts_at at time zone v_tenant.time_zone))::integer % v_tenant.slot_grid_minutes = 0
    and c.starts_at >= now() + make_interval(mins => v_tenant.booking_notice_minutes)
    and c.starts_at < now() + make_interval(days => v_tenant.booking_horizon_days)
    -- Buffers keep the doctor free around a visit; they may overlap each other, not a visit.
    and not coalesce(b.booked && tstzrange(c.starts_at - v_before, c.ends_at + v_after), false)
    and not coalesce(b.padded && tstzrange(c.starts_at, c.ends_at), false)
    and not exists (
      select from away o
      where o.doctor_id = c.doctor_id and (o.office_id is null or o.office_id = c.office_id)
        and o.periods && tstzrange(c.starts_at, c.ends_at))
  order by c.starts_at, c.doctor_id, c.office_id;
end;
$$;

--------------------------------------------------------------------------------
-- Recurring series (issue 11): a patient seen weekly at 09:00 local time. A series is an RFC 5545
-- RRULE subset expanded into real appointments, each checked by every rule above; created all or
-- nothing, and when refused the error lists each date that cannot be booked and why. Occurrences
-- are then changed one at a time (updateAppointment), from one on ("this and following", which
-- splits the series) or all upcoming ones.
--------------------------------------------------------------------------------

create function app_private.local_instant(local timestamp, time_zone text) returns timestamptz
  language sql stable strict
as $$
  -- PostgreSQL reads a local time in a gap with the offset before the gap (02:30 on a
  -- spring-forward night becomes 03:30), as RFC 5545 (3.3.5) asks, but a repeated local time
  -- as its later instant, where RFC 5545 asks for the first. The same local time a day earlier,
  -- plus one day of real time, is that first instant when it reads back as the same local time.
  select case
    when ((local - interval '1 day') at time zone time_zone) + interval '1 day' < (local at time zone time_zone)
     and (((local - interval '1 day') at time zone time_zone) + interval '1 day') at time zone time_zone = local
    then ((local - interval '1 day') at time zone time_zone) + interval '1 day'
    else local at time zone time_zone
  end
$$;
comment on function app_private.local_instant(timestamp, text) is
  'The instant of a local date and time in a time zone, as RFC 5545 (3.3.5) reads recurring local times: a time skipped by a spring-forward night is read with the offset before the gap (02:30 becomes 03:30); a time repeated by a fall-back night is its first instant.';
grant execute on function app_private.local_instant(timestamp, text) to :DATABASE_VISITOR;

create function app_private.rrule_dates(rrule text, first_date date) returns setof date
  language plpgsql stable
as $$
declare
  v_part text;
  v_key text;
  v_value text;
  v_freq text;
  v_interval integer := 1;
  v_by_day integer[];
  v_count integer;
  v_until date;
  v_last date := first_date + interval '1 year' - interval '1 day';
  v_dates date[];
begin
  if rrule is null or first_date is null or not isfinite(first_date) then
    raise exception 'Give a recurrence rule and a first date.' using errcode = 'INVAL';
  end if;
  foreach v_part in array string_to_array(regexp_replace(upper(btrim(rrule)), '^RRULE:', ''), ';') loop
    v_key := split_part(v_part, '=', 1);
    v_value := substr(v_part, length(v_key) + 2);
    case
      when v_key = 'FREQ' and v_value in ('DAILY', 'WEEKLY', 'MONTHLY') then
        v_freq := v_value;
      when v_key = 'INTERVAL' and v_value ~ '^[1-9][0-9]?$' then
        v_interval := v_value::integer;
      when v_key = 'BYDAY' and v_value ~ '^(MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU))*$' then
        select array_agg(array_position(array['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'], d))
          into v_by_day from unnest(string_to_array(v_value, ',')) d;
      when v_key = 'COUNT' and v_value ~ '^[1-9][0-9]{0,2}$' and v_value::integer <= 100 then
        v_count := v_value::integer;
      when v_key = 'UNTIL' and v_value ~ '^[0-9]{8}$' then
        v_until := to_date(v_value, 'YYYYMMDD');
      else
        raise exception 'The recurrence rule part "%" is not supported: use FREQ (DAILY, WEEKLY, MONTHLY), INTERVAL, BYDAY (weekly), and COUNT (at most 100) or UNTIL (a date, YYYYMMDD).',
          left(v_part, 40) using errcode = 'INVAL';
    end case;
  end loop;
  if v_freq is null or (v_count is null) = (v_until is null) or (v_by_day is not null and v_freq <> 'WEEKLY') then
    raise exception 'A recurrence rule needs FREQ, and COUNT or UNTIL (one of them); BYDAY only with FREQ=WEEKLY.'
      using errcode = 'INVAL';
  end if;
  if v_until > v_last then
    raise exception 'A series lasts at most one year: UNTIL is on or before %.', to_char(v_last, 'YYYYMMDD')
      using errcode = 'INVAL';
  end if;
  if v_by_day is not null and not extract(isodow from first_date)::integer = any (v_by_day) then
    raise exception 'The first date must fall on one of the BYDAY days.' using errcode = 'INVAL';
  end if;

  select array_agg(day order by day) into v_dates
  from (
    select day::date as day
    from generate_series(first_date, least(v_until, v_last), make_interval(days => v_interval)) day
    where v_freq = 'DAILY'
    union all
    -- Weeks start on Monday (WKST=MO); every INTERVAL-th week from the first date's, on BYDAY.
    select day::date
    from generate_series(first_date, least(v_until, v_last), interval '1 day') day
    where v_freq = 'WEEKLY'
      and ((day::date - (first_date - extract(isodow from first_date)::integer + 1)) / 7) % v_interval = 0
      and extract(isodow from day)::integer = any (coalesce(v_by_day, array[extract(isodow from first_date)::integer]))
    union all
    -- RFC 5545 skips months without the day (no 31 February), where date arithmetic would clamp.
    select (first_date + make_interval(months => k * v_interval))::date
    from generate_series(0, 12) k
    where v_freq = 'MONTHLY'
      and extract(day from first_date + make_interval(months => k * v_interval)) = extract(day from first_date)
      and first_date + make_interval(months => k * v_interval) <= least(v_until, v_last)
  ) dates;
  if v_count > coalesce(array_length(v_dates, 1), 0) then
    raise exception 'A series lasts at most one year: % occurrences do not fit.', v_count using errcode = 'INVAL';
  end if;
  if v_dates is null then
    raise exception 'The recurrence rule gives no dates from the first date on.' using errcode = 'INVAL';
  end if;
  if v_count is null and array_length(v_dates, 1) > 100 then
    raise exception 'A series has at most 100 occurrences; this one would have %.', array_length(v_dates, 1)
      using errcode = 'INVAL';
  end if;
  return query select d from unnest(v_dates[1:coalesce(v_count, 100)]) d;
end;
$$;
comment on function app_private.rrule_dates(text, date) is
  'The local dates of an RFC 5545 recurrence rule from its first date (DTSTART), in the subset series use: FREQ=DAILY, WEEKLY or MONTHLY; INTERVAL; BYDAY for weekly rules (weeks start on Monday, and the first date must be one of the days); COUNT (at most 100) or UNTIL (YYYYMMDD, inclusive); at most one year and 100 dates. A monthly rule skips months that lack the day, as RFC 5545 does. INVAL for anything else.';
grant execute on function app_private.rrule_dates(text, date) to :DATABASE_VISITOR;

create table app_public.appointment_series (
  id               uuid primary key default gen_random_uuid(),
  tenant_id        uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  doctor_id        uuid not null,
  patient_id       uuid not null,
  office_id        varchar(50),
  visit_type_id    uuid,
  rrule            text not null constraint appointment_series_rrule_check check (length(rrule) <= 200),
  first_date       date not null constraint appointment_series_first_date_check check (isfinite(first_date)),
  start_time       time not null,
  duration_minutes integer not null constraint appointment_series_duration_check check (duration_minutes between 5 and 480),
  reason           text constraint appointment_series_reason_check check (length(reason) <= 1000),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint appointment_series_tenant_id_id_key unique (tenant_id, id),
  constraint appointment_series_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id),
  constraint appointment_series_patient_fkey foreign key (tenant_id, patient_id) references app_public.patients (tenant_id, id),
  constraint appointment_series_visit_type_fkey foreign key (tenant_id, visit_type_id)
    references app_public.visit_types (tenant_id, id)
);
comment on table app_public.appointment_series is
  E'@behavior -insert -update -delete\nA recurring visit: the rule it was booked with and what its occurrences share. The occurrences are real appointments (`appointments` with `seriesId`); create a series with `createAppointmentSeries`, change it with `updateAppointmentSeries`. Everyone in the tenant reads them.';
comment on column app_public.appointment_series.id is 'Identifier of the series.';
comment on column app_public.appointment_series.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.appointment_series.doctor_id is 'The doctor the occurrences were booked with (a later change of one occurrence is on that appointment).';
comment on column app_public.appointment_series.patient_id is 'The patient.';
comment on column app_public.appointment_series.office_id is 'The office, one of the doctor''s, or NULL when undecided.';
comment on column app_public.appointment_series.visit_type_id is 'The kind of visit, optional.';
comment on column app_public.appointment_series.rrule is 'The RFC 5545 recurrence rule (e.g. `FREQ=WEEKLY;BYDAY=TU;COUNT=10`); a split ends it with UNTIL on the day before the split.';
comment on column app_public.appointment_series.first_date is 'The local date of the first occurrence (DTSTART).';
comment on column app_public.appointment_series.start_time is 'The local start time of every occurrence, in the tenant''s time zone, on both sides of a daylight-saving change.';
comment on column app_public.appointment_series.duration_minutes is 'How long each occurrence lasts.';
comment on column app_public.appointment_series.reason is 'Why the patient comes.';
comment on column app_public.appointment_series.created_at is 'When the series was booked.';
comment on column app_public.appointment_series.updated_at is 'When the series was last changed.';
comment on constraint appointment_series_tenant_id_id_key on app_public.appointment_series is
  E'@behavior -single -update -delete\nLets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
comment on constraint appointment_series_doctor_fkey on app_public.appointment_series is
  E'@fieldName doctor\n@foreignFieldName appointmentSeries\nThe doctor, always of the same tenant.';
comment on constraint appointment_series_patient_fkey on app_public.appointment_series is
  E'@fieldName patient\n@foreignFieldName appointmentSeries\nThe patient, always of the same tenant.';
comment on constraint appointment_series_visit_type_fkey on app_public.appointment_series is
  E'@fieldName visitType\n@foreignFieldName appointmentSeries\nThe visit type, always of the same tenant.';
create index appointment_series_doctor_idx on app_public.appointment_series (tenant_id, doctor_id);
create index appointment_series_patient_idx on app_public.appointment_series (tenant_id, patient_id);
create index appointment_series_visit_type_idx on app_public.appointment_series (tenant_id, visit_type_id);

create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.appointment_series
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _100_timestamps before insert or update on app_public.appointment_series
  for each row execute function app_private.tg__timestamps();

alter table app_public.appointment_series enable row level security;
alter table app_public.appointment_series force row level security;
create policy select_own_tenant on app_public.appointment_series
  for select to :DATABASE_VISITOR using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.appointment_series is 'Everyone in the tenant reads its series.';
create policy insert_as_front_desk on app_public.appointment_series
  for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy insert_as_front_desk on app_public.appointment_series is 'Admins and receptionists book series, as they book appointments.';
create policy update_as_front_desk on app_public.appointment_series
  for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'))
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy update_as_front_desk on app_public.appointment_series is 'Admins and receptionists change series (time, office, doctor).';
grant select on app_public.appointment_series to :DATABASE_VISITOR;
grant insert (doctor_id, patient_id, office_id, visit_type_id, rrule, first_date, start_time, duration_minutes, reason)
  on app_public.appointment_series to :DATABASE_VISITOR;
grant update (doctor_id, office_id, rrule, start_time) on app_public.appointment_series to :DATABASE_VISITOR;

alter table app_public.appointments add column series_id uuid;
alter table app_public.appointments add constraint appointments_series_fkey
  foreign key (tenant_id, series_id) references app_public.appointment_series (tenant_id, id);
comment on column app_public.appointments.series_id is E'@behavior -insert -update\nThe recurring series this appointment is an occurrence of, if any; set by createAppointmentSeries and updateAppointmentSeries.';
comment on constraint appointments_series_fkey on app_public.appointments is
  E'@fieldName series\n@foreignFieldName appointments\nThe series, always of the same tenant.';
create index appointments_tenant_id_series_id_idx on app_public.appointments (tenant_id, series_id, starts_at);
grant insert (series_id), update (series_id) on app_public.appointments to :DATABASE_VISITOR;

create type app_public.series_scope as enum ('this', 'following', 'all');
comment on type app_public.series_scope is
  'Which occurrences of a series a change reaches: `this` one, this and the `following` ones (the series splits there), or `all` upcoming ones.';

-- One occurrence booked or changed, or why not: the unit both series functions repeat.
create function app_private.write_occurrence(
  appointment_id uuid, series_id uuid, doctor_id uuid, patient_id uuid, office_id text,
  starts_at timestamptz, ends_at timestamptz, status text, cancellation_reason text,
  visit_type_id uuid, reason text, outside_hours boolean
) returns jsonb
  language plpgsql
as $$
begin
  begin
    if write_occurrence.appointment_id is null then
      insert into app_public.appointments
        (series_id, doctor_id, patient_id, office_id, starts_at, ends_at, visit_type_id, reason, outside_hours)
      values (write_occurrence.series_id, write_occurrence.doctor_id, write_occurrence.patient_id, write_occurrence.office_id,
              write_occurrence.starts_at, write_occurrence.ends_at, write_occurrence.visit_type_id, write_occurrence.reason,
              write_occurrence.outside_hours);
    else
      update app_public.appointments a set
        doctor_id = write_occurrence.doctor_id,
        office_id = write_occurrence.office_id,
        starts_at = write_occurrence.starts_at,
        ends_at = write_occurrence.ends_at,
        status = write_occurrence.status,
        cancellation_reason = coalesce(write_occurrence.cancellation_reason, a.cancellation_reason)
      where a.tenant_id = app_public.current_tenant_id() and a.id = write_occurrence.appointment_id;
    end if;
    return null;
  exception
    when exclusion_violation then
      return jsonb_build_object('startsAt', write_occurrence.starts_at, 'code', 'OVLAP',
        'message', 'The doctor already has an appointment at that time.');
    when sqlstate 'HOURS' or sqlstate 'OFFIC' then
      return jsonb_build_object('startsAt', write_occurrence.starts_at, 'code', sqlstate, 'message', sqlerrm);
  end;
end;
$$;
comment on function app_private.write_occurrence(uuid, uuid, uuid, uuid, text, timestamptz, timestamptz, text, text, uuid, text, boolean) is
  'Books (no appointment_id) or changes one occurrence of a series under every rule of appointments, in a subtransaction: NULL when written, or the conflict (`startsAt`, `code` OVLAP, HOURS or OFFIC, `message`) when refused, so a series can report every refused date before giving up. Other errors propagate.';
grant execute on function app_private.write_occurrence(uuid, uuid, uuid, uuid, text, timestamptz, timestamptz, text, text, uuid, text, boolean) to :DATABASE_VISITOR;

create function app_private.raise_series_conflicts(conflicts jsonb) returns void
  language plpgsql
as $$
begin
  if jsonb_array_length(conflicts) > 0 then
    raise exception '% of the dates cannot be booked; nothing was changed.', jsonb_array_length(conflicts)
      using errcode = 'RECUR', detail = conflicts::text;
  end if;
end;
$$;
comment on function app_private.raise_series_conflicts(jsonb) is
  'Raises RECUR, with the refused occurrences as JSON in the detail (clients get them as `extensions.conflicts`), when there are any: a series is written all or nothing.';
grant execute on function app_private.raise_series_conflicts(jsonb) to :DATABASE_VISITOR;

create function app_public.create_appointment_series(
  doctor_id uuid,
  patient_id uuid,
  office_id text,
  first_date date,
  start_time time,
  rrule text,
  duration_minutes integer default null,
  visit_type_id uuid default null,
  reason text default null,
  outside_hours boolean default false
) returns app_public.appointment_series
  language plpgsql volatile
as $$
declare
  v_time_zone text;
  v_duration integer := create_appointment_series.duration_minutes;
  v_series app_public.appointment_series;
  v_date date;
  v_starts_at timestamptz;
  v_conflict jsonb;
  v_conflicts jsonb := '[]';
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  select t.time_zone into v_time_zone from app_public.tenants t where t.id = app_public.current_tenant_id();
  if create_appointment_series.visit_type_id is not null then
    select v.duration_minutes into v_duration from app_public.visit_types v
      where v.tenant_id = app_public.current_tenant_id() and v.id = create_appointment_series.visit_type_id and v.is_active;
    if not found then
      raise exception 'There is no such active visit type.' using errcode = 'INVAL';
    end if;
  elsif v_duration is null then
    raise exception 'Give a visit type, or a duration of 5 to 480 minutes.' using errcode = 'INVAL';
  end if;
  insert into app_public.appointment_series
    (doctor_id, patient_id, office_id, visit_type_id, rrule, first_date, start_time, duration_minutes, reason)
  values (create_appointment_series.doctor_id, create_appointment_series.patient_id, create_appointment_series.office_id,
          create_appointment_series.visit_type_id, regexp_replace(upper(btrim(create_appointment_series.rrule)), '^RRULE:', ''),
          create_appointment_series.first_date,
          create_appointment_series.start_time, v_duration, create_appointment_series.reason)
  returning * into v_series;
  if v_series.office_id is not null then
    perform app_private.assert_office_of_doctor(v_series.tenant_id, v_series.doctor_id, v_series.office_id);
  end if;
  for v_date in select d from app_private.rrule_dates(v_series.rrule, v_series.first_date) d loop
    v_starts_at := app_private.local_instant(v_date + v_series.start_time, v_time_zone);
    v_conflict := app_private.write_occurrence(null, v_series.id, v_series.doctor_id, v_series.patient_id, v_series.office_id,
      v_starts_at, v_starts_at + make_interval(mins => v_series.duration_minutes), 'booked', null,
      v_series.visit_type_id, v_series.reason, create_appointment_series.outside_hours);
    if v_conflict is not null then
      v_conflicts := v_conflicts || jsonb_build_array(v_conflict || jsonb_build_object('date', v_date));
    end if;
  end loop;
  perform app_private.raise_series_conflicts(v_conflicts);
  return v_series;
end;
$$;
comment on function app_public.create_appointment_series(uuid, uuid, text, date, time, text, integer, uuid, text, boolean) is
  'Books a recurring visit: an appointment on every date of the RFC 5545 rule `rrule` (FREQ DAILY, WEEKLY or MONTHLY; INTERVAL; BYDAY for weekly; COUNT or UNTIL; at most one year and 100 occurrences) from `firstDate`, each at `startTime` local time in the tenant''s zone (so 09:00 stays 09:00 across daylight-saving changes; a time skipped by a spring-forward night is read as the hour after, RFC 5545), lasting `durationMinutes` or the visit type''s duration. Every occurrence passes every booking rule, all or nothing: RECUR lists each refused date with its code (OVLAP, HOURS, OFFIC) in `extensions.conflicts`. Admins and receptionists.';
grant execute on function app_public.create_appointment_series(uuid, uuid, text, date, time, text, integer, uuid, text, boolean) to :DATABASE_VISITOR;

create function app_public.update_appointment_series(
  appointment_id uuid,
  scope app_public.series_scope,
  start_time time default null,
  office_id text default null,
  doctor_id uuid default null,
  status text default null,
  cancellation_reason text default null
) returns setof app_public.appointments
  language plpgsql volatile
as $$
declare
  v_time_zone text;
  v_from app_public.appointments;
  v_series app_public.appointment_series;
  v_series_id uuid;
  v_series_now app_public.appointment_series;
  v_left integer;
  v_occurrence app_public.appointments;
  v_local timestamp;
  v_starts_at timestamptz;
  v_conflict jsonb;
  v_conflicts jsonb := '[]';
  v_ids uuid[] := '{}';
begin
  perform app_private.assert_tenant_writable(); -- TRIAL before any other answer, as every write
  if update_appointment_series.scope is null then
    raise exception 'Say which occurrences to change: this, following or all.' using errcode = 'INVAL';
  end if;
  select t.time_zone into v_time_zone from app_public.tenants t where t.id = app_public.current_tenant_id();
  select * into v_from from app_public.appointments a
    where a.tenant_id = app_public.current_tenant_id() and a.id = update_appointment_series.appointment_id;
  select * into v_series from app_public.appointment_series s
    where s.tenant_id = app_public.current_tenant_id() and s.id = v_from.series_id;
  if v_series.id is null then
    raise exception 'There is no such occurrence of a series.' using errcode = 'NTFND';
  end if;
  v_series_id := v_series.id;

  if scope <> 'this' and (start_time is not null or office_id is not null or doctor_id is not null) then
    if scope = 'following' and v_from.starts_at > (
         select min(a.starts_at) from app_public.appointments a
         where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id) then
      -- Split: the series so far ends the day before; the rest becomes a series of its own, with
      -- the occurrences from this one on (a COUNT counts what is left).
      v_local := v_from.starts_at at time zone v_time_zone;
      select count(*) into v_left from app_public.appointments a
        where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id and a.starts_at >= v_from.starts_at;
      insert into app_public.appointment_series
        (doctor_id, patient_id, office_id, visit_type_id, rrule, first_date, start_time, duration_minutes, reason)
      values (v_series.doctor_id, v_series.patient_id, v_series.office_id, v_series.visit_type_id,
              regexp_replace(v_series.rrule, 'COUNT=[0-9]+', 'COUNT=' || v_left),
              v_local::date, v_series.start_time, v_series.duration_minutes, v_series.reason)
      returning id into v_series_id;
      update app_public.appointment_series s
        set rrule = regexp_replace(btrim(regexp_replace(s.rrule, '(COUNT|UNTIL)=[^;]*', '', 'g'), ';'), ';{2,}', ';', 'g')
                    || ';UNTIL=' || to_char(v_local::date - 1, 'YYYYMMDD')
        where s.tenant_id = v_series.tenant_id and s.id = v_series.id;
      update app_public.appointments a set series_id = v_series_id
        where a.tenant_id = v_series.tenant_id and a.series_id = v_series.id and a.starts_at >= v_from.starts_at;
    end if;
    update app_public.appointment_series s
      set start_time = coalesce(update_appointment_series.start_time, s.start_time),
          office_id = coalesce(update_appointment_series.office_id, s.office_id),
          doctor_id = coalesce(update_appointment_series.doctor_id, s.doctor_id)
      where s.tenant_id = v_series.tenant_id and s.id = v_series_id
      returning * into v_series_now;
    if v_series_now.office_id is not null then
      perform app_private.assert_office_of_doctor(v_series_now.tenant_id, v_series_now.doctor_id, v_series_now.office_id);
    end if;
  end if;

  for v_occurrence in
    select * from app_public.appointments a
    where a.tenant_id = v_series.tenant_id and a.series_id = v_series_id
      and case scope
            when 'this' then a.id = v_from.id
            when 'following' then a.starts_at >= v_from.starts_at and app_private.holds_slot(a.status)
            else a.starts_at > now() and app_private.holds_slot(a.status)
          end
    order by a.starts_at
  loop
    v_local := v_occurrence.starts_at at time zone v_time_zone;
    v_starts_at := coalesce(app_private.local_instant(v_local::date + update_appointment_series.start_time, v_time_zone),
                            v_occurrence.starts_at);
    v_conflict := app_private.write_occurrence(v_occurrence.id, v_occurrence.series_id,
      coalesce(update_appointment_series.doctor_id, v_occurrence.doctor_id), v_occurrence.patient_id,
      coalesce(update_appointment_series.office_id, v_occurrence.office_id),
      v_starts_at, v_starts_at + (v_occurrence.ends_at - v_occurrence.starts_at),
      coalesce(update_appointment_series.status, v_occurrence.status), update_appointment_series.cancellation_reason,
      null, null, null);
    if v_conflict is not null then
      v_conflicts := v_conflicts || jsonb_build_array(v_conflict || jsonb_build_object('date', v_local::date));
    end if;
    v_ids := v_ids || v_occurrence.id;
  end loop;
  perform app_private.raise_series_conflicts(v_conflicts);
  return query select * from app_public.appointments a
    where a.tenant_id = v_series.tenant_id and a.id = any (v_ids) order by a.starts_at;
end;
$$;
comment on function app_public.update_appointment_series(uuid, app_public.series_scope, time, text, uuid, text, text) is
  'Changes occurrences of the series that `appointmentId` belongs to: `THIS` one, it and the `FOLLOWING` ones (a change of time, office or doctor splits the series there: the earlier part ends the day before), or `ALL` upcoming ones. `startTime` is a new local time on each occurrence''s own date; `officeId` and `doctorId` move them; `status` (e.g. `cancelled`, with `cancellationReason`) cancels the same three ways. Only occurrences that hold a slot follow a FOLLOWING or ALL change. Every occurrence passes every booking rule, all or nothing (RECUR lists the refused dates). Returns the occurrences changed. Admins and receptionists; a doctor only changes the status of their own.';
grant execute on function app_public.update_appointment_series(uuid, app_public.series_scope, time, text, uuid, text, text) to :DATABASE_VISITOR;
