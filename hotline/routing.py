"""The routing engine: per-branch priority queues and doctor presence in Redis, decided by Lua.

Every decision that hands a call to a doctor runs inside one Lua script, so Redis
serialises it: a call is never offered to two doctors and a doctor never holds two
offers, whatever the number of API processes. The database is the durable record;
each transition returns a version number so a late database write cannot overwrite
a newer one, and everything here can be rebuilt from the database (see rebuild).

Keys (prefix hl:):
  q:{b}        ZSET call -> rank*1e13 + queued_ms     calls waiting for an offer
  waiting:{b}  ZSET call -> queued_ms                 calls the caller still waits on
  call:{id}    HASH b, st, sc, q, caller, doc, offer, ver
  avail:{b}    ZSET doc -> preference*1e13 + idle_ms  who can be offered a call now
  doc:{id}     HASH st, br ("3:1,4:2"), idle, offer, call, missed, ver
  staffed:{b}  SET  doctors signed in and taking calls (available, offered, on call, wrap-up)
  hb           ZSET doc -> last heartbeat ms
  offer:{id}   HASH call, doc, b, exp, at
  offers       ZSET offer -> expiry ms
  skip:{call}  ZSET doc -> until ms      a doctor who just declined/missed is passed over
  wrap         ZSET doc -> wrap-up end ms
  ready        marker: Redis holds the state rebuilt from the database
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

P = "hl:"
RANK_FACTOR = 10**13  # above any epoch-ms value, so the class always dominates

PRELUDE = r"""
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
  redis.call('ZADD', P..'q:'..b, tonumber(redis.call('HGET', ck, 'sc')), call)
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
"""

# KEYS: none (all keys derive from ids; single-instance Redis or one hash slot).
ENQUEUE = r"""
-- ARGV: call, branch, score, queued_ms, caller, max_queue, timeout_ms, callback
local call, b = ARGV[1], ARGV[2]
local ck = P..'call:'..call
local out = {}
local now = NOW
if redis.call('EXISTS', ck) == 1 then
  return {'exists', redis.call('HGET', ck, 'st'), cjson.encode(out)}
end
if redis.call('ZCARD', P..'waiting:'..b) >= tonumber(ARGV[6]) then
  return {'full', '', cjson.encode(out)}
end
local st = 'queued'
if ARGV[8] == '1' then st = 'callback_pending' end
redis.call('HSET', ck, 'b', b, 'st', st, 'sc', ARGV[3], 'q', ARGV[4], 'caller', ARGV[5],
           'doc', '', 'offer', '', 'cb', ARGV[8])
redis.call('ZADD', P..'q:'..b, tonumber(ARGV[3]), call)
redis.call('ZADD', P..'waiting:'..b, tonumber(ARGV[4]), call)
redis.call('SADD', P..'branches', b)
call_row(out, call, st, bump(ck), 'enqueued')
match_branch(b, now, tonumber(ARGV[7]), out)
local rank = redis.call('ZRANK', P..'q:'..b, call)
local position = 0
if rank then position = rank + 1 end
return {'queued', redis.call('HGET', ck, 'st'), cjson.encode(out), position,
        redis.call('SCARD', P..'staffed:'..b), redis.call('GET', P..'aht:'..b) or ''}
"""

# ARGV: doc, state (available|away|offline), branches spec, timeout_ms
SET_PRESENCE = r"""
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
"""

# ARGV: offer, doc
ACCEPT = r"""
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
"""

# ARGV: offer, doc, timeout_ms, skip_ms
DECLINE = r"""
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
"""

# ARGV: call, doc, wrapup_ms
COMPLETE = r"""
local call, doc = ARGV[1], ARGV[2]
local ck, dk = P..'call:'..call, P..'doc:'..doc
local out = {}
local st = redis.call('HGET', ck, 'st')
if redis.call('HGET', dk, 'call') ~= call or (st ~= 'connected' and st ~= 'wrap_up') then
  return {'refused', st or '', cjson.encode(out)}
end
local now = NOW
redis.call('DEL', ck)
redis.call('HSET', dk, 'st', 'wrap_up', 'call', '')
redis.call('ZADD', P..'wrap', now + tonumber(ARGV[3]), doc)
doc_row(out, doc, 'wrap_up', bump(dk), 'completed')
return {'ok', st, cjson.encode(out)}
"""

# ARGV: call, timeout_ms
HANGUP = r"""
local call = ARGV[1]
local ck = P..'call:'..call
local out = {}
local st = redis.call('HGET', ck, 'st')
if not st then return {'unknown', '', cjson.encode(out)} end
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
"""

# ARGV: call
CALLBACK = r"""
local call = ARGV[1]
local ck = P..'call:'..call
local out = {}
local st = redis.call('HGET', ck, 'st')
if st ~= 'queued' and st ~= 'offered' and st ~= 'callback_pending' then
  return {'refused', st or '', cjson.encode(out)}
