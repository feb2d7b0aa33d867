--! Previous: sha1:cadd830567f93f4bc519916a6a291cc97ac26932
--! Hash: sha1:e6faaf31d21ce32c93d140c34a0a3069b2eed69a
--! Message: Patient notifications, part 2: the waitlist, freed slots offered by e-mail and held, answered once on a page without sign-in, the booking rules as a function

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- The booking rules as a function of their own (issue 13), so that a booking made without a
-- signed-in user (a patient accepting a waitlist offer) passes them as staff bookings do. The
-- appointments trigger calls it with the caller's role; nothing else changes.
--------------------------------------------------------------------------------
create function app_private.assert_booking_rules(tenant_id uuid, doctor_id uuid, office_id text, starts_at timestamptz,
                                                 ends_at timestamptz, outside_hours boolean, user_role text)
  returns void
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_notice_minutes integer;
  v_horizon_days integer;
begin
  if not (coalesce(assert_booking_rules.outside_hours, false) and assert_booking_rules.user_role = 'admin') then
    select t.booking_notice_minutes, t.booking_horizon_days into v_notice_minutes, v_horizon_days
      from app_public.tenants t where t.id = assert_booking_rules.tenant_id;
    if assert_booking_rules.starts_at < now() and v_notice_minutes = 0 then
      raise exception 'An appointment cannot start in the past; an admin may record one, marked outside hours.'
        using errcode = 'HOURS';
    end if;
    if assert_booking_rules.starts_at < now() + make_interval(mins => v_notice_minutes) then
      raise exception 'Appointments start at least % minutes from now (the booking notice); an admin may book sooner, marked outside hours.',
        v_notice_minutes using errcode = 'HOURS';
    end if;
    if assert_booking_rules.starts_at >= now() + make_interval(days => v_horizon_days) then
      raise exception 'Appointments are booked at most % days ahead (the booking horizon); an admin may book further, marked outside hours.',
        v_horizon_days using errcode = 'HOURS';
    end if;
  end if;
  if not coalesce(assert_booking_rules.outside_hours, false)
     and not app_private.within_working_hours(assert_booking_rules.tenant_id, assert_booking_rules.doctor_id,
                                              assert_booking_rules.office_id, assert_booking_rules.starts_at,
                                              assert_booking_rules.ends_at) then
    raise exception 'The doctor does not work then at that office; choose a free slot, or mark the appointment outside hours.'
      using errcode = 'HOURS';
  end if;
end;
$$;
comment on function app_private.assert_booking_rules(uuid, uuid, text, timestamptz, timestamptz, boolean, text) is
  'The booking rules for a visit of a doctor at an office: inside the doctor''s working hours there and outside time off unless marked `outside_hours`; no sooner than the booking notice and within the horizon unless an admin (`user_role`) marked it. Raises HOURS.';
grant execute on function app_private.assert_booking_rules(uuid, uuid, text, timestamptz, timestamptz, boolean, text) to :DATABASE_VISITOR;

create or replace function app_private.tg_appointments__check_booking_rules() returns trigger
  language plpgsql
as $$
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
  perform app_private.assert_booking_rules(new.tenant_id, new.doctor_id, new.office_id, new.starts_at, new.ends_at,
                                           new.outside_hours, app_public.current_user_role());
  return new;
end;
$$;

