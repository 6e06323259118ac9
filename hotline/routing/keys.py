"""The routing key schema: the one place in Python that spells a routing key or channel.

The Lua scripts in ``lua/`` spell the same keys under the same prefix (see prelude.lua).

Keys (prefix hl:):
  q:{b}        ZSET call -> rank*1e13 + queued_ms     calls waiting for an offer
  waiting:{b}  ZSET call -> queued_ms                 calls the caller still waits on
  call:{id}    HASH b, st, sc, q, caller, doc, offer, cb, ver
  avail:{b}    ZSET doc -> preference*1e13 + idle_ms  who can be offered a call now
  doc:{id}     HASH st, br ("3:1,4:2"), idle, offer, call, missed, ver
  staffed:{b}  SET  doctors signed in and taking calls (available, offered, on call, wrap-up)
  branches     SET  branch digits that have had a call
  hb           ZSET doc -> last heartbeat ms
  offer:{id}   HASH call, doc, b, exp, at
  offers       ZSET offer -> expiry ms
  seq:offer    counter behind offer ids
  skip:{call}  ZSET doc -> until ms      a doctor who just declined/missed is passed over
  ended:{call} marker (expires): the call left the queues for good (see prelude.lua)
  wrap         ZSET doc -> wrap-up end ms
  aht:{b}      running average handle time of the branch (s)
  ready        marker: Redis holds the state rebuilt from the database
  rebuild-lock one rebuild at a time
  reconcile-lock, reconcile-suspects   one reconciliation pass at a time; what it saw amiss
Channels: console:{doctor} (offers, withdrawals, presence for one console), calls.
"""

from __future__ import annotations

P = "hl:"

# Scores: the class (priority or preference) always dominates the time in ms.
RANK_FACTOR = 10**13


def call(call_id: str) -> str:
    return f"{P}call:{call_id}"


def doctor(doctor_id: str) -> str:
    return f"{P}doc:{doctor_id}"


def offer(offer_id: str) -> str:
    return f"{P}offer:{offer_id}"


def queue(branch: str) -> str:
    return f"{P}q:{branch}"


def waiting(branch: str) -> str:
    return f"{P}waiting:{branch}"


def available(branch: str) -> str:
    return f"{P}avail:{branch}"


def staffed(branch: str) -> str:
    return f"{P}staffed:{branch}"


def ended(call_id: str) -> str:
    return f"{P}ended:{call_id}"


def handle_time(branch: str) -> str:
    return f"{P}aht:{branch}"


BRANCHES = P + "branches"
HEARTBEATS = P + "hb"
OFFERS = P + "offers"
WRAP_UPS = P + "wrap"
READY = P + "ready"
REBUILD_LOCK = P + "rebuild-lock"
RECONCILE_LOCK = P + "reconcile-lock"
# What the last reconciliation pass found amiss: entity -> first seen (ms).
RECONCILE_SUSPECTS = P + "reconcile-suspects"
OFFER_SEQUENCE = P + "seq:offer"
# What a rebuild keeps: the lock it holds, offer ids (never reused) and handle times.
SURVIVES_REBUILD = (REBUILD_LOCK, OFFER_SEQUENCE, RECONCILE_LOCK)
SURVIVING_PREFIXES = (P + "aht:",)


def console_channel(doctor_id: str) -> str:
    return f"{P}console:{doctor_id}"


# Calls' status changes, published for whoever subscribes (no page of ours listens).
CALLS_CHANNEL = P + "calls"
# What an API process subscribes to, to fan routing pushes out to its websockets: only
# the consoles' channels, the ones its pages listen on. A pattern nobody listens to would
# still bring every message on it into every API process, to be read and dropped.
PUSH_PATTERNS = (P + "console:*",)


def score(rank: int, ms: int) -> int:
    return rank * RANK_FACTOR + ms
