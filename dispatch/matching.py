"""Matching: rank the hospitals by when the patient gets a bed, hold the earliest, or queue the request.

A free bed now beats an expected discharge, fresh counts beat stale ones, and travel time counts.
A request with no bed anywhere waits, most urgent and longest waiting first, and every bed that
frees is offered to that queue before anyone else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.beds import counts_stale
from dispatch.enqueue import waiting_pass_after_commit
from dispatch.geo import Box, bounding_box, haversine_km
from dispatch.history import advance, record, save, set_status
from dispatch.holds import place_hold
from dispatch.models import BedHold, BedPool, Hospital, TransferRequest
from dispatch.vocab import TAKING_PATIENTS, UNMATCHED, TransferStatus
from kernel import events
from kernel.db import utcnow
from kernel.lean import inserts_together
from kernel.settings import Settings, get_settings

# Who the steps a dispatch worker takes are recorded as.
WORKER = "worker"
# The board shows this many of the ranked hospitals with a request.
CANDIDATES_KEPT = 10
# The areas `rank_nearest` searches in turn before it reads every pool of the type.
SEARCH_RADII_KM = (3.0, 10.0, 30.0)
# Left in one of these, a request lost its worker (killed, job lost) once it is old enough.
NEEDS_A_WORKER = (TransferStatus.REQUESTED, TransferStatus.MATCHING, TransferStatus.REFUSED)
# New or refused: no worker has taken these up yet, so a worker's batch may claim them.
NOT_TAKEN_UP = (TransferStatus.REQUESTED, TransferStatus.REFUSED)


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

    def sort_key(self) -> tuple[bool, float, bool, float, int, str]:
        # Fresh before stale; then earliest bed; a bed free now beats an expected discharge
        # at the same time; ties by distance, then the pool with more beds free (the load
        # spreads, and its last bed is less likely to go to a rival request), then by pool
        # (the same order however the pools were read).
        return (
            self.stale,
            round(self.time_to_bed_min, 3),
            not self.free_now,
            self.distance_km,
            -self.available,
            self.pool_id,
        )


_POOL_COLUMNS = (
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


@dataclass
class PoolRow:
    """What ranking reads of one pool and its hospital; `held` moves as a batch holds beds."""

    pool_id: str
    total: int
    occupied: int
    out_of_service: int
    held: int
    expected_discharges: int
    next_discharge_at: datetime | None
    as_of: datetime | None
    hospital_id: str
    name: str
    lat: float
    lon: float
    status: str
    status_until: datetime | None


def _pools_of_type(session: Session, bed_type: str, box: Box | None = None) -> list[PoolRow]:
    """The pools of a bed type; with a box, only those of hospitals inside it (by index)."""
    # Plain columns, not ORM objects: with hundreds of hospitals, hydrating entities dominated.
    query = (
        select(*_POOL_COLUMNS)
        .join(Hospital, Hospital.id == BedPool.hospital_id)
        .where(BedPool.bed_type == bed_type)
    )
    if box is not None:
        query = query.where(
            Hospital.lat.between(box.lat_min, box.lat_max),
            Hospital.lon.between(box.lon_min, box.lon_max),
        )
    return [PoolRow(**row._mapping) for row in session.execute(query).all()]


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


def _rank_rows(rows: list[PoolRow], req: TransferRequest, now: datetime) -> list[Candidate]:
    settings = get_settings()
    excluded = set(req.excluded_hospital_ids or [])
    found = [_candidate(row, req, now, settings) for row in rows if row.hospital_id not in excluded]
    return sorted((c for c in found if c is not None), key=Candidate.sort_key)


def rank_candidates(session: Session, req: TransferRequest, now: datetime) -> list[Candidate]:
    """The hospitals this request could go to, the earliest bed first (every pool of the type)."""
    return _rank_rows(_pools_of_type(session, req.bed_type), req, now)


@dataclass
class Ranking:
    """The first places of the full ranking; `complete` when nothing else could follow them."""

    candidates: list[Candidate]
    complete: bool

    def holdable(self) -> bool:
        return any(c.free_now for c in self.candidates)


def _certain_prefix(ranked: list[Candidate], bound_min: float) -> list[Candidate]:
    """The places no pool outside the searched area can come before.

    Outside, the travel alone takes at least bound_min, so any fresh candidate whose time to a
    bed is below it (with a margin for the rounding to 0.1 min) ranks ahead of all of them;
    stale ones rank after every fresh one, wherever it is, so the certain part ends there.
    """
    prefix = []
    for c in ranked:
        if c.stale or c.time_to_bed_min >= bound_min - 0.1:
            break
        prefix.append(c)
    return prefix


def rank_nearest(
    session: Session,
    req: TransferRequest,
    now: datetime,
    *,
    pools: list[PoolRow] | None = None,
    wanted: int = CANDIDATES_KEPT,
) -> Ranking:
    """The head of `rank_candidates`, read from the hospitals near the pick-up point.

    Looks in boxes of growing size around the pick-up point (the hospitals' location index
    bounds the read) and stops at the first that gives `wanted` places certain to be the
    head of the full ranking, one of them with a bed free now; failing that, every pool.
    With `pools` (a batch's snapshot), the same search runs over those rows in memory.
    """
    speed = get_settings().ambulance_speed_kmh
    for radius_km in SEARCH_RADII_KM:
        box = bounding_box(req.pickup_lat, req.pickup_lon, radius_km)
        if box is None:
            break  # near a pole or the date line: the full scan is simpler than a split box
        if pools is None:
            rows = _pools_of_type(session, req.bed_type, box)
        else:
            rows = [r for r in pools if box.contains(r.lat, r.lon)]
        ranked = _rank_rows(rows, req, now)
        head = _certain_prefix(ranked, box.min_outside_km / speed * 60)
        found = Ranking(head, complete=False)
        if len(head) >= wanted and found.holdable():
            return found
    rows = _pools_of_type(session, req.bed_type) if pools is None else pools
    return Ranking(_rank_rows(rows, req, now), complete=True)


def _queue_head(session: Session, bed_type: str) -> tuple[int, datetime] | None:
    """The place in the queue of the first request waiting for a bed type, if any waits."""
    row = session.execute(
        select(TransferRequest.urgency_rank, TransferRequest.requested_at)
        .where(
            TransferRequest.status == TransferStatus.WAITING_FOR_BED,
            TransferRequest.bed_type == bed_type,
        )
        .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def _behind(head: tuple[int, datetime] | None, req: TransferRequest) -> bool:
    """Is someone more urgent, or as urgent and earlier, already waiting ahead of this request?"""
    return head is not None and head < (req.urgency_rank, req.requested_at)


def claim_for_matching(
    session: Session, request_id: str, *, take_over: bool = False
) -> TransferRequest | None:
    """Mark a request as being matched (visible on the board, and found by the stuck sweep).

    A request already `matching` belongs to the worker that claimed it (a batch, say): it is
    left to that worker unless `take_over`, which the stuck sweep asks for once that worker
    has gone quiet for too long. Returns the request when claimed (or waiting for a bed).
    """
    req = session.get(TransferRequest, request_id)
    if req is None or req.status not in UNMATCHED:
        return None
    if req.status == TransferStatus.MATCHING and not take_over:
        return None
    if req.status == TransferStatus.WAITING_FOR_BED:
        return req  # the waiting pass matches it in queue order, without flapping its status
    first = req.status != TransferStatus.MATCHING
    set_status(req, TransferStatus.MATCHING, utcnow())
    if first:
        record(session, req, TransferStatus.MATCHING, actor=WORKER)
    save(session)
    return req


@dataclass(frozen=True)
class Claimed:
    """A request a batch claimed, as its claim's record reads it (`history.RequestFacts`)."""

    id: str
    status: str
    hospital_id: str | None
    urgency: str
    bed_type: str


def claim_more(session: Session, *, besides: str, bed_type: str, limit: int) -> list[Claimed]:
    """Claim up to `limit` more requests for a bed type that no worker has taken up, most urgent
    and longest waiting first, for the worker's batch (one read of that type's pools serves
    them all): one conditional UPDATE, with a history row and an event each.

    The UPDATE takes only rows still new or refused and moves their version, so a worker or an
    operator that moved one first keeps it, and one that moves it after gets a conflict (409).
    On PostgreSQL, rows another batch is claiming at that moment are skipped, not waited for.
    """
    if limit <= 0:
        return []
    now = utcnow()
    untaken = (
        select(TransferRequest.id)
        .where(
            TransferRequest.status.in_(NOT_TAKEN_UP),
            TransferRequest.bed_type == bed_type,
            TransferRequest.id != besides,
        )
        .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(
        update(TransferRequest)
        .where(TransferRequest.id.in_(untaken), TransferRequest.status.in_(NOT_TAKEN_UP))
        .values(
            status=TransferStatus.MATCHING,
            status_at=now,
            version=TransferRequest.version + 1,
        )
        .returning(
            TransferRequest.id,
            TransferRequest.status,
            TransferRequest.hospital_id,
            TransferRequest.urgency,
            TransferRequest.urgency_rank,
            TransferRequest.requested_at,
            TransferRequest.bed_type,
        )
        .execution_options(synchronize_session=False)
    ).all()
    # RETURNING gives no order: the batch works them in the queue's.
    ordered = sorted(rows, key=lambda r: (r.urgency_rank, r.requested_at, r.id))
    claimed = [Claimed(r.id, r.status, r.hospital_id, r.urgency, r.bed_type) for r in ordered]
    with inserts_together(session):
        for c in claimed:
            record(session, c, TransferStatus.MATCHING, actor=WORKER)
    return claimed


def _hold_earliest(
    session: Session,
    req: TransferRequest,
    candidates: list[Candidate],
    actor: str,
    now: datetime,
    tried: set[str],
    snapshot: dict[str, PoolRow] | None,
) -> bool:
    """Hold a bed at the best candidate that still has one; False when none had.

    The hold itself is the conditional UPDATE, so a snapshot that is out of date can cost a
    try, never a second hold of one bed. The snapshot (a batch's) is kept in step.
    """
    for c in candidates:
        if not c.free_now or c.pool_id in tried:
            continue  # an expected discharge ranks, but only a real bed can be held
        tried.add(c.pool_id)
        hold = place_hold(session, req, c.pool_id, c.hospital_id, actor, now)
        row = snapshot.get(c.pool_id) if snapshot is not None else None
        if hold is None:
            if row is not None:  # someone took the last bed there first
                row.held = max(row.held, row.total - row.occupied - row.out_of_service)
            continue  # try the next
        if row is not None:
            row.held += 1
        _record_held(session, req, c, hold, actor, now)
        save(session)
        return True
    return False


def _record_held(
    session: Session, req: TransferRequest, c: Candidate, hold: BedHold, actor: str, now: datetime
) -> None:
    """The request moves to held at the candidate's pool (the caller flushes)."""
    # A new list, so the JSON column sees the change (in-place edits are not tracked).
    req.candidates = [{**x, "chosen": x["pool_id"] == c.pool_id} for x in req.candidates]
    req.hospital_id = c.hospital_id
    data = {
        "hold_id": hold.id,
        "hospital_name": c.hospital_name,
        "time_to_bed_min": c.time_to_bed_min,
        "expires_at": hold.expires_at.isoformat(),
    }
    set_status(req, TransferStatus.HELD, now)
    record(session, req, TransferStatus.HELD, actor=actor, data=data)


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


def match(session: Session, request_id: str, *, pools: list[PoolRow] | None = None) -> str:
    """Find the earliest bed for a request and hold it; or queue it as waiting. Safe to repeat.

    `pools` is a batch's snapshot of the pools of the request's bed type (`pools_of_type`),
    read once for many requests and kept in step with the holds the batch places.
    """
    actor, now = WORKER, utcnow()
    req = session.get(TransferRequest, request_id)
    if req is None:
        return "missing"
    if req.status not in UNMATCHED:
        return req.status  # already placed or ended: running twice does nothing
    was_waiting = req.status == TransferStatus.WAITING_FOR_BED
    if not was_waiting and _behind(_queue_head(session, req.bed_type), req):
        # A bed that frees goes to the front of the queue first; this request joins the queue.
        _wait_for_bed(session, req, actor, now, reason="queue ahead")
        waiting_pass_after_commit(session, req.bed_type)
        return req.status
    snapshot = {row.pool_id: row for row in pools} if pools is not None else None
    ranking = rank_nearest(session, req, now, pools=pools)
    req.candidates = [asdict(c) for c in ranking.candidates[:CANDIDATES_KEPT]]
    tried: set[str] = set()
    if _hold_earliest(session, req, ranking.candidates, actor, now, tried, snapshot):
        return req.status
    if not ranking.complete:
        # Every bed near enough was taken since it was read: the rest of the ranking, in order.
        rows = pools if pools is not None else _pools_of_type(session, req.bed_type)
        ranked = _rank_rows(rows, req, now)
        req.candidates = [asdict(c) for c in ranked[:CANDIDATES_KEPT]]
        if _hold_earliest(session, req, ranked, actor, now, tried, snapshot):
            return req.status
    if was_waiting:
        save(session)  # still waiting; refresh the candidates quietly
        return req.status
    if pools is not None:
        # The batch's snapshot had no bed: read the pools themselves before the request joins
        # the queue, so a bed freed since the snapshot (whose update found no one waiting yet
        # to offer it to) is not missed.
        ranked = _rank_rows(_pools_of_type(session, req.bed_type), req, now)
        req.candidates = [asdict(c) for c in ranked[:CANDIDATES_KEPT]]
        if _hold_earliest(session, req, ranked, actor, now, set(), snapshot):
            return req.status
    _wait_for_bed(session, req, actor, now, reason="no bed")
    _alert_no_bed(session, req, actor)
    return req.status


@dataclass
class Together:
    """What `match_together` placed, and what it left to `match`, most urgent first."""

    held: list[str]
    rest: list[str]


def match_together(
    session: Session, request_ids: list[str], bed_type: str, pools: list[PoolRow]
) -> Together:
    """Hold beds for a claimed batch of one bed type in this one transaction (the caller commits).

    Each request, most urgent first, is ranked against the batch's snapshot of the pools, and
    its choice is counted in the snapshot before the next is ranked. The holds are then taken
    in the pools' lock order (hospital, then bed type, as bed updates and the expiry of holds
    take them), so this writer of many pools cannot deadlock with another, each by the same
    conditional UPDATE as a single match. The requests are written last, each conditional on
    its version: one that changed meanwhile fails the batch (TransferChanged), and the caller
    matches them one by one. Left to `match`, one by one: a request whose bed the snapshot
    does not show, one behind someone already waiting for this bed type (it joins the queue),
    one whose bed was taken since the snapshot was read, and one no longer `matching`.
    """
    actor, now = WORKER, utcnow()
    found = session.scalars(select(TransferRequest).where(TransferRequest.id.in_(request_ids)))
    reqs = sorted(found, key=lambda r: (r.urgency_rank, r.requested_at, r.id))
    head = _queue_head(session, bed_type)
    snapshot = {row.pool_id: row for row in pools}
    planned: list[tuple[TransferRequest, Ranking, Candidate]] = []
    rest: set[str] = set()
    for req in reqs:
        if req.status != TransferStatus.MATCHING or _behind(head, req):
            rest.add(req.id)
            continue
        ranking = rank_nearest(session, req, now, pools=pools)
        # The snapshot counts the batch's earlier choices, so "free now" is a bed still unheld.
        choice = next((c for c in ranking.candidates if c.free_now), None)
        if choice is None:
            rest.add(req.id)
            continue
        snapshot[choice.pool_id].held += 1
        planned.append((req, ranking, choice))
    held: list[str] = []
    with session.no_autoflush, inserts_together(session):
        for req, ranking, c in sorted(planned, key=lambda p: (p[2].hospital_id, p[2].pool_id)):
            hold = place_hold(session, req, c.pool_id, c.hospital_id, actor, now, flush=False)
            if hold is None:  # someone took the last bed there since the snapshot was read
                row = snapshot[c.pool_id]
                row.held = max(row.held, row.total - row.occupied - row.out_of_service)
                rest.add(req.id)  # written by `match`, with its own candidates
                continue
            req.candidates = [asdict(x) for x in ranking.candidates[:CANDIDATES_KEPT]]
            _record_held(session, req, c, hold, actor, now)
            held.append(req.id)
    save(session)  # one flush: the holds, then each request conditional on its version
    unknown = set(request_ids) - {r.id for r in reqs}  # `match` answers "missing" for these
    return Together(held=held, rest=[r.id for r in reqs if r.id in rest] + sorted(unknown))


def pools_of_type(session: Session, bed_type: str) -> list[PoolRow]:
    """Every pool of a bed type, read once for a batch of matches (`match(pools=...)`)."""
    return _pools_of_type(session, bed_type)


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
