-- join.lua: a holder takes (or finds again) its place. ARGV[1] holder, ARGV[2] a random
-- score for the pre-queue, drawn in Python with secrets (ADR 0104).
local holder, score = ARGV[1], ARGV[2]
local now = now_s()
local s = tick(now)
if not s then return {'UNKNOWN'} end
if s.state == 'closed' then return answer('CLOSED', nil, nil, s) end
local t = num(redis.call('HGET', KEYS[4], holder), nil)
if t then
  local admitted = t <= s.at
  if not admitted then return answer('TICKET', t, 0, s) end
  if redis.call('ZSCORE', KEYS[6], holder) then return answer('TICKET', t, 1, s) end
  -- Admitted but its claim lapsed (or it bought already): a new place at the end.
  redis.call('HDEL', KEYS[4], holder)
end
if redis.call('ZSCORE', KEYS[3], holder) or not s.frozen then
  redis.call('ZADD', KEYS[3], 'NX', score, holder)
  s.queue = (s.last - s.at) + redis.call('ZCARD', KEYS[3])
  return answer('PRE', nil, 0, s)
end
t = redis.call('HINCRBY', KEYS[2], 'last_ticket', 1)
redis.call('HSET', KEYS[5], t, holder .. ' ' .. string.format('%.3f', now))
redis.call('HSET', KEYS[4], holder, t)
-- Admit at once when the bucket and the stock allow (the queue may be empty).
local waits = s.waits
s = tick(now)
for _, w in ipairs(s.waits) do waits[#waits + 1] = w end
s.waits = waits
local admitted = (t <= s.at and redis.call('ZSCORE', KEYS[6], holder)) and 1 or 0
return answer('TICKET', t, admitted, s)
