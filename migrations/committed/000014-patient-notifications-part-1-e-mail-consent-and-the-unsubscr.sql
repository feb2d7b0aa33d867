--! Previous: sha1:16e6ec1b255896343a3dd73c395cbf7c19ea03cf
--! Hash: sha1:cadd830567f93f4bc519916a6a291cc97ac26932
--! Message: Patient notifications, part 1: e-mail consent and the unsubscribe link, appointment revisions, patient notices queued with each change, reminders on a schedule, the operators' report

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- Patient e-mail consent (issue 13). Appointment e-mails go only to patients who accept them:
-- on by default, changed by the front desk or by the patient through the unsubscribe link in
-- every patient e-mail, and recorded with who changed it and when.
--------------------------------------------------------------------------------
alter table app_public.patients
  add column email_consent boolean not null default true,
  add column email_consent_changed_at timestamptz,
  add column email_consent_changed_by uuid,
  add constraint patients_email_consent_changed_by_fkey foreign key (tenant_id, email_consent_changed_by)
    references app_public.users (tenant_id, id);
create index patients_email_consent_changed_by_idx on app_public.patients (tenant_id, email_consent_changed_by);
comment on column app_public.patients.email_consent is
  'Whether the patient accepts appointment e-mails (confirmations, reminders, changes, cancellations). On by default; off when the patient used the unsubscribe link.';
comment on column app_public.patients.email_consent_changed_at is 'When email_consent last changed; NULL while it never did.';
comment on column app_public.patients.email_consent_changed_by is
  'The staff user who last changed email_consent; NULL with a date: the patient, through the unsubscribe link.';
comment on constraint patients_email_consent_changed_by_fkey on app_public.patients is '@fieldName emailConsentChangedByUser
@foreignFieldName patientConsentChanges
The user who last changed the patient''s e-mail consent.';
grant insert (email_consent), update (email_consent) on app_public.patients to :DATABASE_VISITOR;

create table app_private.patient_email_tokens (
  tenant_id uuid not null,
  token_hash bytea not null,
  patient_id uuid not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (tenant_id, token_hash),
  constraint patient_email_tokens_patient_fkey foreign key (tenant_id, patient_id)
    references app_public.patients (tenant_id, id) on delete cascade
);
create index patient_email_tokens_token_hash_idx on app_private.patient_email_tokens (token_hash);
create index patient_email_tokens_patient_idx on app_private.patient_email_tokens (tenant_id, patient_id);
comment on table app_private.patient_email_tokens is
  'Unsubscribe links: one per patient e-mail, so a link in an older e-mail still works. Only the SHA-256 is stored. Using one turns the patient''s consent off and deletes every link of that patient; staff turning consent back on deletes them too.';
comment on column app_private.patient_email_tokens.tenant_id is 'The patient''s tenant: where the row lives under Citus.';
comment on column app_private.patient_email_tokens.token_hash is 'SHA-256 of the token in the link.';
comment on column app_private.patient_email_tokens.patient_id is 'The patient the link unsubscribes, and no other.';
comment on column app_private.patient_email_tokens.created_at is 'When the e-mail carrying the link was composed.';
comment on column app_private.patient_email_tokens.expires_at is 'The link works until then (a year).';

create function app_private.tg_patients__record_consent() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    new.email_consent_changed_at := case when new.email_consent then null else now() end;
    new.email_consent_changed_by := case when new.email_consent then null else app_public.current_user_id() end;
    return new;
  end if;
  if new.email_consent is distinct from old.email_consent then
    new.email_consent_changed_at := now();
    new.email_consent_changed_by := app_public.current_user_id();
    if new.email_consent then
      delete from app_private.patient_email_tokens t where t.tenant_id = new.tenant_id and t.patient_id = new.id;
    end if;
  else
    new.email_consent_changed_at := old.email_consent_changed_at;
    new.email_consent_changed_by := old.email_consent_changed_by;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_patients__record_consent() is
  'Records who changed a patient''s e-mail consent and when (never the client''s own values). Turning it back on voids the unsubscribe links of earlier e-mails. SECURITY DEFINER to delete those links, of this patient only.';
