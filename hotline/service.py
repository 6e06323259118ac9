"""Call-centre rules: receiving calls, presence, offers, completion, and keeping the database in step.

Routing decisions are made atomically in Redis (hotline.routing); every function here
turns a decision into durable rows and events, and schedules the pushes to consoles
and the instructions to the telephony gateway for after the transaction commits.
Functions take the session and the Redis client as arguments and never commit.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hotline import gateway
from hotline.models import Branch, Call, Doctor, DoctorBranch, Offer
from hotline.routing import CallChange, OfferClosed, OfferMade, Outcome, P, Router
from kernel import accounts, events
from kernel.accounts import Role
from kernel.db import insert_ignore, utcnow
from kernel.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from kernel.settings import get_settings
from triage.caller_risk import caller_risk

log = logging.getLogger(__name__)

LIVE_CALL_STATES = ("queued", "offered", "callback_pending", "connected", "wrap_up")
PRESENCE_STATES = ("offline", "available", "offered", "on_call", "wrap_up", "away")
DEFAULT_AHT_S = 180.0
# A call that ended (completed, abandoned) takes this routing version, so a slower
# write of an earlier routing decision can never bring it back to life.
TERMINAL_VERSION = 2**31 - 1


class Priority(enum.IntEnum):
    """Queue classes; lower goes first, first-come first-served inside a class."""

    SEVERE_CALLBACK = 0  # an abandoned or returning caller whose patient was triaged severe
    HIGH_RISK = 1  # a known patient at high risk
    ELDERLY = 2
    RETURNING = 3  # called and gave up recently
    ROUTINE = 4


class UnknownBranch(DomainError):
    status_code = 422
    code = "unknown_branch"


class OfferGone(Conflict):
    code = "offer_gone"


def console_channel(doctor_id: str) -> str:
    return f"{P}console:{doctor_id}"


CALLS_CHANNEL = P + "calls"

_routers: dict[int, Router] = {}


def router_for(r: redis.Redis) -> Router:
    router = _routers.get(id(r))
    if router is None:
        router = Router(r)
        _routers[id(r)] = router
    return router


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _timeout_ms() -> int:
    return int(get_settings().offer_timeout_s * 1000)


# --------------------------------------------------------------------------- branches


def branch_by_digit(session: Session, digit: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.digit == digit, Branch.active.is_(True)))
    if branch is None:
        raise UnknownBranch([{"field": "digits", "rule": f"no open branch has digit {digit!r}"}])
    return branch


def branch_is_open(branch: Branch, at: datetime | None = None) -> bool:
    if branch.opens_at == branch.closes_at:
        return True
    local = (at or utcnow()).astimezone(ZoneInfo(branch.timezone)).strftime("%H:%M")
    if branch.opens_at < branch.closes_at:
        return branch.opens_at <= local < branch.closes_at
    return local >= branch.opens_at or local < branch.closes_at  # overnight hours


# --------------------------------------------------------------------------- priority


def caller_priority(session: Session, caller: str, branch: Branch) -> tuple[Priority, str]:
    s = get_settings()
    risk = caller_risk(session, caller)
    since = utcnow() - timedelta(seconds=s.repeat_caller_window_s)
    returning = session.scalar(
        select(func.count(Call.id)).where(
            Call.caller == caller, Call.status == "abandoned", Call.created_at >= since
        )
    )
    if risk is not None:
        if returning and risk.severe:
            return Priority.SEVERE_CALLBACK, "returning caller, patient triaged severe"
        if risk.high_risk or risk.severe:
            return Priority.HIGH_RISK, "known high-risk patient"
        if risk.age is not None and risk.age >= s.elderly_age:
            return Priority.ELDERLY, f"patient aged {risk.age}"
    if returning:
        return Priority.RETURNING, "called and gave up recently"
    return Priority.ROUTINE, ""


def expected_wait_s(position: int, staffed: int, aht_s: float | None) -> int:
    """Calls ahead, worked in parallel by the doctors staffing the branch."""
    if position <= 0:
        return 0
    return round(position * (aht_s or DEFAULT_AHT_S) / max(staffed, 1))


def _live_wait(r: redis.Redis, branch: str, position: int) -> int:
    aht = r.get(f"{P}aht:{branch}")
    staffed = int(r.scard(f"{P}staffed:{branch}"))
    return expected_wait_s(position, staffed, float(aht) if aht else None)


def _record_handle_time(r: redis.Redis, branch: str, handle_s: float) -> None:
    key = f"{P}aht:{branch}"
    old = float(r.get(key) or DEFAULT_AHT_S)
    # Exponential average: recent calls weigh most, one odd call does not swing it.
    r.set(key, round(old * 0.9 + handle_s * 0.1, 2))


# --------------------------------------------------------------------------- applying outcomes
#
# A routing decision reaches the database in two kinds of write. The call's and the
# doctor's *state* (status, who has the call, presence) is ordered by the version Redis
# gave the transition: a write that arrives after a newer one changes nothing. The
# *facts* a transition carries (when the call was answered and by whom, when it ended or
# was abandoned, how an offer ended) are recorded whatever the order, and never
# overwritten once set: a late write loses its state, never its facts.


def apply_outcome(session: Session, r: redis.Redis, outcome: Outcome, *, actor: str) -> None:
    """Write what a routing decision changed, and queue the pushes for after commit.

    Rows are locked in one global order (offers, then calls, then doctors, each by id)
    so that concurrent decisions written by different processes cannot deadlock.
    """
    pushes: list[tuple[str, dict[str, Any]]] = []
    new_events: list[dict[str, Any]] = []
    call_writes: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []

    offers: list[tuple[str, OfferMade | OfferClosed]] = [(o.offer_id, o) for o in outcome.offers]
    offers += [(c.offer_id, c) for c in outcome.offers_closed]
    for _, item in sorted(offers, key=lambda x: x[0]):
        if isinstance(item, OfferClosed):
            _close_offer(session, item, pushes)
            continue
        _open_offer(session, item)
        call_writes.append(
            (
                item.call_id,
                item.call_version,
                {"status": "offered", "doctor_id": item.doctor_id},
                {},
            )
        )
        new_events.append(
            _event(
                "call.offered",
                "call",
                item.call_id,
                item.offered_ms,
                {"offer_id": item.offer_id, "doctor_id": item.doctor_id},
            )
        )
        pushes.append((console_channel(item.doctor_id), _offer_message(item)))

    for change in outcome.calls:
        state, facts = _call_change_values(change)
        call_writes.append((change.call_id, state.pop("routing_version"), state, facts))
        new_events.append(
            _event(
                f"call.{change.status}", "call", change.call_id, change.at_ms, {"why": change.why}
            )
        )
        pushes.append(
            (CALLS_CHANNEL, {"type": "call", "call_id": change.call_id, "status": change.status})
        )

    for doc in outcome.doctors:
        new_events.append(
            _event(
                "doctor.presence",
                "doctor",
                doc.doctor_id,
                doc.at_ms,
                {"state": doc.state, "why": doc.why},
            )
        )
        pushes.append(
            (
                console_channel(doc.doctor_id),
                {"type": "presence", "state": doc.state, "reason": doc.why},
            )
        )

    # Stable sorts keep each row's own updates in decision order.
    for call_id, version, state, facts in sorted(call_writes, key=lambda w: w[0]):
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.routing_version < version)
            .values(routing_version=version, **state)
        )
        if facts:
            session.execute(
                update(Call)
                .where(Call.id == call_id)
                .values({k: func.coalesce(getattr(Call, k), v) for k, v in facts.items()})
            )
    doctor_writes = [
        (o.doctor_id, o.doctor_version, "offered", o.offered_ms) for o in outcome.offers
    ]
    doctor_writes += [(d.doctor_id, d.version, d.state, d.at_ms) for d in outcome.doctors]
    for doctor_id, version, presence, at_ms in sorted(doctor_writes, key=lambda w: w[0]):
        session.execute(
            update(Doctor)
            .where(Doctor.id == doctor_id, Doctor.presence_version < version)
            .values(presence=presence, presence_at=_from_ms(at_ms), presence_version=version)
        )
    for ev in new_events:
        events.record(session, actor=actor, **ev)
    if pushes:
        events.after_commit(session, lambda: _publish(r, pushes))


def _call_change_values(change: CallChange) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ordered state, write-once facts) of one call transition."""
    at = _from_ms(change.at_ms)
    if change.status == "abandoned":
        # Ended calls take the terminal version: no slower write can bring them back.
        state = {"status": "abandoned", "doctor_id": None, "routing_version": TERMINAL_VERSION}
        return state, {"abandoned_at": at, "ended_at": at}
    state = {
        "status": change.status,
        "doctor_id": change.doctor_id or None,
        "routing_version": change.version,
    }
    facts: dict[str, Any] = {}
    if change.status == "connected":
        facts = {"answered_at": at, "answered_by": change.doctor_id or None}
    elif change.status == "wrap_up":
        facts = {"ended_at": at}
    return state, facts


