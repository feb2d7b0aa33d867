--! Previous: sha1:93f7db45cb43711a84e23fb94c0c1ccf6c47665a
--! Hash: sha1:a19a18b3c9ec4efd404afa16fa648c6265d92a6b
--! Message: E-mail delivery states that survive a worker crash, worker heartbeats that unlock a dead worker's jobs, and the operators' delivery report and resend

--! split: 1-current.sql
--------------------------------------------------------------------------------
-- E-mail delivery states (issue 14). A delivery row tells apart what a crash leaves behind:
--   not_sent  claimed by a worker (or released), nothing handed to the mail server yet: retried;
--   sending   handed over, no answer recorded: if its worker died, the server may or may not have it;
--   sent      the server (or the outbox folder) accepted it;
--   unknown   a `sending` whose worker died or whose answer never came: reported, and resent only
--             by an operator (app_private.resend_email_delivery), never silently.
-- The worker moves a row along with the functions below; the rules (who may take over a claim,
-- when a send becomes unknown) live here, in one place.
--------------------------------------------------------------------------------
alter table app_private.email_deliveries
  add column status text not null default 'not_sent'
    constraint email_deliveries_status_check check (status in ('not_sent', 'sending', 'sent', 'unknown')),
  add column claim_token uuid,
  add column claimed_by text,
  add column claimed_at timestamptz,
  add column handed_over_at timestamptz,
  add column job_task text,
  add column job_payload jsonb,
  add column resent_at timestamptz;
-- Rows from before: accepted ones were sent; the rest were interrupted with their fate unknown.
-- Their jobs, from their keys, so that an operator can resend them too.
update app_private.email_deliveries set
  status = case when accepted_at is null then 'unknown' else 'sent' end,
  job_task = case split_part(idempotency_key, ':', 1)
    when 'welcome' then 'send_welcome_email'
    when 'account' then 'send_account_email'
    when 'trial_notice' then 'send_trial_notice'
    when 'appointment_notice' then 'send_appointment_notice'
    when 'waitlist_offer' then 'send_waitlist_offer' end,
  job_payload = case split_part(idempotency_key, ':', 1)
    when 'welcome' then jsonb_build_object('tenant_id', tenant_id)
    when 'account' then jsonb_build_object('user_id', user_id)
    when 'trial_notice' then jsonb_build_object('trial_notice_id', split_part(idempotency_key, ':', 2))
    when 'appointment_notice' then jsonb_build_object('tenant_id', tenant_id, 'notice_id', split_part(idempotency_key, ':', 2))
    when 'waitlist_offer' then jsonb_build_object('tenant_id', tenant_id, 'offer_id', split_part(idempotency_key, ':', 2)) end;
alter table app_private.email_deliveries alter column job_task set not null, alter column job_payload set not null;
create index email_deliveries_open_idx on app_private.email_deliveries (tenant_id, started_at) where status <> 'sent';
comment on constraint email_deliveries_status_check on app_private.email_deliveries is
  'The four delivery states: not_sent, sending, sent, unknown.';
comment on table app_private.email_deliveries is
  'One row per e-mail, claimed before sending so that a retried job or a second worker never sends it twice. `status` tells what a crash left: not_sent (retried), sending (handed over, no answer yet), sent, unknown (reported; an operator resends it with app_private.resend_email_delivery).';
comment on column app_private.email_deliveries.status is
  'not_sent: nothing handed to the mail server (a retry sends it); sending: handed over, waiting for the answer; sent: accepted; unknown: handed over and its answer lost (its worker died or timed out), so it is reported and not resent on its own.';
comment on column app_private.email_deliveries.claim_token is
  'The attempt that holds the claim, new for every attempt: only it may issue the e-mail''s links, hand it over and record the outcome. NULL: released (after a refusal, or by a resend).';
comment on column app_private.email_deliveries.claimed_by is
  'The graphile-worker pool (one per worker process) that runs the holding attempt: while its heartbeat lives (app_private.worker_heartbeats), and for at most 15 minutes, nobody takes the claim over.';
comment on column app_private.email_deliveries.claimed_at is 'When the holding attempt claimed it.';
comment on column app_private.email_deliveries.handed_over_at is 'When the worker began handing the message to the mail server (status sending).';
comment on column app_private.email_deliveries.started_at is 'When the delivery was first claimed.';
comment on column app_private.email_deliveries.job_task is 'The graphile-worker task that sends it, run again by a resend.';
comment on column app_private.email_deliveries.job_payload is 'That task''s payload (ids only), for a resend.';
comment on column app_private.email_deliveries.resent_at is 'When an operator last resent it (app_private.resend_email_delivery): after `claimed_at`, the resend waits for its job, or its job found nothing to send.';

