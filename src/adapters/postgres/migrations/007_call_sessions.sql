-- Call sessions (SPEC §8): credit held while calls run. Redis decides each grant
-- atomically with the balance; this table records it before the switch is answered, so
-- a Redis wipe loses no hold (an account restored from the ledger gets its open sessions
-- back). The CDR that settles a session marks it here in the ledger transaction that
-- records the CDR's entry. (account_id, call_id) is also what refuses a start repeating
-- the call_id of a session settled or expired long ago.
create table call_sessions (
  account_id text not null references accounts (account_id),
  call_id text not null,
  direction text not null check (direction in ('outbound', 'inbound')),
  to_number text not null,
  features text[] not null default '{}',
  state text not null check (state in ('active', 'ended', 'settled', 'expired')),
  granted_seconds integer not null check (granted_seconds between 0 and 86400),
  held_micros bigint not null check (held_micros >= 0),
  -- Open: when the session expires unless renewed or settled (Redis's clock).
  expires_at timestamptz not null,
  -- Bumped by every change in Redis: of two writes racing here, the newer one stays.
  rev bigint not null,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (account_id, call_id)
);

-- The sweep of expired sessions and the metrics read only the open ones.
create index call_sessions_open on call_sessions (expires_at) where state in ('active', 'ended');
