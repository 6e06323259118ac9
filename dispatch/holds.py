"""Bed holds: one bed promised to one request, placed, released and expired by conditional UPDATEs.

A hold moves `held` on its pool by one, in the same statement that checks there is room, so the
last bed goes to exactly one request whatever the number of workers racing for it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.enqueue import match_after_commit, waiting_passes_after_commit
from dispatch.history import TransferChanged, advance, save
from dispatch.models import BedHold, BedPool, TransferRequest
from dispatch.vocab import HoldOutcome, TransferStatus
from kernel import telemetry
from kernel.db import new_id, utcnow
from kernel.errors import Conflict
from kernel.settings import get_settings

log = logging.getLogger(__name__)

# Due holds released per pass; a backlog larger than this is worked off by the next passes.
EXPIRED_PER_PASS = 200


def live_hold(session: Session, request_id: str) -> BedHold | None:
    return session.scalar(
        select(BedHold).where(BedHold.request_id == request_id, BedHold.released_at.is_(None))
    )


def require_hold(session: Session, req: TransferRequest) -> BedHold:
    hold = live_hold(session, req.id)
    if hold is None:
        raise Conflict("this request holds no bed", code="no_live_hold")
    return hold


def _take_bed(session: Session, pool_id: str) -> bool:
    """Hold one bed: one conditional UPDATE, so the last bed goes to exactly one request."""
    result = session.execute(
        update(BedPool)
        .where(
            BedPool.id == pool_id,
            BedPool.total - BedPool.occupied - BedPool.out_of_service - BedPool.held > 0,
        )
        .values(held=BedPool.held + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def place_hold(
    session: Session,
    req: TransferRequest,
    pool_id: str,
    hospital_id: str,
    actor: str,
    now: datetime,
    *,
    flush: bool = True,
) -> BedHold | None:
    """Hold a bed of the pool for the request; None when someone took the last one first.

    Without `flush`, the hold row is written with the session's next flush (a batch's).
    """
    if not _take_bed(session, pool_id):
        return None
    hold = BedHold(
        id=new_id(),
        request_id=req.id,
        patient_ref=req.patient_ref,
        live_patient_ref=req.patient_ref,
        pool_id=pool_id,
        hospital_id=hospital_id,
        created_at=now,
        expires_at=now + timedelta(seconds=get_settings().hold_ttl_s),
        held_by=actor,
    )
    session.add(hold)
    telemetry.observe_after_commit(
        session, telemetry.REQUEST_TO_HOLD, (now - req.requested_at).total_seconds()
    )
    # A second live hold for the patient violates the unique column; the caller's transaction
    # (and with it the held + 1 above) rolls back.
    if flush:
        save(session)
    return hold


def release_hold(session: Session, hold: BedHold, outcome: HoldOutcome, now: datetime) -> bool:
    """Release a live hold once (whoever gets here first); gives the bed back to the pool."""
    result = session.execute(
        update(BedHold)
        .where(BedHold.id == hold.id, BedHold.released_at.is_(None))
        .values(released_at=now, outcome=outcome, live_patient_ref=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(BedPool)
        .where(BedPool.id == hold.pool_id, BedPool.held > 0)
        .values(held=BedPool.held - 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(hold)
    return True


def _expire(session: Session, hold: BedHold, now: datetime) -> bool:
    """Release one due hold and send its request back to matching; False if it was gone already."""
    if not release_hold(session, hold, HoldOutcome.EXPIRED, now):
        return False
    req = session.get(TransferRequest, hold.request_id)
    if req is not None and req.status == TransferStatus.HELD:
        req.hospital_id = None
        advance(
            session,
            req,
            TransferStatus.REQUESTED,
            now,
            actor="system",
            kind="hold_expired",
            data={"hold_id": hold.id, "hospital_id_was": hold.hospital_id},
        )
        match_after_commit(session, req.id)
    return True


def expire_due_holds(session: Session) -> int:
    """Release holds not accepted in time, by timestamp: whoever runs next (a read, a job) does it.

    Each release sits in a savepoint so one that races with an accept does not undo the others.
    """
    now = utcnow()
    due = session.execute(
        select(BedHold, BedPool.bed_type)
        .join(BedPool, BedPool.id == BedHold.pool_id)
        .where(
            BedHold.released_at.is_(None),
            BedHold.accepted_at.is_(None),
            BedHold.expires_at <= now,
        )
        # Their pools in the lock order of bed pools (beds.write_together): no deadlock with
        # a batch of bed updates.
        .order_by(BedHold.hospital_id, BedPool.bed_type, BedHold.id)
        .limit(EXPIRED_PER_PASS)
    ).all()
    released = 0
    freed: set[str] = set()
    for hold, bed_type in due:
        try:
            with session.begin_nested():
                if not _expire(session, hold, now):
                    continue
                released += 1
                freed.add(bed_type)
        except (TransferChanged, IntegrityError):
            log.info("hold %s changed while expiring; next pass sees it", hold.id)
            continue
    waiting_passes_after_commit(session, freed)
    return released
