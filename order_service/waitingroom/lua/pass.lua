-- pass.lua: may this holder have its pass? ARGV[1] holder. On OK the holder's in_flight
-- deadline is extended to the pass's expiry (returned as the extra field).
local holder = ARGV[1]
local now = now_s()
local s = tick(now)
if not s then return {'UNKNOWN'} end
if s.state == 'closed' then return answer('CLOSED', nil, nil, s) end
local t = num(redis.call('HGET', KEYS[4], holder), nil)
if not t then
  if redis.call('ZSCORE', KEYS[3], holder) then return answer('NOT_YET', nil, nil, s) end
  return answer('NOT_JOINED', nil, nil, s)
end
if t > s.at then return answer('NOT_YET', t, nil, s) end
if not redis.call('ZSCORE', KEYS[6], holder) then return answer('LOST', t, nil, s) end
if s.derived == 'sold_out' then return answer('SOLD_OUT', t, nil, s) end
local expires = math.floor(now) + s.pass_ttl
redis.call('ZADD', KEYS[6], 'GT', expires, holder)
return answer('OK', t, expires, s)
