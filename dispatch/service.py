"""Dispatch rules: bed counts, transfer requests, matching to the earliest bed, holds and handover.

Every function takes the session and never commits; the route or job owning the unit of work does.
Counters on bed pools move only through conditional UPDATEs, so no bed is ever counted twice,
whatever the number of API processes and workers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dispatch.models import (
    BED_TYPES,
    CAPABILITIES,
    FACILITY_STATUSES,
    LIVE,
    UNMATCHED,
    URGENCIES,
    URGENCY_RANK,
    AmbulanceTeam,
    BedHold,
    BedPool,
    BedUpdate,
    Hospital,
    TransferHistory,
    TransferRequest,
)
from kernel import events
from kernel.accounts import Principal, Role
from kernel.db import insert_ignore, new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.settings import get_settings

log = logging.getLogger(__name__)

# Clocks of hospital systems drift; an as_of further ahead than this is a typo, not a clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
CANDIDATES_KEPT = 10


class NoBedAvailable(Conflict):
    code = "no_bed_available"


class TransferChanged(Conflict):
    code = "transfer_changed"


# --------------------------------------------------------------------------- scoping


def ensure_hospital_access(principal: Principal, hospital_id: str) -> None:
    """Hospital staff and hospital API keys act only for their own hospital."""
    if principal.role is Role.HOSPITAL and principal.hospital_id != hospital_id:
        raise Forbidden("you act only for your own hospital", code="other_hospital")


def ensure_own_hospital(principal: Principal, hospital_id: str | None) -> None:
    """Handover steps are the receiving hospital's alone (not even admins sign for a hospital)."""
    if principal.role is not Role.HOSPITAL or principal.hospital_id != hospital_id:
        raise Forbidden("only the receiving hospital can do this", code="other_hospital")


# --------------------------------------------------------------------------- hospitals


def _check_location(lat: float, lon: float, prefix: str = "") -> None:
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidInput(f"{prefix}lat", "must be a latitude between -90 and 90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidInput(f"{prefix}lon", "must be a longitude between -180 and 180")


def create_hospital(
    session: Session,
    *,
    name: str,
    tier: int,
    lat: float,
    lon: float,
    district: str = "",
    ward: str = "",
    capabilities: list[str] | None = None,
    status: str = "open",
    contacts: str = "",
    actor: str,
) -> Hospital:
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    if tier not in (1, 2, 3):
        raise InvalidInput("tier", "must be 1, 2 or 3")
    _check_location(lat, lon)
    caps = sorted(set(capabilities or []))
    for cap in caps:
        if cap not in CAPABILITIES:
            raise InvalidInput("capabilities", f"must be among {', '.join(CAPABILITIES)}")
    if status not in FACILITY_STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(FACILITY_STATUSES)}")
    hospital = Hospital(
        name=name.strip(),
        tier=tier,
        district=district,
        ward=ward,
        lat=lat,
        lon=lon,
        capabilities=caps,
        status=status,
        contacts=contacts,
    )
    session.add(hospital)
    session.flush()
    events.record(
        session,
        kind="hospital.created",
        subject_type="hospital",
        subject_id=hospital.id,
        actor=actor,
        data={"name": hospital.name, "tier": tier},
    )
    return hospital


def get_hospital(session: Session, hospital_id: str) -> Hospital:
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(f"no hospital {hospital_id}", code="hospital_not_found")
    return hospital


def list_hospitals(session: Session) -> list[Hospital]:
    return list(session.scalars(select(Hospital).order_by(Hospital.name)))


def set_facility_status(
    session: Session,
    *,
    hospital_id: str,
    status: str,
    reason: str = "",
    until: datetime | None = None,
    actor: str,
) -> Hospital:
    if status not in FACILITY_STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(FACILITY_STATUSES)}")
    hospital = get_hospital(session, hospital_id)
    hospital.status, hospital.status_reason, hospital.status_until = status, reason, until
    events.record(
        session,
        kind="hospital.status",
        subject_type="hospital",
        subject_id=hospital_id,
        actor=actor,
        data={"status": status, "reason": reason},
    )
    if status in ("open", "advisory"):
        for bed_type in session.scalars(
            select(BedPool.bed_type).where(BedPool.hospital_id == hospital_id)
        ):
            _after_commit_waiting_pass(session, bed_type)
    return hospital


