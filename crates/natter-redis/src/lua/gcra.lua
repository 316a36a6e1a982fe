-- GCRA (generic cell rate algorithm): one key, one round trip, no background refill.
-- KEYS[1]: the limited key (holds its theoretical arrival time, ms, as a float)
-- ARGV[1]: emission interval in ms (1000 / rate); ARGV[2]: burst (requests allowed at once)
-- Returns 0 if the request is allowed (and counted), else the ms to wait before retrying.
-- Time is the Redis server's, so every node agrees on it.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local wait = tat - tolerance - now
if wait > 0 then
  return math.max(1, math.ceil(wait))
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.max(1, math.ceil(next_tat - now)))
return 0
