-- Rate deck versions (SPEC §3 "Versions"): each import stores a complete set of decks
-- as a new immutable version. The deck texts are kept as imported, so a version can be
-- re-read exactly and a rating can name the file and line of the row that priced it.
create table rate_versions (
  version bigint generated always as identity primary key,
  -- sha256 over the set of decks: importing the newest content again changes nothing.
  checksum text not null,
  imported_at timestamptz not null default now(),
  rates_file text not null,
  rates_csv text not null,
  surcharges_file text,
  surcharges_csv text,
  numbers_file text,
  numbers_csv text,
  rate_rows integer not null,
  surcharge_rows integer not null,
  number_rows integer not null
);

create function rate_versions_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'rate versions are immutable: import a new version instead';
end $$;

create trigger rate_versions_immutable before update or delete on rate_versions
  for each row execute function rate_versions_immutable();

-- Running raters LISTEN here and switch to a new version without a restart. The payload
-- names the schema so raters on other schemas of the same database ignore it.
create function rate_versions_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('ratestream_rate_versions', current_schema() || ':' || new.version);
  return new;
end $$;

create trigger rate_versions_notify after insert on rate_versions
  for each row execute function rate_versions_notify();