end
redis.call('HSET', ck, 'cb', '1')
if st == 'queued' then
  redis.call('HSET', ck, 'st', 'callback_pending')
  call_row(out, call, 'callback_pending', bump(ck), 'callback_requested')
end
return {'ok', st, cjson.encode(out)}
"""

# ARGV: timeout_ms, heartbeat_timeout_ms, autopause_after, skip_ms
SWEEP = r"""
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
"""


@dataclass
class OfferMade:
    offer_id: str
    call_id: str
    doctor_id: str
    branch: str
    expires_ms: int
    offered_ms: int
    caller: str
    call_version: int
    doctor_version: int


@dataclass
class OfferClosed:
    """An offer that ended: accepted, declined/withdrawn or expired, with its whole story."""

    offer_id: str
    call_id: str
    doctor_id: str
    outcome: str  # accepted | declined | withdrawn | expired
    reason: str
    at_ms: int
    offered_ms: int
    expires_ms: int


@dataclass
class CallChange:
    """A call's new routing state; ``doctor_id`` is the doctor it belongs to now ("" if none)."""

    call_id: str
    status: str
    version: int
    why: str
    doctor_id: str
    at_ms: int


@dataclass
class DoctorChange:
    doctor_id: str
    state: str
    version: int
    why: str
    at_ms: int


@dataclass
class Outcome:
    """Everything one routing decision changed, for the database and the consoles."""

    result: str
    detail: str = ""
    # Filled by enqueue: the call's place, the doctors staffing the branch, handle time.
    position: int | None = None
    staffed: int = 0
    aht_s: float | None = None
    offers: list[OfferMade] = field(default_factory=list)
    offers_closed: list[OfferClosed] = field(default_factory=list)
    calls: list[CallChange] = field(default_factory=list)
    doctors: list[DoctorChange] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        self.offers += other.offers
        self.offers_closed += other.offers_closed
        self.calls += other.calls
        self.doctors += other.doctors


def _parse(result: str, detail: str, rows_json: str | list[Any]) -> Outcome:
    import json

    rows = json.loads(rows_json) if isinstance(rows_json, str) else rows_json
    # cjson encodes an empty table as {} rather than [].
    if isinstance(rows, dict):
        rows = []
    out = Outcome(result=result, detail=detail)
    for row in rows:
        kind = row[0]
        if kind == "offer":
            out.offers.append(
                OfferMade(
                    offer_id=row[1],
                    call_id=row[2],
                    doctor_id=row[3],
                    branch=row[4],
                    expires_ms=int(row[5]),
                    offered_ms=int(row[6]),
                    caller=row[7],
                    call_version=int(row[8]),
                    doctor_version=int(row[9]),
                )
            )
        elif kind in ("withdrawn", "expired", "accepted"):
            out.offers_closed.append(
                OfferClosed(
                    offer_id=row[1],
                    call_id=row[2],
                    doctor_id=row[3],
                    # A doctor's "no" is a decline, not a withdrawal.
                    outcome="declined" if row[4] == "declined" else kind,
                    reason=row[4],
                    at_ms=int(row[5]),
                    offered_ms=int(row[6]),
                    expires_ms=int(row[7]),
                )
            )
        elif kind == "call":
            out.calls.append(CallChange(row[1], row[2], int(row[3]), row[4], row[5], int(row[6])))
        elif kind == "doc":
            out.doctors.append(DoctorChange(row[1], row[2], int(row[3]), row[4], int(row[5])))
    return out


