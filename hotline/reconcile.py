"""Reconciliation: Redis's routing state and the database's record made to agree again.

Redis decides and the database records, in two steps that can come apart: a process can
die between them, a database write can fail, Redis can lose recent writes (a failover
to a replica that had not caught up, a restart). A pass, a periodic duty of the workers
(`hotline worker`, the maintenance queue) every few seconds, compares the two and repairs
each difference:

- Redis made a decision the database has not recorded (Redis's version is newer): the
  write is retried from what Redis holds;
- the database recorded something Redis no longer holds (Redis's version is older, or the
  call is missing from Redis): Redis is repaired in the database's favour, and its
  version lifted so that its next decision outranks the record;
- Redis holds a call the database says has ended: the stray decision is undone in Redis.

A difference must be seen by two passes at least ``reconcile_grace_s`` apart before it is
repaired: a decision whose write is merely on its way is not a difference. Every repair
is an event (``routing.repaired``) naming what was wrong and what was done.

The pass reads every live call and every doctor: with 10,000 calls waiting it is most of a
second of Python. It ran in a thread of each API process until the scale benchmark showed
what that costs the consoles: the event loop waits for the interpreter lock whenever it
gives it up, the pass's objects set off collections, and the offer latency's p99 at 5,000
consoles went from 42 ms without the pass to 130 ms with it. In a worker it shares the
machine's cores, never an API process's interpreter.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import redis
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hotline.calls import offer_timeout_ms
from hotline.models import Call, Doctor, Offer
from hotline.outcomes import TERMINAL_VERSION, apply_outcome, from_ms, open_offer, to_ms
from hotline.rebuild import call_snapshot, doctor_snapshot
from hotline.routing import keys
from hotline.routing.outcome import CallChange, DoctorChange, OfferMade, Outcome
from hotline.routing.router import Router, router_for
from hotline.vocab import (
    LIVE_CALL_STATUSES,
    WAITING_CALL_STATUSES,
    CallStatus,
    OfferOutcome,
    Presence,
)
from kernel import events, telemetry
from kernel.db import unit_of_work, utcnow
from kernel.redisconn import get_redis
from kernel.settings import get_settings

WHY = "reconciled"
TALKING = (CallStatus.CONNECTED, CallStatus.WRAP_UP)


class Pass:
    """One reconciliation pass: what it saw amiss, and what it repaired."""

    def __init__(self, session: Session, r: redis.Redis):
        self.session, self.r = session, r
        self.router: Router = router_for(r)
        self.now_ms = self.router.now_ms()
        self.grace_ms = int(get_settings().reconcile_grace_s * 1000)
        seen = self.r.hgetall(keys.RECONCILE_SUSPECTS)
        self.first_seen = {str(k): int(v) for k, v in seen.items()}
        self.suspects: dict[str, int] = {}
        self.calls_held: dict[str, dict[str, str]] = {}
        self.counts: Counter[str] = Counter()

    def confirmed(self, entity: str) -> bool:
        """Amiss now; True once it was amiss a grace period ago as well."""
        first = self.first_seen.get(entity, self.now_ms)
        self.suspects[entity] = first
        return self.now_ms - first >= self.grace_ms

    def repaired(self, subject_type: str, subject_id: str, repair: str, **data: Any) -> None:
        self.counts[repair] += 1
        events.record(
            self.session,
            kind="routing.repaired",
            subject_type=subject_type,
            subject_id=subject_id,
            actor="reconciliation",
            data={"repair": repair, **data},
        )

    def write(self, outcome: Outcome) -> None:
        apply_outcome(self.session, self.r, outcome, actor="reconciliation")

    def finish(self) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.RECONCILE_SUSPECTS)
        if self.suspects:
            pipe.hset(keys.RECONCILE_SUSPECTS, mapping=dict(self.suspects.items()))
        pipe.execute()


def reconcile(session: Session, r: redis.Redis) -> dict[str, int]:
    """One pass over doctors, calls and offers; the counts of each repair made."""
    router = router_for(r)
    if not router.is_ready():
        return {}  # Redis lost everything: the rebuild restores it, not this pass
    p = Pass(session, r)
    _doctors(p)
    _calls(p)
    _offers(p)
    p.finish()
    return dict(p.counts)


# A pass reads every doctor and every live call: with thousands of each it takes a good
# fraction of a second. The next pass then waits until the passes have used at most this
# share of the time (a 1 s pass: the next 20 s after it began, not 5 s), so the check costs
# the workers, the database and Redis a bounded share however large the hotline grows.
# Repairs come later at that size, by the same proportion; routing never waits for them.
RECONCILE_TIME_SHARE = 0.05
# The lock is held while a pass runs (two workers never pass at once); this bounds it if the
# worker dies mid-pass.
PASS_LEASE_S = 600.0


def reconcile_if_due(session: Session, r: redis.Redis) -> dict[str, int] | None:
    """A pass, unless one is running or the last one's time share still holds the next back."""
    if not r.set(keys.RECONCILE_LOCK, "1", nx=True, px=int(PASS_LEASE_S * 1000)):
        return None
    started = time.monotonic()
    try:
        return reconcile(session, r)
    finally:
        took = time.monotonic() - started
        # The duty comes back every interval; a long pass keeps the lock to stretch that.
        rest = took / RECONCILE_TIME_SHARE - took - get_settings().reconcile_interval_s
        if rest > 0:
            r.pexpire(keys.RECONCILE_LOCK, int(rest * 1000))
        else:
            r.delete(keys.RECONCILE_LOCK)


