-- Orders the copies of an account's settings in Redis (issue 13, item 10). Every update of
-- the account row increments settings_version under the row lock, so versions follow the
-- order of the commits; the version travels with the settings to Redis (settings-1.lua,
-- restore-2.lua), which keeps the settings of the highest version it has seen. Without it
-- two updates could reach Redis in the opposite order to Postgres and leave the older
-- settings there for ever.
alter table accounts add column settings_version bigint not null default 0;
