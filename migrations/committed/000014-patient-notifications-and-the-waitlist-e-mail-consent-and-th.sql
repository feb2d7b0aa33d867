--! Previous: sha1:16e6ec1b255896343a3dd73c395cbf7c19ea03cf
--! Hash: sha1:dbacf59ff57769fa04e15a6b9c2ef62090dc28f8
--! Message: Patient notifications and the waitlist: e-mail consent and the unsubscribe link, appointment revisions, notices queued with each change, reminders on a schedule, freed slots offered to waiting patients, the booking rules as a function

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
    second_reminder_lead_minutes is null
    or (second_reminder_lead_minutes between 15 and 20160 and second_reminder_lead_minutes < reminder_lead_minutes));
comment on column app_public.tenants.reminder_lead_minutes is
  'How long before a visit the patient''s reminder is sent, in minutes (15 to 20,160, i.e. 14 days; default 1,440, a day). NULL: no reminders.';
comment on column app_public.tenants.second_reminder_lead_minutes is
  'A second, shorter reminder (e.g. 120), sent after the first; NULL (default): none; only with a first one. When both moments have passed unsent (a worker was down), only this one is sent.';
grant update (reminder_lead_minutes, second_reminder_lead_minutes) on app_public.tenants to :DATABASE_VISITOR;

--------------------------------------------------------------------------------
-- Revisions of an appointment (issue 13): the RFC 5545 SEQUENCE of its calendar entry. A change
-- a patient must hear of (time, office, doctor or patient of a booked visit; a cancellation; a
-- booking that becomes `booked`) counts one more, and queues a notice.
--------------------------------------------------------------------------------
alter table app_public.appointments add column sequence integer not null default 0;
comment on column app_public.appointments.sequence is
  'Revision of the appointment as the patient knows it: the SEQUENCE of its calendar entry. Counted by the database when the time, office, doctor or patient of a booked visit changes, when it is cancelled and when it becomes booked.';

create function app_private.tg_appointments__count_revision() returns trigger
  language plpgsql volatile
as $$
begin
  if (new.status in ('cancelled', 'entered-in-error') and old.status not in ('cancelled', 'entered-in-error'))
     or (new.status = 'booked' and (old.status <> 'booked'
         or (new.starts_at, new.ends_at, new.office_id, new.doctor_id, new.patient_id) is distinct from
            (old.starts_at, old.ends_at, old.office_id, old.doctor_id, old.patient_id))) then
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
  reminder_number integer check (reminder_number in (1, 2)),
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
  (tenant_id, appointment_id, visit_starts_at, reminder_number) where kind = 'reminder';
comment on index app_public.appointment_notices_one_reminder is
  'The first and the second reminder once per visit time: the scheduler may run any number of times, or late, and a changed lead time sends no second copy.';
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
comment on column app_public.appointment_notices.reminder_number is 'For a reminder: 1, the first, or 2, the second (tenants.second_reminder_lead_minutes).';
comment on column app_public.appointment_notices.visit_starts_at is 'The start of the visit when the notice was queued.';
comment on column app_public.appointment_notices.status is '`queued` (the worker has not decided yet), `sent` (the mail server accepted it), `skipped` (see skip_reason).';
comment on column app_public.appointment_notices.skip_reason is
  'Why nothing was sent: `no-email` (the patient has no address), `no-consent`, `past` (the visit had begun), `superseded` (a later change queued its own notice, or the visit is now another patient''s), `not-booked` (cancelled or not booked when the reminder was due), `moved` (a reminder for a time the visit no longer has), `nothing-sent` (a cancellation of a visit the patient was never told of).';
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
    if new.patient_id <> old.patient_id then
      -- Booked for the wrong patient and corrected: the first is told it is off, the second gets it.
      perform app_private.queue_appointment_notice(new.tenant_id, old.patient_id, new.id, null, 'cancellation', new.sequence,
                                                   new.starts_at);
    end if;
    if new.status = 'booked' then
      perform app_private.queue_appointment_notice(new.tenant_id, new.patient_id, new.id, null, 'change', new.sequence, new.starts_at);
    elsif new.patient_id = old.patient_id then
      perform app_private.queue_appointment_notice(new.tenant_id, new.patient_id, new.id, null, 'cancellation', new.sequence,
                                                   new.starts_at);
    end if;
  end if;
  return null;