--------------------------------------------------------------------------------
-- Worker heartbeats (issue 14). graphile-worker 0.17 keeps a dead worker's jobs locked for four
-- hours. Each worker process records a heartbeat for its worker pool (the id its jobs'
-- `locked_by` names) every few seconds; any process finds the pools silent for longer than
-- WORKER_DEAD_AFTER_SECONDS, unlocks their jobs and forgets them. A pool is alive while its
-- heartbeat row exists: that is also what keeps its e-mail claims from being taken over. A
-- coordinator-local table under Citus, beside the queue.
--------------------------------------------------------------------------------
create table app_private.worker_heartbeats (
  worker_id text primary key,
  beat_at   timestamptz not null default now()
);
comment on table app_private.worker_heartbeats is
  'Live graphile-worker pools, one row each, refreshed every few seconds by their process. A row older than the dead-after bound is a dead pool: app_private.unlock_dead_workers unlocks its jobs and deletes the row.';
comment on column app_private.worker_heartbeats.worker_id is 'graphile-worker''s pool id, as its jobs'' `locked_by` names it.';
comment on column app_private.worker_heartbeats.beat_at is 'The last heartbeat.';

create function app_private.beat_workers(worker_ids text[]) returns void
  language sql volatile set search_path = pg_catalog, public, pg_temp
as $$
  insert into app_private.worker_heartbeats (worker_id, beat_at)
    select id, now() from unnest(beat_workers.worker_ids) id
  on conflict (worker_id) do update set beat_at = excluded.beat_at;
$$;
comment on function app_private.beat_workers(text[]) is 'Records a heartbeat for the worker pools of one process (re-registering any a sweep forgot). Owner only.';
revoke execute on function app_private.beat_workers(text[]) from public;

create function app_private.forget_workers(worker_ids text[]) returns void
  language sql volatile set search_path = pg_catalog, public, pg_temp
as $$
  delete from app_private.worker_heartbeats h where h.worker_id = any(forget_workers.worker_ids);
$$;
comment on function app_private.forget_workers(text[]) is 'Removes the heartbeats of worker pools that stopped cleanly (they hold no job). Owner only.';
revoke execute on function app_private.forget_workers(text[]) from public;

create function app_private.unlock_dead_workers(dead_after interval) returns text[]
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
declare
  v_dead text[];
begin
  -- Silent heartbeats, and pools that hold a job this long without having one (a process that
  -- died before its first heartbeat, or one of a version without heartbeats).
  select array_agg(distinct w) into v_dead from (
    select h.worker_id from app_private.worker_heartbeats h where h.beat_at < now() - unlock_dead_workers.dead_after
    union all
    select j.locked_by from graphile_worker._private_jobs j
      where j.locked_by is not null and j.locked_at < now() - unlock_dead_workers.dead_after
        and not exists (select 1 from app_private.worker_heartbeats h where h.worker_id = j.locked_by)
    union all
    select q.locked_by from graphile_worker._private_job_queues q
      where q.locked_by is not null and q.locked_at < now() - unlock_dead_workers.dead_after
        and not exists (select 1 from app_private.worker_heartbeats h where h.worker_id = q.locked_by)
  ) dead(w);
  if v_dead is not null then
    perform graphile_worker.force_unlock_workers(v_dead);
    delete from app_private.worker_heartbeats h where h.worker_id = any(v_dead);
  end if;
  return coalesce(v_dead, '{}');
end;
$$;
comment on function app_private.unlock_dead_workers(interval) is
  'Unlocks the jobs of worker pools silent for longer than `dead_after` (graphile_worker.force_unlock_workers) and forgets them, so their jobs run again on a live pool within that bound rather than after graphile-worker''s four hours. Returns their ids. Owner only; every worker process runs it on the coordinator.';
revoke execute on function app_private.unlock_dead_workers(interval) from public;

