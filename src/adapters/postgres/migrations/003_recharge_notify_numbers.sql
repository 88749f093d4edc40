-- The recharge and notification consumers, card recharges through the API, and phone
-- numbers (SPEC §1.6-§1.12, §7).

-- Turning online auto-recharge on at or below 5.00 books a zero entry of this kind, so
-- the request it sets off is decided by the same script as every other (SPEC §1.7).
alter table ledger_entries drop constraint ledger_entries_kind_check;
alter table ledger_entries add constraint ledger_entries_kind_check check (kind in ('call', 'credit',
  'adjustment', 'recharge', 'auto_recharge', 'auto_recharge_enabled', 'offline_reload', 'number_purchase',
  'number_renewal'));

-- Why a recharge failed (recharge_failed events only).
alter table balance_events add column reason text;

-- One row per card charge ratestream may make. charge_key is "event:<event_id>" for an
-- auto-recharge and "api:<account>:<Idempotency-Key>" for a manual one: Stripe forgets
-- idempotency keys after a day, this table never does, so a redelivered event or a
-- repeated request never charges twice.
create table card_charges (
  charge_key text primary key,
  account_id text not null references accounts,
  purpose text not null check (purpose in ('auto_recharge', 'manual_recharge')),
  amount_micros bigint not null check (amount_micros > 0),
  currency text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  payment_intent_id text,
  failure_reason text,
  attempts integer not null default 0,
  -- The HTTP answer given, replayed for the same Idempotency-Key (manual recharges).
  response jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index card_charges_account on card_charges (account_id, created_at);

-- One email per balance event, across restarts and redeliveries.
create table notifications_sent (
  event_id text primary key,
  account_id text not null references accounts,
  recipient text not null,
  subject text not null,
  status text not null check (status in ('sending', 'sent')),
  message_id text not null,
  claimed_at timestamptz not null default now(),
  sent_at timestamptz
);

-- Phone numbers bought from credits; each renews monthly (SPEC §1.1, §1.12).
create table phone_numbers (
  number text primary key check (number ~ '^\+[0-9]{1,15}$'),
  account_id text not null references accounts,
  number_type text not null check (number_type in ('local', 'toll_free', 'mobile')),
  monthly_price_micros bigint not null check (monthly_price_micros >= 0),
  currency text not null,
  purchased_at timestamptz not null default now()
);
create index phone_numbers_account on phone_numbers (account_id);
