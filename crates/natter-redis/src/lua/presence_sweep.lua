-- Remove the counts of dead nodes (heartbeat expired), at most ARGV[2] users per call.
-- KEYS[1]: the set of registered nodes; ARGV[1]: key base; ARGV[2]: budget
-- Returns 1 if work is left for another call, else 0.
local base, budget = ARGV[1], tonumber(ARGV[2])
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', base .. 'alive:' .. node) == 0 then
    local users_key = base .. 'users:' .. node
    local users = redis.call('SPOP', users_key, budget)
    for _, user in ipairs(users) do
      redis.call('HDEL', base .. 'user:' .. user, node)
    end
    budget = budget - #users
    if redis.call('SCARD', users_key) == 0 then
      redis.call('SREM', KEYS[1], node)
    end
    if budget <= 0 then
      return 1
    end
  end
end
return 0
