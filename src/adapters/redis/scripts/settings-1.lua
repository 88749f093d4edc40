--[[
  settings: copies an account's settings into its Redis state so apply can decide
  crossings alone. Leaves a missing state missing: restore reads settings from Postgres.

  KEYS[1]  account state hash     rs1:{<account>}:state
  ARGV     field, value, ...      (auto: online|offline|none, auto_amount, auto_limit,
                                   off_reload, off_threshold, off_max)

  Returns 1 when updated, 0 when the state is missing.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
