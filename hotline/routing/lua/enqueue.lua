-- enqueue.lua: a committed call joins its branch queue and is offered if a doctor is free.
-- KEYS: none.
-- ARGV: 1 call id, 2 branch digit, 3 queue score (class*1e13 + queued_ms), 4 queued_ms,
--       5 caller number, 6 max waiting calls, 7 offer timeout ms, 8 '1' for a call-back task
-- Returns {'queued', status, rows, position, staffed, handle_time}, {'exists', status, rows},
-- {'ended', '', rows} (the caller already hung up) or {'full', '', rows}.
local call, b = ARGV[1], ARGV[2]
local ck = P..'call:'..call
local out = {}
local now = NOW
if redis.call('EXISTS', ck) == 1 then
  return {'exists', redis.call('HGET', ck, 'st'), cjson.encode(out)}
end
if redis.call('EXISTS', P..'ended:'..call) == 1 then
  return {'ended', '', cjson.encode(out)}
end
if redis.call('ZCARD', P..'waiting:'..b) >= tonumber(ARGV[6]) then
  return {'full', '', cjson.encode(out)}
end
local st = 'queued'
if ARGV[8] == '1' then st = 'callback_pending' end
-- Calls of one class that arrive in the same millisecond (a batch of arrivals) stand in
-- the order they came, not in the order of their ids: each goes 1/64 ms behind the last
-- one of its millisecond still waiting (up to 63 behind; past that they share a score).
-- So no two callers hear the same place in line.
local sc = tonumber(ARGV[3])
local last = redis.call('ZREVRANGEBYSCORE', P..'q:'..b, '('..string.format('%.17g', sc + 1),
                        string.format('%.17g', sc), 'WITHSCORES', 'LIMIT', 0, 1)
if #last > 0 then sc = math.min(tonumber(last[2]) + 1 / 64, sc + 63 / 64) end
sc = string.format('%.17g', sc)
redis.call('HSET', ck, 'b', b, 'st', st, 'sc', sc, 'q', ARGV[4], 'caller', ARGV[5],
           'doc', '', 'offer', '', 'cb', ARGV[8])
redis.call('ZADD', P..'q:'..b, sc, call)
redis.call('ZADD', P..'waiting:'..b, tonumber(ARGV[4]), call)
redis.call('SADD', P..'branches', b)
call_row(out, call, st, bump(ck), 'enqueued')
match_branch(b, now, tonumber(ARGV[7]), out)
local rank = redis.call('ZRANK', P..'q:'..b, call)
local position = 0
if rank then position = rank + 1 end
return {'queued', redis.call('HGET', ck, 'st'), cjson.encode(out), position,
        redis.call('SCARD', P..'staffed:'..b), redis.call('GET', P..'aht:'..b) or ''}
