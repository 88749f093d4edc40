-- Re-rating (SPEC §9): corrections of past charges, booked as one `rerate` entry per
-- account and run, and what each call was corrected to, so a later run starts from it.

alter table ledger_entries drop constraint ledger_entries_kind_check;
alter table ledger_entries add constraint ledger_entries_kind_check check (kind in ('call', 'credit',
  'adjustment', 'recharge', 'auto_recharge', 'auto_recharge_enabled', 'offline_reload', 'number_purchase',
  'number_renewal', 'rerate'));

-- One row per run. An --apply run is named by the operator and moves reading -> staged
-- -> booked; a dry run ('dry') is removed when it ends. `summary` is the JSON line the
-- run printed, so the same run again prints it without reading anything.
create table rerate_runs (
  run_name text primary key,
  state text not null check (state in ('dry', 'reading', 'staged', 'booked')),
  from_at timestamptz not null,
  to_at timestamptz not null,
  account_id text,
  -- --plan: only that plan's accounts, re-rated by rate_version of it. Null: every
  -- account by the newest version of its own plan when the run read it (rate_version null).
  plan text,
  rate_version bigint,
  summary jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Every call a run read, once per (account, cdr_id): the de-duplication of a cdr_id
-- seen twice, and the per-account totals a crash half way resumes from. Rows of a
-- changed call say what it was corrected to; they count for later runs once the
-- ledger holds the run's entry for the account (key 'rerate:<run_name>'). Rows of
-- other outcomes are dropped once the run is booked.
create table rerated_calls (
  run_name text not null references rerate_runs on delete cascade,
  account_id text not null,
  cdr_id text not null,
  outcome text not null check (outcome in ('changed', 'unchanged', 'not_in_ledger', 'no_rate')),
  answered_at text not null,
  old_charge_micros bigint,
  new_charge_micros bigint,
  delta_micros bigint,
  old_prefix text,
  new_prefix text,
  old_rate_version bigint,
  new_rate_version bigint,
  new_billed_seconds integer,
  new_rate_effective_from text,
  -- no_rate: why the version does not price the call.
  problem text,
  primary key (run_name, account_id, cdr_id)
);
create index rerated_calls_by_call on rerated_calls (account_id, cdr_id) where outcome = 'changed';
