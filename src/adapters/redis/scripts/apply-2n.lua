--[[
  apply: applies balance entries to one or more accounts, each atomically, and reports,
  per entry, the threshold crossings of SPEC §1.2-§1.10. Replays the stored result for an
  entry it has already applied but the ledger has not yet confirmed. Several accounts go
  in one call because a call costs more than an entry (on Redis and on the client); in a
  cluster the caller sends one account per call (a call's keys must share a slot).

  KEYS[2a-1]  account a's state hash          rs1:{<account>}:state
  KEYS[2a]    account a's pending entries     rs1:{<account>}:pending  (idempotency key -> result)
  ARGV[1]     month of the request, "YYYY-MM" UTC (monthly reload limits)
  ARGV[2]     low-balance threshold, ARGV[3] block threshold, micros (core/balance-rules.ts,
              where the crossing rules this script applies are written as pure functions)
  then, for each account in KEYS order:
    N, then N times: idempotency key, amount micros (signed integer), kind, floor micros
    (empty for none: the entry is refused if it would take the balance, less the holds
    of the account's open call sessions, below the floor: SPEC §8's available credit)

  Returns one reply per account, in KEYS order:
    -1                   the account's state is missing (Redis restarted empty or the
                         account is new to it): restore it from the ledger and retry
    { result, ... }      one string per entry, in order, compact because it is also
                         what the pending hash stores:
                           "<seq>,<before>,<after>[,1][;<seq>,<before>,<after> ...]|<event>;<event>..."
                         The first triple is the entry itself (",1" after it: the entry
                         settled an open call session); each further one is an
                         offline reload it set off (key "reload:<cause>:<n>"). An event is
                         "<type>,<balance>,<amount or empty>,<cause ref>", the cause ref
                         being 0 (the entry's cause), n (the n-th reload's key),
                         "m<YYYY-MM>" (that month) or "o<YYYY-MM>" ("offline:<YYYY-MM>").
                         Numbers are integers in decimal (Lua doubles would print exponents).
                         The pending hash stores the same string plus "|<Redis time in ms>",
                         so entries stranded there can be told by their age.
                         "!range" or "!floor,<balance>,<held>": the entry is refused and
                         changes nothing (the balance would leave ±(2^53 − 1), where
                         doubles stop being exact, or go below the entry's floor plus the
                         <held> micros of the account's open call sessions).
  A "call" entry whose key is "cdr:<id>" settles the account's open call session <id>
  (SPEC §8, see calls-1.lua) in the same atomic step as its debit: the session holds
  nothing more. A session past its expiry is no longer open: it holds nothing and the
  CDR settles nothing (calls-1.lua marks it expired when it meets it). The lookups are
  skipped for accounts with no open session ("open_calls", read with the balance), so
  the hot path costs nothing more for them.
  Months never go back: a writer whose clock is behind the month Redis holds counts in
  that month, so monthly limits do not depend on which writer's clock is right.
]]
local LOW = tonumber(ARGV[2])
local BLOCK = tonumber(ARGV[3])
local MAX_RELOADS_PER_ENTRY = 10
local MAX_EXACT = 9007199254740991
-- Entries per HMGET/HSET of the pending hash: within Lua's unpack limit.
local CHUNK = 1000
-- How long a settled session's record stays in Redis, so a start repeating its call_id
-- is refused there; the ledger's call_sessions row refuses it after that.
local SETTLED_KEEP_MS = 3600000

local requested_month = ARGV[1]
local now = redis.call('TIME')
local stamp = '|' .. now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

-- The state of the account being applied (set by apply_account).
local balance, seq, auto
local auto_amount, auto_limit, off_reload, off_threshold, off_max
local mtd_auto, mtd_off, capped_auto, capped_off, month_state_changed, month
local open_calls
-- The result being built for the current entry.
local booked, events

local function num(n)
  return string.format('%.0f', n)
end

local function event(kind, amount, cause_ref)
  events[#events + 1] = kind .. ',' .. num(balance) .. ',' .. (amount and num(amount) or '') .. ',' .. cause_ref
end

local function crossings(before, cause_ref)
  if before >= LOW and balance < LOW then event('low_balance', nil, cause_ref) end
  if before >= BLOCK and balance < BLOCK then event('blocked', nil, cause_ref) end
  if before < BLOCK and balance >= BLOCK then event('unblocked', nil, cause_ref) end
end

local function book(amount, cause_ref)
  seq = seq + 1
  local before = balance
  balance = balance + amount
  booked[#booked + 1] = num(seq) .. ',' .. num(before) .. ',' .. num(balance)
  crossings(before, cause_ref)
  return before
end

-- Online auto-recharge (SPEC §1.7, §1.10): one request per crossing, within the month's limit.
local function request_auto_recharge()
  if auto_amount <= 0 then return end
  month_state_changed = true
  if auto_limit > 0 and mtd_auto + auto_amount > auto_limit then
    if capped_auto ~= month then
      capped_auto = month
      event('auto_recharge_capped', auto_amount, 'm' .. month)
    end
    return
  end
  mtd_auto = mtd_auto + auto_amount
  event('auto_recharge_requested', auto_amount, '0')
end

-- Offline auto-recharge (SPEC §1.9, §1.10): reload at once, again while still at or
-- below the threshold, never past the month's maximum.
local function offline_reloads()
  local n = 0
  month_state_changed = true
  while balance <= off_threshold and n < MAX_RELOADS_PER_ENTRY and balance + off_reload <= MAX_EXACT do
    if off_max > 0 and mtd_off + off_reload > off_max then
      if capped_off ~= month then
        capped_off = month
        event('auto_recharge_capped', off_reload, 'o' .. month)
      end
      return
    end
    n = n + 1
    mtd_off = mtd_off + off_reload
    book(off_reload, tostring(n))
    event('offline_reloaded', off_reload, tostring(n))
  end
end

-- Reads the account's state: false when Redis does not hold it.
local function load(state_key)
  local f = redis.call('HMGET', state_key, 'balance', 'seq', 'auto', 'open_calls')
  if not f[1] then
    return false
  end
  balance = tonumber(f[1])
  seq = tonumber(f[2])
  open_calls = tonumber(f[4] or '0') or 0
  -- 'online' (online auto-recharge on), 'offline' (offline auto-recharge set) or 'none'
  -- (neither, or a trial account): most accounts need no more than these three fields.
  auto = f[3]
  auto_amount, auto_limit, off_reload, off_threshold, off_max = 0, 0, 0, 0, 0
  mtd_auto, mtd_off, capped_auto, capped_off = 0, 0, '', ''
  month_state_changed = false
  month = requested_month
  if auto ~= 'none' then
    local g = redis.call('HMGET', state_key, 'auto_amount', 'auto_limit', 'off_reload', 'off_threshold',
      'off_max', 'mtd_month', 'mtd_auto', 'mtd_off', 'capped_auto', 'capped_off')
    auto_amount = tonumber(g[1] or '0') or 0
    auto_limit = tonumber(g[2] or '0') or 0
    off_reload = tonumber(g[3] or '0') or 0
    off_threshold = tonumber(g[4] or '0') or 0
    off_max = tonumber(g[5] or '0') or 0
    mtd_auto = tonumber(g[7] or '0') or 0
    mtd_off = tonumber(g[8] or '0') or 0
    capped_auto = g[9] or ''
    capped_off = g[10] or ''
    if g[6] and g[6] > month then
      month = g[6]
    elseif g[6] ~= month then
      mtd_auto = 0
      mtd_off = 0
      month_state_changed = true
    end
  end
  return true
end

-- A call's debit settles its open session, if any: the hold is released (calls-1.lua's
-- encoding). True when it did.
local function settle(state_key, key)
  local field = 'c:' .. string.sub(key, 5)
  local v = redis.call('HGET', state_key, field)
  if not v then return false end
  local s, g, _, u, r, meta = string.match(v, '^(%a+),(%d+),(%d+),(%d+),(%d+)|(.*)$')
  if (s ~= 'active' and s ~= 'ended') or tonumber(u) <= now_ms then return false end
  open_calls = open_calls - 1
  redis.call('HSET', state_key, field, 'settled,' .. g .. ',0,' .. num(now_ms + SETTLED_KEEP_MS) .. ','
    .. num(tonumber(r) + 1) .. '|' .. meta, 'open_calls', num(open_calls))
  return true
end

-- The holds of the account's open call sessions (calls-1.lua's encoding): what a floor
-- must leave untouched. A session past its expiry holds nothing.
local function held(state_key)
  if open_calls <= 0 then return 0 end
  local total = 0
  local fields = redis.call('HGETALL', state_key)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'c:' then
      local s, h, u = string.match(fields[i + 1], '^(%a+),%d+,(%d+),(%d+),')
      if (s == 'active' or s == 'ended') and tonumber(u) > now_ms then
        total = total + tonumber(h)
      end
    end
  end
  return total
end

-- Applies one account's n entries, which start at ARGV[at]: its reply.
local function apply_account(state_key, pending_key, at, n)
  if not load(state_key) then
    return -1
  end

  -- One HMGET for every stored result and one HSET for every new one.
  local stored = {}
  for from = 0, n - 1, CHUNK do
    local keys = {}
    for i = from, math.min(from + CHUNK, n) - 1 do
      keys[#keys + 1] = ARGV[at + 4 * i]
    end
    local found = redis.call('HMGET', pending_key, unpack(keys))
    for j = 1, #keys do
      stored[from + j] = found[j]
    end
  end

  local results = {}
  local new_results = {}
  for i = 0, n - 1 do
    local previous = stored[i + 1]
    local amount = tonumber(ARGV[at + 1 + 4 * i])
    local floor = tonumber(ARGV[at + 3 + 4 * i])
    local holds = floor and held(state_key) or 0
    if previous then
      results[i + 1] = previous
    elseif balance + amount > MAX_EXACT or balance + amount < -MAX_EXACT then
      results[i + 1] = '!range'
    elseif floor and balance + amount - holds < floor then
      results[i + 1] = '!floor,' .. num(balance) .. ',' .. num(holds)
    else
      local kind = ARGV[at + 2 + 4 * i]
      booked, events = {}, {}
      local before = book(amount, '0')
      if open_calls > 0 and kind == 'call' and string.sub(ARGV[at + 4 * i], 1, 4) == 'cdr:'
        and settle(state_key, ARGV[at + 4 * i]) then
        booked[1] = booked[1] .. ',1'
      end
      if auto == 'online' and balance <= LOW and (before > LOW or kind == 'auto_recharge' or kind == 'auto_recharge_enabled') then
        request_auto_recharge()
      elseif auto == 'offline' and before > off_threshold and balance <= off_threshold then
        offline_reloads()
      end
      local encoded = table.concat(booked, ';') .. '|' .. table.concat(events, ';')
      results[i + 1] = encoded
      new_results[#new_results + 1] = ARGV[at + 4 * i]
      new_results[#new_results + 1] = encoded .. stamp
    end
  end
  for from = 1, #new_results, 2 * CHUNK do
    redis.call('HSET', pending_key, unpack(new_results, from, math.min(from + 2 * CHUNK - 1, #new_results)))
  end

  if month_state_changed then
    redis.call('HSET', state_key, 'balance', num(balance), 'seq', num(seq), 'mtd_month', month,
      'mtd_auto', num(mtd_auto), 'mtd_off', num(mtd_off), 'capped_auto', capped_auto, 'capped_off', capped_off)
  else
    redis.call('HSET', state_key, 'balance', num(balance), 'seq', num(seq))
  end
  return results
end

local replies = {}
local at = 4
for a = 1, #KEYS / 2 do
  local n = tonumber(ARGV[at])
  replies[a] = apply_account(KEYS[2 * a - 1], KEYS[2 * a], at + 1, n)
  at = at + 1 + 4 * n
end
return replies
