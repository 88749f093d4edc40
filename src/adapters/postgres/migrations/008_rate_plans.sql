-- Rate plans (SPEC §10, issue 18): each plan has its own versioned decks and every
-- account is on exactly one plan. Everything that exists before this migration lands on
-- the plan `default`: the versions keep their numbers and texts, accounts keep their
-- balances and ledger, nothing is re-priced.
create table rate_plans (
  plan text primary key check (plan ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
  created_at timestamptz not null default now()
);
insert into rate_plans (plan) values ('default');

-- Versions are numbered per plan: the old global identity becomes default's numbering.
alter table rate_versions add column plan text not null default 'default' references rate_plans;
alter table rate_versions alter column plan drop default;
alter table rate_versions alter column version drop identity;
alter table rate_versions drop constraint rate_versions_pkey;
alter table rate_versions add primary key (plan, version);

-- The payload names the schema (raters on other schemas ignore it), the plan and version.
create or replace function rate_versions_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('ratestream_rate_versions', current_schema() || ':' || new.plan || ':' || new.version);
  return new;
end $$;

-- plan_rev orders the changes of accounts' plans: a rater that missed a notification
-- (its listening connection was down) asks for every change past the last it applied.
create sequence account_plan_rev;
alter table accounts add column plan text not null default 'default' references rate_plans;
alter table accounts add column plan_rev bigint not null default nextval('account_plan_rev');
create index accounts_plan_rev on accounts (plan_rev);

-- Who was on which plan when: the billing team's record of moves.
create table account_plan_changes (
  account_id text not null references accounts,
  from_plan text references rate_plans,
  to_plan text not null references rate_plans,
  changed_at timestamptz not null default now()
);
create index account_plan_changes_account on account_plan_changes (account_id, changed_at);
insert into account_plan_changes (account_id, from_plan, to_plan, changed_at)
  select account_id, null, 'default', created_at from accounts;

create function account_plan_rev() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and new.plan is not distinct from old.plan then
    return new;
  end if;
  new.plan_rev := nextval('account_plan_rev');
  return new;
end $$;

create trigger account_plan_rev before update of plan on accounts
  for each row execute function account_plan_rev();

create function account_plan_notify() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and new.plan is not distinct from old.plan then
    return new;
  end if;
  insert into account_plan_changes (account_id, from_plan, to_plan)
    values (new.account_id, case when tg_op = 'UPDATE' then old.plan end, new.plan);
  perform pg_notify('ratestream_account_plans', current_schema() || ':' || new.plan_rev);
  return new;
end $$;

create trigger account_plan_notify after insert or update of plan on accounts
  for each row execute function account_plan_notify();
