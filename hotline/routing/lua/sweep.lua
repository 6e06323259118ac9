-- sweep.lua: the timers. Offers nobody answered, wrap-ups that ended, consoles gone silent;
-- then every branch is matched again. Safe to run from every API process at once.
-- KEYS: none.
-- ARGV: 1 offer timeout ms, 2 heartbeat timeout ms, 3 missed offers before autopause,
--       4 how long a doctor who missed is passed over (ms)
-- Returns rows (JSON).
local out = {}
local now = NOW
local timeout_ms, hb_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local touched = {}
-- Offers nobody answered in time: the call keeps its place, the doctor is passed over.
for _, oid in ipairs(redis.call('ZRANGEBYSCORE', P..'offers', '-inf', now, 'LIMIT', 0, 200)) do
  local ok = P..'offer:'..oid
  local doc = redis.call('HGET', ok, 'doc')
  local call = redis.call('HGET', ok, 'call')
  if doc then
    redis.call('ZADD', P..'skip:'..call, now + tonumber(ARGV[4]), doc)
    redis.call('PEXPIRE', P..'skip:'..call, tonumber(ARGV[4]) + 1000)
    local dk = P..'doc:'..doc
    offer_closed(out, 'expired', oid, call, doc, 'expired')
    redis.call('DEL', ok)
    redis.call('ZREM', P..'offers', oid)
    redis.call('HSET', dk, 'offer', '')
    touched[requeue(call, out, 'offer_expired')] = true
    local missed = redis.call('HINCRBY', dk, 'missed', 1)
    if missed >= tonumber(ARGV[3]) then
      leave_routing(doc)
      redis.call('HSET', dk, 'st', 'away')
      set_staffed(doc, false)
      doc_row(out, doc, 'away', bump(dk), 'autopause')
    else
      doc_row(out, doc, 'available', make_available(doc, tonumber(redis.call('HGET', dk, 'idle')) or now), 'offer_expired')
      for _, bp in ipairs(doc_branches(doc)) do touched[bp[1]] = true end
    end
  else
    redis.call('ZREM', P..'offers', oid)
  end
end
-- Wrap-up over: available again, idle from now.
for _, doc in ipairs(redis.call('ZRANGEBYSCORE', P..'wrap', '-inf', now, 'LIMIT', 0, 200)) do
  redis.call('ZREM', P..'wrap', doc)
  if redis.call('HGET', P..'doc:'..doc, 'st') == 'wrap_up' then
    doc_row(out, doc, 'available', make_available(doc, now), 'wrapup_over')
    for _, bp in ipairs(doc_branches(doc)) do touched[bp[1]] = true end
  end
end
-- Consoles that stopped heart-beating leave routing.
for _, doc in ipairs(redis.call('ZRANGEBYSCORE', P..'hb', '-inf', now - hb_ms, 'LIMIT', 0, 200)) do
  local dk = P..'doc:'..doc
  local st = redis.call('HGET', dk, 'st')
  if st == 'available' or st == 'offered' or st == 'away' then
    leave_routing(doc)
    local b = withdraw_offer(doc, out, 'console_silent', now)
    if b then touched[b] = true end
    redis.call('HSET', dk, 'st', 'offline')
    set_staffed(doc, false)
    redis.call('ZREM', P..'hb', doc)
    doc_row(out, doc, 'offline', bump(dk), 'console_silent')
  elseif st ~= 'on_call' and st ~= 'wrap_up' then
    redis.call('ZREM', P..'hb', doc)
  end
end
-- Every branch, not only those touched: a doctor passed over for a call becomes
-- eligible again once the skip window ends, with nothing else happening.
for _, b in ipairs(redis.call('SMEMBERS', P..'branches')) do touched[b] = true end
for b, _ in pairs(touched) do match_branch(b, now, timeout_ms, out) end
return cjson.encode(out)
