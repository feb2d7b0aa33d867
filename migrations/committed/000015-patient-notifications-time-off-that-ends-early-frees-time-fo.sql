--! Previous: sha1:dbacf59ff57769fa04e15a6b9c2ef62090dc28f8
--! Hash: sha1:93f7db45cb43711a84e23fb94c0c1ccf6c47665a
--! Message: Patient notifications: time off that ends early frees time for the waitlist, offered at the first start on the slot grid that suits

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Time off that ends early frees time for the waitlist (issue 13). A deleted or shortened time
-- off gives the doctor working time back: a freed range, often longer than one visit, in which
-- the worker finds each waiting patient the first time that suits them and the booking rules
-- allow, on the clinic's slot grid. One offer at a time per range; when one is accepted, the
-- rest of the range goes round again.
--------------------------------------------------------------------------------
create function app_private.tg_time_off_periods__free_time() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_freed tstzmultirange;
  v_range tstzrange;
  v_id uuid;
begin
  if old.ends_at <= now()
     or not exists (select 1 from app_public.waitlist_entries e where e.tenant_id = old.tenant_id and e.status = 'waiting') then
    return null;
  end if;
  -- What the change gives back, from now on: the old period minus the new one (same doctor and office).
  v_freed := tstzmultirange(tstzrange(greatest(old.starts_at, now()), old.ends_at));
  if tg_op = 'UPDATE' and new.doctor_id = old.doctor_id and new.office_id is not distinct from old.office_id then
    v_freed := v_freed - tstzmultirange(tstzrange(new.starts_at, new.ends_at));
  end if;
  for v_range in select r from unnest(v_freed) r loop
    insert into app_private.freed_slots (tenant_id, doctor_id, office_id, starts_at, ends_at)
      values (old.tenant_id, old.doctor_id, old.office_id, lower(v_range), upper(v_range))
      returning id into v_id;
    perform app_private.enqueue_job(old.tenant_id, 'offer_waitlist_slot', jsonb_build_object('tenant_id', old.tenant_id, 'freed_slot_id', v_id));
  end loop;
  return null;
end;
$$;
comment on function app_private.tg_time_off_periods__free_time() is
  'Records the working time a deleted or shortened time off gives back (from now on), and enqueues its offer to the waitlist, when the tenant has patients waiting. Runs on the shard of the row (under Citus), writing only that tenant''s rows.';
create trigger _910_free_time after update or delete on app_public.time_off_periods
  for each row execute function app_private.tg_time_off_periods__free_time();

comment on table app_private.freed_slots is
  'Time that became free while the tenant had patients waiting: a cancelled or moved visit, or working time given back by a time off deleted or shortened (NULL office: all of the doctor''s). What the waitlist offers, one patient at a time; the send job''s payload names one.';

create or replace function app_private.offer_freed_slot(tenant_id uuid, freed_slot_id uuid, hold interval) returns uuid
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := offer_freed_slot.tenant_id;
  v_slot app_private.freed_slots;
  v_tenant app_public.tenants;
  v_specialty text;
  v_entry record;
  v_office text;
  v_visit_office text;
  v_first timestamp;
  v_local timestamp;
  v_starts_at timestamptz;
  v_ends_at timestamptz;
  v_works boolean;
  v_bookable boolean;
  v_offer_id uuid;
