-- unanswered.lua: the doctor accepted on the console but their phone leg was not answered
-- (no answer, busy, failed). The call goes back to the HEAD of its queue, whatever its
-- class, and keeps that place until it is answered; the doctor is passed over for it and
-- counts a missed offer as for an offer left to expire (autopaused at the limit).
-- KEYS: none.
-- ARGV: 1 call id, 2 doctor id, 3 offer timeout ms, 4 missed offers before autopause,
--       5 how long the doctor is passed over for this call (ms)
-- Returns {'ok', branch, rows} or {'gone', status, rows} when the call is not connected to
-- that doctor (already requeued by an earlier report, completed, or the caller hung up).
local call, doc = ARGV[1], ARGV[2]
local ck, dk = P..'call:'..call, P..'doc:'..doc
local out = {}
local st = redis.call('HGET', ck, 'st')
if st ~= 'connected' or redis.call('HGET', ck, 'doc') ~= doc
   or redis.call('HGET', dk, 'call') ~= call then
  return {'gone', st or '', cjson.encode(out)}
end
local now = NOW
local b = redis.call('HGET', ck, 'b')
-- The head of the queue: one below the best score waiting, if that beats the call's own.
local sc = tonumber(redis.call('HGET', ck, 'sc'))
local head = redis.call('ZRANGE', P..'q:'..b, 0, 0, 'WITHSCORES')
if #head > 0 and tonumber(head[2]) <= sc then sc = tonumber(head[2]) - 1 end
redis.call('HSET', ck, 'sc', string.format('%.17g', sc))  -- a Lua number would lose its fraction
redis.call('ZADD', P..'waiting:'..b, tonumber(redis.call('HGET', ck, 'q')), call)
redis.call('ZADD', P..'skip:'..call, now + tonumber(ARGV[5]), doc)
redis.call('PEXPIRE', P..'skip:'..call, tonumber(ARGV[5]) + 1000)
requeue(call, out, 'doctor_leg_unanswered')
redis.call('HSET', dk, 'call', '', 'offer', '')
local missed = redis.call('HINCRBY', dk, 'missed', 1)
if missed >= tonumber(ARGV[4]) then
  leave_routing(doc)
  redis.call('HSET', dk, 'st', 'away')
  set_staffed(doc, false)
  doc_row(out, doc, 'away', bump(dk), 'autopause')
else
  doc_row(out, doc, 'available', make_available(doc, tonumber(redis.call('HGET', dk, 'idle')) or now), 'doctor_leg_unanswered')
end
match_branch(b, now, tonumber(ARGV[3]), out)
match_doc_branches(doc, now, tonumber(ARGV[3]), out)
return {'ok', b, cjson.encode(out)}
