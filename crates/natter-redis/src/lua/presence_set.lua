-- Set this node's count of open connections for one user, atomically, and say whether that
-- changed the user's presence cluster-wide.
-- KEYS[1]: the user's hash (node -> open connections); KEYS[2]: this node's set of users
-- ARGV[1]: key base ("{prefix}:presence:"); ARGV[2]: this node; ARGV[3]: the user id;
-- ARGV[4]: this node's count for the user (0 removes it)
-- Returns 1 if the user just came online, -1 if they just went offline, 0 otherwise.
-- Counts of dead nodes (no heartbeat key) do not count, and are removed on the way.
local base, me, count = ARGV[1], ARGV[2], tonumber(ARGV[4])
local before, others = false, false
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local node, n = entries[i], tonumber(entries[i + 1])
  if node == me then
    if n > 0 then before = true end
  elseif redis.call('EXISTS', base .. 'alive:' .. node) == 1 then
    if n > 0 then
      before = true
      others = true
    end
  else
    redis.call('HDEL', KEYS[1], node)
  end
end
if count > 0 then
  redis.call('HSET', KEYS[1], me, count)
  redis.call('SADD', KEYS[2], ARGV[3])
else
  redis.call('HDEL', KEYS[1], me)
  redis.call('SREM', KEYS[2], ARGV[3])
end
local after = others or count > 0
if after and not before then return 1 end
if before and not after then return -1 end
return 0