def run_duty() -> str:
    """The workers' periodic duty (`hotline.duties`): a pass if one is due; what it did."""
    r = get_redis()
    started = time.perf_counter()
    with unit_of_work() as session:
        counts = reconcile_if_due(session, r)
    if counts is None:
        return "not due"  # a pass is running, or the last one's time share holds it back
    telemetry.record_reconcile_time(r, time.perf_counter() - started)
    telemetry.mark_sweep(r, "reconciliation")
    return ", ".join(f"{repair} {n}" for repair, n in sorted(counts.items())) or "in agreement"


# --------------------------------------------------------------------------- doctors


def _doctors(p: Pass) -> None:
    # Three columns per doctor, not the whole record with its branches: nearly every
    # doctor agrees with Redis, and only one that does not is loaded whole.
    rows = p.session.execute(select(Doctor.id, Doctor.presence, Doctor.presence_version)).all()
    held = p.router.doctor_hashes([row.id for row in rows])
    on_call = set(
        p.session.scalars(
            select(Call.doctor_id).where(
                Call.status.in_((CallStatus.CONNECTED, CallStatus.WRAP_UP))
            )
        )
    )
    for row in rows:
        h = held[row.id]
        if h.get("st") == row.presence and int(h.get("ver") or 0) >= row.presence_version:
            continue  # agrees (the first test of _doctor)
        doctor = p.session.get(Doctor, row.id)
        if doctor is not None:
            _doctor(p, doctor, h, row.id in on_call)


def _doctor(p: Pass, doctor: Doctor, h: dict[str, str], has_call: bool) -> None:
    recorded, version = Presence(doctor.presence), doctor.presence_version
    state, redis_version = h.get("st"), int(h.get("ver") or 0)
    entity = f"doc:{doctor.id}"
    if state == recorded and redis_version >= version:
        return
    if not h and recorded is Presence.OFFLINE:
        return  # nothing to restore: an offline doctor is not in routing
    if not p.confirmed(entity):
        return
    if state is not None and redis_version > version:
        change = DoctorChange(doctor.id, Presence(state), redis_version, WHY, p.now_ms)
        p.write(Outcome(result="ok", doctors=[change]))
        p.repaired("doctor", doctor.id, "recorded", state=state, was=recorded)
    elif state == recorded:
        p.router.lift_version("doc", doctor.id, state, version)
        p.repaired("doctor", doctor.id, "version_lifted", version=version)
    else:
        snapshot = doctor_snapshot(doctor)
        if recorded is Presence.ON_CALL and not has_call:
            # The record is at odds with itself: no call holds the doctor. A wrap-up ends
            # at the next sweep and the doctor is free again.
            snapshot = snapshot.with_presence(Presence.WRAP_UP)
        elif recorded is Presence.OFFERED:
            snapshot = snapshot.with_presence(Presence.AVAILABLE)  # the offer is void
        p.write(p.router.repair_doctor(snapshot, timeout_ms=offer_timeout_ms()))
        p.repaired("doctor", doctor.id, "restored", state=snapshot.presence, redis=state)


