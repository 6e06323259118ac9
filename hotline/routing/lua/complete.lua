-- complete.lua: the doctor finishes a call (connected, or already ended by the caller).
-- KEYS: none.
-- ARGV: 1 call id, 2 doctor id, 3 wrap-up length ms, 4 how long the call stays marked ended (s)
-- Returns {'ok', status before, rows} or {'refused', status, rows}.
local call, doc = ARGV[1], ARGV[2]
local ck, dk = P..'call:'..call, P..'doc:'..doc
local out = {}
local st = redis.call('HGET', ck, 'st')
if redis.call('HGET', dk, 'call') ~= call or (st ~= 'connected' and st ~= 'wrap_up') then
  return {'refused', st or '', cjson.encode(out)}
end
local now = NOW
redis.call('DEL', ck)
mark_ended(call, tonumber(ARGV[4]))
redis.call('HSET', dk, 'st', 'wrap_up', 'call', '')
redis.call('ZADD', P..'wrap', now + tonumber(ARGV[3]), doc)
doc_row(out, doc, 'wrap_up', bump(dk), 'completed')
return {'ok', st, cjson.encode(out)}
