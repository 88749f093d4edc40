-- Accounts, the immutable ledger, the balance-event outbox, offline-reload invoices
-- and API keys (SPEC §1, §2, §5). Money is bigint micros; every row that carries an
-- amount carries its currency.

create table accounts (
  account_id text primary key check (account_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  admin_email text not null,
  trial boolean not null default false,
  recharge_mode text not null default 'online' check (recharge_mode in ('online', 'offline')),
  -- Online auto-recharge (SPEC §1.7): off by default.
  auto_recharge_enabled boolean not null default false,
  auto_recharge_amount_micros bigint check (auto_recharge_amount_micros between 5000000 and 5000000000),
  auto_recharge_monthly_limit_micros bigint check (auto_recharge_monthly_limit_micros > 0),
  -- Offline auto-recharge (SPEC §1.9), set by the billing team.
  offline_reload_micros bigint check (offline_reload_micros > 0),
  offline_threshold_micros bigint check (offline_threshold_micros >= 0),
  offline_monthly_max_micros bigint check (offline_monthly_max_micros > 0),
  stripe_customer_id text,
  stripe_payment_method text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- One row per change of a balance. (account_id, seq) orders an account's entries in
-- the order Redis applied them; (account_id, idempotency_key) is the de-duplication
-- of record: "cdr:<cdr_id>" for calls, "credit:<reference>", "adjust:<reference>", …
create table ledger_entries (
  account_id text not null references accounts,
  seq bigint not null check (seq > 0),
  idempotency_key text not null,
  kind text not null check (kind in ('call', 'credit', 'adjustment', 'recharge', 'auto_recharge',
    'offline_reload', 'number_purchase', 'number_renewal')),
  amount_micros bigint not null,
  balance_after_micros bigint not null,
  currency text not null,
  rate_version bigint,
  cdr_id text,
  reference text,
  details jsonb,
  created_at timestamptz not null default now(),
  primary key (account_id, seq),
  unique (account_id, idempotency_key)
);

create function ledger_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'ledger entries are immutable: correct them with an adjustment';
end $$;

create trigger ledger_immutable before update or delete on ledger_entries
  for each row execute function ledger_immutable();

-- The outbox: written in the same transaction as the ledger entry that causes each
-- event, published to Kafka from here. event_id is a function of (type, account, cause).
create table balance_events (
  event_id text primary key,
  account_id text not null references accounts,
  type text not null,
  balance_micros bigint not null,
  amount_micros bigint,
  currency text not null,
  cause text not null,
  occurred_at timestamptz not null,
  published_at timestamptz
);
create index balance_events_unpublished on balance_events (occurred_at) where published_at is null;
create index balance_events_account_month on balance_events (account_id, type, occurred_at);

-- Offline reloads raise an invoice for the billing team (SPEC §1.9).
create table invoices (
  invoice_id text primary key,
  account_id text not null references accounts,
  amount_micros bigint not null,
  currency text not null,
  cause text not null,
  created_at timestamptz not null default now()
);

create table api_keys (
  key_id text primary key,
  account_id text references accounts,
  role text not null check (role in ('admin', 'agent', 'switch')),
  key_hash text not null unique,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  check ((role = 'switch') = (account_id is null))
);