# --------------------------------------------------------------------------- bed pools


def is_stale(pool: BedPool, now: datetime) -> bool:
    limit = timedelta(seconds=get_settings().bed_staleness_s)
    return pool.as_of is None or now - pool.as_of > limit


def pool_view(pool: BedPool, now: datetime) -> dict[str, Any]:
    return {
        "bed_type": pool.bed_type,
        "total": pool.total,
        "occupied": pool.occupied,
        "out_of_service": pool.out_of_service,
        "held": pool.held,
        "available": pool.available,
        "expected_discharges": pool.expected_discharges,
        "next_discharge_at": pool.next_discharge_at,
        "as_of": pool.as_of,
        "stale": is_stale(pool, now),
        "updated_by": pool.updated_by,
    }


def hospital_beds(session: Session, hospital_id: str) -> list[dict[str, Any]]:
    get_hospital(session, hospital_id)
    now = utcnow()
    pools = session.scalars(
        select(BedPool).where(BedPool.hospital_id == hospital_id).order_by(BedPool.bed_type)
    ).all()
    order = {t: i for i, t in enumerate(BED_TYPES)}
    return [pool_view(p, now) for p in sorted(pools, key=lambda p: order.get(p.bed_type, 99))]


@dataclass
class BedCounts:
    bed_type: str
    total: int
    occupied: int
    out_of_service: int
    expected_discharges: int = 0
    next_discharge_at: datetime | None = None


def _validate_counts(c: BedCounts, prefix: str) -> None:
    if c.bed_type not in BED_TYPES:
        raise InvalidInput(f"{prefix}bed_type", f"must be one of {', '.join(BED_TYPES)}")
    for name in ("total", "occupied", "out_of_service", "expected_discharges"):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{prefix}{name}", "must be a whole number, 0 or more")
        if value > 100_000:
            raise InvalidInput(f"{prefix}{name}", "must be at most 100000")
    if c.occupied > c.total:
        raise InvalidInput(f"{prefix}occupied", "must not exceed total")
    if c.occupied + c.out_of_service > c.total:
        raise InvalidInput(
            f"{prefix}out_of_service", "occupied + out_of_service must not exceed total"
        )
    if c.next_discharge_at is not None and c.next_discharge_at.tzinfo is None:
        raise InvalidInput(f"{prefix}next_discharge_at", "must carry a time zone")


