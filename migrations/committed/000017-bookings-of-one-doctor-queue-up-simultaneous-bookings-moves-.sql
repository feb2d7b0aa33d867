--! Previous: sha1:a19a18b3c9ec4efd404afa16fa648c6265d92a6b
--! Hash: sha1:14ccf0ef1bb7d44cff274acfd25410a301e46222
--! Message: Bookings of one doctor queue up: simultaneous bookings, moves and waitlist accepts of one time end in OVLAP, never a deadlock

--! split: 1-current.sql
-- Bookings of one doctor queue up: simultaneous writes of one doctor's slot-holding visits end in
-- OVLAP for the loser, never in a deadlock.
--
-- The exclusion constraint appointments_no_double_booking inserts the index entry first and looks
-- for conflicts afterwards, waiting for any writer still in progress. Two transactions that both
-- inserted before either looked wait for each other, and PostgreSQL aborts one with 40P01
-- (deadlock detected) instead of 23P01; measured in CI as a staff booking racing a waitlist accept,
-- and deterministic when two visits move into each other's times at once. A lock per doctor, taken
-- before the row is written, makes the second writer wait for the first to end, so its check finds
-- a committed row.

drop trigger if exists _290_queue_doctor_bookings on app_public.appointments;
drop function if exists app_private.tg_appointments__queue_doctor_bookings();

create function app_private.tg_appointments__queue_doctor_bookings() returns trigger
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  -- A transaction-scoped advisory lock: held to commit or rollback, and, under Citus, taken on the
  -- node of the tenant's shard, where every write of this doctor's visits runs. A hash collision
  -- only makes two doctors' bookings queue together.
  perform pg_advisory_xact_lock(hashtextextended('app_public.appointments doctor ' || new.doctor_id::text, 0));
  return new;
end;
$$;
comment on function app_private.tg_appointments__queue_doctor_bookings() is
  'Makes writes of one doctor''s slot-holding appointments wait for each other (a transaction-scoped advisory lock per doctor), so the exclusion constraint meets a finished writer and simultaneous bookings, moves or waitlist accepts of one time end in OVLAP (23P01) for all but one, never in a deadlock (40P01). Every session, with or without claims.';
create trigger _290_queue_doctor_bookings before insert or update on app_public.appointments
  for each row when (app_private.holds_slot(new.status))
  execute function app_private.tg_appointments__queue_doctor_bookings();
