-- The waiting room's state machine, shared by tick.lua, join.lua and pass.lua (Python
-- prepends this file to each; order_service/waitingroom/state.py, ADRs 0104 and 0106).
--
-- KEYS[1] conf   HASH  the room's definition, mirrored from PostgreSQL by room_save
-- KEYS[2] run    HASH  last_ticket, admitted_through, frozen, tokens, last_tick, bought,
--                      max_wait
-- KEYS[3] pre    ZSET  pre-queue: holder -> random score drawn at join (secrets)
-- KEYS[4] holders HASH holder -> ticket
-- KEYS[5] tickets HASH ticket -> "holder joined_at"
-- KEYS[6] inflight ZSET admitted holders still able to buy: holder -> deadline (unix s)
-- KEYS[7] waits  LIST  the last 1000 waits (s), newest first (admin: median wait)
-- KEYS[8..] the availability counters of the room's skus (shared.inventory.available_key)
-- The clock is Redis's own (TIME): every process ticking the room agrees on it.

local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(value, default)
  if value then return tonumber(value) or default end
  return default
end

local function units_left()
  local units, known = 0, true
  for i = 8, #KEYS do
    local v = redis.call('GET', KEYS[i])
    if v then units = units + math.max(0, tonumber(v) or 0) else known = false end
  end
  return units, known
end

-- Freeze the pre-queue when due, expire in_flight, admit at the rate under the stock cap.
-- Returns nil for an unknown room, else a table describing the room now.
local function tick(now)
  local c = redis.call('HMGET', KEYS[1], 'state', 'opens_at', 'rate', 'allowance', 'claim',
    'pass_ttl')
  if not c[1] then return nil end
  local s = {state = c[1], opens = num(c[2], 0), rate = num(c[3], 1), allowance = num(c[4], 0),
    claim = num(c[5], 30), pass_ttl = num(c[6], 600), now = now, waits = {}}
  local r = redis.call('HMGET', KEYS[2], 'last_ticket', 'admitted_through', 'frozen', 'tokens',
    'last_tick', 'max_wait')
  local last, at, frozen = num(r[1], 0), num(r[2], 0), r[3] == '1'
  -- A room never ticked starts with a full bucket (one second of credit).
  local tokens, last_tick, max_wait = num(r[4], 0), num(r[5], now - 1), num(r[6], 0)
  if s.state ~= 'closed' then
    if not frozen and now >= s.opens then
      -- The opening: the pre-queue in score order (a uniform shuffle) takes tickets 1..P.
      local joined = s.opens > 0 and s.opens or now
      local members = redis.call('ZRANGE', KEYS[3], 0, -1)
      for _, holder in ipairs(members) do
        last = last + 1
        redis.call('HSET', KEYS[5], last, holder .. ' ' .. string.format('%.3f', joined))
        redis.call('HSET', KEYS[4], holder, last)
      end
      redis.call('DEL', KEYS[3])
      frozen = true
      redis.call('HSET', KEYS[2], 'frozen', '1', 'last_ticket', last)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  end
  local inflight = redis.call('ZCARD', KEYS[6])
  local units, known = units_left()
  -- Token bucket holding at most one second of credit.
  local bucket = math.max(s.rate, 1)
  tokens = math.min(bucket, tokens + s.rate * math.max(0, now - last_tick))
  if s.state == 'open' and frozen and known then
    local cap = math.ceil(units * (1 + s.allowance / 100))
    local n = math.min(math.floor(tokens), cap - inflight, last - at)
    if n > 0 then
      for t = at + 1, at + n do
        local v = redis.call('HGET', KEYS[5], t)
        if v then
          local sep = string.find(v, ' ', 1, true)
          local holder, joined = string.sub(v, 1, sep - 1), tonumber(string.sub(v, sep + 1))
          redis.call('ZADD', KEYS[6], now + s.claim, holder)
          local wait = math.max(0, now - joined)
          s.waits[#s.waits + 1] = string.format('%.3f', wait)
          redis.call('LPUSH', KEYS[7], string.format('%.3f', wait))
          if wait > max_wait then max_wait = wait end
        end
      end
      redis.call('LTRIM', KEYS[7], 0, 999)
      at = at + n
      tokens = tokens - n
      inflight = redis.call('ZCARD', KEYS[6])
    end
  end
  redis.call('HSET', KEYS[2], 'tokens', string.format('%.6f', tokens),
    'last_tick', string.format('%.6f', now), 'admitted_through', at,
    'max_wait', string.format('%.3f', max_wait))
  local state = s.state
  if state == 'open' then
    if now < s.opens then state = 'prequeue'
    elseif known and units == 0 then state = 'sold_out' end
  end
  s.derived, s.last, s.at, s.frozen = state, last, at, frozen
  s.inflight, s.units, s.known = inflight, units, known
  s.queue = (last - at) + redis.call('ZCARD', KEYS[3])
  return s
end

-- The flat answer every script ends with: kind, ticket, extra, then the status fields.
local function answer(kind, ticket, extra, s)
  local out = {kind, tostring(ticket or ''), tostring(extra or ''), s.derived,
    string.format('%.3f', s.opens), tostring(s.at), tostring(s.last), tostring(s.queue),
    tostring(s.inflight), s.known and tostring(s.units) or '', tostring(s.rate),
    string.format('%.3f', s.now)}
  for _, w in ipairs(s.waits) do out[#out + 1] = w end
  return out
end
