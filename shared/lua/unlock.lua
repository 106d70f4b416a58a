-- End of a guarded checkout (ADR 0097): remember the answer, extend the shopper counters to
-- the end of the sale, release the Idempotency-Key's lock if this request still holds it.
-- KEYS[1] the lock, KEYS[2] the replay marker, KEYS[3..] shopper counters to extend
-- ARGV[1] lock token, ARGV[2] marker value ("": none), ARGV[3] marker ttl (s),
-- ARGV[4] counter ttl (s; only ever lengthens a counter's life), ARGV[5] a pub/sub channel
-- to wake the outbox relay on ("" or absent: none; ADR 0107)
if ARGV[2] ~= "" then
  redis.call("SET", KEYS[2], ARGV[2], "EX", tonumber(ARGV[3]))
end
for i = 3, #KEYS do
  redis.call("EXPIRE", KEYS[i], tonumber(ARGV[4]), "GT")
end
if ARGV[5] and ARGV[5] ~= "" then
  redis.call("PUBLISH", ARGV[5], "1")
end
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