def update_beds(
    session: Session,
    *,
    hospital_id: str,
    counts: list[BedCounts],
    as_of: datetime,
    actor: str,
    field_prefix: bool = False,
) -> list[BedPool]:
    """Store a hospital's counts as of a time; all or nothing.

    Older-or-equal as_of than the stored one is refused (409) and changes nothing: the check is in
    the UPDATE's WHERE clause, so two updates racing cannot let the older one win.
    """
    if as_of.tzinfo is None:
        raise InvalidInput("as_of", "must carry a time zone (e.g. 2021-08-01T08:00:00+07:00)")
    now = utcnow()
    if as_of - now > MAX_CLOCK_SKEW:
        raise InvalidInput("as_of", "is in the future")
    seen: set[str] = set()
    for i, c in enumerate(counts):
        prefix = f"pools.{i}." if field_prefix else ""
        _validate_counts(c, prefix)
        if c.bed_type in seen:
            raise InvalidInput(f"{prefix}bed_type", "appears twice")
        seen.add(c.bed_type)
    get_hospital(session, hospital_id)
    pools: list[BedPool] = []
    freed: list[str] = []
    for c in counts:
        insert_ignore(
            session,
            BedPool,
            {
                "id": new_id(),
                "hospital_id": hospital_id,
                "bed_type": c.bed_type,
                "total": 0,
                "occupied": 0,
                "out_of_service": 0,
                "held": 0,
                "expected_discharges": 0,
            },
        )
        pool_id = session.scalar(
            select(BedPool.id).where(
                BedPool.hospital_id == hospital_id, BedPool.bed_type == c.bed_type
            )
        )
        result = session.execute(
            update(BedPool)
            .where(
                BedPool.id == pool_id,
                or_(BedPool.as_of.is_(None), BedPool.as_of < as_of),
                # Beds promised to incoming patients stay promised: the new counts must leave room.
                BedPool.held <= c.total - c.occupied - c.out_of_service,
            )
            .values(
                total=c.total,
                occupied=c.occupied,
                out_of_service=c.out_of_service,
                expected_discharges=c.expected_discharges,
                next_discharge_at=c.next_discharge_at,
                as_of=as_of,
                updated_by=actor,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            stored = session.execute(
                select(BedPool.as_of, BedPool.held).where(BedPool.id == pool_id)
            ).one()
            if stored.as_of is not None and stored.as_of >= as_of:
                raise Conflict(
                    f"{c.bed_type}: counts as of {stored.as_of.isoformat()} are already stored; "
                    f"an update as of {as_of.isoformat()} is older or the same",
                    code="stale_update",
                )
            raise Conflict(
                f"{c.bed_type}: {stored.held} bed(s) are held for incoming patients; "
                "total must leave room for occupied + out_of_service + held "
                "(accept, refuse or admit them first)",
                code="beds_held",
            )
        session.add(
            BedUpdate(
                pool_id=pool_id,
                hospital_id=hospital_id,
                bed_type=c.bed_type,
                total=c.total,
                occupied=c.occupied,
                out_of_service=c.out_of_service,
                expected_discharges=c.expected_discharges,
                next_discharge_at=c.next_discharge_at,
                as_of=as_of,
                received_at=now,
                sent_by=actor,
            )
        )
        pool = session.get(BedPool, pool_id, populate_existing=True)
        assert pool is not None
        pools.append(pool)
        if pool.available > 0:
            freed.append(c.bed_type)
    events.record(
        session,
        kind="beds.updated",
        subject_type="hospital",
        subject_id=hospital_id,
        actor=actor,
        data={
            "as_of": as_of.isoformat(),
            "pools": {p.bed_type: {"total": p.total, "available": p.available} for p in pools},
        },
    )
    for bed_type in freed:
        _after_commit_waiting_pass(session, bed_type)
    return pools


# --------------------------------------------------------------------------- transfer requests


def _jobs() -> Any:
    from dispatch import jobs  # jobs import this module; the queue is needed only after commit

    return jobs


def _after_commit_match(session: Session, request_id: str) -> None:
    events.after_commit(session, lambda: _jobs().enqueue_match(request_id))


def _after_commit_waiting_pass(session: Session, bed_type: str) -> None:
    """Offer a freed bed to the waiting queue once this commits (if anyone is waiting)."""
    waiting = session.scalar(
        select(TransferRequest.id)
        .where(TransferRequest.status == "waiting_for_bed", TransferRequest.bed_type == bed_type)
        .limit(1)
    )
    if waiting is not None:
        events.after_commit(session, lambda: _jobs().enqueue_waiting_pass(bed_type))


def _log(
    session: Session,
    req: TransferRequest,
    kind: str,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """A step on the request: a history row for the board and an event for the audit and pushes."""
    at = at or utcnow()
    payload = {"status": req.status, "hospital_id": req.hospital_id, **(data or {})}
    session.add(
        TransferHistory(
            request_id=req.id, at=at, kind=kind, status=req.status, actor=actor, data=payload
        )
    )
    events.record(
        session,
        kind=f"transfer.{kind}",
        subject_type="transfer",
        subject_id=req.id,
        actor=actor,
        data={"urgency": req.urgency, "bed_type": req.bed_type, **payload},
        at=at,
    )


def _flush(session: Session) -> None:
    """Flush a request transition; a concurrent transition of the same request wins, this one 409s."""
    try:
        session.flush()
    except StaleDataError:
        raise TransferChanged("the request changed meanwhile; reload and try again") from None


def _set_status(req: TransferRequest, status: str, now: datetime) -> None:
    req.status = status
    req.status_at = now


def create_transfer_request(
    session: Session,
    *,
    patient_ref: str,
    bed_type: str,
    urgency: str,
    pickup_lat: float,
    pickup_lon: float,
    requested_by: str,
    note: str = "",
) -> TransferRequest:
    """Record a request for a bed and have it matched by a dispatch worker once this commits."""
    patient_ref = (patient_ref or "").strip()
    if not patient_ref or len(patient_ref) > 64:
        raise InvalidInput("patient_ref", "must be 1-64 characters")
    if bed_type not in BED_TYPES:
        raise InvalidInput("bed_type", f"must be one of {', '.join(BED_TYPES)}")
    if urgency not in URGENCIES:
        raise InvalidInput("urgency", f"must be one of {', '.join(URGENCIES)}")
    _check_location(pickup_lat, pickup_lon, "pickup.")
    live = session.scalar(
        select(TransferRequest.id).where(TransferRequest.live_patient_ref == patient_ref)
    )
    if live:
        raise Conflict(
            f"patient {patient_ref} already has a live transfer request {live}",
            code="transfer_already_live",
        )
    now = utcnow()
    req = TransferRequest(
        id=new_id(),
        patient_ref=patient_ref,
        live_patient_ref=patient_ref,
        bed_type=bed_type,
        urgency=urgency,
        urgency_rank=URGENCY_RANK[urgency],
        pickup_lat=pickup_lat,
        pickup_lon=pickup_lon,
        note=note,
        status="requested",
        requested_by=requested_by,
        requested_at=now,
        status_at=now,
        candidates=[],
        excluded_hospital_ids=[],
    )
    session.add(req)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Two requests for one patient raced past the check: the unique column decides.
        raise Conflict(
            f"patient {patient_ref} already has a live transfer request",
            code="transfer_already_live",
        ) from None
    _log(session, req, "requested", actor=requested_by, data={"note": note} if note else None)
    _after_commit_match(session, req.id)
    return req


def get_transfer(session: Session, request_id: str) -> TransferRequest:
    req = session.get(TransferRequest, request_id)
    if req is None:
        raise NotFound(f"no transfer request {request_id}", code="transfer_not_found")
    return req


def live_hold(session: Session, request_id: str) -> BedHold | None:
    return session.scalar(
        select(BedHold).where(BedHold.request_id == request_id, BedHold.released_at.is_(None))
    )


def transfer_view(
    session: Session, req: TransferRequest, *, history: bool = True
) -> dict[str, Any]:
    hold = live_hold(session, req.id)
    hospital = session.get(Hospital, req.hospital_id) if req.hospital_id else None
    ambulance = session.get(AmbulanceTeam, req.ambulance_id) if req.ambulance_id else None
    view: dict[str, Any] = {
        "id": req.id,
        "patient_ref": req.patient_ref,
        "bed_type": req.bed_type,
        "urgency": req.urgency,
        "status": req.status,
        "pickup": {"lat": req.pickup_lat, "lon": req.pickup_lon},
        "note": req.note,
        "hospital_id": req.hospital_id,
        "hospital_name": hospital.name if hospital else None,
        "hold_expires_at": hold.expires_at if hold and hold.accepted_at is None else None,
        "hold_accepted_at": hold.accepted_at if hold else None,
        "ambulance": {"id": ambulance.id, "name": ambulance.name} if ambulance else None,
        "candidates": req.candidates,
        "excluded_hospital_ids": req.excluded_hospital_ids,
        "requested_by": req.requested_by,
        "requested_at": req.requested_at,
        "status_at": req.status_at,
    }
    if history:
        rows = session.scalars(
            select(TransferHistory)
            .where(TransferHistory.request_id == req.id)
            .order_by(TransferHistory.id)
        )
        view["history"] = [
            {"at": h.at, "kind": h.kind, "status": h.status, "actor": h.actor, "data": h.data}
            for h in rows
        ]
    return view


def list_transfers(
    session: Session, *, hospital_id: str | None = None, include_ended: bool = True
) -> list[TransferRequest]:
    """Live requests by urgency then waiting time, then the last ended ones."""
    stmt = select(TransferRequest)
    if hospital_id is not None:
        stmt = stmt.where(TransferRequest.hospital_id == hospital_id)
    live = session.scalars(
        stmt.where(TransferRequest.status.in_(LIVE)).order_by(
            TransferRequest.urgency_rank, TransferRequest.requested_at
        )
    ).all()
    ended: list[TransferRequest] = []
    if include_ended:
        since = utcnow() - timedelta(hours=12)
        ended = list(
            session.scalars(
                stmt.where(TransferRequest.status.not_in(LIVE), TransferRequest.status_at >= since)
                .order_by(TransferRequest.status_at.desc())
                .limit(50)
            )
        )
    return [*live, *ended]


# --------------------------------------------------------------------------- matching


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, a)))


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


