--[[
  snapshot: one consistent read of an account for reconcile and balance queries.

  KEYS[1]  account state hash     rs1:{<account>}:state
  KEYS[2]  pending entries        rs1:{<account>}:pending

  Returns
    -1                                  the state is missing
    { balance, seq, key, result, key, result, ... }
                                        balance and seq as strings, then every
                                        pending entry's key and stored result
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local f = redis.call('HMGET', KEYS[1], 'balance', 'seq')
local out = { f[1], f[2] }
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do
  table.insert(out, v)
end
return out
