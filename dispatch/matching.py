"""Matching: rank the hospitals by when the patient gets a bed, hold the earliest, or queue the request.

A free bed now beats an expected discharge, fresh counts beat stale ones, and travel time counts.
A request with no bed anywhere waits, most urgent and longest waiting first, and every bed that
frees is offered to that queue before anyone else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dispatch.beds import counts_stale
from dispatch.enqueue import waiting_pass_after_commit
from dispatch.geo import haversine_km
from dispatch.history import advance, record, save, set_status
from dispatch.holds import place_hold
from dispatch.models import BedPool, Hospital, TransferRequest
from dispatch.vocab import TAKING_PATIENTS, UNMATCHED, TransferStatus
from kernel import events
from kernel.db import utcnow
from kernel.settings import Settings, get_settings

# Who the steps a dispatch worker takes are recorded as.
WORKER = "worker"
# The board shows this many of the ranked hospitals with a request.
CANDIDATES_KEPT = 10
# Left in one of these, a request lost its worker (killed, job lost) once it is old enough.
NEEDS_A_WORKER = (TransferStatus.REQUESTED, TransferStatus.MATCHING, TransferStatus.REFUSED)


@dataclass
class Candidate:
    hospital_id: str
    hospital_name: str
    pool_id: str
    distance_km: float
    travel_min: float
    bed_wait_min: float
    time_to_bed_min: float
    available: int
    free_now: bool
    stale: bool

    def sort_key(self) -> tuple[bool, float, bool, float]:
        # Fresh before stale; then earliest bed; a bed free now beats an expected discharge
        # at the same time; ties by distance.
        return (self.stale, round(self.time_to_bed_min, 3), not self.free_now, self.distance_km)


def _pools_of_type(session: Session, bed_type: str) -> list[Any]:
    # Plain columns, not ORM objects: with hundreds of hospitals, hydrating entities dominated.
    return list(
        session.execute(
            select(
                BedPool.id.label("pool_id"),
                BedPool.total,
                BedPool.occupied,
                BedPool.out_of_service,
                BedPool.held,
                BedPool.expected_discharges,
                BedPool.next_discharge_at,
                BedPool.as_of,
                Hospital.id.label("hospital_id"),
                Hospital.name,
                Hospital.lat,
                Hospital.lon,
                Hospital.status,
                Hospital.status_until,
            )
            .join(Hospital, Hospital.id == BedPool.hospital_id)
            .where(BedPool.bed_type == bed_type)
        ).all()
    )


def _candidate(
    row: Any, req: TransferRequest, now: datetime, settings: Settings
) -> Candidate | None:
    """The time to a bed at one pool; None where the patient cannot go."""
    if row.status not in TAKING_PATIENTS and (row.status_until is None or row.status_until > now):
        return None  # full or closed, and the notice has not lapsed
    available = row.total - row.occupied - row.out_of_service - row.held
    if available > 0:
        wait = 0.0
    elif row.expected_discharges > 0 and row.next_discharge_at is not None:
        wait = max(0.0, (row.next_discharge_at - now).total_seconds() / 60)
    else:
        return None  # no bed now and none expected: not a place this patient can go
    km = haversine_km(req.pickup_lat, req.pickup_lon, row.lat, row.lon)
    travel = km / settings.ambulance_speed_kmh * 60
    return Candidate(
        hospital_id=row.hospital_id,
        hospital_name=row.name,
        pool_id=row.pool_id,
        distance_km=round(km, 2),
        travel_min=round(travel, 1),
        bed_wait_min=round(wait, 1),
        time_to_bed_min=round(max(travel, wait), 1),
        available=max(available, 0),
        free_now=available > 0,
        stale=counts_stale(row.as_of, now),
    )


def rank_candidates(session: Session, req: TransferRequest, now: datetime) -> list[Candidate]:
    """The hospitals this request could go to, the earliest bed first."""
    settings = get_settings()
    excluded = set(req.excluded_hospital_ids or [])
    found = [
        _candidate(row, req, now, settings)
        for row in _pools_of_type(session, req.bed_type)
        if row.hospital_id not in excluded
    ]
    return sorted((c for c in found if c is not None), key=Candidate.sort_key)


def _waiting_ahead(session: Session, req: TransferRequest) -> bool:
    """Is someone as or more urgent, and earlier, already waiting for this kind of bed?"""
    ahead = session.scalar(
        select(func.count())
        .select_from(TransferRequest)
        .where(
            TransferRequest.status == TransferStatus.WAITING_FOR_BED,
            TransferRequest.bed_type == req.bed_type,
            TransferRequest.id != req.id,
            or_(
                TransferRequest.urgency_rank < req.urgency_rank,
                and_(
                    TransferRequest.urgency_rank == req.urgency_rank,
                    TransferRequest.requested_at < req.requested_at,
                ),
            ),
        )
    )
    return bool(ahead)


def claim_for_matching(session: Session, request_id: str) -> bool:
    """Mark a request as being matched (visible on the board, and found by the stuck sweep)."""
    req = session.get(TransferRequest, request_id)
    if req is None or req.status not in UNMATCHED:
        return False
    if req.status == TransferStatus.WAITING_FOR_BED:
        return True  # the waiting pass matches it in queue order, without flapping its status
    first = req.status != TransferStatus.MATCHING
    set_status(req, TransferStatus.MATCHING, utcnow())
    if first:
        record(session, req, TransferStatus.MATCHING, actor=WORKER)
    save(session)
    return True


def _hold_earliest(
    session: Session, req: TransferRequest, candidates: list[Candidate], actor: str, now: datetime
) -> bool:
    """Hold a bed at the best candidate that still has one; False when none had."""
    for c in candidates:
        if not c.free_now:
            continue  # an expected discharge ranks, but only a real bed can be held
        hold = place_hold(session, req, c.pool_id, c.hospital_id, actor, now)
        if hold is None:
            continue  # someone took the last bed there first; try the next
        # A new list, so the JSON column sees the change (in-place edits are not tracked).
        req.candidates = [{**x, "chosen": x["pool_id"] == c.pool_id} for x in req.candidates]
        req.hospital_id = c.hospital_id
        data = {
            "hold_id": hold.id,
            "hospital_name": c.hospital_name,
            "time_to_bed_min": c.time_to_bed_min,
            "expires_at": hold.expires_at.isoformat(),
        }
        advance(session, req, TransferStatus.HELD, now, actor=actor, data=data)
        return True
    return False


def _wait_for_bed(
    session: Session, req: TransferRequest, actor: str, now: datetime, *, reason: str
) -> None:
    req.hospital_id = None
    advance(session, req, TransferStatus.WAITING_FOR_BED, now, actor=actor, data={"reason": reason})


def _alert_no_bed(session: Session, req: TransferRequest, actor: str) -> None:
    events.record(
        session,
        kind="dispatch.no_bed",
        subject_type="alert",
        subject_id=req.id,
        actor=actor,
        data={
            "message": f"no {req.bed_type} bed for {req.urgency} patient {req.patient_ref}",
            "bed_type": req.bed_type,
            "urgency": req.urgency,
        },
    )


def match(session: Session, request_id: str) -> str:
    """Find the earliest bed for a request and hold it; or queue it as waiting. Safe to repeat."""
    actor, now = WORKER, utcnow()
    req = session.get(TransferRequest, request_id)
    if req is None:
        return "missing"
    if req.status not in UNMATCHED:
        return req.status  # already placed or ended: running twice does nothing
    was_waiting = req.status == TransferStatus.WAITING_FOR_BED
    if not was_waiting and _waiting_ahead(session, req):
        # A bed that frees goes to the front of the queue first; this request joins the queue.
        _wait_for_bed(session, req, actor, now, reason="queue ahead")
        waiting_pass_after_commit(session, req.bed_type)
        return req.status
    candidates = rank_candidates(session, req, now)
    req.candidates = [asdict(c) for c in candidates[:CANDIDATES_KEPT]]
    if _hold_earliest(session, req, candidates, actor, now):
        return req.status
    if was_waiting:
        save(session)  # still waiting; refresh the candidates quietly
        return req.status
    _wait_for_bed(session, req, actor, now, reason="no bed")
    _alert_no_bed(session, req, actor)
    return req.status


def waiting_queue(session: Session, bed_type: str) -> list[str]:
    """The requests waiting for a bed type, in the order a freed bed is offered to them."""
    return list(
        session.scalars(
            select(TransferRequest.id)
            .where(
                TransferRequest.status == TransferStatus.WAITING_FOR_BED,
                TransferRequest.bed_type == bed_type,
            )
            .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        )
    )


def requests_stuck(session: Session, *, older_than_s: float) -> list[str]:
    """Requests no worker finished matching (worker killed, job lost): to be matched again."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return list(
        session.scalars(
            select(TransferRequest.id).where(
                TransferRequest.status.in_(NEEDS_A_WORKER),
                TransferRequest.status_at <= cutoff,
            )
        )
    )


def bed_types_waiting(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(TransferRequest.bed_type)
            .where(TransferRequest.status == TransferStatus.WAITING_FOR_BED)
            .distinct()
        )
    )