def _event(
    kind: str, subject_type: str, subject_id: str, at_ms: int, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data,
        "at": _from_ms(at_ms),
    }


def _offer_message(offer: OfferMade) -> dict[str, Any]:
    return {
        "type": "offer",
        "offer_id": offer.offer_id,
        "call_id": offer.call_id,
        "branch": offer.branch,
        "caller": offer.caller,
        "expires_in_s": round((offer.expires_ms - offer.offered_ms) / 1000, 1),
        "expires_at_ms": offer.expires_ms,
    }


def _open_offer(session: Session, offer: OfferMade) -> None:
    insert_ignore(
        session,
        Offer,
        {
            "id": offer.offer_id,
            "call_id": offer.call_id,
            "doctor_id": offer.doctor_id,
            "offered_at": _from_ms(offer.offered_ms),
            "expires_at": _from_ms(offer.expires_ms),
        },
    )


def _close_offer(
    session: Session, closed: OfferClosed, pushes: list[tuple[str, dict[str, Any]]]
) -> None:
    # The offer row may not be written yet if its creator is still committing: insert it
    # whole from what Redis knew, then record how it ended (once, whoever is first).
    insert_ignore(
        session,
        Offer,
        {
            "id": closed.offer_id,
            "call_id": closed.call_id,
            "doctor_id": closed.doctor_id,
            "offered_at": _from_ms(closed.offered_ms),
            "expires_at": _from_ms(closed.expires_ms),
        },
    )
    session.execute(
        update(Offer)
        .where(Offer.id == closed.offer_id, Offer.outcome.is_(None))
        .values(outcome=closed.outcome, resolved_at=_from_ms(closed.at_ms))
    )
    if closed.outcome != "accepted":
        pushes.append(
            (
                console_channel(closed.doctor_id),
                {
                    "type": "offer_withdrawn",
                    "offer_id": closed.offer_id,
                    "call_id": closed.call_id,
                    "reason": closed.reason,
                },
            )
        )