--------------------------------------------------------------------------------
-- The waitlist (issue 13): patients waiting for an earlier or any visit. Staff add entries; when
-- a booked slot frees, the worker offers it to the oldest matching entry by e-mail, held for
-- WAITLIST_HOLD_MINUTES; the patient accepts (booking it under every rule) or declines on a page
-- without signing in, and an expired or declined offer goes to the next entry.
--------------------------------------------------------------------------------
create table app_public.waitlist_entries (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  patient_id uuid not null,
  doctor_id uuid,
  office_id varchar(50),
  specialty text check (length(specialty) <= 200),
  visit_type_id uuid,
  duration_minutes integer check (duration_minutes between 5 and 480),
  earliest_date date not null,
  latest_date date not null,
  weekdays integer[] check (weekdays <@ array[1, 2, 3, 4, 5, 6, 7] and cardinality(weekdays) between 1 and 7),
  earliest_time time,
  latest_time time,
  status text not null default 'waiting' check (status in ('waiting', 'booked', 'cancelled')),
  appointment_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id),
  constraint waitlist_entries_length_check check ((visit_type_id is null) <> (duration_minutes is null)),
  constraint waitlist_entries_dates_check check (latest_date >= earliest_date and isfinite(earliest_date) and isfinite(latest_date)),
  constraint waitlist_entries_times_check check (earliest_time < latest_time),
  constraint waitlist_entries_patient_fkey foreign key (tenant_id, patient_id)
    references app_public.patients (tenant_id, id) on delete cascade,
  constraint waitlist_entries_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id),
  constraint waitlist_entries_visit_type_fkey foreign key (tenant_id, visit_type_id)
    references app_public.visit_types (tenant_id, id),
  constraint waitlist_entries_appointment_fkey foreign key (tenant_id, appointment_id)
    references app_public.appointments (tenant_id, id)
);
create index waitlist_entries_patient_idx on app_public.waitlist_entries (tenant_id, patient_id);
create index waitlist_entries_doctor_idx on app_public.waitlist_entries (tenant_id, doctor_id);
create index waitlist_entries_visit_type_idx on app_public.waitlist_entries (tenant_id, visit_type_id);
create index waitlist_entries_appointment_idx on app_public.waitlist_entries (tenant_id, appointment_id);
create index waitlist_entries_waiting_idx on app_public.waitlist_entries (tenant_id, created_at) where status = 'waiting';
comment on index app_public.waitlist_entries_waiting_idx is 'app_private.offer_freed_slot: a tenant''s waiting entries, oldest first.';
comment on table app_public.waitlist_entries is '@primaryKey id
Patients waiting for a visit: for a doctor, or any doctor of an office or a specialty; a visit type or a duration; a window of dates, weekdays and local times. When a booked slot frees, the oldest matching entry is offered it by e-mail (`waitlistOffers`). Everyone in the tenant reads them; admins and receptionists manage them.';
comment on column app_public.waitlist_entries.id is 'Identifier of the entry.';
comment on column app_public.waitlist_entries.tenant_id is 'The tenant; set from the signed-in user''s token, never by the client.';
comment on column app_public.waitlist_entries.patient_id is 'The patient waiting. Only a patient with an e-mail address who accepts appointment e-mails is offered slots.';
comment on column app_public.waitlist_entries.doctor_id is 'The doctor wanted; NULL: any doctor (of `officeId` and `specialty`, when given).';
comment on column app_public.waitlist_entries.office_id is 'The office wanted (an office `id`); NULL: any.';
comment on column app_public.waitlist_entries.specialty is 'With no doctor: any doctor of this specialty; NULL: any.';
comment on column app_public.waitlist_entries.visit_type_id is 'The kind of visit; its duration is what the freed slot must hold. Give it or `durationMinutes`.';
comment on column app_public.waitlist_entries.duration_minutes is 'How long the visit lasts, when no visit type is given.';
comment on column app_public.waitlist_entries.earliest_date is 'First acceptable local date.';
comment on column app_public.waitlist_entries.latest_date is 'Last acceptable local date.';
comment on column app_public.waitlist_entries.weekdays is 'Acceptable ISO weekdays (1 Monday to 7 Sunday); NULL: any.';
comment on column app_public.waitlist_entries.earliest_time is 'Earliest local start time; NULL: any.';
comment on column app_public.waitlist_entries.latest_time is 'Latest local end time; NULL: any.';
comment on column app_public.waitlist_entries.status is '`waiting`, `booked` (the patient accepted an offer: see appointmentId) or `cancelled` (by staff).';
comment on column app_public.waitlist_entries.appointment_id is '@behavior -insert -update
The appointment the patient booked from an offer.';
comment on column app_public.waitlist_entries.created_at is 'When the entry was added: older entries are offered first.';
comment on column app_public.waitlist_entries.updated_at is 'When the entry was last changed.';
comment on constraint waitlist_entries_patient_fkey on app_public.waitlist_entries is '@fieldName patient
@foreignFieldName waitlistEntries
The patient, always of the same tenant.';
comment on constraint waitlist_entries_doctor_fkey on app_public.waitlist_entries is '@fieldName doctor
@foreignFieldName waitlistEntries
The doctor, always of the same tenant.';
comment on constraint waitlist_entries_visit_type_fkey on app_public.waitlist_entries is '@fieldName visitType
@foreignFieldName waitlistEntries
The visit type, always of the same tenant.';
comment on constraint waitlist_entries_appointment_fkey on app_public.waitlist_entries is '@fieldName appointment
@foreignFieldName waitlistEntries
The appointment booked from an offer.';
comment on constraint waitlist_entries_tenant_id_id_key on app_public.waitlist_entries is '@behavior -single -update -delete
Lets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
alter table app_public.waitlist_entries enable row level security;
alter table app_public.waitlist_entries force row level security;
create policy select_own_tenant on app_public.waitlist_entries for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.waitlist_entries is 'Everyone in the tenant reads the waitlist.';
create policy insert_as_front_desk on app_public.waitlist_entries for insert to :DATABASE_VISITOR
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy insert_as_front_desk on app_public.waitlist_entries is 'Admins and receptionists put patients on the waitlist.';
create policy update_as_front_desk on app_public.waitlist_entries for update to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'))
  with check (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy update_as_front_desk on app_public.waitlist_entries is 'Admins and receptionists change or cancel entries.';
create policy delete_as_front_desk on app_public.waitlist_entries for delete to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id() and app_public.current_user_role() in ('admin', 'receptionist'));
comment on policy delete_as_front_desk on app_public.waitlist_entries is 'Admins and receptionists delete entries added by mistake (prefer status `cancelled`).';
create trigger _050_refuse_writes_when_read_only before insert or update or delete on app_public.waitlist_entries
  for each statement execute function app_private.tg__refuse_writes_when_read_only();
