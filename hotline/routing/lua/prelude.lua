-- prelude.lua: shared helpers, prepended to every routing script when it is loaded.
-- Keys are derived from ids under the prefix P (see hotline/routing/keys.py for the schema),
-- so the scripts take no KEYS: routing runs on one Redis primary, not a cluster.
-- Rows appended to `out` are what the database must record, decoded by outcome.py:
--   {'offer', offer, call, doc, branch, expires_ms, offered_ms, caller, call_ver, doc_ver}
--   {'call', call, status, version, why, doc-or-'', decided_ms}
--   {'doc', doc, state, version, why, decided_ms}
--   {'accepted'|'withdrawn'|'expired', offer, call, doc, why, decided_ms, offered_ms, expires_ms}
local P = 'hl:'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- One decision time per script: every row it returns carries it, so facts written
-- late to the database still say when they happened.
local NOW = now_ms()
local function bump(key) return redis.call('HINCRBY', key, 'ver', 1) end
-- A call's new state with the doctor it now belongs to (or '') and the decision time.
local function call_row(out, call, st, ver, why)
  out[#out+1] = {'call', call, st, ver, why, redis.call('HGET', P..'call:'..call, 'doc') or '', NOW}
end
-- A call that left the queues for good is marked ended for a while: a late arrival of the
-- same call cannot queue it again, and a second hang-up knows it has nothing to do.
local function mark_ended(call, ttl_s)
  redis.call('SET', P..'ended:'..call, '1', 'EX', ttl_s)
end
local function doc_row(out, doc, st, ver, why)
  out[#out+1] = {'doc', doc, st, ver, why, NOW}
end
-- An offer that ends: what it was (when made, when due) rides along, so the row can be
-- written whole by whichever process writes first.
local function offer_closed(out, kind, oid, call, doc, why)
  local at, exp = unpack(redis.call('HMGET', P..'offer:'..oid, 'at', 'exp'))
  out[#out+1] = {kind, oid, call, doc, why, NOW, at or NOW, exp or NOW}
end
local function doc_branches(doc)
  local br = redis.call('HGET', P..'doc:'..doc, 'br') or ''
  local out = {}
  for b, pref in string.gmatch(br, '([^,:]+):(%d+)') do out[#out+1] = {b, tonumber(pref)} end
  return out
end
local function leave_routing(doc)
  for _, bp in ipairs(doc_branches(doc)) do redis.call('ZREM', P..'avail:'..bp[1], doc) end
end
-- Staffed = signed in and taking calls (available, offered, on a call, in wrap-up).
local function set_staffed(doc, yes)
  for _, bp in ipairs(doc_branches(doc)) do
    if yes then redis.call('SADD', P..'staffed:'..bp[1], doc)
    else redis.call('SREM', P..'staffed:'..bp[1], doc) end
  end
end
local function make_available(doc, idle)
  local dk = P..'doc:'..doc
  for _, bp in ipairs(doc_branches(doc)) do
    redis.call('ZADD', P..'avail:'..bp[1], bp[2] * 1e13 + idle, doc)
    redis.call('SADD', P..'staffed:'..bp[1], doc)
  end
  redis.call('HSET', dk, 'st', 'available', 'idle', idle, 'offer', '', 'call', '')
  redis.call('ZREM', P..'wrap', doc)
  return bump(dk)
end
-- out rows: {kind, a, b, c, d, e, f}
local function requeue(call, out, why)
  local ck = P..'call:'..call
  local b = redis.call('HGET', ck, 'b')
  local st = 'queued'
  if redis.call('HGET', ck, 'cb') == '1' then st = 'callback_pending' end
  redis.call('ZADD', P..'q:'..b, redis.call('HGET', ck, 'sc'), call)  -- as stored: exact
  redis.call('HSET', ck, 'st', st, 'doc', '', 'offer', '')
  call_row(out, call, st, bump(ck), why)
  return b
end
-- Withdraw the doctor's live offer, if any; the call goes back to its place.
local function withdraw_offer(doc, out, why, now)
  local dk = P..'doc:'..doc
  local oid = redis.call('HGET', dk, 'offer')
  if not oid or oid == '' then return nil end
  local ok = P..'offer:'..oid
  local call = redis.call('HGET', ok, 'call')
  offer_closed(out, 'withdrawn', oid, call, doc, why)
  redis.call('DEL', ok)
  redis.call('ZREM', P..'offers', oid)
  redis.call('HSET', dk, 'offer', '')
  if call then return requeue(call, out, why) end
  return nil
end
local function skipped(call, doc, now)
  local until_ms = redis.call('ZSCORE', P..'skip:'..call, doc)
  return until_ms and tonumber(until_ms) > now
end
local function match_branch(b, now, timeout_ms, out)
  local qk, ak = P..'q:'..b, P..'avail:'..b
  while true do
    local calls = redis.call('ZRANGE', qk, 0, 0)
    if #calls == 0 then return end
    local call = calls[1]
    local doc = nil
    -- Longest idle first; pass over doctors who just declined or missed this call.
    local docs = redis.call('ZRANGE', ak, 0, 63)
    for _, d in ipairs(docs) do
      if not skipped(call, d, now) then doc = d; break end
    end
    if doc == nil then
      -- The head call is waiting for someone not yet tried; try calls behind it.
      local tried = false
      local more = redis.call('ZRANGE', qk, 1, 63)
      for _, c in ipairs(more) do
        for _, d in ipairs(docs) do
          if not skipped(c, d, now) then call = c; doc = d; break end
        end
        if doc then break end
      end
      if doc == nil then return end
    end
    local ck, dk = P..'call:'..call, P..'doc:'..doc
    redis.call('ZREM', qk, call)
    leave_routing(doc)
    local oid = tostring(now) .. '-' .. tostring(redis.call('INCR', P..'seq:offer'))
    local exp = now + timeout_ms
    redis.call('HSET', P..'offer:'..oid, 'call', call, 'doc', doc, 'b', b, 'exp', exp, 'at', now)
    redis.call('ZADD', P..'offers', exp, oid)
    redis.call('HSET', ck, 'st', 'offered', 'doc', doc, 'offer', oid)
    redis.call('HSET', dk, 'st', 'offered', 'offer', oid)
    out[#out+1] = {'offer', oid, call, doc, b, exp, now,
                   redis.call('HGET', ck, 'caller') or '', bump(ck), bump(dk)}
  end
end
local function match_doc_branches(doc, now, timeout_ms, out)
  for _, bp in ipairs(doc_branches(doc)) do match_branch(bp[1], now, timeout_ms, out) end
end
