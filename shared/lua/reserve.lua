-- Reserve every line of an order, or none (atomic: Redis runs a script alone).
-- Optionally, in the same round trip (checkout, ADR 0097): take the Idempotency-Key's
-- in-flight lock, answer a replay from its marker, and read the lines' offers, the
-- per-shopper limits then coming from the offers themselves.
--
-- KEYS[1]            reservation hash  inv:res:{reservation_id}
-- KEYS[2], KEYS[3]   the key's lock and its replay marker (read only with a lock token)
-- KEYS[3i+1], KEYS[3i+2], KEYS[3i+3]  for line i: availability key, the shopper's counter
--                    for that sku, the sku's offer hash (read only when ARGV[5] > 0)
-- KEYS[3n+4..4n+3]  with ARGV[6] set: each line's guard key (its value, when present, is
--                    a JSON {"slug", "accounts_only"}: the line needs that room's pass)
-- KEYS[#KEYS]       inv:epoch (always the last key): missing = Redis came back empty and
--                    availability is not rebuilt yet (ADR 0088): nothing is reserved, no
--                    lock is taken, the answer is {"PAUSED"} (the sale is paused)
-- ARGV[1]            number of lines
-- ARGV[2]            ttl (s) of the shopper counters (0: none)
-- ARGV[3], ARGV[4]   lock token ("": no lock, no marker) and the lock's ttl (s)
-- ARGV[5]            0: the limits are the lines'; > 0: read the offers, a line's limit is
--                    its offer's per_shopper_limit, this the most units when it has none
-- ARGV[3i+3], ARGV[3i+4], ARGV[3i+5]  for line i: quantity, per-shopper limit (0: none), sku
-- ARGV[3n+6]         "" (no guard keys) or the slugs the request holds a pass of, as
--                    ",a,b," (ADR 0107: the waiting room's guard in the same round trip)
-- ARGV[3n+7]         "1" when the shopper is signed in (accounts-only rooms)
--
-- Returns {"PAUSED"} | {"IN_USE"} (another request holds the lock) | {"REPLAY", marker} (lock released)
-- | {code, sku, offer_1, ..., offer_n, room_1, ...} with code OK | DUPLICATE | MISSING |
-- SOLD_OUT | LIMIT_EXCEEDED | CHECK (an offer refuses the line: missing, inactive, over its
-- limit, another currency; the caller's validation says which) | GUARDED (a line's room
-- wants a pass the request does not hold, or a signed-in shopper), sku "" when none, each
-- offer as HGETALL returns it (empty when ARGV[5] is 0 or the offer is missing), then the
-- slugs of the rooms guarding the lines (each once).
-- Only an OK keeps the lock: the caller releases it once the order is recorded or not.
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local token, lock_ttl = ARGV[3], tonumber(ARGV[4])
local max_quantity = tonumber(ARGV[5])
local allowed, signed_in = ARGV[3 * n + 6] or "", ARGV[3 * n + 7] == "1"

if redis.call("EXISTS", KEYS[#KEYS]) == 0 then
  return {"PAUSED"}
end

if token ~= "" then
  if not redis.call("SET", KEYS[2], token, "NX", "EX", lock_ttl) then
    return {"IN_USE"}
  end
  local marker = redis.call("GET", KEYS[3])
  if marker then
    redis.call("DEL", KEYS[2])
    return {"REPLAY", marker}
  end
end

local offers, limits, rooms = {}, {}, {}
local currency, mixed = nil, false
local function answer(code, sku)
  if token ~= "" and code ~= "OK" then
    redis.call("DEL", KEYS[2])
  end
  local out = {code, sku or ""}
  for i = 1, n do
    out[i + 2] = offers[i] or {}
  end
  for _, slug in ipairs(rooms) do
    out[#out + 1] = slug
  end
  return out
end

if allowed ~= "" then
  local seen = {}
  for i = 1, n do
    local raw = redis.call("GET", KEYS[3 * n + 3 + i])
    if raw then
      local room = cjson.decode(raw)
      local slug = tostring(room["slug"])
      if (room["accounts_only"] and not signed_in)
        or not string.find(allowed, "," .. slug .. ",", 1, true) then
        return answer("GUARDED", ARGV[3 * i + 5])
      end
      if not seen[slug] then
        seen[slug] = true
        rooms[#rooms + 1] = slug
      end
    end
  end
end

for i = 1, n do
  local qty, limit = tonumber(ARGV[3 * i + 3]), tonumber(ARGV[3 * i + 4])
  if max_quantity > 0 then
    local raw = redis.call("HGETALL", KEYS[3 * i + 3])
    offers[i] = raw
    local fields = {}
    for f = 1, #raw, 2 do
      fields[raw[f]] = raw[f + 1]
    end
    if #raw == 0 or (fields["active"] or "1") ~= "1" then
      return answer("CHECK")
    end
    limit = tonumber(fields["per_shopper_limit"] or "0") or 0
    if qty < 1 or qty > (limit > 0 and limit or max_quantity) then
      return answer("CHECK")
    end
    if currency and fields["currency"] ~= currency then
      mixed = true
    end
    currency = fields["currency"]
  end
  limits[i] = limit
end
if mixed then
  return answer("CHECK")
end

if redis.call("EXISTS", KEYS[1]) == 1 then
  return answer("DUPLICATE")
end
for i = 1, n do
  local avail_key, shopper_key = KEYS[3 * i + 1], KEYS[3 * i + 2]
  local qty, limit, sku = tonumber(ARGV[3 * i + 3]), limits[i], ARGV[3 * i + 5]
  local avail = redis.call("GET", avail_key)
  if not avail then
    return answer("MISSING", sku)
  end
  if tonumber(avail) < qty then
    return answer("SOLD_OUT", sku)
  end
  if limit > 0 and tonumber(redis.call("GET", shopper_key) or "0") + qty > limit then
    return answer("LIMIT_EXCEEDED", sku)
  end
end
for i = 1, n do
  local avail_key, shopper_key = KEYS[3 * i + 1], KEYS[3 * i + 2]
  local qty, sku = tonumber(ARGV[3 * i + 3]), ARGV[3 * i + 5]
  redis.call("DECRBY", avail_key, qty)
  redis.call("INCRBY", shopper_key, qty)
  if ttl > 0 then
    redis.call("EXPIRE", shopper_key, ttl)
  end
  redis.call("HSET", KEYS[1], sku, qty, "shopper:" .. sku, shopper_key)
end
return answer("OK")
