--[[
  restore: puts an account's state back from the ledger after Redis lost it. Does
  nothing if the state exists (another process restored it first).

  KEYS[1]  account state hash     rs1:{<account>}:state
  KEYS[2]  pending entries        rs1:{<account>}:pending
  ARGV     field, value, field, value, ... (balance, seq, settings and settings_version,
           month-to-date)

  Settings read before an update and restored after it are made good by the updater:
  finding the state missing, it restores the account itself and applies its settings
  again, which settings-1.lua keeps only if newer (src/balances/settings.ts).

  Returns 1 when restored, 0 when the state was already there.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
-- Entries pending without their state cannot be trusted: the ledger decides.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
