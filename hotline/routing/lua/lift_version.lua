-- lift_version.lua: raise a call's or doctor's version to at least the database's, when both
-- agree on the state but Redis counts lower (it lost writes, e.g. after a failover), so that
-- Redis's next decision outranks what the database holds. Never lowers a version.
-- KEYS: none.
-- ARGV: 1 'call' | 'doc', 2 id, 3 the state both agree on, 4 the database's version
-- Returns the version now (0 if the state changed meanwhile: nothing done).
local k = P..ARGV[1]..':'..ARGV[2]
if redis.call('HGET', k, 'st') ~= ARGV[3] then return 0 end
local ver = tonumber(redis.call('HGET', k, 'ver') or '0')
if ver < tonumber(ARGV[4]) then
  ver = tonumber(ARGV[4])
  redis.call('HSET', k, 'ver', ver)
end
return ver