def rank_candidates(session: Session, req: TransferRequest, now: datetime) -> list[Candidate]:
    settings = get_settings()
    staleness = timedelta(seconds=settings.bed_staleness_s)
    # Plain columns, not ORM objects: with hundreds of hospitals, hydrating entities dominated.
    rows = session.execute(
        select(
            BedPool.id,
            BedPool.total,
            BedPool.occupied,
            BedPool.out_of_service,
            BedPool.held,
            BedPool.expected_discharges,
            BedPool.next_discharge_at,
            BedPool.as_of,
            Hospital.id,
            Hospital.name,
            Hospital.lat,
            Hospital.lon,
            Hospital.status,
            Hospital.status_until,
        )
        .join(Hospital, Hospital.id == BedPool.hospital_id)
        .where(BedPool.bed_type == req.bed_type)
    ).all()
    excluded = set(req.excluded_hospital_ids or [])
    found: list[Candidate] = []
    for (
        pool_id,
        total,
        occupied,
        out_of_service,
        held,
        expected,
        next_discharge_at,
        as_of,
        hospital_id,
        name,
        lat,
        lon,
        status,
        status_until,
    ) in rows:
        if hospital_id in excluded:
            continue
        if status not in ("open", "advisory") and (status_until is None or status_until > now):
            continue  # full or closed, and the notice has not lapsed
        available = total - occupied - out_of_service - held
        if available > 0:
            wait = 0.0
        elif expected > 0 and next_discharge_at is not None:
            wait = max(0.0, (next_discharge_at - now).total_seconds() / 60)
        else:
            continue  # no bed now and none expected: not a place this patient can go
        km = haversine_km(req.pickup_lat, req.pickup_lon, lat, lon)
        travel = km / settings.ambulance_speed_kmh * 60
        found.append(
            Candidate(
                hospital_id=hospital_id,
                hospital_name=name,
                pool_id=pool_id,
                distance_km=round(km, 2),
                travel_min=round(travel, 1),
                bed_wait_min=round(wait, 1),
                time_to_bed_min=round(max(travel, wait), 1),
                available=max(available, 0),
                free_now=available > 0,
                stale=as_of is None or now - as_of > staleness,
            )
        )
    found.sort(key=Candidate.sort_key)
    return found


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


