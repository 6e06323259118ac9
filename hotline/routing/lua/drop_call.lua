-- drop_call.lua: take out of routing a call the database says has ended (or never knew):
-- its offer is withdrawn, a doctor held on it is freed, and it is marked ended so that
-- nothing queues it again. The reconciliation sweep "undoes" a stray decision with it.
-- KEYS: none.
-- ARGV: 1 call, 2 how long the call stays marked ended (s), 3 offer timeout ms
-- Returns rows (JSON); no row for the call itself: the database already has its end.
local call = ARGV[1]
local ck = P..'call:'..call
local out = {}
local b = redis.call('HGET', ck, 'b')
local oid = redis.call('HGET', ck, 'offer')
local doc = redis.call('HGET', ck, 'doc')
if oid and oid ~= '' and redis.call('EXISTS', P..'offer:'..oid) == 1 then
  offer_closed(out, 'withdrawn', oid, call, doc, 'reconciled')
  redis.call('DEL', P..'offer:'..oid)
  redis.call('ZREM', P..'offers', oid)
end
if doc and doc ~= '' then
  local dk = P..'doc:'..doc
  if redis.call('HGET', dk, 'offer') == oid or redis.call('HGET', dk, 'call') == call then
    doc_row(out, doc, 'available', make_available(doc, NOW), 'reconciled')
  end
end
if b then
  redis.call('ZREM', P..'q:'..b, call)
  redis.call('ZREM', P..'waiting:'..b, call)
end
redis.call('DEL', ck)
redis.call('DEL', P..'skip:'..call)
mark_ended(call, tonumber(ARGV[2]))
if doc and doc ~= '' then match_doc_branches(doc, NOW, tonumber(ARGV[3]), out) end
return cjson.encode(out)