create trigger _150_record_consent before insert or update on app_public.patients
  for each row execute function app_private.tg_patients__record_consent();

create function app_private.new_unsubscribe_token(tenant_id uuid, patient_id uuid) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_token text := encode(gen_random_bytes(32), 'hex');
begin
  insert into app_private.patient_email_tokens (tenant_id, token_hash, patient_id, expires_at)
    values (new_unsubscribe_token.tenant_id, sha256(convert_to(v_token, 'UTF8')), new_unsubscribe_token.patient_id,
            now() + interval '1 year');
  return v_token;
end;
$$;
comment on function app_private.new_unsubscribe_token(uuid, uuid) is
  'A new unsubscribe token for one patient e-mail (valid a year). Only its SHA-256 is stored. Owner only: the worker calls it when it composes the e-mail.';
revoke execute on function app_private.new_unsubscribe_token(uuid, uuid) from public;

create function app_private.unsubscribe_patient(token text) returns text
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_tenant_id uuid;
  v_patient_id uuid;
  v_tenant_name text;
begin
  select t.tenant_id, t.patient_id into v_tenant_id, v_patient_id
    from app_private.patient_email_tokens t
    where t.token_hash = sha256(convert_to(coalesce(unsubscribe_patient.token, ''), 'UTF8')) and t.expires_at > now();
  if v_patient_id is null then
    raise exception 'This link is invalid, already used or expired.' using errcode = 'TOKEN';
  end if;
  delete from app_private.patient_email_tokens t where t.tenant_id = v_tenant_id and t.patient_id = v_patient_id;
  update app_public.patients p set email_consent = false where p.tenant_id = v_tenant_id and p.id = v_patient_id;
  select n.name into v_tenant_name from app_public.tenants n where n.id = v_tenant_id;
  return v_tenant_name;
end;
$$;
comment on function app_private.unsubscribe_patient(text) is
  'The unsubscribe link: turns off the e-mail consent of the patient the token was made for (recorded as the patient''s own change), voids that patient''s other links, and returns the clinic group''s name for the answer page. Raises TOKEN for an unknown, used or expired token. SECURITY DEFINER: the patient is not signed in.';
revoke execute on function app_private.unsubscribe_patient(text) from public;
grant execute on function app_private.unsubscribe_patient(text) to :DATABASE_ANONYMOUS;

--------------------------------------------------------------------------------
-- Reminder lead times per tenant (issue 13): elapsed time before the visit, so across a
-- daylight-saving night a 24-hour reminder of a 09:00 visit arrives at 08:00 or 10:00 local.
--------------------------------------------------------------------------------
alter table app_public.tenants
  add column reminder_lead_minutes integer default 1440,
  add column second_reminder_lead_minutes integer,
  add constraint tenants_reminder_lead_check check (reminder_lead_minutes between 15 and 20160),
  add constraint tenants_second_reminder_lead_check check (
    second_reminder_lead_minutes between 15 and 20160 and second_reminder_lead_minutes < reminder_lead_minutes);
comment on column app_public.tenants.reminder_lead_minutes is
  'How long before a visit the patient''s reminder is sent, in minutes (15 to 20,160, i.e. 14 days; default 1,440, a day). NULL: no reminders.';
comment on column app_public.tenants.second_reminder_lead_minutes is
  'A second, shorter reminder (e.g. 120), sent after the first; NULL (default): none. When both moments have passed unsent (a worker was down), only this one is sent.';
grant update (reminder_lead_minutes, second_reminder_lead_minutes) on app_public.tenants to :DATABASE_VISITOR;

--------------------------------------------------------------------------------
-- Revisions of an appointment (issue 13): the RFC 5545 SEQUENCE of its calendar entry. A change
-- a patient must hear of (time, office or doctor of a booked visit; a cancellation; a booking
-- that becomes `booked`) counts one more, and queues a notice.
--------------------------------------------------------------------------------
alter table app_public.appointments add column sequence integer not null default 0;
comment on column app_public.appointments.sequence is
  'Revision of the appointment as the patient knows it: the SEQUENCE of its calendar entry. Counted by the database when the time, office or doctor of a booked visit changes, when it is cancelled and when it becomes booked.';

