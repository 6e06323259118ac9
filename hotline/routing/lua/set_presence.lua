-- set_presence.lua: a doctor goes available, away or offline.
-- KEYS: none.
-- ARGV: 1 doctor id, 2 'available' | 'away' | 'offline', 3 branches spec "3:1,4:2" ('' keeps
--       the stored one), 4 offer timeout ms
-- Returns {state before, state after (or 'refused' while on a call), rows}.
local doc, want, spec = ARGV[1], ARGV[2], ARGV[3]
local dk = P..'doc:'..doc
local out = {}
local now = NOW
local cur = redis.call('HGET', dk, 'st') or 'offline'
if spec ~= '' then
  leave_routing(doc)
  set_staffed(doc, false)
  redis.call('HSET', dk, 'br', spec)
end
if want == 'available' then
  redis.call('ZADD', P..'hb', now, doc)
  redis.call('HSET', dk, 'missed', 0)
  if cur == 'offline' or cur == 'away' then
    doc_row(out, doc, 'available', make_available(doc, now), 'presence')
  elseif cur == 'available' then
    -- Re-registering keeps the doctor's place in the idle order.
    make_available(doc, tonumber(redis.call('HGET', dk, 'idle')) or now)
  end
  -- offered / on_call / wrap_up: the doctor becomes available when that ends.
  if cur ~= 'offline' and cur ~= 'away' then set_staffed(doc, true) end
  match_doc_branches(doc, now, tonumber(ARGV[4]), out)
  return {cur, redis.call('HGET', dk, 'st'), cjson.encode(out)}
end
-- away or offline
if cur == 'on_call' then
  return {cur, 'refused', cjson.encode(out)}
end
leave_routing(doc)
local b = withdraw_offer(doc, out, 'doctor_left', now)
redis.call('ZREM', P..'wrap', doc)
if want == 'offline' then redis.call('ZREM', P..'hb', doc) end
redis.call('HSET', dk, 'st', want, 'offer', '', 'call', '')
set_staffed(doc, false)
doc_row(out, doc, want, bump(dk), 'presence')
if b then match_branch(b, now, tonumber(ARGV[4]), out) end
return {cur, want, cjson.encode(out)}
