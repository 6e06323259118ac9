-- decline.lua: the offered doctor says no; the call keeps its place and passes them over.
-- KEYS: none.
-- ARGV: 1 offer id, 2 doctor id, 3 offer timeout ms, 4 how long the doctor is passed over (ms)
-- Returns {'ok', call id, rows} or {'gone', '', rows}.
local oid, doc = ARGV[1], ARGV[2]
local ok = P..'offer:'..oid
local out = {}
if redis.call('HGET', ok, 'doc') ~= doc then return {'gone', '', cjson.encode(out)} end
local now = NOW
local call = redis.call('HGET', ok, 'call')
redis.call('ZADD', P..'skip:'..call, now + tonumber(ARGV[4]), doc)
redis.call('PEXPIRE', P..'skip:'..call, tonumber(ARGV[4]) + 1000)
local dk = P..'doc:'..doc
local b = withdraw_offer(doc, out, 'declined', now)
-- A decline is an answer: the doctor stays available, in the same idle place.
doc_row(out, doc, 'available', make_available(doc, tonumber(redis.call('HGET', dk, 'idle')) or now), 'declined')
redis.call('HSET', dk, 'missed', 0)
if b then match_branch(b, now, tonumber(ARGV[3]), out) end
match_doc_branches(doc, now, tonumber(ARGV[3]), out)
return {'ok', call, cjson.encode(out)}
