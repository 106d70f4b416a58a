-- Give back every unit of a reservation (compensation). Idempotent: a second call finds
-- no reservation and changes nothing.
-- KEYS[1]  reservation hash inv:res:{reservation_id}
-- ARGV[1]  availability key prefix "inv:{", ARGV[2] its suffix "}:available"
-- Returns the number of units given back.
local entries = redis.call("HGETALL", KEYS[1])
if #entries == 0 then
  return 0
end
local fields = {}
for i = 1, #entries, 2 do
  fields[entries[i]] = entries[i + 1]
end
local units = 0
for field, value in pairs(fields) do
  if string.sub(field, 1, 8) ~= "shopper:" then
    local qty = tonumber(value)
    redis.call("INCRBY", ARGV[1] .. field .. ARGV[2], qty)
    local shopper_key = fields["shopper:" .. field]
    if shopper_key and redis.call("EXISTS", shopper_key) == 1 then
      local left = redis.call("DECRBY", shopper_key, qty)
      if left <= 0 then
        redis.call("DEL", shopper_key)
      end
    end
    units = units + qty
  end
end
redis.call("DEL", KEYS[1])
return units