create trigger _100_timestamps before insert or update on app_public.waitlist_entries
  for each row execute function app_private.tg__timestamps();
create trigger _300_check_office before insert or update of office_id, doctor_id on app_public.waitlist_entries
  for each row when (new.doctor_id is not null and new.office_id is not null)
  execute function app_private.tg__check_office();
grant select, delete on app_public.waitlist_entries to :DATABASE_VISITOR;
grant insert (patient_id, doctor_id, office_id, specialty, visit_type_id, duration_minutes, earliest_date, latest_date, weekdays,
              earliest_time, latest_time),
      update (doctor_id, office_id, specialty, visit_type_id, duration_minutes, earliest_date, latest_date, weekdays,
              earliest_time, latest_time, status)
  on app_public.waitlist_entries to :DATABASE_VISITOR;

create table app_private.freed_slots (
  tenant_id uuid not null references app_public.tenants on delete cascade,
  id uuid not null default gen_random_uuid(),
  doctor_id uuid not null,
  office_id varchar(50),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  constraint freed_slots_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id)
);
create index freed_slots_doctor_idx on app_private.freed_slots (tenant_id, doctor_id);
comment on table app_private.freed_slots is
  'Booked time that became free (a cancellation, a move, a deletion) while the tenant had patients waiting: what the waitlist offers. The send job''s payload names one.';
comment on column app_private.freed_slots.tenant_id is 'The tenant: where the row lives under Citus.';
comment on column app_private.freed_slots.id is 'Identifier of the freed slot.';
comment on column app_private.freed_slots.doctor_id is 'The doctor whose time freed.';
comment on column app_private.freed_slots.office_id is 'Where the freed visit was.';
comment on column app_private.freed_slots.starts_at is 'Start of the freed time.';
comment on column app_private.freed_slots.ends_at is 'End of the freed time.';
comment on column app_private.freed_slots.created_at is 'When it freed.';

