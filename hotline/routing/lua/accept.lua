-- accept.lua: the offered doctor takes the call.
-- KEYS: none.
-- ARGV: 1 offer id, 2 doctor id
-- Returns {'ok', call id, rows} or {'gone', '', rows} when the offer is no longer theirs.
local oid, doc = ARGV[1], ARGV[2]
local ok = P..'offer:'..oid
local out = {}
if redis.call('HGET', ok, 'doc') ~= doc then return {'gone', '', cjson.encode(out)} end
local call = redis.call('HGET', ok, 'call')
local ck, dk = P..'call:'..call, P..'doc:'..doc
if redis.call('HGET', ck, 'offer') ~= oid or redis.call('HGET', dk, 'offer') ~= oid then
  return {'gone', '', cjson.encode(out)}
end
offer_closed(out, 'accepted', oid, call, doc, 'accepted')
redis.call('DEL', ok)
redis.call('ZREM', P..'offers', oid)
redis.call('DEL', P..'skip:'..call)
local b = redis.call('HGET', ck, 'b')
redis.call('ZREM', P..'waiting:'..b, call)
redis.call('HSET', ck, 'st', 'connected', 'offer', '')
redis.call('HSET', dk, 'st', 'on_call', 'offer', '', 'call', call, 'missed', 0)
call_row(out, call, 'connected', bump(ck), 'accepted')
doc_row(out, doc, 'on_call', bump(dk), 'accepted')
return {'ok', call, cjson.encode(out)}