--------------------------------------------------------------------------------
-- Moving a delivery along (issue 14): claim, issue its links, hand over, finish. Each attempt
-- brings a new claim token; only the attempt whose token the row holds may go on. A claim passes
-- to another attempt when it was released, when its pool has no heartbeat, or after 15 minutes
-- (longer than any attempt lasts: the mailer gives an SMTP exchange 10 minutes in all). Taking
-- over is safe even from an attempt still running: its hand-over then fails, so it sends nothing.
--------------------------------------------------------------------------------
create function app_private.resend_pending(status text, resent_at timestamptz, claimed_at timestamptz) returns boolean
  language sql immutable set search_path = pg_catalog, public, pg_temp
as $$
  select resend_pending.status in ('unknown', 'not_sent')
     and coalesce(resend_pending.resent_at > coalesce(resend_pending.claimed_at, '-infinity'), false);
$$;
comment on function app_private.resend_pending(text, timestamptz, timestamptz) is
  'Whether an operator resent this e-mail and no attempt has claimed it since: its job is queued, or ran and found nothing to send any more (a visit now past). Such a row waits for nobody: it is left out of the open-delivery counts. Owner only.';
revoke execute on function app_private.resend_pending(text, timestamptz, timestamptz) from public;

create function app_private.claim_email_delivery(
  tenant_id uuid, idempotency_key text, user_id uuid, patient_id uuid, template text, message_id text,
  pool_id text, claim_token uuid, job_task text, job_payload jsonb
) returns table (claim text, delivery_tenant_id uuid)
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_key text := claim_email_delivery.idempotency_key;
  v_row app_private.email_deliveries;
begin
  delivery_tenant_id := claim_email_delivery.tenant_id;
  if claim_email_delivery.user_id is not null then
    select u.tenant_id into delivery_tenant_id from app_public.users u where u.id = claim_email_delivery.user_id;
    if not found then
      claim := 'no-recipient';
      return next;
      return;
    end if;
  end if;
  insert into app_private.email_deliveries
      (tenant_id, idempotency_key, user_id, patient_id, template, message_id, status, claim_token, claimed_by, claimed_at,
       job_task, job_payload)
    values (delivery_tenant_id, v_key, claim_email_delivery.user_id, claim_email_delivery.patient_id,
            claim_email_delivery.template, claim_email_delivery.message_id, 'not_sent', claim_email_delivery.claim_token,
            claim_email_delivery.pool_id, now(), claim_email_delivery.job_task, claim_email_delivery.job_payload)
    on conflict (tenant_id, idempotency_key) do nothing;
  if found then
    claim := 'send';
    return next;
    return;
  end if;
  select * into v_row from app_private.email_deliveries d where d.tenant_id = delivery_tenant_id and d.idempotency_key = v_key;
  if v_row.status = 'sent' or (v_row.status = 'unknown' and not app_private.resend_pending(v_row.status, v_row.resent_at, v_row.claimed_at)) then
    claim := v_row.status;
  -- Held by a live attempt. The heartbeats are local to the coordinator, the deliveries
  -- distributed: a statement of its own.
  elsif v_row.status in ('not_sent', 'sending') and v_row.claim_token is not null
        and v_row.claimed_at > now() - interval '15 minutes'
        and exists (select 1 from app_private.worker_heartbeats h where h.worker_id = v_row.claimed_by) then
    claim := 'busy';
  elsif v_row.status in ('not_sent', 'unknown') then
    -- Released, its holder gone, or an unknown one an operator resent.
    update app_private.email_deliveries d
      set status = 'not_sent', claim_token = claim_email_delivery.claim_token, claimed_by = claim_email_delivery.pool_id,
          claimed_at = now(), handed_over_at = null
      where d.tenant_id = delivery_tenant_id and d.idempotency_key = v_key
        and d.status = v_row.status and d.claim_token is not distinct from v_row.claim_token;
    claim := case when found then 'send' else 'busy' end;
  else
    -- Handed over by an attempt that is gone: the server may have it. Reported, not resent.
    update app_private.email_deliveries d set status = 'unknown'
      where d.tenant_id = delivery_tenant_id and d.idempotency_key = v_key
        and d.status = 'sending' and d.claim_token is not distinct from v_row.claim_token;
    claim := case when found then 'found-unknown' else 'busy' end;
  end if;
  return next;
end;
$$;
comment on function app_private.claim_email_delivery(uuid, text, uuid, uuid, text, text, text, uuid, text, jsonb) is
  'Claims an e-mail for one attempt (`claim_token`, run by the worker pool `pool_id`) before it is composed. `claim`: `send` (claimed: compose and hand it over), `sent` or `unknown` (settled before, and not resent since: send nothing), `found-unknown` (it was being handed over by an attempt that is gone: now unknown, to be reported), `busy` (a live attempt holds it: retry later) or `no-recipient` (the user is gone). `delivery_tenant_id`: the row''s tenant (a user''s is looked up; a patient''s is `tenant_id`). Owner only: the worker calls it.';
