"""The voice line's own state and its one call-centre decision (a doctor's leg not answered).

State: per provider call, which call it is and what the caller was last told
(``hlv:line:{CallSid}``), and that the number was answered (``hlv:seen:{CallSid}``). It
lives outside the routing prefix so a routing rebuild keeps it, and it can be rebuilt from
the database (the call row carries the CallSid as provider_call_id). A wait poll reads
Redis only and writes nothing to the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy import update
from sqlalchemy.orm import Session

from hotline.calls import expected_wait_s, find_call_by_provider_id, offer_timeout_ms
from hotline.models import Call, Offer
from hotline.outcomes import apply_outcome, from_ms
from hotline.routing import keys
from hotline.routing.router import router_for
from hotline.vocab import CallStatus, OfferOutcome
from kernel import events
from kernel.settings import get_settings

PREFIX = "hlv:"
# Longer than any call stays on the line.
LINE_TTL_S = 6 * 3600


def line_key(sid: str) -> str:
    return f"{PREFIX}line:{sid}"


def seen_key(sid: str) -> str:
    return f"{PREFIX}seen:{sid}"


def mark_seen(r: redis.Redis, sid: str) -> None:
    r.set(seen_key(sid), "1", ex=LINE_TTL_S)


def was_seen(r: redis.Redis, sid: str) -> bool:
    return bool(r.exists(seen_key(sid)))


def remember(r: redis.Redis, sid: str, call: Call, language: str) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.hset(line_key(sid), mapping={"call": call.id, "b": call.branch.digit, "lang": language})
    pipe.expire(line_key(sid), LINE_TTL_S)
    pipe.execute()


@dataclass
class Line:
    sid: str
    call_id: str
    branch: str
    language: str
    announced_position: int | None
    announced_ms: int


def line_for(session: Session, r: redis.Redis, sid: str) -> Line | None:
    """The call behind a CallSid: Redis first, the database when Redis lost it."""
    held = {str(k): str(v) for k, v in r.hgetall(line_key(sid)).items()}
    if not held.get("call"):
        call = find_call_by_provider_id(session, sid)
        if call is None:
            return None
        remember(r, sid, call, call.branch.language)
        held = {"call": call.id, "b": call.branch.digit, "lang": call.branch.language}
    pos = held.get("pos")
    return Line(
        sid,
        held["call"],
        held["b"],
        held.get("lang", "vi"),
        int(pos) if pos not in (None, "") else None,
        int(held.get("at") or 0),
    )


@dataclass
class WaitView:
    """Where a waiting caller stands: their routing status and place (Redis only)."""

    status: str | None  # None: Redis holds no such call
    position: int
    expected_wait_s: int
    announce: bool


def wait_view(r: redis.Redis, line: Line) -> WaitView:
    """The caller's place, and whether to tell them: when it changed, or every so often."""
    pipe = r.pipeline(transaction=False)
    pipe.hget(keys.call(line.call_id), "st")
    pipe.zrank(keys.queue(line.branch), line.call_id)
    pipe.scard(keys.staffed(line.branch))
    pipe.get(keys.handle_time(line.branch))
    pipe.time()
    st, rank, staffed, aht, (secs, micros) = pipe.execute()
    if st is None:
        return WaitView(None, 0, 0, False)
    position = int(rank) + 1 if rank is not None else 0
    wait = expected_wait_s(position, int(staffed), float(aht) if aht else None)
    now = int(secs) * 1000 + int(micros) // 1000
    every_ms = get_settings().voice_announce_every_s * 1000
    announce = position != line.announced_position or now - line.announced_ms >= every_ms
    if announce:
        r.hset(line_key(line.sid), mapping={"pos": position, "at": now})
    return WaitView(str(st), position, wait, announce)


def doctor_leg_unanswered(
    session: Session, r: redis.Redis, call: Call, doctor_id: str, dial_status: str
) -> bool:
    """The accepting doctor's phone did not answer: the call goes back to the head of its
    queue and the doctor counts a missed offer (unanswered.lua). Their console acceptance
    is recorded as a missed (expired) offer and the call as not answered by them. Returns
    whether this report changed anything (a repeated report does not)."""
    s = get_settings()
    outcome = router_for(r).unanswered(
        call_id=call.id,
        doctor_id=doctor_id,
        timeout_ms=offer_timeout_ms(),
        autopause_after=s.autopause_after_missed,
    )
    if outcome.result != "ok":
        return False
    at = from_ms(outcome.calls[0].at_ms) if outcome.calls else None
    # The global lock order (hotline/outcomes.py): offers, then calls, then doctors. The
    # accepted offer first; the call's answer is undone at the calls' turn, after the
    # decision's new offer is written. Undone before it, the call row would be locked
    # ahead of that offer, and a sweep expiring the new offer (its row, then the call)
    # would deadlock with this request.
    session.execute(
        update(Offer)
        .where(
            Offer.call_id == call.id,
            Offer.doctor_id == doctor_id,
            Offer.outcome == OfferOutcome.ACCEPTED,
        )
        .values(outcome=OfferOutcome.EXPIRED, resolved_at=at)
    )
    unanswer = (
        update(Call)
        .where(Call.id == call.id, Call.answered_by == doctor_id, Call.completed_at.is_(None))
        .values(answered_at=None, answered_by=None)
    )
    apply_outcome(
        session, r, outcome, actor="telephony", at_calls_turn=lambda: session.execute(unanswer)
    )
    events.record(
        session,
        kind="call.doctor_leg_unanswered",
        subject_type="call",
        subject_id=call.id,
        actor="telephony",
        data={"doctor_id": doctor_id, "dial_status": dial_status},
    )
    session.refresh(call)
    return True


def is_waiting(status: str | None) -> bool:
    return status in (CallStatus.QUEUED, CallStatus.OFFERED)