# --------------------------------------------------------------------------- calls


def _calls(p: Pass) -> None:
    # As for doctors: the columns compared first, a call loaded whole only if it differs.
    columns = (Call.id, Call.status, Call.doctor_id, Call.routing_version)
    live = p.session.execute(select(*columns).where(Call.status.in_(LIVE_CALL_STATUSES))).all()
    p.calls_held = p.router.calls_held()
    held = dict(p.calls_held)
    for row in live:
        h = held.pop(row.id, None)
        if (
            h is not None
            and h.get("st") == row.status
            and (h.get("doc") or "") == (row.doctor_id or "")
            and int(h.get("ver") or 0) >= row.routing_version
        ):
            continue  # agrees (the first test of _call)
        call = p.session.get(Call, row.id)
        if call is not None:
            _call(p, call, h)
    for call_id in held:
        _stray(p, call_id)


def _call(p: Pass, call: Call, h: dict[str, str] | None) -> None:
    if h is None:
        if p.confirmed(f"call:{call.id}"):
            _call_missing(p, call)
        return
    recorded = (CallStatus(call.status), call.doctor_id or "")
    state = (CallStatus(h["st"]), h.get("doc") or "")
    redis_version = int(h.get("ver") or 0)
    if state == recorded and redis_version >= call.routing_version:
        return
    if not p.confirmed(f"call:{call.id}"):
        return
    if redis_version > call.routing_version:
        change = CallChange(call.id, state[0], redis_version, WHY, state[1], p.now_ms)
        p.write(Outcome(result="ok", calls=[change]))
        p.repaired("call", call.id, "recorded", status=state[0], was=call.status)
    elif state == recorded:
        p.router.lift_version("call", call.id, state[0], call.routing_version)
        p.repaired("call", call.id, "version_lifted", version=call.routing_version)
    else:
        _restore_call(p, call, redis_status=state[0])


def _call_missing(p: Pass, call: Call) -> None:
    if not p.router.is_marked_ended(call.id):
        # Redis lost it, or it never reached the queue: put it back as recorded.
        _restore_call(p, call, redis_status=None)
        return
    # Redis ended it, and the database never heard: the caller hung up while waiting, or a
    # doctor completed the call and the completion's write failed.
    status = CallStatus.ABANDONED
    if CallStatus(call.status) in WAITING_CALL_STATUSES:
        values: dict[str, Any] = {"abandoned_at": func.coalesce(Call.abandoned_at, utcnow())}
    else:
        status = CallStatus.COMPLETED
        values = {"completed_at": func.coalesce(Call.completed_at, utcnow())}
    ended = p.session.execute(
        update(Call)
        .where(Call.id == call.id, Call.routing_version < TERMINAL_VERSION)
        .values(
            status=status,
            routing_version=TERMINAL_VERSION,
            ended_at=func.coalesce(Call.ended_at, utcnow()),
            **values,
        )
    ).rowcount  # type: ignore[attr-defined]
    if ended:
        p.repaired("call", call.id, "ended", status=status, was=call.status)