end;
$$;
comment on function app_private.tg_appointments__queue_notice() is
  'Queues the patient''s confirmation of a booked appointment (one for a whole series), and a change or cancellation notice when its revision counts up (a change of patient: a cancellation to the first, the visit to the second); nothing for a visit that has begun. It runs on the shard of the row (under Citus), writing only that tenant''s rows.';
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
  'Which template was sent (`welcome`, `account`, `trial_notice`, `appointment_notice`, `waitlist_offer`).';

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
    insert into app_public.appointment_notices
      (tenant_id, patient_id, appointment_id, kind, sequence, lead_minutes, reminder_number, visit_starts_at)
    select a.tenant_id, a.patient_id, a.id, 'reminder', a.sequence, r.lead, r.number, a.starts_at
    from app_public.appointments a
    join app_public.tenants t on t.id = a.tenant_id
    cross join lateral (
      select l.lead, l.number::integer
      from unnest(array[t.reminder_lead_minutes, t.second_reminder_lead_minutes]) with ordinality l(lead, number)
      where l.lead is not null and a.starts_at - make_interval(mins => l.lead) <= at
      order by l.lead limit 1
    ) r
    where a.status = 'booked' and a.starts_at > at and a.starts_at <= at + interval '14 days'
      and a.created_at <= a.starts_at - make_interval(mins => r.lead)
      and not exists (
        select 1 from app_public.appointment_notices n
        where n.tenant_id = a.tenant_id and n.appointment_id = a.id and n.kind = 'change'
          and n.created_at > a.starts_at - make_interval(mins => r.lead))
    on conflict (tenant_id, appointment_id, visit_starts_at, reminder_number) where kind = 'reminder' do nothing
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
  -- Only what the mail server accepted: a send of unknown outcome stays queued (and the
  -- operators' report shows its delivery as `unknown`).
  update app_public.appointment_notices n set status = 'sent', decided_at = now()
    where n.tenant_id = record_appointment_notice_sent.tenant_id and n.id = record_appointment_notice_sent.notice_id
      and n.status = 'queued'
      and exists (select 1 from app_private.email_deliveries d
                  where d.tenant_id = record_appointment_notice_sent.tenant_id
                    and d.idempotency_key = 'appointment_notice:' || record_appointment_notice_sent.notice_id
                    and d.accepted_at is not null);
end;
$$;
comment on function app_private.record_appointment_notice_sent(uuid, uuid) is 'Records a notice as sent once its delivery was accepted by the mail server (a retried job that found it delivered records it too). Owner only: the worker calls it.';
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
    -- Was this patient told of this visit before: a notice of it, or of its series, that was sent
    -- or is being sent (claimed, so a cancellation racing its confirmation still goes out)?
    v_told := exists (
      select 1 from app_public.appointment_notices n
      where n.tenant_id = v_tenant_id and n.patient_id = v_notice.patient_id
        and (n.appointment_id = v_appointment.id or n.series_id = v_appointment.series_id)
        and (n.status = 'sent'
             or exists (select 1 from app_private.email_deliveries d
                        where d.tenant_id = v_tenant_id and d.idempotency_key = 'appointment_notice:' || n.id)));
    v_kind := case
      when v_notice.kind in ('confirmation', 'change') then case when v_told then 'change' else 'confirmation' end
      else v_notice.kind end;
    v_reason := case
      when v_notice.kind <> 'reminder' and v_appointment.sequence > v_notice.sequence then 'superseded'
      when v_notice.kind <> 'cancellation' and v_appointment.patient_id <> v_notice.patient_id then 'superseded'
      when v_notice.kind = 'cancellation' and not v_told then 'nothing-sent'
      when v_notice.kind <> 'cancellation' and v_appointment.status <> 'booked' then 'not-booked'
      when v_notice.kind = 'reminder' and v_appointment.starts_at <> v_notice.visit_starts_at then 'moved'
      when v_appointment.starts_at <= now() then 'past'
    end;
  elsif not exists (select 1 from app_public.appointments a
                    where a.tenant_id = v_tenant_id and a.series_id = v_notice.series_id and a.patient_id = v_notice.patient_id
                      and a.status = 'booked' and a.starts_at > now()) then
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
         or (a.series_id = v_notice.series_id and a.patient_id = v_notice.patient_id and a.status = 'booked'
             and a.starts_at > now()))
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
create index freed_slots_starts_at_idx on app_private.freed_slots (tenant_id, starts_at);
comment on index app_private.freed_slots_starts_at_idx is 'app_private.reoffer_freed_slots: a tenant''s freed slots still ahead.';
comment on table app_private.freed_slots is
  'Booked time that became free (a cancellation, a move) while the tenant had patients waiting: what the waitlist offers. The send job''s payload names one.';
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
create unique index waitlist_offers_one_pending_per_entry on app_public.waitlist_offers (tenant_id, entry_id)
  where status = 'pending';