def _publish(r: redis.Redis, pushes: list[tuple[str, dict[str, Any]]]) -> None:
    pipe = r.pipeline(transaction=False)
    for channel, message in pushes:
        pipe.publish(channel, json.dumps(message))
    pipe.execute()


# --------------------------------------------------------------------------- calls


@dataclass
class CallReceipt:
    call_id: str
    status: str  # queued | rejected
    position: int | None
    expected_wait_s: int | None
    reason: str | None = None
    duplicate: bool = False


def find_call_by_provider_id(session: Session, provider_call_id: str) -> Call | None:
    return session.scalar(select(Call).where(Call.provider_call_id == provider_call_id))


def receipt_for(r: redis.Redis, call: Call) -> CallReceipt:
    if call.status == "rejected":
        return CallReceipt(call.id, "rejected", None, None, call.reject_reason)
    _, position = router_for(r).position(call.id)
    wait = _live_wait(r, call.branch.digit, position or 0) if position else 0
    return CallReceipt(call.id, "queued", position or 0, wait)


def register_call(
    session: Session,
    *,
    provider_call_id: str,
    caller: str,
    branch: Branch,
    direction: str = "inbound",
    priority: tuple[Priority, str] | None = None,
    origin_call_id: str | None = None,
    task_ref: str | None = None,
) -> Call:
    """Write the call row; the caller's transaction must commit before route_call runs."""
    prio, reason = priority or caller_priority(session, caller, branch)
    call = Call(
        provider_call_id=provider_call_id,
        caller=caller,
        branch_id=branch.id,
        branch=branch,
        direction=direction,
        priority=int(prio),
        priority_reason=reason,
        status="queued",
        origin_call_id=origin_call_id,
        task_ref=task_ref,
    )
    if not branch_is_open(branch):
        call.status, call.reject_reason = "rejected", "branch_closed"
    session.add(call)
    session.flush()
    events.record(
        session,
        kind="call.received",
        subject_type="call",
        subject_id=call.id,
        actor="telephony",
        data={
            "branch": branch.digit,
            "priority": call.priority,
            "direction": direction,
            "status": call.status,
        },
    )
    return call