def _restore_call(p: Pass, call: Call, *, redis_status: CallStatus | None) -> None:
    snapshot = call_snapshot(call)
    if snapshot.status is CallStatus.OFFERED:
        # An offer Redis no longer holds is void: the call waits again in its place.
        snapshot = snapshot.waiting_again()
    p.write(p.router.repair_call(snapshot, timeout_ms=offer_timeout_ms()))
    p.repaired("call", call.id, "restored", status=snapshot.status, redis=redis_status)


def _stray(p: Pass, call_id: str) -> None:
    # Held by Redis but not live in the database: read it again (the list above may predate
    # a call that has just committed) before undoing anything.
    status = p.session.scalar(select(Call.status).where(Call.id == call_id))
    if status is None or CallStatus(status) in LIVE_CALL_STATUSES:
        return
    if not p.confirmed(f"call:{call_id}"):
        return
    p.write(p.router.drop_call(call_id, timeout_ms=offer_timeout_ms()))
    p.repaired("call", call_id, "dropped", status=status)


# --------------------------------------------------------------------------- offers


def _offers(p: Pass) -> None:
    held = p.router.offers_held()
    open_rows = p.session.scalars(select(Offer).where(Offer.outcome.is_(None))).all()
    for offer in open_rows:
        if offer.id in held or not p.confirmed(f"offer:{offer.id}"):
            continue
        # Gone from Redis: the doctor took it if Redis has the call with that doctor now.
        call = p.calls_held.get(offer.call_id, {})
        taken = call.get("doc") == offer.doctor_id and call.get("st") in TALKING
        outcome = OfferOutcome.ACCEPTED if taken else OfferOutcome.WITHDRAWN
        # Taken: it ended when the call was answered, which _calls has just recorded at
        # now. Withdrawn: Redis ended it before it offered that call or that doctor
        # anything again, so the record never has it outlive the next offer.
        ended_ms = p.now_ms if taken else _withdrawn_by(p, offer, held)
        closed = p.session.execute(
            update(Offer)
            .where(Offer.id == offer.id, Offer.outcome.is_(None))
            .values(outcome=outcome, resolved_at=from_ms(ended_ms))
        ).rowcount  # type: ignore[attr-defined]
        if closed:
            p.repaired("offer", offer.id, "closed", call_id=offer.call_id, outcome=outcome)
    known = set(p.session.scalars(select(Offer.id).where(Offer.id.in_(list(held)))))
    for offer_id, h in held.items():
        if offer_id in known or not h or not p.confirmed(f"offer:{offer_id}"):
            continue
        made = OfferMade(
            offer_id=offer_id,
            call_id=h["call"],
            doctor_id=h["doc"],
            branch=h["b"],
            expires_ms=int(h["exp"]),
            offered_ms=int(h["at"]),
            caller="",
            call_version=0,
            doctor_version=0,
        )
        # Only the offer's own row: the call's and doctor's states are the other passes'.
        open_offer(p.session, made)
        p.repaired("offer", offer_id, "recorded", call_id=h["call"])


def _withdrawn_by(p: Pass, offer: Offer, held: dict[str, dict[str, str]]) -> int:
    """When an offer Redis no longer holds ended, at the latest: now, or when Redis next
    offered the same call or the same doctor (one offer per call and per doctor at a time:
    the next one began only once this one had ended). Its own closing write was lost, most
    often with the next offer's, which the pass restores from Redis at its true time."""
    later = [
        int(h["at"])
        for h in held.values()
        if h and (h.get("call") == offer.call_id or h.get("doc") == offer.doctor_id)
    ]
    next_recorded = p.session.scalar(
        select(func.min(Offer.offered_at)).where(
            or_(Offer.call_id == offer.call_id, Offer.doctor_id == offer.doctor_id),
            Offer.offered_at > offer.offered_at,
        )
    )
    if next_recorded is not None:
        later.append(to_ms(next_recorded))
    offered_ms = to_ms(offer.offered_at)
    return min([p.now_ms, *(t for t in later if t > offered_ms)])
