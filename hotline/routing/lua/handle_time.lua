-- handle_time.lua: fold one finished call's handle time into its branch's running average.
-- An exponential average: recent calls weigh most, and one odd call does not swing it.
-- KEYS: none.
-- ARGV: 1 branch digit, 2 handle time s, 3 the average to start from s, 4 weight of the new call
-- Returns the new average (string).
local k = P..'aht:'..ARGV[1]
local old = tonumber(redis.call('GET', k) or ARGV[3])
local w = tonumber(ARGV[4])
local avg = old * (1 - w) + tonumber(ARGV[2]) * w
redis.call('SET', k, string.format('%.2f', avg))
return string.format('%.2f', avg)