create function app_private.tg_appointments__count_revision() returns trigger
  language plpgsql volatile
as $$
begin
  if (new.status in ('cancelled', 'entered-in-error') and old.status not in ('cancelled', 'entered-in-error'))
     or (new.status = 'booked' and (old.status <> 'booked'
         or (new.starts_at, new.ends_at, new.office_id, new.doctor_id) is distinct from
            (old.starts_at, old.ends_at, old.office_id, old.doctor_id))) then
    new.sequence := old.sequence + 1;
  else
    new.sequence := old.sequence;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_appointments__count_revision() is
  'Counts a revision the patient must hear of (see appointments.sequence); any other change keeps the count.';
create trigger _500_count_revision before update on app_public.appointments
  for each row execute function app_private.tg_appointments__count_revision();

--------------------------------------------------------------------------------
-- Patient notices (issue 13): one row per appointment e-mail that was due, queued in the
-- transaction of the change that causes it. The worker decides, when it sends, what the
-- appointment looks like then: it may send, or skip with a reason (no consent, superseded by a
-- later change, past, ...). Staff read them; nobody writes them but the database.
--------------------------------------------------------------------------------
create table app_public.appointment_notices (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  patient_id uuid not null,
  appointment_id uuid,
  series_id uuid,
  kind text not null check (kind in ('confirmation', 'change', 'cancellation', 'reminder')),
  sequence integer,
  lead_minutes integer,
  visit_starts_at timestamptz,
  status text not null default 'queued' check (status in ('queued', 'sent', 'skipped')),
  skip_reason text,
  created_at timestamptz not null default now(),
  decided_at timestamptz,
  unique (tenant_id, id),
  constraint appointment_notices_subject_check check ((appointment_id is null) <> (series_id is null)),
  constraint appointment_notices_skip_reason_check check (
    (status = 'skipped') = (skip_reason is not null)
    and skip_reason in ('no-email', 'no-consent', 'past', 'superseded', 'not-booked', 'moved', 'nothing-sent')),
  constraint appointment_notices_patient_fkey foreign key (tenant_id, patient_id)
    references app_public.patients (tenant_id, id) on delete cascade,
  constraint appointment_notices_appointment_fkey foreign key (tenant_id, appointment_id)
    references app_public.appointments (tenant_id, id) on delete cascade,
  constraint appointment_notices_series_fkey foreign key (tenant_id, series_id)
    references app_public.appointment_series (tenant_id, id) on delete cascade
);
create index appointment_notices_patient_idx on app_public.appointment_notices (tenant_id, patient_id);
create index appointment_notices_appointment_idx on app_public.appointment_notices (tenant_id, appointment_id);
create index appointment_notices_series_idx on app_public.appointment_notices (tenant_id, series_id);
create index appointment_notices_created_at_idx on app_public.appointment_notices (tenant_id, created_at);
create unique index appointment_notices_one_reminder on app_public.appointment_notices
  (tenant_id, appointment_id, lead_minutes, visit_starts_at) where kind = 'reminder';
comment on index app_public.appointment_notices_one_reminder is
  'One reminder per visit time and lead: the scheduler may run any number of times, or late, and sends it once.';
comment on table app_public.appointment_notices is '@primaryKey id
@behavior -insert -update -delete
The e-mails due to patients about their appointments, and what became of each: sent, or skipped and why. Queued by the database with the change that causes them (booking, change, cancellation) or by the reminder schedule; decided by the worker when it sends. Everyone in the tenant reads them; nobody writes them.';
comment on column app_public.appointment_notices.id is 'Identifier of the notice; its send job''s payload.';
comment on column app_public.appointment_notices.tenant_id is 'The tenant.';
comment on column app_public.appointment_notices.patient_id is 'The patient it is addressed to.';
comment on column app_public.appointment_notices.appointment_id is 'The appointment it is about; NULL for a series confirmation.';
comment on column app_public.appointment_notices.series_id is 'The series a confirmation lists the dates of (one e-mail for the whole series); NULL otherwise.';
comment on column app_public.appointment_notices.kind is
  '`confirmation` (booked), `change` (time, office or doctor changed; sent as a confirmation when none was sent before), `cancellation`, `reminder`.';
