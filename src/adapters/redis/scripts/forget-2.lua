--[[
  forget: drops an account's state and pending entries, so its next use restores it
  from the ledger, but only if the given pending keys are all still there: a writer
  that finished or undid them meanwhile is left alone.

  KEYS[1]  account state hash     rs1:{<account>}:state
  KEYS[2]  pending entries        rs1:{<account>}:pending
  ARGV     the pending keys found stranded

  Returns 1 if the account was dropped, 0 if not.
]]
for _, key in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[2], key) == 0 then
    return 0
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
