-- repair_doctor.lua: set a doctor's presence to what the database records, for a doctor
-- Redis lost or holds in a state the database had moved past (the reconciliation sweep).
-- A doctor on a call is taken out of routing here and joined to the call by repair_call;
-- one wrapping up ends the wrap-up at the next sweep. The version is lifted as for calls.
-- KEYS: none.
-- ARGV: 1 doctor, 2 available | away | offline | on_call | wrap_up, 3 branches spec
--       "3:1,4:2", 4 idle since ms,
--       5 the database's version, 6 offer timeout ms
-- Returns rows (JSON).
local doc, st = ARGV[1], ARGV[2]
local dk = P..'doc:'..doc
local out = {}
local ver = math.max(tonumber(redis.call('HGET', dk, 'ver') or '0'), tonumber(ARGV[5]))
redis.call('HSET', dk, 'br', ARGV[3], 'ver', ver, 'missed', redis.call('HGET', dk, 'missed') or 0)
if st == 'available' then
  withdraw_offer(doc, out, 'reconciled', NOW)
  doc_row(out, doc, 'available', make_available(doc, tonumber(ARGV[4])), 'reconciled')
  redis.call('ZADD', P..'hb', NOW, doc)
  match_doc_branches(doc, NOW, tonumber(ARGV[6]), out)
elseif st == 'on_call' or st == 'wrap_up' then
  local b = withdraw_offer(doc, out, 'reconciled', NOW)
  leave_routing(doc)
  set_staffed(doc, true)
  redis.call('HSET', dk, 'st', st, 'offer', '')
  if st == 'wrap_up' then redis.call('ZADD', P..'wrap', NOW, doc) end
  doc_row(out, doc, st, bump(dk), 'reconciled')
  if b then match_branch(b, NOW, tonumber(ARGV[6]), out) end
else
  local b = withdraw_offer(doc, out, 'reconciled', NOW)
  leave_routing(doc)
  set_staffed(doc, false)
  redis.call('ZREM', P..'wrap', doc)
  if st == 'offline' then redis.call('ZREM', P..'hb', doc) end
  redis.call('HSET', dk, 'st', st, 'offer', '', 'call', '')
  doc_row(out, doc, st, bump(dk), 'reconciled')
  if b then match_branch(b, NOW, tonumber(ARGV[6]), out) end
end
return cjson.encode(out)
