-- The ledger's hot insert (issue 16, measured in BENCHMARKS.md "The ledger write's levers").
--
-- 1. No foreign key from ledger_entries to accounts. It cost a lookup and a row lock on
--    the account per inserted row, the largest single part of Postgres's time per CDR.
--    The insert joins accounts for the currency, so an entry is only written for an
--    account that exists; and accounts are never deleted or renamed (the trigger below),
--    so an entry's account always exists, as the foreign key guaranteed.
-- 2. A call's rating in typed columns rather than in `details`: jsonb parsing (and the
--    JSON text in the insert's parameter arrays) was the next largest part. `details`
--    stays for the entries that carry anything else, and for the calls recorded before
--    this migration; entry_details() gives every entry's details in one shape.

alter table ledger_entries drop constraint ledger_entries_account_id_fkey;

create function accounts_kept() returns trigger language plpgsql as $$
begin
  raise exception 'accounts are never deleted or renamed: the ledger refers to them (account %)',
    old.account_id;
end $$;

create trigger accounts_kept before delete or update of account_id on accounts
  for each row execute function accounts_kept();

alter table ledger_entries
  add column plan text,
  add column billed_seconds integer check (billed_seconds >= 0),
  add column prefix text,
  add column rate_effective_from timestamptz;

-- An entry's details as they were written: a call's rating from its columns
-- (rate_effective_from as SPEC §3 prints instants, whole seconds, UTC), else `details`.
create function entry_details(details jsonb, plan text, billed_seconds integer, prefix text,
    rate_effective_from timestamptz) returns jsonb language sql immutable as $$
  select case when prefix is null then details
    else jsonb_build_object('plan', plan, 'billed_seconds', billed_seconds, 'prefix', prefix,
      'rate_effective_from', to_char(rate_effective_from at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  end
$$;
