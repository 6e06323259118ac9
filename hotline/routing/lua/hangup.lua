-- hangup.lua: the caller hangs up. Waiting or ringing: abandoned, the offer withdrawn.
-- Connected: the call ends and the doctor wraps up. Call-back tasks are not the caller's to end.
-- A call that ended here is marked so (see prelude.lua): a repeated hang-up answers 'gone'.
-- A call Redis never held is marked too, so that an arrival still on its way (the call row
-- committed, its enqueue not yet run) cannot put it in a queue; the database decides it.
-- KEYS: none.
-- ARGV: 1 call id, 2 offer timeout ms, 3 how long an ended call stays marked (s)
-- Returns {'abandoned' | 'ended' | 'noop' | 'gone' | 'unknown', status before, rows}.
local call = ARGV[1]
local ck = P..'call:'..call
local out = {}
local st = redis.call('HGET', ck, 'st')
if not st then
  if redis.call('EXISTS', P..'ended:'..call) == 1 then return {'gone', '', cjson.encode(out)} end
  mark_ended(call, tonumber(ARGV[3]))
  return {'unknown', '', cjson.encode(out)}
end
local now = NOW
local b = redis.call('HGET', ck, 'b')
-- A call-back task is the hotline's to make; the caller hanging up changes nothing.
if redis.call('HGET', ck, 'cb') == '1' then return {'noop', st, cjson.encode(out)} end
if st == 'queued' or st == 'offered' then
  local doc = redis.call('HGET', ck, 'doc')
  local oid = redis.call('HGET', ck, 'offer')
  redis.call('ZREM', P..'q:'..b, call)
  redis.call('ZREM', P..'waiting:'..b, call)
  redis.call('DEL', P..'skip:'..call)
  if oid and oid ~= '' then
    offer_closed(out, 'withdrawn', oid, call, doc, 'caller_hung_up')
    redis.call('DEL', P..'offer:'..oid)
    redis.call('ZREM', P..'offers', oid)
    local dk = P..'doc:'..doc
    redis.call('HSET', dk, 'offer', '')
    doc_row(out, doc, 'available', make_available(doc, tonumber(redis.call('HGET', dk, 'idle')) or now), 'caller_hung_up')
  end
  redis.call('DEL', ck)
  mark_ended(call, tonumber(ARGV[3]))
  call_row(out, call, 'abandoned', 0, 'caller_hung_up')
  if doc and doc ~= '' then match_doc_branches(doc, now, tonumber(ARGV[2]), out) end
  return {'abandoned', st, cjson.encode(out)}
end
if st == 'connected' then
  redis.call('HSET', ck, 'st', 'wrap_up')
  call_row(out, call, 'wrap_up', bump(ck), 'caller_hung_up')
  return {'ended', st, cjson.encode(out)}
end
return {'noop', st, cjson.encode(out)}
