-- repair_call.lua: set one call's routing state to what the database records, after Redis
-- lost it or kept a state the database had moved past (the reconciliation sweep).
-- A live offer of the call is withdrawn; a doctor Redis holds on it who is not the
-- database's is freed; a doctor the database has on it is taken out of routing. The call's
-- version is lifted above both Redis's and the database's, so the repair is the newest
-- state and every later decision outranks what the database holds.
-- KEYS: none.
-- ARGV: 1 call, 2 status (queued | callback_pending | connected | wrap_up), 3 doctor ('' if
--       none), 4 branch, 5 queue score, 6 queued_ms, 7 caller, 8 '1' for a call-back task,
--       9 the database's version, 10 offer timeout ms
-- Returns rows (JSON).
local call, st, doc, b = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ck = P..'call:'..call
local out = {}
local oid = redis.call('HGET', ck, 'offer')
if oid and oid ~= '' then
  local od = redis.call('HGET', P..'offer:'..oid, 'doc')
  if od then
    offer_closed(out, 'withdrawn', oid, call, od, 'reconciled')
    redis.call('DEL', P..'offer:'..oid)
    redis.call('ZREM', P..'offers', oid)
    local odk = P..'doc:'..od
    if redis.call('HGET', odk, 'offer') == oid then
      local idle = tonumber(redis.call('HGET', odk, 'idle')) or NOW
      doc_row(out, od, 'available', make_available(od, idle), 'reconciled')
    end
  end
end
local held = redis.call('HGET', ck, 'doc')
if held and held ~= '' and held ~= doc and redis.call('HGET', P..'doc:'..held, 'call') == call then
  doc_row(out, held, 'available', make_available(held, NOW), 'reconciled')
end
local ver = math.max(tonumber(redis.call('HGET', ck, 'ver') or '0'), tonumber(ARGV[9]))
redis.call('HSET', ck, 'b', b, 'st', st, 'sc', ARGV[5], 'q', ARGV[6], 'caller', ARGV[7],
           'doc', doc, 'offer', '', 'cb', ARGV[8], 'ver', ver)
redis.call('SADD', P..'branches', b)
redis.call('DEL', P..'ended:'..call)
if st == 'queued' or st == 'callback_pending' then
  redis.call('ZADD', P..'q:'..b, tonumber(ARGV[5]), call)
  redis.call('ZADD', P..'waiting:'..b, tonumber(ARGV[6]), call)
else
  redis.call('ZREM', P..'q:'..b, call)
  redis.call('ZREM', P..'waiting:'..b, call)
  local dk = P..'doc:'..doc
  withdraw_offer(doc, out, 'reconciled', NOW)
  leave_routing(doc)
  redis.call('HSET', dk, 'st', 'on_call', 'call', call, 'offer', '')
  redis.call('ZREM', P..'wrap', doc)
  set_staffed(doc, true)
  doc_row(out, doc, 'on_call', bump(dk), 'reconciled')
end
call_row(out, call, st, bump(ck), 'reconciled')
match_branch(b, NOW, tonumber(ARGV[10]), out)
return cjson.encode(out)