comment on column app_public.appointment_notices.sequence is 'The appointment''s revision the notice was queued for: a later revision supersedes it.';
comment on column app_public.appointment_notices.lead_minutes is 'For a reminder: how long before the visit it was due.';
comment on column app_public.appointment_notices.visit_starts_at is 'The start of the visit when the notice was queued.';
comment on column app_public.appointment_notices.status is '`queued` (the worker has not decided yet), `sent` (the mail server accepted it), `skipped` (see skip_reason).';
comment on column app_public.appointment_notices.skip_reason is
  'Why nothing was sent: `no-email` (the patient has no address), `no-consent`, `past` (the visit had begun), `superseded` (a later change queued its own notice), `not-booked` (cancelled or not booked when the reminder was due), `moved` (a reminder for a time the visit no longer has), `nothing-sent` (a cancellation of a visit the patient was never told of).';
comment on column app_public.appointment_notices.created_at is 'When the notice was queued.';
comment on column app_public.appointment_notices.decided_at is 'When it was sent or skipped.';
comment on constraint appointment_notices_patient_fkey on app_public.appointment_notices is '@fieldName patient
@foreignFieldName appointmentNotices
The patient, always of the same tenant.';
comment on constraint appointment_notices_appointment_fkey on app_public.appointment_notices is '@fieldName appointment
@foreignFieldName notices
The appointment, always of the same tenant.';
comment on constraint appointment_notices_series_fkey on app_public.appointment_notices is '@fieldName series
@foreignFieldName notices
The series, always of the same tenant.';
comment on constraint appointment_notices_tenant_id_id_key on app_public.appointment_notices is '@behavior -single -update -delete
Lets composite foreign keys from other tables of the same tenant point here; not a lookup of its own.';
alter table app_public.appointment_notices enable row level security;
alter table app_public.appointment_notices force row level security;
create policy select_own_tenant on app_public.appointment_notices for select to :DATABASE_VISITOR
  using (tenant_id = app_public.current_tenant_id());
comment on policy select_own_tenant on app_public.appointment_notices is 'Everyone in the tenant sees which patient e-mails were sent or skipped.';
grant select on app_public.appointment_notices to :DATABASE_VISITOR;

create function app_private.queue_appointment_notice(tenant_id uuid, patient_id uuid, appointment_id uuid, series_id uuid,
                                                     kind text, sequence integer, visit_starts_at timestamptz)
  returns void
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_id uuid;
begin
  insert into app_public.appointment_notices (tenant_id, patient_id, appointment_id, series_id, kind, sequence, visit_starts_at)
    values (queue_appointment_notice.tenant_id, queue_appointment_notice.patient_id, queue_appointment_notice.appointment_id,
            queue_appointment_notice.series_id, queue_appointment_notice.kind, queue_appointment_notice.sequence,
            queue_appointment_notice.visit_starts_at)
    returning id into v_id;
  perform app_private.enqueue_job(queue_appointment_notice.tenant_id, 'send_appointment_notice',
                                  jsonb_build_object('tenant_id', queue_appointment_notice.tenant_id, 'notice_id', v_id));
end;
$$;
comment on function app_private.queue_appointment_notice(uuid, uuid, uuid, uuid, text, integer, timestamptz) is
  'Queues a patient notice and its send job, in the caller''s transaction. SECURITY DEFINER: staff cannot write notices themselves.';
revoke execute on function app_private.queue_appointment_notice(uuid, uuid, uuid, uuid, text, integer, timestamptz) from public;

create function app_private.tg_appointments__queue_notice() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if new.starts_at <= now() then
    return null; -- history being recorded: nothing to tell the patient
  end if;
  if tg_op = 'INSERT' then
    if new.status <> 'booked' then
      return null;
    elsif new.series_id is null then
      perform app_private.queue_appointment_notice(new.tenant_id, new.patient_id, new.id, null, 'confirmation', new.sequence, new.starts_at);
    else
      perform app_private.queue_series_confirmation(new.tenant_id, new.patient_id, new.series_id);
    end if;
  elsif new.sequence > old.sequence then
    perform app_private.queue_appointment_notice(new.tenant_id, new.patient_id, new.id, null,
      case when new.status = 'booked' then 'change' else 'cancellation' end, new.sequence, new.starts_at);
  end if;
  return null;