revoke execute on function app_private.claim_email_delivery(uuid, text, uuid, uuid, text, text, text, uuid, text, jsonb) from public;

create function app_private.lock_email_claim(tenant_id uuid, idempotency_key text, claim_token uuid) returns boolean
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform 1 from app_private.email_deliveries d
    where d.tenant_id = lock_email_claim.tenant_id and d.idempotency_key = lock_email_claim.idempotency_key
      and d.status = 'not_sent' and d.claim_token = lock_email_claim.claim_token
    for update;
  return found;
end;
$$;
comment on function app_private.lock_email_claim(uuid, text, uuid) is
  'Whether this attempt still holds the claim, locking it until the transaction ends: the worker issues an e-mail''s links (a set-password or waitlist token, which replace earlier ones) in that transaction, so an attempt that lost its claim cannot replace the links the winner sends. Owner only.';
revoke execute on function app_private.lock_email_claim(uuid, text, uuid) from public;

create function app_private.hand_over_email_delivery(tenant_id uuid, idempotency_key text, claim_token uuid) returns boolean
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  update app_private.email_deliveries d set status = 'sending', handed_over_at = now()
    where d.tenant_id = hand_over_email_delivery.tenant_id and d.idempotency_key = hand_over_email_delivery.idempotency_key
      and d.status = 'not_sent' and d.claim_token = hand_over_email_delivery.claim_token;
  return found;
end;
$$;
comment on function app_private.hand_over_email_delivery(uuid, text, uuid) is
  'Marks the claim `sending` just before the message goes to the mail server (after the connection is open, before MAIL FROM), only while this attempt holds it. False: the claim passed on, so this attempt must not send. Owner only.';
revoke execute on function app_private.hand_over_email_delivery(uuid, text, uuid) from public;

create function app_private.finish_email_delivery(tenant_id uuid, idempotency_key text, claim_token uuid, outcome text) returns void
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
begin
  if outcome = 'sent' then
    -- Accepted: also after another attempt, finding this one gone, recorded it as unknown.
    update app_private.email_deliveries d set status = 'sent', accepted_at = now()
      where d.tenant_id = finish_email_delivery.tenant_id and d.idempotency_key = finish_email_delivery.idempotency_key
        and d.claim_token = finish_email_delivery.claim_token and d.status in ('not_sent', 'sending', 'unknown');
  elsif outcome = 'not_sent' then
    -- Refused, or never handed over: released, so the job's retry sends it.
    update app_private.email_deliveries d set status = 'not_sent', claim_token = null, handed_over_at = null
      where d.tenant_id = finish_email_delivery.tenant_id and d.idempotency_key = finish_email_delivery.idempotency_key
        and d.claim_token = finish_email_delivery.claim_token and d.status in ('not_sent', 'sending');
  elsif outcome = 'unknown' then
    update app_private.email_deliveries d set status = 'unknown'
      where d.tenant_id = finish_email_delivery.tenant_id and d.idempotency_key = finish_email_delivery.idempotency_key
        and d.claim_token = finish_email_delivery.claim_token and d.status = 'sending';
  else
    raise exception 'Unknown delivery outcome %', outcome using errcode = '22023';
  end if;
end;
$$;
comment on function app_private.finish_email_delivery(uuid, text, uuid, text) is
  'Records how a hand-over ended: `sent` (accepted), `not_sent` (refused with an SMTP reply, or the message never left: the claim is released for the retry) or `unknown` (no answer: reported, not resent). Only the holding attempt records. Owner only.';
revoke execute on function app_private.finish_email_delivery(uuid, text, uuid, text) from public;

--------------------------------------------------------------------------------
-- The operators' side of deliveries (issue 14): `npm run tenant -- deliveries` lists what is not
-- sent, `npm run tenant -- resend <tenant> <key>` sends an unknown one again.
--------------------------------------------------------------------------------
create function app_private.delivery_report(tenant text)
  returns table (tenant_id uuid, idempotency_key text, template text, status text, recipient text,
                 started_at timestamptz, handed_over_at timestamptz, resent_at timestamptz)
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := case when delivery_report.tenant is not null then app_private.find_tenant(delivery_report.tenant) end;
begin
  return query
  select d.tenant_id, d.idempotency_key, d.template, d.status,
         case when d.user_id is not null then 'user:' || d.user_id else 'patient:' || d.patient_id end,
         d.started_at, d.handed_over_at, d.resent_at
  from app_private.email_deliveries d
  where d.status <> 'sent' and (v_tenant_id is null or d.tenant_id = v_tenant_id)
  order by d.status desc, d.started_at, d.idempotency_key;