def route_call(session: Session, r: redis.Redis, call: Call) -> CallReceipt:
    """Put a committed call into its branch queue and offer it if a doctor is free."""
    if call.status == "rejected":
        gateway.instruct(session, call, "reject", {"reason": call.reject_reason})
        return CallReceipt(call.id, "rejected", None, None, call.reject_reason)
    router = router_for(r)
    outcome = router.enqueue(
        call_id=call.id,
        branch=call.branch.digit,
        priority=call.priority,
        queued_ms=_ms(call.queued_at),
        caller=call.caller,
        max_queue=call.branch.max_queue,
        timeout_ms=_timeout_ms(),
        callback=call.direction != "inbound",
    )
    if outcome.result == "full":
        call.status, call.reject_reason = "rejected", "queue_full"
        events.record(
            session,
            kind="call.rejected",
            subject_type="call",
            subject_id=call.id,
            actor="telephony",
            data={"reason": "queue_full"},
        )
        gateway.instruct(session, call, "reject", {"reason": "queue_full"})
        return CallReceipt(call.id, "rejected", None, None, "queue_full")
    apply_outcome(session, r, outcome, actor="routing")
    position = outcome.position or 0
    receipt = CallReceipt(
        call.id, "queued", position, expected_wait_s(position, outcome.staffed, outcome.aht_s)
    )
    if call.direction == "inbound" and outcome.result == "queued":
        gateway.instruct(
            session,
            call,
            "hold",
            {"position": receipt.position, "expected_wait_s": receipt.expected_wait_s},
        )
    return receipt


def hangup(session: Session, r: redis.Redis, call: Call) -> str:
    outcome = router_for(r).hangup(call_id=call.id, timeout_ms=_timeout_ms())
    apply_outcome(session, r, outcome, actor="telephony")
    if outcome.result == "abandoned":
        session.refresh(call)
        _after_abandon(session, r, call)
        return "abandoned"
    if outcome.result == "ended":
        return "ended"
    if outcome.result == "unknown" and call.status in LIVE_CALL_STATES:
        # Redis lost the call (reset before a rebuild); the database decides.
        call.status, call.abandoned_at, call.ended_at = "abandoned", utcnow(), utcnow()
        call.routing_version = TERMINAL_VERSION
        events.record(
            session,
            kind="call.abandoned",
            subject_type="call",
            subject_id=call.id,
            actor="telephony",
            data={"why": "caller_hung_up"},
        )
        return "abandoned"
    return call.status