def _place_hold(
    session: Session,
    req: TransferRequest,
    pool_id: str,
    hospital_id: str,
    actor: str,
    now: datetime,
) -> BedHold | None:
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
    # A second live hold for the patient violates the unique column; the caller's transaction
    # (and with it the held + 1 above) rolls back.
    _flush(session)
    return hold


def _release_hold(session: Session, hold: BedHold, outcome: str, now: datetime) -> bool:
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


def _waiting_ahead(session: Session, req: TransferRequest) -> bool:
    """Is someone as or more urgent, and earlier, already waiting for this kind of bed?"""
    ahead = session.scalar(
        select(func.count())
        .select_from(TransferRequest)
        .where(
            TransferRequest.status == "waiting_for_bed",
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


def claim_for_matching(session: Session, request_id: str, *, actor: str = "worker") -> bool:
    """Mark a request as being matched (visible on the board, and found by the stuck sweep)."""
    req = session.get(TransferRequest, request_id)
    if req is None or req.status not in UNMATCHED:
        return False
    if req.status == "waiting_for_bed":
        return True  # the waiting pass matches it in queue order, without flapping its status
    first = req.status != "matching"
    _set_status(req, "matching", utcnow())
    if first:
        _log(session, req, "matching", actor=actor)
    _flush(session)
    return True


def match(session: Session, request_id: str, *, actor: str = "worker") -> str:
    """Find the earliest bed for a request and hold it; or queue it as waiting. Safe to repeat."""
    now = utcnow()
    req = session.get(TransferRequest, request_id)
    if req is None:
        return "missing"
    if req.status not in UNMATCHED:
        return req.status  # already placed or ended: running twice does nothing
    was_waiting = req.status == "waiting_for_bed"
    if not was_waiting and _waiting_ahead(session, req):
        # A bed that frees goes to the front of the queue first; this request joins the queue.
        _set_status(req, "waiting_for_bed", now)
        _log(session, req, "waiting_for_bed", actor=actor, data={"reason": "queue ahead"})
        _flush(session)
        _after_commit_waiting_pass(session, req.bed_type)
        return req.status
    candidates = rank_candidates(session, req, now)
    req.candidates = [asdict(c) for c in candidates[:CANDIDATES_KEPT]]
    for c in candidates:
        if not c.free_now:
            continue  # an expected discharge ranks, but only a real bed can be held
        hold = _place_hold(session, req, c.pool_id, c.hospital_id, actor, now)
        if hold is None:
            continue  # someone took the last bed there first; try the next
        # A new list, so the JSON column sees the change (in-place edits are not tracked).
        req.candidates = [{**x, "chosen": x["pool_id"] == c.pool_id} for x in req.candidates]
        req.hospital_id = c.hospital_id
        _set_status(req, "held", now)
        _log(
            session,
            req,
            "held",
            actor=actor,
            data={
                "hold_id": hold.id,
                "hospital_name": c.hospital_name,
                "time_to_bed_min": c.time_to_bed_min,
                "expires_at": hold.expires_at.isoformat(),
            },
        )
        _flush(session)
        return req.status
    if was_waiting:
        _flush(session)  # still waiting; refresh the candidates quietly
        return req.status
    _set_status(req, "waiting_for_bed", now)
    req.hospital_id = None
    _log(session, req, "waiting_for_bed", actor=actor, data={"reason": "no bed"})
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
    _flush(session)
    return req.status


def waiting_queue(session: Session, bed_type: str) -> list[str]:
    return list(
        session.scalars(
            select(TransferRequest.id)
            .where(
                TransferRequest.status == "waiting_for_bed", TransferRequest.bed_type == bed_type
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
                TransferRequest.status.in_(("requested", "matching", "refused")),
                TransferRequest.status_at <= cutoff,
            )
        )
    )


def bed_types_waiting(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(TransferRequest.bed_type)
            .where(TransferRequest.status == "waiting_for_bed")
            .distinct()
        )
    )


# --------------------------------------------------------------------------- holds and handover


def expire_due_holds(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Release holds not accepted in time, by timestamp: whoever runs next (a read, a job) does it.

    Each release sits in a savepoint so one that races with an accept does not undo the others.
    """
    now = now or utcnow()
    due = session.scalars(
        select(BedHold)
        .where(
            BedHold.released_at.is_(None),
            BedHold.accepted_at.is_(None),
            BedHold.expires_at <= now,
        )
        .limit(limit)
    ).all()
    released = 0
    for hold in due:
        try:
            with session.begin_nested():
                if not _release_hold(session, hold, "expired", now):
                    continue
                req = session.get(TransferRequest, hold.request_id)
                if req is not None and req.status == "held":
                    req.hospital_id = None
                    _set_status(req, "requested", now)
                    _log(
                        session,
                        req,
                        "hold_expired",
                        actor="system",
                        data={"hold_id": hold.id, "hospital_id_was": hold.hospital_id},
                    )
                    _flush(session)
                    _after_commit_match(session, req.id)
                released += 1
        except (TransferChanged, IntegrityError):
            log.info("hold %s changed while expiring; next pass sees it", hold.id)
            continue
        _after_commit_waiting_pass(session, _pool_bed_type(session, hold.pool_id))
    return released


def _pool_bed_type(session: Session, pool_id: str) -> str:
    return str(session.scalar(select(BedPool.bed_type).where(BedPool.id == pool_id)))


def _require_hold(session: Session, req: TransferRequest) -> BedHold:
    hold = live_hold(session, req.id)
    if hold is None:
        raise Conflict("this request holds no bed", code="no_live_hold")
    return hold


def accept(session: Session, *, request_id: str, principal: Principal) -> TransferRequest:
    req = get_transfer(session, request_id)
    ensure_own_hospital(principal, req.hospital_id)
    if req.status != "held":
        raise Conflict(f"request is {req.status}, not held", code="not_held")
    hold = _require_hold(session, req)
    now = utcnow()
    result = session.execute(
        update(BedHold)
        .where(
            BedHold.id == hold.id,
            BedHold.released_at.is_(None),
            BedHold.accepted_at.is_(None),
            BedHold.expires_at > now,
        )
        .values(accepted_at=now, outcome="accepted")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the hold expired before it was accepted", code="hold_expired")
    _set_status(req, "accepted", now)
    _log(session, req, "accepted", actor=principal.actor)
    _flush(session)
    return req


def refuse(
    session: Session, *, request_id: str, principal: Principal, reason: str = ""
) -> TransferRequest:
    req = get_transfer(session, request_id)
    ensure_own_hospital(principal, req.hospital_id)
    if req.status not in ("held", "accepted"):
        raise Conflict(f"request is {req.status}; nothing to refuse", code="not_held")
    now = utcnow()
    hold = _require_hold(session, req)
    _release_hold(session, hold, "refused", now)
    refused_by = req.hospital_id
    req.excluded_hospital_ids = [*req.excluded_hospital_ids, str(refused_by)]
    req.hospital_id = None
    _set_status(req, "refused", now)
    _log(
        session,
        req,
        "refused",
        actor=principal.actor,
        data={"refused_by": refused_by, "reason": reason},
    )
    _flush(session)
    _free_ambulance(session, req)
    _after_commit_match(session, req.id)
    _after_commit_waiting_pass(session, req.bed_type)
    return req


def admit(session: Session, *, request_id: str, principal: Principal) -> TransferRequest:
    req = get_transfer(session, request_id)
    ensure_own_hospital(principal, req.hospital_id)
    if req.status not in ("held", "accepted", "in_transit"):
        raise Conflict(f"request is {req.status}; nothing to admit", code="not_held")
    hold = _require_hold(session, req)
    now = utcnow()
    released = session.execute(
        update(BedHold)
        .where(BedHold.id == hold.id, BedHold.released_at.is_(None))
        .values(released_at=now, outcome="admitted", live_patient_ref=None)
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
    _set_status(req, "admitted", now)
    _log(session, req, "admitted", actor=principal.actor, data={"hold_id": hold.id})
    _flush(session)
    _free_ambulance(session, req)
    return req


def cancel(session: Session, *, request_id: str, actor: str, reason: str = "") -> TransferRequest:
    req = get_transfer(session, request_id)
    if req.status not in LIVE:
        raise Conflict(f"request is already {req.status}", code="transfer_ended")
    now = utcnow()
    hold = live_hold(session, req.id)
    if hold is not None:
        _release_hold(session, hold, "cancelled", now)
        _after_commit_waiting_pass(session, req.bed_type)
    req.live_patient_ref = None
    _set_status(req, "cancelled", now)
    _log(session, req, "cancelled", actor=actor, data={"reason": reason})
    _flush(session)
    _free_ambulance(session, req)
    return req


def override(session: Session, *, request_id: str, hospital_id: str, actor: str) -> TransferRequest:
    """An operator sends the patient to a named hospital instead; the old hold is given back."""
    req = get_transfer(session, request_id)
    if req.status not in (*UNMATCHED, "held"):
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
        _release_hold(session, old, "overridden", now)
        _after_commit_waiting_pass(session, req.bed_type)
    hold = _place_hold(session, req, pool_id, hospital_id, actor, now)
    if hold is None:
        raise NoBedAvailable(f"{hospital.name} has no free {req.bed_type} bed")
    req.hospital_id = hospital_id
    _set_status(req, "held", now)
    _log(
        session,
        req,
        "overridden",
        actor=actor,
        data={"hospital_name": hospital.name, "expires_at": hold.expires_at.isoformat()},
    )
    _flush(session)
    return req


# --------------------------------------------------------------------------- ambulances


def create_ambulance(
    session: Session, *, name: str, base_lat: float, base_lon: float, actor: str
) -> AmbulanceTeam:
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    _check_location(base_lat, base_lon, "base_")
    if session.scalar(select(AmbulanceTeam.id).where(AmbulanceTeam.name == name.strip())):
        raise Conflict(f"ambulance team {name!r} exists", code="ambulance_exists")
    team = AmbulanceTeam(name=name.strip(), base_lat=base_lat, base_lon=base_lon, status="free")
    session.add(team)
    session.flush()
    events.record(
        session, kind="ambulance.created", subject_type="ambulance", subject_id=team.id, actor=actor
    )
    return team


def list_ambulances(session: Session) -> list[AmbulanceTeam]:
    return list(session.scalars(select(AmbulanceTeam).order_by(AmbulanceTeam.name)))


def assign_transport(
    session: Session, *, request_id: str, actor: str, ambulance_id: str | None = None
) -> TransferRequest:
    """Send an ambulance (the nearest free one unless named); the patient is then in transit."""
    req = get_transfer(session, request_id)
    if req.status not in ("held", "accepted"):
        raise Conflict(
            f"request is {req.status}; transport goes once a bed is held", code="not_held"
        )
    teams = list(session.scalars(select(AmbulanceTeam).where(AmbulanceTeam.status == "free")))
    if ambulance_id is not None:
        teams = [t for t in teams if t.id == ambulance_id]
    teams.sort(key=lambda t: haversine_km(req.pickup_lat, req.pickup_lon, t.base_lat, t.base_lon))
    for team in teams:
        taken = session.execute(
            update(AmbulanceTeam)
            .where(AmbulanceTeam.id == team.id, AmbulanceTeam.status == "free")
            .values(status="busy", request_id=req.id)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            req.ambulance_id = team.id
            _set_status(req, "in_transit", utcnow())
            _log(
                session,
                req,
                "in_transit",
                actor=actor,
                data={"ambulance_id": team.id, "ambulance": team.name},
            )
            _flush(session)
            return req
    raise Conflict("no free ambulance team", code="no_free_ambulance")


def _free_ambulance(session: Session, req: TransferRequest) -> None:
    if req.ambulance_id:
        session.execute(
            update(AmbulanceTeam)
            .where(AmbulanceTeam.id == req.ambulance_id, AmbulanceTeam.request_id == req.id)
            .values(status="free", request_id=None)
            .execution_options(synchronize_session=False)
        )