comment on index app_public.waitlist_offers_one_pending_per_entry is 'A patient holds one offer at a time, so two freed slots never both go to one entry.';
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
     or (app_private.holds_slot(new.status)
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
  'Records the time a cancelled or moved visit frees, and enqueues its offer to the waitlist, when the tenant has patients waiting. A deleted visit frees nothing: deletion is for entries made by mistake, and tells the patient nothing. Runs on the shard of the row (under Citus), writing only that tenant''s rows.';
create trigger _910_free_slot after update on app_public.appointments
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
  if v_id is not null then
    perform app_private.reoffer_freed_slots(new.tenant_id); -- its patient may take another freed slot
  end if;
  return null;
end;
$$;
comment on function app_private.tg_appointments__withdraw_offers() is
  'Withdraws the pending waitlist offers a new or moved booking overlaps: a slot booked by staff meanwhile ends the offer.';
create trigger _920_withdraw_offers after insert or update of starts_at, ends_at, doctor_id, status on app_public.appointments
  for each row when (app_private.holds_slot(new.status))
  execute function app_private.tg_appointments__withdraw_offers();

create function app_private.reoffer_freed_slots(tenant_id uuid) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_slot_id uuid;
begin
  for v_slot_id in
    select s.id from app_private.freed_slots s
    where s.tenant_id = reoffer_freed_slots.tenant_id and s.starts_at > now()
      and not exists (select 1 from app_public.waitlist_offers o
                      where o.tenant_id = reoffer_freed_slots.tenant_id and o.freed_slot_id = s.id
                        and o.status in ('pending', 'accepted'))
  loop
    perform app_private.enqueue_job(reoffer_freed_slots.tenant_id, 'offer_waitlist_slot',
                                    jsonb_build_object('tenant_id', reoffer_freed_slots.tenant_id, 'freed_slot_id', v_slot_id));
  end loop;
end;
$$;
comment on function app_private.reoffer_freed_slots(uuid) is
  'Enqueues a new offer round for each of a tenant''s freed slots still ahead that nobody holds or took: after an offer ends (declined, expired, withdrawn), its patient and its slot are free again, and a slot that found everyone busy gets another chance; likewise when an entry is added. Owner only.';
revoke execute on function app_private.reoffer_freed_slots(uuid) from public;

create function app_private.tg_waitlist_entries__pass_on_offers() returns trigger
  language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp
as $$
begin
  if tg_op = 'UPDATE' then
    if new.status = old.status then
      return null;
    end if;
    update app_public.waitlist_offers o set status = 'withdrawn', decided_at = now()
      where o.tenant_id = new.tenant_id and o.entry_id = new.id and o.status = 'pending';
  end if;
  perform app_private.reoffer_freed_slots(new.tenant_id);
  return null;
end;
$$;
comment on function app_private.tg_waitlist_entries__pass_on_offers() is
  'A new entry may take a freed slot nobody took; an entry whose status changes (cancelled by staff, booked) withdraws its pending offer, whose slot goes to the next entry.';
create trigger _900_pass_on_offers after insert or update of status on app_public.waitlist_entries
  for each row execute function app_private.tg_waitlist_entries__pass_on_offers();

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
  limit 1
  for update of e skip locked; -- another job choosing at this moment takes the next entry
  if v_entry.id is null then
    return null;
  end if;
  -- The time must still be bookable (working hours, time off, notice, horizon), or nobody gets it.
  begin
    perform app_private.assert_booking_rules(v_tenant_id, v_slot.doctor_id, v_slot.office_id, v_slot.starts_at,
                                             v_slot.starts_at + make_interval(mins => v_entry.minutes), false, null);
  exception
    when sqlstate 'HOURS' then
      return null;
  end;
  insert into app_public.waitlist_offers (tenant_id, entry_id, freed_slot_id, doctor_id, office_id, starts_at, ends_at, expires_at)
    values (v_tenant_id, v_entry.id, v_slot.id, v_slot.doctor_id, v_slot.office_id, v_slot.starts_at,
            v_slot.starts_at + make_interval(mins => v_entry.minutes), least(now() + offer_freed_slot.hold, v_slot.starts_at))
    on conflict do nothing
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
  if v_entry.status <> 'waiting' then
    raise exception 'This offer is no longer available, or the link is not valid.' using errcode = 'TOKEN';
  end if;
  if not answer_waitlist_offer.accept then
    update app_public.waitlist_offers o set status = 'declined', decided_at = now() where o.tenant_id = v_tenant_id and o.id = v_offer.id;
    perform app_private.reoffer_freed_slots(v_tenant_id);
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
      returning o.tenant_id
  loop
    perform app_private.reoffer_freed_slots(v_offer.tenant_id);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function app_private.expire_waitlist_offers(timestamptz) is
  'Ends the holds that ran out by `at` (default now) and passes each slot on to the next entry (app_private.reoffer_freed_slots); returns how many. Owner only: the worker''s cron job calls it every minute.';
revoke execute on function app_private.expire_waitlist_offers(timestamptz) from public;