def _after_abandon(session: Session, r: redis.Redis, call: Call) -> None:
    """An abandoned caller whose patient was triaged severe is called back, first."""
    risk = caller_risk(session, call.caller)
    if call.direction != "inbound" or risk is None or not risk.severe:
        return
    task = register_call(
        session,
        provider_call_id=f"callback:{call.id}",
        caller=call.caller,
        branch=call.branch,
        direction="callback",
        priority=(Priority.SEVERE_CALLBACK, "abandoned call, patient triaged severe"),
        origin_call_id=call.id,
    )
    events.after_commit(session, lambda: _route_later(task.id))


def _route_later(call_id: str) -> None:
    from kernel.db import unit_of_work
    from kernel.redisconn import get_redis

    with unit_of_work() as session:
        call = session.get(Call, call_id)
        if call is not None and call.status == "queued":
            route_call(session, get_redis(), call)


def request_callback(session: Session, r: redis.Redis, call: Call) -> str:
    outcome = router_for(r).callback(call_id=call.id)
    if outcome.result == "refused":
        raise Conflict(
            f"call is {call.status}; only a waiting call can become a call-back", code="not_waiting"
        )
    apply_outcome(session, r, outcome, actor="telephony")
    call.callback_requested_at = utcnow()
    call.direction = "callback"
    events.record(
        session,
        kind="call.callback_requested",
        subject_type="call",
        subject_id=call.id,
        actor="telephony",
    )
    session.flush()
    return "callback_pending"


def enqueue_task(
    session: Session,
    r: redis.Redis,
    *,
    branch_digit: str,
    phone: str,
    task_ref: str,
    priority: Priority,
    reason: str,
) -> Call:
    """An outbound task (follow-up, call-back) that takes the same routing as a call."""
    branch = branch_by_digit(session, branch_digit)
    existing = find_call_by_provider_id(session, f"task:{task_ref}")
    if existing is not None:
        return existing
    call = register_call(
        session,
        provider_call_id=f"task:{task_ref}",
        caller=phone,
        branch=branch,
        direction="followup",
        priority=(priority, reason),
        task_ref=task_ref,
    )
    events.after_commit(session, lambda: _route_later(call.id))
    return call


# --------------------------------------------------------------------------- doctors


def doctor_for_user(session: Session, user_id: str) -> Doctor:
    doctor = session.scalar(select(Doctor).where(Doctor.user_id == user_id))
    if doctor is None:
        raise Forbidden("this account has no doctor profile", code="not_a_doctor")
    return doctor


def doctor_branch_prefs(doctor: Doctor) -> dict[str, int]:
    return {db.branch.digit: db.preference for db in doctor.branches if db.branch.active}


def set_presence(session: Session, r: redis.Redis, doctor: Doctor, state: str) -> str:
    if state not in ("available", "away", "offline"):
        raise InvalidInput("state", "must be available, away or offline")
    prefs = doctor_branch_prefs(doctor)
    if state == "available" and not prefs:
        raise Conflict("the doctor serves no branch", code="no_branch")
    outcome = router_for(r).set_presence(
        doctor_id=doctor.id, state=state, branches=prefs, timeout_ms=_timeout_ms()
    )
    if outcome.detail == "refused":
        raise Conflict("finish the current call first", code="on_call")
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")
    return outcome.detail


def heartbeat(r: redis.Redis, doctor_id: str) -> None:
    router_for(r).heartbeat(doctor_id)


def accept_offer(session: Session, r: redis.Redis, doctor: Doctor, offer_id: str) -> Call:
    outcome = router_for(r).accept(offer_id=offer_id, doctor_id=doctor.id)
    if outcome.result != "ok":
        raise OfferGone("the offer expired or was withdrawn")
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")
    call = session.get(Call, outcome.detail)
    if call is None:  # pragma: no cover - the call row is committed before routing
        raise NotFound("call not found")
    session.refresh(call)
    action = "bridge" if call.direction == "inbound" else "dial"
    gateway.instruct(
        session,
        call,
        action,
        {"doctor_id": doctor.id, "doctor_name": doctor.full_name, "number": call.caller},
    )
    return call