end;
$$;
comment on function app_private.tg_appointments__queue_notice() is
  'Queues the patient''s confirmation of a booked appointment (one for a whole series), and a change or cancellation notice when its revision counts up; nothing for a visit that has begun. It runs on the shard of the row (under Citus), writing only that tenant''s rows.';
create trigger _900_queue_notice after insert or update on app_public.appointments
  for each row execute function app_private.tg_appointments__queue_notice();

create unique index appointment_notices_one_series_confirmation on app_public.appointment_notices (tenant_id, series_id)
  where series_id is not null;
comment on index app_public.appointment_notices_one_series_confirmation is 'One confirmation per series, however many visits it books.';

create function app_private.queue_series_confirmation(tenant_id uuid, patient_id uuid, series_id uuid) returns void
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_id uuid;
begin
  insert into app_public.appointment_notices (tenant_id, patient_id, series_id, kind)
    values (queue_series_confirmation.tenant_id, queue_series_confirmation.patient_id, queue_series_confirmation.series_id,
            'confirmation')
    on conflict (tenant_id, series_id) where series_id is not null do nothing
    returning id into v_id;
  if v_id is not null then
    perform app_private.enqueue_job(queue_series_confirmation.tenant_id, 'send_appointment_notice',
                                    jsonb_build_object('tenant_id', queue_series_confirmation.tenant_id, 'notice_id', v_id));
  end if;
end;
$$;
comment on function app_private.queue_series_confirmation(uuid, uuid, uuid) is
  'Queues the one confirmation of a series, listing its upcoming visits when sent, unless it is queued already. Only createAppointmentSeries inserts a series'' visits; a split moves existing ones, which send change notices. SECURITY DEFINER: staff cannot write notices themselves.';
revoke execute on function app_private.queue_series_confirmation(uuid, uuid, uuid) from public;

--------------------------------------------------------------------------------
-- Who an e-mail was sent to (issue 13): a user (welcome, account, trial notices) or a patient.
--------------------------------------------------------------------------------
alter table app_private.email_deliveries
  alter column user_id drop not null,
  add column patient_id uuid,
  add constraint email_deliveries_patient_fkey foreign key (tenant_id, patient_id)
    references app_public.patients (tenant_id, id) on delete cascade,
  add constraint email_deliveries_one_recipient check ((user_id is null) <> (patient_id is null));
create index email_deliveries_patient_idx on app_private.email_deliveries (tenant_id, patient_id);
comment on column app_private.email_deliveries.user_id is 'Recipient, when a user (NULL for a patient).';
comment on column app_private.email_deliveries.patient_id is 'Recipient, when a patient (NULL for a user).';
comment on column app_private.email_deliveries.template is
  'Which template was sent (`welcome`, `account`, `trial_notice`, `appointment_notice`).';

--------------------------------------------------------------------------------
-- Reminders (issue 13). A cron job (every minute) records the reminders whose moment has come,
-- from the database's own view of the appointments: a worker that was down over the moment
-- sends it on restart, once (the unique index), and never for a visit that has begun.
--------------------------------------------------------------------------------
create index appointments_booked_starts_at_idx on app_public.appointments (starts_at) where status = 'booked';
comment on index app_public.appointments_booked_starts_at_idx is
  'app_private.schedule_appointment_reminders: the booked visits of every tenant in the coming days.';

create function app_private.schedule_appointment_reminders(at timestamptz default now()) returns integer
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_notice record;
  v_count integer := 0;