end;
$$;
comment on function app_private.delivery_report(text) is
  'E-mails not (yet) sent, of one tenant (id or slug) or, with NULL, of all: unknown first, then sending and not_sent. Ids and keys only, never an address. Owner only.';
revoke execute on function app_private.delivery_report(text) from public;

create function app_private.open_delivery_counts() returns table (status text, count integer)
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
begin
  -- The rows first, then the rule on the coordinator (under Citus a function in a query on a
  -- distributed table would be sent to the shards).
  return query
  with open as materialized (
    select d.status, d.resent_at, d.claimed_at from app_private.email_deliveries d where d.status <> 'sent'
  )
  select o.status, count(*)::integer from open o
  where not app_private.resend_pending(o.status, o.resent_at, o.claimed_at)
  group by o.status;
end;
$$;
comment on function app_private.open_delivery_counts() is
  'E-mails not sent, by state, that still wait for something: a retry (not_sent), an answer (sending) or an operator (unknown); resent ones are left out. The worker sets the metric email_deliveries_open from it. Owner only.';
revoke execute on function app_private.open_delivery_counts() from public;

create function app_private.resend_email_delivery(tenant text, idempotency_key text) returns text
  language plpgsql volatile set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.find_tenant(resend_email_delivery.tenant);
  v_delivery app_private.email_deliveries;
begin
  -- The status stays until an attempt claims it (app_private.claim_email_delivery takes a resent
  -- unknown one); if its job finds nothing to send any more, the row keeps telling what happened.
  update app_private.email_deliveries d set resent_at = now()
    where d.tenant_id = v_tenant_id and d.idempotency_key = resend_email_delivery.idempotency_key
      and d.status in ('unknown', 'not_sent')
    returning d.* into v_delivery;
  if not found then
    raise exception 'No unknown or unsent e-mail with that key in this tenant.' using errcode = 'NTFND';
  end if;
  -- Its job again, which decides what to send when it runs (an account e-mail gets a new link).
  insert into app_private.job_outbox (tenant_id, task, payload) values (v_tenant_id, v_delivery.job_task, v_delivery.job_payload);
  return v_delivery.job_task;
end;
$$;
comment on function app_private.resend_email_delivery(text, text) is
  'An operator''s decision to send an `unknown` e-mail again (or a `not_sent` one whose job gave up): its job is queued again through the outbox, and its next claim takes the row. The job decides anew what to send: an account e-mail carries a new set-password link, a notice of a visit that has passed is skipped (the row then stays as it was, marked resent). Returns the task. Owner only.';
revoke execute on function app_private.resend_email_delivery(text, text) from public;

--------------------------------------------------------------------------------
-- The notification report shows the delivery's state by its new names.
--------------------------------------------------------------------------------
create or replace function app_private.notification_report(tenant text, since timestamptz, before timestamptz)
  returns table (created_at timestamptz, kind text, status text, skip_reason text, delivery text, decided_at timestamptz,
                 appointment_id uuid, series_id uuid, patient_id uuid, lead_minutes integer)
  language plpgsql stable set search_path = pg_catalog, public, pg_temp
as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.find_tenant(notification_report.tenant);
begin
  return query
  select n.created_at, n.kind, n.status, n.skip_reason, d.status,
         n.decided_at, n.appointment_id, n.series_id, n.patient_id, n.lead_minutes
  from app_public.appointment_notices n
  left join app_private.email_deliveries d
    on d.tenant_id = n.tenant_id and d.idempotency_key = 'appointment_notice:' || n.id
  where n.tenant_id = v_tenant_id and n.created_at >= notification_report.since and n.created_at < notification_report.before
  order by n.created_at, n.id;
end;
$$;
comment on function app_private.notification_report(text, timestamptz, timestamptz) is
  'A tenant''s (id or slug) patient notices queued in [since, before): kind, status (queued, sent, skipped with its reason), and the mail delivery''s state (not_sent, sending, sent, unknown). Ids only, no patient data. Owner only.';