def decline_offer(session: Session, r: redis.Redis, doctor: Doctor, offer_id: str) -> None:
    outcome = router_for(r).decline(
        offer_id=offer_id, doctor_id=doctor.id, timeout_ms=_timeout_ms()
    )
    if outcome.result != "ok":
        raise OfferGone("the offer expired or was withdrawn")
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")


def complete_call(
    session: Session,
    r: redis.Redis,
    doctor: Doctor,
    call: Call,
    *,
    disposition: str,
    notes: str,
) -> Call:
    if call.answered_by != doctor.id:
        raise Forbidden("this call is not yours", code="not_your_call")
    if call.status == "completed":
        raise Conflict("call already completed", code="already_completed")
    s = get_settings()
    outcome = router_for(r).complete(
        call_id=call.id, doctor_id=doctor.id, wrapup_ms=int(s.wrapup_s * 1000)
    )
    if outcome.result != "ok":
        raise Conflict(f"call is {call.status}, not connected", code="not_connected")
    now = utcnow()
    still_connected = outcome.detail == "connected"
    call.status = "completed"
    call.routing_version = TERMINAL_VERSION
    call.completed_at = now
    call.ended_at = call.ended_at or now
    call.disposition = disposition
    call.notes = notes
    session.flush()  # the call row before the doctor row: the global lock order
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")
    events.record(
        session,
        kind="call.completed",
        subject_type="call",
        subject_id=call.id,
        actor=f"doctor:{doctor.id}",
        data={"disposition": disposition},
    )
    if still_connected:
        gateway.instruct(session, call, "hangup", {"reason": "completed_by_doctor"})
    if call.answered_at:
        _record_handle_time(r, call.branch.digit, (now - call.answered_at).total_seconds())
    return call


