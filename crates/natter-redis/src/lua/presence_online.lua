-- Which users have an open connection on a live node.
-- KEYS: the users' hashes; ARGV[1]: key base; ARGV[2]: this node (alive by definition)
-- Returns the 1-based positions in KEYS of the online users.
local alive = { [ARGV[2]] = true }
local online = {}
for k = 1, #KEYS do
  local entries = redis.call('HGETALL', KEYS[k])
  for i = 1, #entries, 2 do
    local node = entries[i]
    if tonumber(entries[i + 1]) > 0 then
      local live = alive[node]
      if live == nil then
        live = redis.call('EXISTS', ARGV[1] .. 'alive:' .. node) == 1
        alive[node] = live
      end
      if live then
        online[#online + 1] = k
        break
      end
    end
  end
end
return online
