-- Events of one account are published in the order the ledger recorded them (SPEC §5
-- "Every effect once, in order"). All events of one transaction share occurred_at, so
-- they need a position of their own: assigned in ledger order as they are inserted.
alter table balance_events add column position bigserial;
create index balance_events_unpublished_position on balance_events (position) where published_at is null;
drop index balance_events_unpublished;