begin
  -- Per booked visit still ahead, the shortest lead whose moment has come: after an outage that
  -- spanned both moments, only the later reminder goes. A visit booked (or moved, which queues a
  -- notice) after that moment gets none: its confirmation or change notice was the reminder.
  for v_notice in
    insert into app_public.appointment_notices (tenant_id, patient_id, appointment_id, kind, sequence, lead_minutes, visit_starts_at)
    select a.tenant_id, a.patient_id, a.id, 'reminder', a.sequence, r.lead, a.starts_at
    from app_public.appointments a
    join app_public.tenants t on t.id = a.tenant_id
    cross join lateral (
      select l.lead from unnest(array[t.reminder_lead_minutes, t.second_reminder_lead_minutes]) l(lead)
      where l.lead is not null and a.starts_at - make_interval(mins => l.lead) <= at
      order by l.lead limit 1
    ) r
    where a.status = 'booked' and a.starts_at > at and a.starts_at <= at + interval '14 days'
      and a.created_at <= a.starts_at - make_interval(mins => r.lead)
      and not exists (
        select 1 from app_public.appointment_notices n
        where n.tenant_id = a.tenant_id and n.appointment_id = a.id and n.kind = 'change'
          and n.created_at > a.starts_at - make_interval(mins => r.lead))
    on conflict (tenant_id, appointment_id, lead_minutes, visit_starts_at) where kind = 'reminder' do nothing
    returning tenant_id, id
  loop
    perform app_private.enqueue_job(v_notice.tenant_id, 'send_appointment_notice',
                                    jsonb_build_object('tenant_id', v_notice.tenant_id, 'notice_id', v_notice.id));
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function app_private.schedule_appointment_reminders(timestamptz) is
  'Records the reminders due at `at` (default now) that were not recorded yet, enqueues one send job for each, and returns how many. Safe to run any number of times, concurrently. Owner only: the worker''s cron job calls it every minute.';
revoke execute on function app_private.schedule_appointment_reminders(timestamptz) from public;

--------------------------------------------------------------------------------
-- What a patient notice says, decided when it is sent (issue 13). Only the minimum necessary:
-- the clinic group, the time in its zone, the office's name and address. Never the reason,
-- notes or anything clinical.
--------------------------------------------------------------------------------
create function app_private.skip_appointment_notice(tenant_id uuid, notice_id uuid, reason text) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  update app_public.appointment_notices n set status = 'skipped', skip_reason = skip_appointment_notice.reason, decided_at = now()
    where n.tenant_id = skip_appointment_notice.tenant_id and n.id = skip_appointment_notice.notice_id and n.status = 'queued';
end;
$$;
comment on function app_private.skip_appointment_notice(uuid, uuid, text) is 'Records that a queued notice will not be sent, and why.';
revoke execute on function app_private.skip_appointment_notice(uuid, uuid, text) from public;

create function app_private.record_appointment_notice_sent(tenant_id uuid, notice_id uuid) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  update app_public.appointment_notices n set status = 'sent', decided_at = now()
    where n.tenant_id = record_appointment_notice_sent.tenant_id and n.id = record_appointment_notice_sent.notice_id
      and n.status = 'queued';
end;
$$;
comment on function app_private.record_appointment_notice_sent(uuid, uuid) is 'Records that the mail server accepted a notice. Owner only: the worker calls it.';
revoke execute on function app_private.record_appointment_notice_sent(uuid, uuid) from public;

create function app_private.appointment_notice_email(tenant_id uuid, notice_id uuid)
  returns table (kind text, email citext, patient_id uuid, patient_name text, tenant_name text, time_zone text,
                 appointment_id uuid, sequence integer, starts_at timestamptz, ends_at timestamptz,
                 office_name text, office_address text)
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := appointment_notice_email.tenant_id;
  v_notice app_public.appointment_notices;
  v_patient app_public.patients;
  v_appointment app_public.appointments;
  v_kind text;
  v_reason text;
  v_told boolean;
