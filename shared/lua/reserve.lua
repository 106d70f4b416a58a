-- Reserve every line of an order, or none (atomic: Redis runs a script alone).
-- KEYS[1]            reservation hash  inv:res:{reservation_id}
-- KEYS[2]            inv:epoch: missing = Redis came back empty and availability is not
--                    rebuilt yet (ADR 0088): nothing is reserved, the sale is paused
-- KEYS[2i+1], KEYS[2i+2]  for line i: availability key, the shopper's counter for that sku
-- ARGV[1]            number of lines
-- ARGV[2]            ttl (s) of the shopper counters (the end of the sale)
-- ARGV[3i], ARGV[3i+1], ARGV[3i+2]  for line i: quantity, per-shopper limit (0: none), sku
-- Returns {"OK"} | {"DUPLICATE"} | {"PAUSED"} | {code, sku} with code MISSING | SOLD_OUT | LIMIT_EXCEEDED
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call("EXISTS", KEYS[2]) == 0 then
  return {"PAUSED"}
end
if redis.call("EXISTS", KEYS[1]) == 1 then
  return {"DUPLICATE"}
end
for i = 1, n do
  local avail_key, shopper_key = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local qty, limit, sku = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), ARGV[3 * i + 2]
  local avail = redis.call("GET", avail_key)
  if not avail then
    return {"MISSING", sku}
  end
  if tonumber(avail) < qty then
    return {"SOLD_OUT", sku}
  end
  if limit > 0 and tonumber(redis.call("GET", shopper_key) or "0") + qty > limit then
    return {"LIMIT_EXCEEDED", sku}
  end
end
for i = 1, n do
  local avail_key, shopper_key = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local qty, sku = tonumber(ARGV[3 * i]), ARGV[3 * i + 2]
  redis.call("DECRBY", avail_key, qty)
  redis.call("INCRBY", shopper_key, qty)
  if ttl > 0 then
    redis.call("EXPIRE", shopper_key, ttl)
  end
  redis.call("HSET", KEYS[1], sku, qty, "shopper:" .. sku, shopper_key)
end
return {"OK"}