def current_call(session: Session, doctor: Doctor) -> Call | None:
    return session.scalar(
        select(Call)
        .where(Call.doctor_id == doctor.id, Call.status.in_(("connected", "wrap_up")))
        .order_by(Call.answered_at.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- sweeping and rebuild


def sweep(session: Session, r: redis.Redis) -> Outcome:
    """Expire offers, end wrap-ups, drop silent consoles; safe to run from many processes."""
    s = get_settings()
    outcome = router_for(r).sweep(
        timeout_ms=_timeout_ms(),
        heartbeat_timeout_ms=int(s.heartbeat_timeout_s * 1000),
        autopause_after=s.autopause_after_missed,
    )
    apply_outcome(session, r, outcome, actor="routing")
    return outcome


def rebuild(session: Session, r: redis.Redis) -> dict[str, int]:
    """Restore queues and presence in Redis from the database (after a Redis restart or flush)."""
    router = router_for(r)
    lock = r.set(P + "rebuild-lock", "1", nx=True, ex=30)
    if not lock:
        return {"skipped": 1}
    try:
        keys = list(r.scan_iter(match=P + "*", count=1000))
        keep = {P + "rebuild-lock", P + "seq:offer"}
        stale = [k for k in keys if k not in keep and not k.startswith(P + "aht:")]
        for i in range(0, len(stale), 500):
            r.delete(*stale[i : i + 500])
        counts = {"calls": 0, "doctors": 0, "offers_voided": 0}
        now = utcnow()
        # Offers Redis no longer knows are void: the call goes back to its place.
        open_offers = session.scalars(select(Offer).where(Offer.outcome.is_(None))).all()
        for offer in open_offers:
            offer.outcome, offer.resolved_at = "withdrawn", now
            counts["offers_voided"] += 1
        doctors = session.scalars(select(Doctor)).all()
        pipe = r.pipeline(transaction=True)
        for doctor in doctors:
            prefs = doctor_branch_prefs(doctor)
            spec = ",".join(f"{b}:{p}" for b, p in prefs.items())
            dk = P + "doc:" + doctor.id
            state = doctor.presence
            if state == "offered":
                state = "available"
            mapping: dict[Any, Any] = {
                "st": state,
                "br": spec,
                "idle": _ms(doctor.presence_at),
                "offer": "",
                "call": "",
                "missed": 0,
                "ver": doctor.presence_version,
            }
            if state not in ("offline", "away"):
                for b in prefs:
                    pipe.sadd(P + "staffed:" + b, doctor.id)
            if state == "available":
                for b, pref in prefs.items():
                    pipe.zadd(
                        P + "avail:" + b, {doctor.id: router.score(pref, int(mapping["idle"]))}
                    )
            if state == "wrap_up":
                pipe.zadd(P + "wrap", {doctor.id: _ms(now)})
            if state != "offline":
                # A grace period: live consoles heart-beat again within seconds.
                pipe.zadd(P + "hb", {doctor.id: _ms(now)})
            pipe.hset(dk, mapping=mapping)
            counts["doctors"] += 1
        calls = session.scalars(select(Call).where(Call.status.in_(LIVE_CALL_STATES))).all()
        for call in calls:
            b = call.branch.digit
            ck = P + "call:" + call.id
            status = call.status
            if status == "offered":
                status = "callback_pending" if call.direction != "inbound" else "queued"
                call.status, call.doctor_id = status, None
            cb = "1" if call.direction != "inbound" else "0"
            score = router.score(call.priority, _ms(call.queued_at))
            mapping = {
                "b": b,
                "st": status,
                "sc": score,
                "q": _ms(call.queued_at),
                "caller": call.caller,
                "doc": call.doctor_id or "",
                "offer": "",
                "cb": cb,
                "ver": call.routing_version,
            }
            pipe.hset(ck, mapping=mapping)
            pipe.sadd(P + "branches", b)
            if status in ("queued", "callback_pending"):
                pipe.zadd(P + "q:" + b, {call.id: score})
                pipe.zadd(P + "waiting:" + b, {call.id: _ms(call.queued_at)})
            elif call.doctor_id:
                pipe.hset(P + "doc:" + call.doctor_id, mapping={"st": "on_call", "call": call.id})
            counts["calls"] += 1
        pipe.set(P + "ready", str(int(time.time())))
        pipe.execute()
        events.record(
            session,
            kind="routing.rebuilt",
            subject_type="routing",
            subject_id="redis",
            actor="routing",
            data=counts,
        )
        return counts
    finally:
        r.delete(P + "rebuild-lock")


def ensure_ready(session: Session, r: redis.Redis) -> bool:
    """Rebuild Redis from the database if it lost its state; True if a rebuild ran."""
    if router_for(r).is_ready():
        return False
    result = rebuild(session, r)
    return "skipped" not in result


def match_all(session: Session, r: redis.Redis) -> None:
    """Offer waiting calls to free doctors on every branch (after a rebuild)."""
    for doctor in session.scalars(select(Doctor).where(Doctor.presence == "available")).all():
        outcome = router_for(r).set_presence(
            doctor_id=doctor.id, state="available", branches=None, timeout_ms=_timeout_ms()
        )
        apply_outcome(session, r, outcome, actor="routing")


def create_doctor(
    session: Session,
    *,
    user_id: str,
    full_name: str,
    organisation: str = "",
    licence_number: str = "",
    branches: dict[str, int],
) -> Doctor:
    user = session.get(accounts.User, user_id)
    if user is None or user.role != Role.DOCTOR.value:
        raise InvalidInput("user_id", "must name an account with the doctor role")
    if session.scalar(select(Doctor.id).where(Doctor.user_id == user_id)):
        raise Conflict("this account already has a doctor profile", code="doctor_exists")
    doctor = Doctor(
        user_id=user_id,
        full_name=full_name,
        organisation=organisation,
        licence_number=licence_number,
    )
    session.add(doctor)
    for digit, pref in branches.items():
        branch = session.scalar(select(Branch).where(Branch.digit == digit))
        if branch is None:
            raise InvalidInput(f"branches.{digit}", "no such branch")
        if not 1 <= pref <= 9:
            raise InvalidInput(f"branches.{digit}", "preference must be 1-9")
        doctor.branches.append(DoctorBranch(branch_id=branch.id, preference=pref))
    session.flush()
    return doctor
