--[[
  confirm: the ledger has recorded these entries, so their stored results may go. One
  call for many accounts (in a cluster the caller sends one account per call).

  KEYS[a]  account a's pending entries       rs1:{<account>}:pending
  ARGV     for each account in KEYS order: N, then N idempotency keys

  Returns the number of stored results removed.
]]
local CHUNK = 1000
local removed = 0
local at = 1
for a = 1, #KEYS do
  local n = tonumber(ARGV[at])
  for from = at + 1, at + n, CHUNK do
    removed = removed + redis.call('HDEL', KEYS[a], unpack(ARGV, from, math.min(from + CHUNK - 1, at + n)))
  end
  at = at + 1 + n
end
return removed