begin
  -- A retried job finds its own offer, and sends it (once: the delivery rule).
  select o.id into v_offer_id from app_public.waitlist_offers o
    where o.tenant_id = v_tenant_id and o.freed_slot_id = offer_freed_slot.freed_slot_id and o.status = 'pending';
  if found then
    return v_offer_id;
  end if;
  select * into v_slot from app_private.freed_slots s where s.tenant_id = v_tenant_id and s.id = offer_freed_slot.freed_slot_id;
  if not found or v_slot.ends_at <= now() then
    return null;
  end if;
  select * into v_tenant from app_public.tenants t where t.id = v_tenant_id;
  select d.specialty into v_specialty from app_public.doctors d where d.tenant_id = v_tenant_id and d.id = v_slot.doctor_id;
  -- Candidate starts: the freed time's own start, then the slot grid of the local clock inside it.
  v_first := date_trunc('hour', v_slot.starts_at at time zone v_tenant.time_zone);
  -- The waiting entries the doctor suits, oldest first, that were not offered this time before and
  -- hold no other offer; each locked while chosen (one row at a time: Citus locks no cursor's rows),
  -- so another job takes the next one.
  for v_entry in
    select e.id, e.office_id, e.earliest_date, e.latest_date, e.weekdays, e.earliest_time, e.latest_time,
           make_interval(mins => coalesce(v.duration_minutes, e.duration_minutes)) as length
    from app_public.waitlist_entries e
    join app_public.patients p on p.tenant_id = e.tenant_id and p.id = e.patient_id
    left join app_public.visit_types v on v.tenant_id = e.tenant_id and v.id = e.visit_type_id
    where e.tenant_id = v_tenant_id and e.status = 'waiting'
      and p.email is not null and p.email_consent
      and (e.doctor_id = v_slot.doctor_id or (e.doctor_id is null and (e.specialty is null or e.specialty = v_specialty)))
      and (e.office_id is null or v_slot.office_id is null or e.office_id = v_slot.office_id)
      and not exists (select 1 from app_public.waitlist_offers o
                      where o.tenant_id = v_tenant_id and o.entry_id = e.id
                        and (o.freed_slot_id = v_slot.id or o.status = 'pending'))
    order by e.created_at, e.id
  loop
    perform 1 from app_public.waitlist_entries e where e.tenant_id = v_tenant_id and e.id = v_entry.id and e.status = 'waiting'
      for update skip locked;
    continue when not found; -- another job is choosing it at this moment, or it stopped waiting
    v_office := coalesce(v_slot.office_id, v_entry.office_id);
    v_starts_at := v_slot.starts_at;
    v_local := v_first;
    -- At most 62 days of grid points (the free-slot search's own limit).
    for i in 0 .. (62 * 1440 / v_tenant.slot_grid_minutes) loop
      v_ends_at := v_starts_at + v_entry.length;
      exit when v_ends_at > v_slot.ends_at;
      if v_starts_at > now()
         and (v_starts_at at time zone v_tenant.time_zone)::date between v_entry.earliest_date and v_entry.latest_date
         and (v_entry.weekdays is null
              or extract(isodow from v_starts_at at time zone v_tenant.time_zone)::integer = any(v_entry.weekdays))
         and (v_entry.earliest_time is null or (v_starts_at at time zone v_tenant.time_zone)::time >= v_entry.earliest_time)
         and (v_entry.latest_time is null
              or ((v_starts_at at time zone v_tenant.time_zone) + v_entry.length)::time <= v_entry.latest_time)
         -- Each check its own statement: under Citus a function in the same query as a table would
         -- run on the shard, where it cannot read other tables.
         and not exists (select 1 from app_public.appointments a
                         where a.tenant_id = v_tenant_id and a.doctor_id = v_slot.doctor_id and app_private.holds_slot(a.status)
                           and tstzrange(a.starts_at, a.ends_at) && tstzrange(v_starts_at, v_ends_at))
         and not exists (select 1 from app_public.waitlist_offers o
                         where o.tenant_id = v_tenant_id and o.doctor_id = v_slot.doctor_id and o.status = 'pending'
                           and tstzrange(o.starts_at, o.ends_at) && tstzrange(v_starts_at, v_ends_at)) then
        v_works := app_private.within_working_hours(v_tenant_id, v_slot.doctor_id, v_office, v_starts_at, v_ends_at);
      else
        v_works := false;
      end if;
      if v_works then
        -- Time off of all offices freed time at none in particular: the visit is at the office whose
        -- working hours hold it.
        v_visit_office := v_office;
        if v_visit_office is null then
          select w.office_id into v_visit_office from app_public.working_hours w
            where w.tenant_id = v_tenant_id and w.doctor_id = v_slot.doctor_id
              and w.weekday = extract(isodow from v_starts_at at time zone v_tenant.time_zone)
              and w.starts_at <= (v_starts_at at time zone v_tenant.time_zone)::time
              and w.ends_at >= ((v_starts_at at time zone v_tenant.time_zone) + v_entry.length)::time
              and (w.valid_from is null or w.valid_from <= (v_starts_at at time zone v_tenant.time_zone)::date)
              and (w.valid_until is null or w.valid_until >= (v_starts_at at time zone v_tenant.time_zone)::date)
            order by w.office_id
            limit 1;
        end if;
        -- The time must be bookable by the rules a patient's booking passes (notice, horizon).
        begin
          perform app_private.assert_booking_rules(v_tenant_id, v_slot.doctor_id, v_visit_office, v_starts_at, v_ends_at, false,
                                                   null);
          v_bookable := true;
        exception
          when sqlstate 'HOURS' then
            v_bookable := false;
        end;
        if v_bookable then
          insert into app_public.waitlist_offers
            (tenant_id, entry_id, freed_slot_id, doctor_id, office_id, starts_at, ends_at, expires_at)
            values (v_tenant_id, v_entry.id, v_slot.id, v_slot.doctor_id, v_visit_office, v_starts_at, v_ends_at,
                    least(now() + offer_freed_slot.hold, v_starts_at))
            on conflict do nothing
            returning id into v_offer_id;
          return v_offer_id;
        end if;
      end if;
      -- The next grid point of the local clock after this start (skipped local times read as after the gap).
      loop
        v_local := v_local + make_interval(mins => v_tenant.slot_grid_minutes);
        v_starts_at := app_private.local_instant(v_local, v_tenant.time_zone);
        exit when v_starts_at > v_slot.starts_at;
      end loop;
    end loop;
  end loop;
  return null;
end;
$$;
comment on function app_private.offer_freed_slot(uuid, uuid, interval) is
  'Offers freed time to the oldest waiting entry it suits (doctor, or office and specialty; duration; dates, weekdays and local times) at the first start, from the freed time''s own start then on the slot grid, that is clear of bookings and held offers, inside working hours and within the booking rules; held for `hold`. Returns the offer: the pending one when the time is already held, NULL when nobody who has not had it can use it. Only patients with an e-mail address and consent are offered slots. Safe to run twice: one pending offer per freed time. Owner only: the worker calls it.';

create or replace function app_private.reoffer_freed_slots(tenant_id uuid) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_slot_id uuid;
begin
  -- Also freed time of which a part was accepted: the rest of it may suit someone else.
  for v_slot_id in
    select s.id from app_private.freed_slots s
    where s.tenant_id = reoffer_freed_slots.tenant_id and s.ends_at > now()
      and not exists (select 1 from app_public.waitlist_offers o
                      where o.tenant_id = reoffer_freed_slots.tenant_id and o.freed_slot_id = s.id and o.status = 'pending')
  loop
    perform app_private.enqueue_job(reoffer_freed_slots.tenant_id, 'offer_waitlist_slot',
                                    jsonb_build_object('tenant_id', reoffer_freed_slots.tenant_id, 'freed_slot_id', v_slot_id));
  end loop;
end;
$$;
comment on function app_private.reoffer_freed_slots(uuid) is
  'Enqueues a new offer round for each of a tenant''s freed times still ahead that nobody holds: after an offer ends (accepted, declined, expired, withdrawn), its patient and what is left of its time are free again, and time that found everyone busy gets another chance; likewise when an entry is added. Owner only.';
