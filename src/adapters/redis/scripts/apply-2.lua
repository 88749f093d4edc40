--[[
  apply: applies balance entries to one account atomically and reports, per entry, the
  threshold crossings of SPEC §1.2-§1.10. Replays the stored result for an entry it has
  already applied but the ledger has not yet confirmed.

  KEYS[1]  account state hash     rs1:{<account>}:state
  KEYS[2]  unconfirmed entries    rs1:{<account>}:pending   (idempotency key -> result JSON)
  ARGV[1]  month of the request, "YYYY-MM" UTC (monthly reload limits)
  ARGV[2]  number of entries N
  ARGV[3 + 4(i-1) ...]  per entry: idempotency key, amount micros (signed integer),
           kind, cause (cdr_id, reference, ...)

  Returns
    -1                   the account's state is missing (Redis restarted empty or the
                         account is new to it): restore it from the ledger and retry
    { json, ... }        one result per entry, in order: {key, entries:[{seq,key,kind,
                         amount,before,after,cause}], events:[{type,balance,amount,cause}]}
                         All numbers are decimal strings (Lua doubles print exponents).
  Thresholds (micros): low balance 5.00, block 2.00.
]]
local LOW = 5000000
local BLOCK = 2000000
local MAX_RELOADS_PER_ENTRY = 10

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end

local f = redis.call('HMGET', KEYS[1], 'balance', 'seq', 'trial', 'mode', 'auto_on', 'auto_amount',
  'auto_limit', 'off_reload', 'off_threshold', 'off_max', 'mtd_month', 'mtd_auto', 'mtd_off',
  'capped_auto', 'capped_off')
local balance = tonumber(f[1])
local seq = tonumber(f[2])
local trial = f[3] == '1'
local mode = f[4]
local auto_on = f[5] == '1'
local auto_amount = tonumber(f[6] or '0') or 0
local auto_limit = tonumber(f[7] or '0') or 0
local off_reload = tonumber(f[8] or '0') or 0
local off_threshold = tonumber(f[9] or '0') or 0
local off_max = tonumber(f[10] or '0') or 0
local month = ARGV[1]
local mtd_auto = tonumber(f[12] or '0') or 0
local mtd_off = tonumber(f[13] or '0') or 0
local capped_auto = f[14] or ''
local capped_off = f[15] or ''
if f[11] ~= month then
  mtd_auto = 0
  mtd_off = 0
end

local function num(n)
  return string.format('%.0f', n)
end

local result

local function event(kind, amount, cause)
  table.insert(result.events, { type = kind, balance = num(balance), amount = amount and num(amount) or nil, cause = cause })
end

local function crossings(before, cause)
  if before >= LOW and balance < LOW then event('low_balance', nil, cause) end
  if before >= BLOCK and balance < BLOCK then event('blocked', nil, cause) end
  if before < BLOCK and balance >= BLOCK then event('unblocked', nil, cause) end
end

local function book(key, kind, amount, cause)
  seq = seq + 1
  local before = balance
  balance = balance + amount
  table.insert(result.entries, { seq = num(seq), key = key, kind = kind, amount = num(amount),
    before = num(before), after = num(balance), cause = cause })
  crossings(before, cause)
  return before
end

-- Online auto-recharge (SPEC §1.7, §1.10): one request per crossing, within the month's limit.
local function request_auto_recharge(cause)
  if auto_amount <= 0 then return end
  if auto_limit > 0 and mtd_auto + auto_amount > auto_limit then
    if capped_auto ~= month then
      capped_auto = month
      event('auto_recharge_capped', auto_amount, month)
    end
    return
  end
  mtd_auto = mtd_auto + auto_amount
  event('auto_recharge_requested', auto_amount, cause)
end

-- Offline auto-recharge (SPEC §1.9, §1.10): reload at once, again while still at or
-- below the threshold, never past the month's maximum.
local function offline_reloads(cause)
  local n = 0
  while balance <= off_threshold and n < MAX_RELOADS_PER_ENTRY do
    if off_max > 0 and mtd_off + off_reload > off_max then
      if capped_off ~= month then
        capped_off = month
        event('auto_recharge_capped', off_reload, 'offline:' .. month)
      end
      return
    end
    n = n + 1
    mtd_off = mtd_off + off_reload
    local reload_key = 'reload:' .. cause .. ':' .. n
    book(reload_key, 'offline_reload', off_reload, reload_key)
    event('offline_reloaded', off_reload, reload_key)
  end
end

local results = {}
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local key = ARGV[3 + 4 * i]
  local stored = redis.call('HGET', KEYS[2], key)
  if stored then
    table.insert(results, stored)
  else
    local amount = tonumber(ARGV[4 + 4 * i])
    local kind = ARGV[5 + 4 * i]
    local cause = ARGV[6 + 4 * i]
    result = { key = key, entries = {}, events = {} }
    local before = book(key, kind, amount, cause)
    if not trial and mode == 'online' and auto_on then
      if (before > LOW and balance <= LOW) or (kind == 'auto_recharge' and balance <= LOW) then
        request_auto_recharge(cause)
      end
    end
    if not trial and mode == 'offline' and off_reload > 0 and before > off_threshold and balance <= off_threshold then
      offline_reloads(cause)
    end
    local encoded = cjson.encode(result)
    redis.call('HSET', KEYS[2], key, encoded)
    table.insert(results, encoded)
  end
end

redis.call('HSET', KEYS[1], 'balance', num(balance), 'seq', num(seq), 'mtd_month', month,
  'mtd_auto', num(mtd_auto), 'mtd_off', num(mtd_off), 'capped_auto', capped_auto, 'capped_off', capped_off)
return results
