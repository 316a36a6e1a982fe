-- Make this incarnation the current one of its node id. The previous incarnation (the same node
-- before a restart) is dead at once: its heartbeat is deleted, so its counts stop counting and
-- the sweep removes them.
-- KEYS[1]: the current incarnation of this node id; ARGV[1]: this incarnation; ARGV[2]: key base
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if previous and previous ~= ARGV[1] then
  redis.call('DEL', ARGV[2] .. 'alive:' .. previous)
end
return previous
