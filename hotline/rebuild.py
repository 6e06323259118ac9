"""Restoring the routing state in Redis from the database, after Redis lost it."""

from __future__ import annotations

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.calls import offer_timeout_ms
from hotline.doctors import doctor_branch_prefs
from hotline.models import Call, Doctor, Offer
from hotline.outcomes import apply_outcome, to_ms
from hotline.routing.router import CallSnapshot, DoctorSnapshot, router_for
from hotline.vocab import LIVE_CALL_STATUSES, CallDirection, CallStatus, OfferOutcome, Presence
from kernel import events
from kernel.db import utcnow


def rebuild(session: Session, r: redis.Redis) -> dict[str, int]:
    """Restore queues and presence in Redis from the database (after a Redis restart or flush)."""
    router = router_for(r)
    with router.rebuild_lock() as held:
        if not held:
            return {"skipped": 1}
        now = utcnow()
        # Offers Redis no longer knows are void: the call goes back to its place.
        voided = session.execute(
            update(Offer)
            .where(Offer.outcome.is_(None))
            .values(outcome=OfferOutcome.WITHDRAWN, resolved_at=now)
        ).rowcount  # type: ignore[attr-defined]
        doctors = [doctor_snapshot(d) for d in session.scalars(select(Doctor)).all()]
        calls = [
            _waiting_again_if_offered(c)
            for c in session.scalars(select(Call).where(Call.status.in_(LIVE_CALL_STATUSES)))
        ]
        router.restore(doctors, calls, now_ms=to_ms(now))
        counts = {"calls": len(calls), "doctors": len(doctors), "offers_voided": int(voided)}
        events.record(
            session,
            kind="routing.rebuilt",
            subject_type="routing",
            subject_id="redis",
            actor="routing",
            data=counts,
        )
        return counts


def doctor_snapshot(doctor: Doctor) -> DoctorSnapshot:
    return DoctorSnapshot(
        doctor_id=doctor.id,
        presence=Presence(doctor.presence),
        branches=doctor_branch_prefs(doctor),
        idle_since_ms=to_ms(doctor.presence_at),
        version=doctor.presence_version,
    )


def call_snapshot(call: Call) -> CallSnapshot:
    return CallSnapshot(
        call_id=call.id,
        branch=call.branch.digit,
        status=CallStatus(call.status),
        priority=call.priority,
        queued_ms=to_ms(call.queued_at),
        caller=call.caller,
        doctor_id=call.doctor_id,
        callback=call.direction != CallDirection.INBOUND,
        version=call.routing_version,
    )


def _waiting_again_if_offered(call: Call) -> CallSnapshot:
    snapshot = call_snapshot(call)
    if snapshot.status is CallStatus.OFFERED:
        # Its offer is void: the call waits again in its place, in both stores.
        snapshot = snapshot.waiting_again()
        call.status, call.doctor_id = snapshot.status, None
    return snapshot


def ensure_ready(session: Session, r: redis.Redis) -> bool:
    """Rebuild Redis from the database if it lost its state; True if a rebuild ran."""
    if router_for(r).is_ready():
        return False
    result = rebuild(session, r)
    return "skipped" not in result


def match_all(session: Session, r: redis.Redis) -> None:
    """Offer waiting calls to free doctors on every branch (after a rebuild)."""
    for doctor in session.scalars(select(Doctor).where(Doctor.presence == Presence.AVAILABLE)):
        outcome = router_for(r).set_presence(
            doctor_id=doctor.id,
            state=Presence.AVAILABLE,
            branches=None,
            timeout_ms=offer_timeout_ms(),
        )
        apply_outcome(session, r, outcome, actor="routing")
