-- Add units to an availability counter that exists. A missing counter is not guessed:
-- the caller rebuilds it from the system of record (fulfillment's stock) instead.
-- KEYS[1] availability key; ARGV[1] units (> 0)
-- Returns the new availability, or -1 when the counter is missing.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
return redis.call("INCRBY", KEYS[1], tonumber(ARGV[1]))
