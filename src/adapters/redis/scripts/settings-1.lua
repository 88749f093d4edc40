--[[
  settings: copies an account's settings into its Redis state so apply can decide
  crossings alone, unless the state already holds settings as new or newer: copies of
  concurrent updates may arrive in any order, and the highest version (the last commit
  in Postgres) wins. Leaves a missing state missing: the caller restores it from the
  ledger and calls again.

  KEYS[1]  account state hash     rs1:{<account>}:state
  ARGV[1]  the settings' version  (accounts.settings_version; a state without one holds 0)
  ARGV[2…] field, value, ...      (settings_version, auto: online|offline|none, auto_amount,
                                   auto_limit, off_reload, off_threshold, off_max)

  Returns 1 when updated, 2 when the state holds a version as new or newer (left as it
  is), 0 when the state is missing.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local held = tonumber(redis.call('HGET', KEYS[1], 'settings_version') or '0') or 0
if tonumber(ARGV[1]) <= held then
  return 2
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