begin
  select * into v_notice from app_public.appointment_notices n
    where n.tenant_id = v_tenant_id and n.id = appointment_notice_email.notice_id and n.status = 'queued';
  if not found then
    return; -- decided already (a retried job), or its appointment was deleted
  end if;
  select * into v_patient from app_public.patients p where p.tenant_id = v_tenant_id and p.id = v_notice.patient_id;
  if v_notice.appointment_id is not null then
    select * into v_appointment from app_public.appointments a
      where a.tenant_id = v_tenant_id and a.id = v_notice.appointment_id;
    -- Was the patient told of this visit before (a sent notice of it, or of its series)?
    v_told := exists (
      select 1 from app_public.appointment_notices n
      where n.tenant_id = v_tenant_id and n.status = 'sent'
        and (n.appointment_id = v_appointment.id or n.series_id = v_appointment.series_id));
    v_kind := case
      when v_notice.kind in ('confirmation', 'change') then case when v_told then 'change' else 'confirmation' end
      else v_notice.kind end;
    v_reason := case
      when v_notice.kind <> 'reminder' and v_appointment.sequence > v_notice.sequence then 'superseded'
      when v_notice.kind = 'cancellation' and not v_told then 'nothing-sent'
      when v_notice.kind <> 'cancellation' and v_appointment.status <> 'booked' then 'not-booked'
      when v_notice.kind = 'reminder' and v_appointment.starts_at <> v_notice.visit_starts_at then 'moved'
      when v_appointment.starts_at <= now() then 'past'
    end;
  elsif not exists (select 1 from app_public.appointments a
                    where a.tenant_id = v_tenant_id and a.series_id = v_notice.series_id and a.status = 'booked'
                      and a.starts_at > now()) then
    v_reason := 'past';
  end if;
  v_reason := coalesce(v_reason, case
    when v_patient.email is null then 'no-email'
    when not v_patient.email_consent then 'no-consent'
  end);
  if v_reason is not null then
    perform app_private.skip_appointment_notice(v_tenant_id, v_notice.id, v_reason);
    return;
  end if;
  return query
  select coalesce(v_kind, 'confirmation'), v_patient.email, v_patient.id, v_patient.full_name, t.name, t.time_zone,
         a.id, a.sequence, a.starts_at, a.ends_at, o.value ->> 'name', o.value ->> 'address'
  from app_public.appointments a
  join app_public.tenants t on t.id = a.tenant_id
  join app_public.doctors d on d.tenant_id = a.tenant_id and d.id = a.doctor_id
  left join lateral jsonb_array_elements(d.offices) o(value) on o.value ->> 'id' = a.office_id
  where a.tenant_id = v_tenant_id
    and (a.id = v_notice.appointment_id
         or (a.series_id = v_notice.series_id and a.status = 'booked' and a.starts_at > now()))
  order by a.starts_at;
end;
$$;
comment on function app_private.appointment_notice_email(uuid, uuid) is
  'What a queued patient notice says now: one row per visit it is about (a series confirmation lists its upcoming booked occurrences), with the kind to send (a change to a visit the patient was never told of is sent as its confirmation). Nothing when it must not be sent: then the notice is recorded as skipped with its reason. Only the clinic group, the time, the office and the patient''s name and address: never the reason, notes or anything clinical. Owner only: the worker calls it.';
revoke execute on function app_private.appointment_notice_email(uuid, uuid) from public;

--------------------------------------------------------------------------------
-- The operators' view of patient notices (issue 13): `npm run tenant -- notifications <slug>`.
--------------------------------------------------------------------------------
create function app_private.notification_report(tenant text, since timestamptz, before timestamptz)
  returns table (created_at timestamptz, kind text, status text, skip_reason text, delivery text, decided_at timestamptz,
                 appointment_id uuid, series_id uuid, patient_id uuid, lead_minutes integer)
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.find_tenant(notification_report.tenant);
begin
  return query
  select n.created_at, n.kind, n.status, n.skip_reason,
         case when d.idempotency_key is null then null when d.accepted_at is null then 'unknown' else 'accepted' end,
         n.decided_at, n.appointment_id, n.series_id, n.patient_id, n.lead_minutes
  from app_public.appointment_notices n
  left join app_private.email_deliveries d
    on d.tenant_id = n.tenant_id and d.idempotency_key = 'appointment_notice:' || n.id
  where n.tenant_id = v_tenant_id and n.created_at >= notification_report.since and n.created_at < notification_report.before
  order by n.created_at, n.id;
end;
$$;
comment on function app_private.notification_report(text, timestamptz, timestamptz) is
  'A tenant''s (id or slug) patient notices queued in [since, before): kind, status (queued, sent, skipped with its reason), and the mail delivery (`accepted`, or `unknown` when sending was interrupted). Ids only, no patient data. Owner only.';
revoke execute on function app_private.notification_report(text, timestamptz, timestamptz) from public;
