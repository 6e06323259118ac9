"""Handover: the receiving hospital accepts, refuses or admits; an operator cancels or redirects.

Each step checks the request's status and the hold's state in the same conditional UPDATE or
versioned flush that changes them, so a late accept cannot revive an expired hold and two
operators cannot both move one request.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.access import ensure_receiving_hospital
from dispatch.ambulances import free_ambulance
from dispatch.enqueue import match_after_commit, waiting_pass_after_commit
from dispatch.history import advance
from dispatch.holds import live_hold, place_hold, release_hold, require_hold
from dispatch.hospitals import get_hospital
from dispatch.models import BedHold, BedPool, TransferRequest
from dispatch.transfers import get_transfer
from dispatch.vocab import LIVE, UNMATCHED, HoldOutcome, TransferStatus
from kernel import telemetry
from kernel.accounts import Principal
from kernel.db import utcnow
from kernel.errors import Conflict


class NoBedAvailable(Conflict):
    code = "no_bed_available"


def _receiving(session: Session, request_id: str, principal: Principal) -> TransferRequest:
    req = get_transfer(session, request_id)
    ensure_receiving_hospital(principal, req.hospital_id)
    return req


def accept(session: Session, *, request_id: str, principal: Principal) -> TransferRequest:
    """The hospital confirms the bed; an accepted hold no longer expires."""
    req = _receiving(session, request_id, principal)
    if req.status != TransferStatus.HELD:
        raise Conflict(f"request is {req.status}, not held", code="not_held")
    hold = require_hold(session, req)
    now = utcnow()
    result = session.execute(
        update(BedHold)
        .where(
            BedHold.id == hold.id,
            BedHold.released_at.is_(None),
            BedHold.accepted_at.is_(None),
            BedHold.expires_at > now,
        )
        .values(accepted_at=now, outcome=HoldOutcome.ACCEPTED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the hold expired before it was accepted", code="hold_expired")
    advance(session, req, TransferStatus.ACCEPTED, now, actor=principal.actor)
    return req


def refuse(
    session: Session, *, request_id: str, principal: Principal, reason: str = ""
) -> TransferRequest:
    """The hospital gives the bed back; the request is matched again, never to it."""
    req = _receiving(session, request_id, principal)
    if req.status not in (TransferStatus.HELD, TransferStatus.ACCEPTED):
        raise Conflict(f"request is {req.status}; nothing to refuse", code="not_held")
    now = utcnow()
    release_hold(session, require_hold(session, req), HoldOutcome.REFUSED, now)
    refused_by = req.hospital_id
    req.excluded_hospital_ids = [*req.excluded_hospital_ids, str(refused_by)]
    req.hospital_id = None
    data = {"refused_by": refused_by, "reason": reason}
    advance(session, req, TransferStatus.REFUSED, now, actor=principal.actor, data=data)
    free_ambulance(session, req)
    match_after_commit(session, req.id)
    waiting_pass_after_commit(session, req.bed_type)
    return req


def admit(session: Session, *, request_id: str, principal: Principal) -> TransferRequest:
    """The patient is in: the held bed becomes an occupied one."""
    req = _receiving(session, request_id, principal)
    if req.status not in (TransferStatus.HELD, TransferStatus.ACCEPTED, TransferStatus.IN_TRANSIT):
        raise Conflict(f"request is {req.status}; nothing to admit", code="not_held")
    hold = require_hold(session, req)
    now = utcnow()
    released = session.execute(
        update(BedHold)
        .where(BedHold.id == hold.id, BedHold.released_at.is_(None))
        .values(released_at=now, outcome=HoldOutcome.ADMITTED, live_patient_ref=None)
        .execution_options(synchronize_session=False)
    )
    # The held bed becomes an occupied one in one step: the pool's sum never changes.
    moved = session.execute(
        update(BedPool)
        .where(BedPool.id == hold.pool_id, BedPool.held > 0)
        .values(held=BedPool.held - 1, occupied=BedPool.occupied + 1)
        .execution_options(synchronize_session=False)
    )
    if released.rowcount != 1 or moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the hold was released meanwhile", code="no_live_hold")
    req.live_patient_ref = None
    advance(
        session, req, TransferStatus.ADMITTED, now, actor=principal.actor, data={"hold_id": hold.id}
    )
    telemetry.observe_after_commit(
        session, telemetry.REQUEST_TO_ADMISSION, (now - req.requested_at).total_seconds()
    )
    free_ambulance(session, req)
    return req


def cancel(session: Session, *, request_id: str, actor: str, reason: str = "") -> TransferRequest:
    req = get_transfer(session, request_id)
    if req.status not in LIVE:
        raise Conflict(f"request is already {req.status}", code="transfer_ended")
    now = utcnow()
    hold = live_hold(session, req.id)
    if hold is not None:
        release_hold(session, hold, HoldOutcome.CANCELLED, now)
        waiting_pass_after_commit(session, req.bed_type)
    req.live_patient_ref = None
    advance(session, req, TransferStatus.CANCELLED, now, actor=actor, data={"reason": reason})
    free_ambulance(session, req)
    return req


def override(session: Session, *, request_id: str, hospital_id: str, actor: str) -> TransferRequest:
    """An operator sends the patient to a named hospital instead; the old hold is given back."""
    req = get_transfer(session, request_id)
    if req.status not in (*UNMATCHED, TransferStatus.HELD):
        raise Conflict(f"request is {req.status}; it can no longer be redirected", code="too_late")
    hospital = get_hospital(session, hospital_id)
    pool_id = session.scalar(
        select(BedPool.id).where(
            BedPool.hospital_id == hospital_id, BedPool.bed_type == req.bed_type
        )
    )
    if pool_id is None:
        raise NoBedAvailable(f"{hospital.name} has no {req.bed_type} beds")
    now = utcnow()
    old = live_hold(session, req.id)
    if old is not None:
        release_hold(session, old, HoldOutcome.OVERRIDDEN, now)
        waiting_pass_after_commit(session, req.bed_type)
    hold = place_hold(session, req, pool_id, hospital_id, actor, now)
    if hold is None:
        raise NoBedAvailable(f"{hospital.name} has no free {req.bed_type} bed")
    req.hospital_id = hospital_id
    data = {"hospital_name": hospital.name, "expires_at": hold.expires_at.isoformat()}
    advance(session, req, TransferStatus.HELD, now, actor=actor, kind="overridden", data=data)
    return req
