"""Doctors at their consoles: presence, heartbeats, answering offers, and the routing timers."""

from __future__ import annotations

import redis
from sqlalchemy.orm import Session

from hotline import gateway
from hotline.calls import offer_timeout_ms
from hotline.doctors import doctor_branch_prefs
from hotline.models import Call, Doctor
from hotline.outcomes import apply_outcome
from hotline.routing.outcome import Outcome
from hotline.routing.router import router_for
from hotline.vocab import Presence
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.settings import get_settings

# What a doctor may ask for; the other states follow from calls and timers.
CHOSEN_STATES = (Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE)


class OfferGone(Conflict):
    code = "offer_gone"


def set_presence(session: Session, r: redis.Redis, doctor: Doctor, state: str) -> str:
    if state not in CHOSEN_STATES:
        raise InvalidInput("state", "must be available, away or offline")
    prefs = doctor_branch_prefs(doctor)
    if state == Presence.AVAILABLE and not prefs:
        raise Conflict("the doctor serves no branch", code="no_branch")
    outcome = router_for(r).set_presence(
        doctor_id=doctor.id, state=state, branches=prefs, timeout_ms=offer_timeout_ms()
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
    gateway.follow(session, call, doctor=doctor)
    return call


def decline_offer(session: Session, r: redis.Redis, doctor: Doctor, offer_id: str) -> None:
    outcome = router_for(r).decline(
        offer_id=offer_id, doctor_id=doctor.id, timeout_ms=offer_timeout_ms()
    )
    if outcome.result != "ok":
        raise OfferGone("the offer expired or was withdrawn")
    apply_outcome(session, r, outcome, actor=f"doctor:{doctor.id}")


def sweep(session: Session, r: redis.Redis) -> Outcome:
    """Expire offers, end wrap-ups, drop silent consoles; safe to run from many processes."""
    s = get_settings()
    outcome = router_for(r).sweep(
        timeout_ms=offer_timeout_ms(),
        heartbeat_timeout_ms=int(s.heartbeat_timeout_s * 1000),
        autopause_after=s.autopause_after_missed,
    )
    apply_outcome(session, r, outcome, actor="routing")
    return outcome
