--[[
  calls: an account's call sessions (SPEC §8), each step atomic with the balance it
  reads. Sessions live in the account's state hash, next to the balance they hold
  against, so they are dropped and restored from the ledger together with it (forget,
  restore-2.lua) and apply-2n.lua settles one without a key of its own.

  KEYS[1]  account state hash     rs1:{<account>}:state
             field "c:<call_id>"  "<state>,<granted s>,<hold micros>,<until ms>,<rev>|<meta>"
                                  state: active | ended (open: holding) or settled |
                                  expired (closed: holds nothing; "until" is when the
                                  closed record is dropped). <meta> is the caller's own
                                  (direction, number, features), kept as given.
             field "open_calls"   how many c:* fields are open (apply-2n reads it to skip
                                  the lookup for accounts without sessions)
  ARGV[1]  op: start | renew | end | list | close
  ARGV[2]  call_id (list: the session answered in the reply's session slot, any state;
           empty for none)
  ARGV[3]  how long a closed record is kept, ms (the CDR wait)

  start  ARGV[4] grace ms, ARGV[5] meta, ARGV[6] n, then n pairs "seconds, hold micros"
         in increasing order: the largest pair whose hold fits is granted.
  renew  ARGV[4] grace ms, ARGV[5] used seconds, ARGV[6] n, then n pairs as for start.
  end    ARGV[4] hold micros of the reported duration.
  close  ARGV[4] rev, ARGV[5] settled|expired: closes the session if it is still at
         that rev (a start the ledger says was closed long ago).

  ARGV[#ARGV]  (every op) the block threshold, micros (core/balance-rules.ts): available
               credit is the balance less it and the holds.

  The time is Redis's own (TIME), so every rater agrees on expiry. An open session past
  its "until" is expired when met: it holds nothing from that instant.

  Returns -1 when the account's state is missing (restore it from the ledger and
  retry), else { outcome, balance, held by the other open sessions, now ms, session }:
    outcome  granted | same (open, unchanged: a repeated start or end) | blocked |
             insufficient_credit | unknown | closed | ended (renew after end) | listed
    session  the encoded session (empty when there is none); for list, every open
             session follows as call_id, encoded, call_id, encoded, ...
]]
local BLOCK = tonumber(ARGV[#ARGV])

local state_key = KEYS[1]
local op = ARGV[1]
local call_id = ARGV[2]
local field = 'c:' .. call_id
local keep_closed_ms = tonumber(ARGV[3])

local bal = redis.call('HGET', state_key, 'balance')
if not bal then
  return -1
end
local balance = tonumber(bal)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function num(n)
  return string.format('%.0f', n)
end

local function decode(v)
  local s, g, h, u, r, meta = string.match(v, '^(%a+),(%d+),(%d+),(%d+),(%d+)|(.*)$')
  return { state = s, granted = tonumber(g), hold = tonumber(h), untilms = tonumber(u), rev = tonumber(r), meta = meta }
end

local function encode(s)
  return s.state .. ',' .. num(s.granted) .. ',' .. num(s.hold) .. ',' .. num(s.untilms) .. ',' .. num(s.rev) .. '|' .. s.meta
end

local function is_open(s)
  return s.state == 'active' or s.state == 'ended'
end

-- One pass over the account's sessions: expire the open ones past their time, drop
-- closed records past theirs, and sum the holds of the open ones other than call_id.
local others = 0
local open = 0
local listed = {}
local own
local counted
local fields = redis.call('HGETALL', state_key)
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'open_calls' then
    counted = tonumber(fields[i + 1])
  elseif string.sub(name, 1, 2) == 'c:' then
    local s = decode(fields[i + 1])
    if is_open(s) and s.untilms <= now then
      s.state = 'expired'
      s.hold = 0
      s.untilms = now + keep_closed_ms
      s.rev = s.rev + 1
      redis.call('HSET', state_key, name, encode(s))
    elseif not is_open(s) and s.untilms <= now then
      redis.call('HDEL', state_key, name)
      s = nil
    end
    if s then
      if name == field then
        own = s
      elseif is_open(s) then
        others = others + s.hold
      end
      if is_open(s) then
        open = open + 1
        listed[#listed + 1] = string.sub(name, 3)
        listed[#listed + 1] = encode(s)
      end
    end
  end
end
-- Written only when it changed: a list (balance, authorize) stays a read.
if counted ~= open then
  redis.call('HSET', state_key, 'open_calls', num(open))
end

local function reply(outcome, s)
  return { outcome, num(balance), num(others), num(now), s and encode(s) or '' }
end

-- The largest pair (from ARGV[at]) whose hold fits the available credit, or nil.
local function pick(at)
  local n = tonumber(ARGV[at])
  local available = balance - BLOCK - others
  local seconds, hold
  for i = 0, n - 1 do
    local h = tonumber(ARGV[at + 2 + 2 * i])
    if h > available then
      break
    end
    seconds, hold = tonumber(ARGV[at + 1 + 2 * i]), h
  end
  return seconds, hold
end

if op == 'list' then
  local out = reply('listed', own)
  for _, v in ipairs(listed) do
    out[#out + 1] = v
  end
  return out
end

if op == 'start' then
  if own then
    return reply(is_open(own) and 'same' or 'closed', own)
  end
  if balance < BLOCK then
    return reply('blocked', nil)
  end
  local seconds, hold = pick(6)
  if not seconds then
    return reply('insufficient_credit', nil)
  end
  local s = { state = 'active', granted = seconds, hold = hold, untilms = now + seconds * 1000 + tonumber(ARGV[4]), rev = 1, meta = ARGV[5] }
  redis.call('HSET', state_key, field, encode(s), 'open_calls', num(open + 1))
  return reply('granted', s)
end

if not own then
  return reply('unknown', nil)
end
if not is_open(own) then
  return reply('closed', own)
end

if op == 'renew' then
  if own.state == 'ended' then
    return reply('ended', own)
  end
  local seconds, hold = pick(6)
  if seconds and seconds > own.granted then
    own.granted = seconds
    own.hold = hold
  end
  local left = own.granted - tonumber(ARGV[5])
  if left < 0 then
    left = 0
  end
  own.untilms = now + left * 1000 + tonumber(ARGV[4])
  own.rev = own.rev + 1
  redis.call('HSET', state_key, field, encode(own))
  return reply('granted', own)
end

if op == 'end' then
  if own.state == 'ended' then
    return reply('same', own)
  end
  own.state = 'ended'
  own.hold = tonumber(ARGV[4])
  own.untilms = now + keep_closed_ms
  own.rev = own.rev + 1
  redis.call('HSET', state_key, field, encode(own))
  return reply('granted', own)
end

if op == 'close' then
  if own.rev == tonumber(ARGV[4]) then
    own.state = ARGV[5]
    own.hold = 0
    own.untilms = now + keep_closed_ms
    own.rev = own.rev + 1
    redis.call('HSET', state_key, field, encode(own), 'open_calls', num(open - 1))
  end
  return reply('closed', own)
end

return redis.error_reply('calls: unknown op ' .. tostring(op))
