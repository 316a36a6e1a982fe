-- Refresh this node's heartbeat.
-- KEYS[1]: this node's heartbeat key; KEYS[2]: the set of registered nodes
-- ARGV[1]: this node; ARGV[2]: TTL in ms
-- Returns 1 if the heartbeat was still alive; 0 if it had expired or never existed: then this
-- node's counts may have been swept (or lost with a Redis restart) and the caller rewrites them.
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 0
