-- done.lua: the holder's checkout was accepted: out of in_flight, counted as bought.
-- KEYS[1] run, KEYS[2] inflight; ARGV[1] holder. Returns 1 if it was in flight.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'bought', 1)
  return 1
end
return 0