class Router:
    """Thin Python face of the Lua scripts; holds no state of its own."""

    def __init__(self, r: redis.Redis):
        self.r = r
        self._enqueue = r.register_script(PRELUDE + ENQUEUE)
        self._presence = r.register_script(PRELUDE + SET_PRESENCE)
        self._accept = r.register_script(PRELUDE + ACCEPT)
        self._decline = r.register_script(PRELUDE + DECLINE)
        self._complete = r.register_script(PRELUDE + COMPLETE)
        self._hangup = r.register_script(PRELUDE + HANGUP)
        self._callback = r.register_script(PRELUDE + CALLBACK)
        self._sweep = r.register_script(PRELUDE + SWEEP)

    @staticmethod
    def score(priority: int, queued_ms: int) -> int:
        return priority * RANK_FACTOR + queued_ms

    def _run(self, script: Any, args: list[Any]) -> Outcome:
        res = script(keys=[], args=args)
        out = _parse(str(res[0]), str(res[1]), res[2])
        if len(res) > 3:
            out.position, out.staffed = int(res[3]), int(res[4])
            out.aht_s = float(res[5]) if res[5] else None
        return out

    def enqueue(
        self,
        *,
        call_id: str,
        branch: str,
        priority: int,
        queued_ms: int,
        caller: str,
        max_queue: int,
        timeout_ms: int,
        callback: bool = False,
    ) -> Outcome:
        return self._run(
            self._enqueue,
            [
                call_id,
                branch,
                self.score(priority, queued_ms),
                queued_ms,
                caller,
                max_queue,
                timeout_ms,
                "1" if callback else "0",
            ],
        )

    def set_presence(
        self, *, doctor_id: str, state: str, branches: dict[str, int] | None, timeout_ms: int
    ) -> Outcome:
        spec = ",".join(f"{b}:{p}" for b, p in (branches or {}).items())
        return self._run(self._presence, [doctor_id, state, spec, timeout_ms])

    def accept(self, *, offer_id: str, doctor_id: str) -> Outcome:
        return self._run(self._accept, [offer_id, doctor_id])

    def decline(self, *, offer_id: str, doctor_id: str, timeout_ms: int) -> Outcome:
        return self._run(self._decline, [offer_id, doctor_id, timeout_ms, timeout_ms])

    def complete(self, *, call_id: str, doctor_id: str, wrapup_ms: int) -> Outcome:
        return self._run(self._complete, [call_id, doctor_id, wrapup_ms])

    def hangup(self, *, call_id: str, timeout_ms: int) -> Outcome:
        return self._run(self._hangup, [call_id, timeout_ms])

    def callback(self, *, call_id: str) -> Outcome:
        return self._run(self._callback, [call_id])

    def sweep(self, *, timeout_ms: int, heartbeat_timeout_ms: int, autopause_after: int) -> Outcome:
        rows = self._sweep(
            keys=[], args=[timeout_ms, heartbeat_timeout_ms, autopause_after, timeout_ms]
        )
        return _parse("ok", "", rows)

    def heartbeat(self, doctor_id: str) -> None:
        t = self.r.time()
        ms = int(t[0]) * 1000 + int(t[1]) // 1000
        # XX: only doctors who are signed in to routing have a heartbeat to refresh.
        self.r.zadd(P + "hb", {doctor_id: ms}, xx=True)

    # -- read side ---------------------------------------------------------
    def position(self, call_id: str) -> tuple[str | None, int | None]:
        """(status, 1-based place among calls waiting for an offer) for a live call."""
        ck = P + "call:" + call_id
        st, b = self.r.hmget(ck, ["st", "b"])
        if st is None:
            return None, None
        rank = self.r.zrank(P + "q:" + str(b), call_id)
        return str(st), (int(rank) + 1 if isinstance(rank, int) else 0)

    def branch_figures(self, branches: list[str]) -> dict[str, dict[str, Any]]:
        t = self.r.time()
        now_ms = int(t[0]) * 1000 + int(t[1]) // 1000
        pipe = self.r.pipeline(transaction=False)
        for b in branches:
            pipe.zcard(P + "waiting:" + b)
            pipe.zrange(P + "waiting:" + b, 0, 0, withscores=True)
            pipe.zcard(P + "avail:" + b)
            pipe.scard(P + "staffed:" + b)
        res = pipe.execute()
        figures: dict[str, dict[str, Any]] = {}
        for i, b in enumerate(branches):
            waiting, oldest, available, staffed = res[i * 4 : i * 4 + 4]
            longest = (now_ms - int(oldest[0][1])) / 1000 if oldest else 0.0
            figures[b] = {
                "waiting": int(waiting),
                "longest_wait_s": round(max(longest, 0.0), 1),
                "available": int(available),
                "online": int(staffed),
            }
        return figures

    def doctor_state(self, doctor_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.r.hgetall(P + "doc:" + doctor_id).items()}

    def offer(self, offer_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.r.hgetall(P + "offer:" + offer_id).items()}

    def is_ready(self) -> bool:
        return bool(self.r.exists(P + "ready"))