create table app_public.waitlist_offers (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  entry_id uuid not null,
  freed_slot_id uuid not null,
  doctor_id uuid not null,
  office_id varchar(50),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  status text not null default 'pending' check (status in ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
  expires_at timestamptz not null,
  appointment_id uuid,
  created_at timestamptz not null default now(),
  decided_at timestamptz,
  unique (tenant_id, id),
  constraint waitlist_offers_entry_fkey foreign key (tenant_id, entry_id)
    references app_public.waitlist_entries (tenant_id, id) on delete cascade,
  constraint waitlist_offers_freed_slot_fkey foreign key (tenant_id, freed_slot_id)
    references app_private.freed_slots (tenant_id, id) on delete cascade,
  constraint waitlist_offers_doctor_fkey foreign key (tenant_id, doctor_id) references app_public.doctors (tenant_id, id),
  constraint waitlist_offers_appointment_fkey foreign key (tenant_id, appointment_id)
    references app_public.appointments (tenant_id, id)
);
create index waitlist_offers_entry_idx on app_public.waitlist_offers (tenant_id, entry_id);
create index waitlist_offers_freed_slot_idx on app_public.waitlist_offers (tenant_id, freed_slot_id);
create index waitlist_offers_doctor_idx on app_public.waitlist_offers (tenant_id, doctor_id, starts_at);
create index waitlist_offers_appointment_idx on app_public.waitlist_offers (tenant_id, appointment_id);
create unique index waitlist_offers_one_pending_per_slot on app_public.waitlist_offers (tenant_id, freed_slot_id)
  where status = 'pending';
comment on index app_public.waitlist_offers_one_pending_per_slot is 'A freed slot is held for one patient at a time.';
create index waitlist_offers_pending_expiry_idx on app_public.waitlist_offers (expires_at) where status = 'pending';
comment on index app_public.waitlist_offers_pending_expiry_idx is 'app_private.expire_waitlist_offers: the holds that ran out, in every tenant.';
comment on table app_public.waitlist_offers is '@primaryKey id
@behavior -insert -update -delete
Freed slots offered to waiting patients, and what became of each offer: `pending` (held for the patient until expiresAt), `accepted` (booked: appointmentId), `declined`, `expired`, or `withdrawn` (the slot was booked by staff meanwhile, or could no longer be booked). Everyone in the tenant reads them; nobody writes them but the database.';
comment on column app_public.waitlist_offers.id is 'Identifier of the offer.';
comment on column app_public.waitlist_offers.tenant_id is 'The tenant.';
comment on column app_public.waitlist_offers.entry_id is 'The waitlist entry offered the slot.';
comment on column app_public.waitlist_offers.freed_slot_id is 'The freed time it comes from.';
comment on column app_public.waitlist_offers.doctor_id is 'The doctor of the offered visit.';
comment on column app_public.waitlist_offers.office_id is 'The office of the offered visit.';
comment on column app_public.waitlist_offers.starts_at is 'Start of the offered visit.';
comment on column app_public.waitlist_offers.ends_at is 'End of the offered visit (the entry''s duration).';
comment on column app_public.waitlist_offers.status is '`pending`, `accepted`, `declined`, `expired` or `withdrawn`.';
comment on column app_public.waitlist_offers.expires_at is 'Until when the slot is held for the patient.';
comment on column app_public.waitlist_offers.appointment_id is 'The appointment booked when the patient accepted.';
comment on column app_public.waitlist_offers.created_at is 'When the slot was offered.';
comment on column app_public.waitlist_offers.decided_at is 'When the patient answered, the hold expired or the offer was withdrawn.';
comment on constraint waitlist_offers_entry_fkey on app_public.waitlist_offers is '@fieldName entry
@foreignFieldName offers
The entry, always of the same tenant.';
comment on constraint waitlist_offers_freed_slot_fkey on app_public.waitlist_offers is '@behavior -manyToOne -oneToMany
The freed time, always of the same tenant.';
comment on constraint waitlist_offers_doctor_fkey on app_public.waitlist_offers is '@fieldName doctor
@foreignFieldName waitlistOffers
The doctor, always of the same tenant.';
comment on constraint waitlist_offers_appointment_fkey on app_public.waitlist_offers is '@fieldName appointment
@foreignFieldName waitlistOffers
The appointment booked from the offer.';
comment on constraint waitlist_offers_tenant_id_id_key on app_public.waitlist_offers is '@behavior -single -update -delete
Lets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
alter table app_public.waitlist_offers enable row level security;
alter table app_public.waitlist_offers force row level security;
create policy select_own_tenant on app_public.waitlist_offers for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.waitlist_offers is 'Everyone in the tenant sees the offers and their outcomes.';
grant select on app_public.waitlist_offers to :DATABASE_VISITOR;

create table app_private.waitlist_offer_tokens (
  tenant_id uuid not null,
  offer_id uuid not null,
  token_hash bytea not null,
  primary key (tenant_id, offer_id),
  constraint waitlist_offer_tokens_offer_fkey foreign key (tenant_id, offer_id)
    references app_public.waitlist_offers (tenant_id, id) on delete cascade
);
create index waitlist_offer_tokens_token_hash_idx on app_private.waitlist_offer_tokens (token_hash);
comment on table app_private.waitlist_offer_tokens is
  'The key of each offer''s link: only its SHA-256. It answers the offer once, while it is pending.';
comment on column app_private.waitlist_offer_tokens.tenant_id is 'The offer''s tenant: where the row lives under Citus.';
comment on column app_private.waitlist_offer_tokens.offer_id is 'The offer the link answers, and no other.';
comment on column app_private.waitlist_offer_tokens.token_hash is 'SHA-256 of the token in the link.';

create function app_private.tg_appointments__free_slot() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_id uuid;
begin
  -- Time freed: a visit ahead that held a slot no longer holds it, or not at that time or doctor.
  if old.starts_at <= now() or not app_private.holds_slot(old.status)
     or (tg_op = 'UPDATE' and app_private.holds_slot(new.status)
         and (new.starts_at, new.ends_at, new.doctor_id) is not distinct from (old.starts_at, old.ends_at, old.doctor_id)) then
    return null;
  end if;
  if exists (select 1 from app_public.waitlist_entries e where e.tenant_id = old.tenant_id and e.status = 'waiting') then
    insert into app_private.freed_slots (tenant_id, doctor_id, office_id, starts_at, ends_at)
      values (old.tenant_id, old.doctor_id, old.office_id, old.starts_at, old.ends_at)
      returning id into v_id;
    perform app_private.enqueue_job(old.tenant_id, 'offer_waitlist_slot', jsonb_build_object('tenant_id', old.tenant_id, 'freed_slot_id', v_id));
  end if;
  return null;
end;
$$;
comment on function app_private.tg_appointments__free_slot() is
  'Records the time a cancelled, moved or deleted visit frees, and enqueues its offer to the waitlist, when the tenant has patients waiting. Runs on the shard of the row (under Citus), writing only that tenant''s rows.';
create trigger _910_free_slot after update or delete on app_public.appointments
  for each row execute function app_private.tg_appointments__free_slot();

create function app_private.tg_appointments__withdraw_offers() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_id uuid;
begin
  -- Staff booked into a held slot: the hold gives way. An offer being accepted at this moment is
  -- locked by its answer and skipped: that answer then meets this booking in the exclusion
  -- constraint and withdraws its own offer, so neither waits for the other (no deadlock).
  for v_id in
    select o.id from app_public.waitlist_offers o
    where o.tenant_id = new.tenant_id and o.doctor_id = new.doctor_id and o.status = 'pending'
      and tstzrange(o.starts_at, o.ends_at) && tstzrange(new.starts_at, new.ends_at)
    for update skip locked
  loop
    update app_public.waitlist_offers o set status = 'withdrawn', decided_at = now() where o.tenant_id = new.tenant_id and o.id = v_id;
  end loop;
  return null;
end;
$$;
comment on function app_private.tg_appointments__withdraw_offers() is
  'Withdraws the pending waitlist offers a new or moved booking overlaps: a slot booked by staff meanwhile ends the offer.';
create trigger _920_withdraw_offers after insert or update of starts_at, ends_at, doctor_id, status on app_public.appointments
  for each row when (app_private.holds_slot(new.status))
  execute function app_private.tg_appointments__withdraw_offers();

create function app_private.offer_freed_slot(tenant_id uuid, freed_slot_id uuid, hold interval) returns uuid
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := offer_freed_slot.tenant_id;
  v_slot app_private.freed_slots;
  v_time_zone text;
  v_specialty text;
  v_local timestamp;
  v_entry record;
  v_offer_id uuid;
begin
  -- A retried job finds its own offer, and sends it (once: the delivery rule).
  select o.id into v_offer_id from app_public.waitlist_offers o
    where o.tenant_id = v_tenant_id and o.freed_slot_id = offer_freed_slot.freed_slot_id and o.status = 'pending';
  if found then
    return v_offer_id;
  end if;
  select * into v_slot from app_private.freed_slots s where s.tenant_id = v_tenant_id and s.id = offer_freed_slot.freed_slot_id;
  if not found or v_slot.starts_at <= now()
     or exists (select 1 from app_public.waitlist_offers o
                where o.tenant_id = v_tenant_id and o.freed_slot_id = v_slot.id and o.status = 'accepted')
     or exists (select 1 from app_public.appointments a
                where a.tenant_id = v_tenant_id and a.doctor_id = v_slot.doctor_id and app_private.holds_slot(a.status)
                  and tstzrange(a.starts_at, a.ends_at) && tstzrange(v_slot.starts_at, v_slot.ends_at)) then
    return null; -- gone, taken from the waitlist, or booked again
  end if;
  select t.time_zone into v_time_zone from app_public.tenants t where t.id = v_tenant_id;
  select d.specialty into v_specialty from app_public.doctors d where d.tenant_id = v_tenant_id and d.id = v_slot.doctor_id;
  v_local := v_slot.starts_at at time zone v_time_zone;
  -- The oldest waiting entry the slot suits, that was not offered it before and holds no other offer.
  select e.id, coalesce(v.duration_minutes, e.duration_minutes) as minutes into v_entry
  from app_public.waitlist_entries e
  join app_public.patients p on p.tenant_id = e.tenant_id and p.id = e.patient_id
  left join app_public.visit_types v on v.tenant_id = e.tenant_id and v.id = e.visit_type_id
  where e.tenant_id = v_tenant_id and e.status = 'waiting'
    and p.email is not null and p.email_consent
    and (e.doctor_id = v_slot.doctor_id
         or (e.doctor_id is null and (e.specialty is null or e.specialty = v_specialty)))
    and (e.office_id is null or e.office_id = v_slot.office_id)
    and v_slot.starts_at + make_interval(mins => coalesce(v.duration_minutes, e.duration_minutes)) <= v_slot.ends_at
    and v_local::date between e.earliest_date and e.latest_date
    and (e.weekdays is null or extract(isodow from v_local)::integer = any(e.weekdays))
    and (e.earliest_time is null or v_local::time >= e.earliest_time)
    and (e.latest_time is null
         or (v_local + make_interval(mins => coalesce(v.duration_minutes, e.duration_minutes)))::time <= e.latest_time)
    and not exists (select 1 from app_public.waitlist_offers o
                    where o.tenant_id = v_tenant_id and o.entry_id = e.id
                      and (o.freed_slot_id = v_slot.id or o.status = 'pending'))
  order by e.created_at, e.id
  limit 1;
  if v_entry.id is null then
    return null;
  end if;
  insert into app_public.waitlist_offers (tenant_id, entry_id, freed_slot_id, doctor_id, office_id, starts_at, ends_at, expires_at)
    values (v_tenant_id, v_entry.id, v_slot.id, v_slot.doctor_id, v_slot.office_id, v_slot.starts_at,
            v_slot.starts_at + make_interval(mins => v_entry.minutes), least(now() + offer_freed_slot.hold, v_slot.starts_at))
    on conflict (tenant_id, freed_slot_id) where status = 'pending' do nothing
    returning id into v_offer_id;
  return v_offer_id;
end;
$$;
comment on function app_private.offer_freed_slot(uuid, uuid, interval) is
  'Offers a freed slot to the oldest waiting entry it suits (doctor, or office and specialty; duration; dates, weekdays and local times), held for `hold`, and returns the offer: the pending one when the slot is already held, NULL when it is past, booked again, or suits nobody who has not had it. Only patients with an e-mail address and consent are offered slots. Safe to run twice: one pending offer per slot. Owner only: the worker calls it.';
revoke execute on function app_private.offer_freed_slot(uuid, uuid, interval) from public;

create function app_private.waitlist_offer_email(tenant_id uuid, offer_id uuid)
  returns table (email citext, patient_id uuid, patient_name text, tenant_name text, time_zone text, starts_at timestamptz,
                 ends_at timestamptz, expires_at timestamptz, office_name text, office_address text)
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  select p.email, p.id, p.full_name, t.name, t.time_zone, o.starts_at, o.ends_at, o.expires_at,
         f.value ->> 'name', f.value ->> 'address'
  from app_public.waitlist_offers o
  join app_public.waitlist_entries e on e.tenant_id = o.tenant_id and e.id = o.entry_id
  join app_public.patients p on p.tenant_id = e.tenant_id and p.id = e.patient_id
  join app_public.tenants t on t.id = o.tenant_id
  join app_public.doctors d on d.tenant_id = o.tenant_id and d.id = o.doctor_id
  left join lateral jsonb_array_elements(d.offices) f(value) on f.value ->> 'id' = o.office_id
  where o.tenant_id = waitlist_offer_email.tenant_id and o.id = waitlist_offer_email.offer_id and o.status = 'pending'
    and p.email is not null and p.email_consent;
end;
$$;
comment on function app_private.waitlist_offer_email(uuid, uuid) is
  'Recipient and facts of a pending offer''s e-mail: the clinic group, the time in its zone, the office and the hold''s end; nothing once the offer is no longer pending or the patient withdrew consent. Owner only.';
revoke execute on function app_private.waitlist_offer_email(uuid, uuid) from public;

create function app_private.new_waitlist_offer_token(tenant_id uuid, offer_id uuid) returns text
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  insert into app_private.waitlist_offer_tokens (tenant_id, offer_id, token_hash)
    values (new_waitlist_offer_token.tenant_id, new_waitlist_offer_token.offer_id, sha256(convert_to(v_token, 'UTF8')))
    on conflict (tenant_id, offer_id) do update set token_hash = excluded.token_hash;
  return v_token;
end;
$$;
comment on function app_private.new_waitlist_offer_token(uuid, uuid) is
  'The token of an offer''s link, replacing an earlier one (from an attempt that was not sent). Only its SHA-256 is stored. Owner only: the worker calls it when it composes the e-mail.';
revoke execute on function app_private.new_waitlist_offer_token(uuid, uuid) from public;

create function app_private.answer_waitlist_offer(token text, accept boolean) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid;
  v_offer_id uuid;
  v_offer app_public.waitlist_offers;
  v_entry app_public.waitlist_entries;
  v_appointment_id uuid;
begin
  select k.tenant_id, k.offer_id into v_tenant_id, v_offer_id from app_private.waitlist_offer_tokens k
    where k.token_hash = sha256(convert_to(coalesce(answer_waitlist_offer.token, ''), 'UTF8'));
  -- The offer's row lock orders two answers: the second finds it decided.
  select * into v_offer from app_public.waitlist_offers o where o.tenant_id = v_tenant_id and o.id = v_offer_id for update;
  if v_offer.id is null or v_offer.status <> 'pending' or v_offer.expires_at <= now() then
    raise exception 'This offer is no longer available, or the link is not valid.' using errcode = 'TOKEN';
  end if;
  select * into v_entry from app_public.waitlist_entries e where e.tenant_id = v_tenant_id and e.id = v_offer.entry_id;
  if not answer_waitlist_offer.accept then
    update app_public.waitlist_offers o set status = 'declined', decided_at = now() where o.tenant_id = v_tenant_id and o.id = v_offer.id;
    perform app_private.enqueue_job(v_tenant_id, 'offer_waitlist_slot',
                                    jsonb_build_object('tenant_id', v_tenant_id, 'freed_slot_id', v_offer.freed_slot_id));
    return 'declined';
  end if;
  if app_private.tenant_is_read_only(v_tenant_id) then
    raise exception 'This offer is no longer available, or the link is not valid.' using errcode = 'TOKEN';
  end if;
  -- Accepted first, so the booking below does not withdraw its own offer.
  update app_public.waitlist_offers o set status = 'accepted', decided_at = now() where o.tenant_id = v_tenant_id and o.id = v_offer.id;
  begin
    -- No claims here, so the appointments trigger would not check the rules: the patient's booking
    -- passes them as a receptionist's would.
    perform app_private.assert_booking_rules(v_tenant_id, v_offer.doctor_id, v_offer.office_id, v_offer.starts_at,
                                             v_offer.ends_at, false, null);
    insert into app_public.appointments (tenant_id, doctor_id, patient_id, office_id, starts_at, ends_at, visit_type_id)
      values (v_tenant_id, v_offer.doctor_id, v_entry.patient_id, v_offer.office_id, v_offer.starts_at, v_offer.ends_at,
              v_entry.visit_type_id)
      returning id into v_appointment_id;
  exception
    when exclusion_violation or sqlstate 'HOURS' or sqlstate 'OFFIC' then
      update app_public.waitlist_offers o set status = 'withdrawn', decided_at = now()
        where o.tenant_id = v_tenant_id and o.id = v_offer.id;
      return 'taken';
  end;
  update app_public.waitlist_offers o set appointment_id = v_appointment_id where o.tenant_id = v_tenant_id and o.id = v_offer.id;
  update app_public.waitlist_entries e set status = 'booked', appointment_id = v_appointment_id
    where e.tenant_id = v_tenant_id and e.id = v_entry.id;
  return 'booked';
end;
$$;
comment on function app_private.answer_waitlist_offer(text, boolean) is
  'The offer''s link: accept books the offered visit for the patient under every booking rule (`booked`; `taken` when the slot can no longer be booked, e.g. staff booked it), decline passes the slot to the next entry (`declined`). Raises TOKEN for an unknown token or an offer no longer pending, saying nothing else. SECURITY DEFINER: the patient is not signed in.';
revoke execute on function app_private.answer_waitlist_offer(text, boolean) from public;
grant execute on function app_private.answer_waitlist_offer(text, boolean) to :DATABASE_ANONYMOUS;

create function app_private.expire_waitlist_offers(at timestamptz default now()) returns integer
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_offer record;
  v_count integer := 0;
begin
  for v_offer in
    update app_public.waitlist_offers o set status = 'expired', decided_at = now()
      where o.status = 'pending' and o.expires_at <= at
      returning o.tenant_id, o.freed_slot_id
  loop
    perform app_private.enqueue_job(v_offer.tenant_id, 'offer_waitlist_slot',
                                    jsonb_build_object('tenant_id', v_offer.tenant_id, 'freed_slot_id', v_offer.freed_slot_id));
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function app_private.expire_waitlist_offers(timestamptz) is
  'Ends the holds that ran out by `at` (default now) and passes each slot on to the next entry; returns how many. Owner only: the worker''s cron job calls it every minute.';
revoke execute on function app_private.expire_waitlist_offers(timestamptz) from public;
