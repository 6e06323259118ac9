"""Bed pools: counts a hospital sends (versioned, validated, all kept), what is free, and how stale.

Counters on a pool move only through conditional UPDATEs, so two updates racing cannot let the
older one win and no bed held for an incoming patient is ever counted away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from dispatch.enqueue import waiting_passes_after_commit
from dispatch.hospitals import get_hospital
from dispatch.models import BedPool, BedUpdate, Hospital
from dispatch.vocab import BedType, FacilityStatus, word
from kernel import events
from kernel.db import insert_ignore, new_id, utcnow
from kernel.errors import Conflict, InvalidInput
from kernel.lean import insert_soon, inserts_together
from kernel.settings import get_settings

MAX_COUNT = 100_000

T = TypeVar("T")


class PoolFigures(Protocol):
    """What is read of a pool once written: a BedPool, or a batch's RETURNING row."""

    id: str
    hospital_id: str
    bed_type: str
    total: int
    occupied: int
    out_of_service: int
    held: int
    expected_discharges: int
    next_discharge_at: datetime | None
    as_of: datetime | None
    updated_by: str | None

    @property
    def available(self) -> int: ...


@dataclass
class BedCounts:
    bed_type: str
    total: int
    occupied: int
    out_of_service: int
    expected_discharges: int = 0
    next_discharge_at: datetime | None = None

    FIGURES: ClassVar[tuple[str, ...]] = (
        "total",
        "occupied",
        "out_of_service",
        "expected_discharges",
        "next_discharge_at",
    )

    def figures(self) -> dict[str, Any]:
        """The counts as the pool and the kept update store them."""
        return {name: getattr(self, name) for name in self.FIGURES}


@dataclass(frozen=True)
class OpenPool:
    """A pool of a hospital that is not closed, as other domains read it (available is never < 0)."""

    hospital_id: str
    hospital_name: str
    # The hospital's district as its record names it (e.g. "Quận 5"), not a code.
    district: str
    bed_type: BedType
    total: int
    occupied: int
    out_of_service: int
    held: int
    available: int
    as_of: datetime | None
    stale: bool


def counts_stale(as_of: datetime | None, now: datetime) -> bool:
    """Counts never sent, or older than the staleness limit: shown, but never offered as free."""
    return as_of is None or now - as_of > timedelta(seconds=get_settings().bed_staleness_s)


def is_stale(pool: PoolFigures, now: datetime) -> bool:
    return counts_stale(pool.as_of, now)


def hospital_pools(session: Session, hospital_id: str) -> list[BedPool]:
    """A hospital's pools in the order of the bed types."""
    pools = session.scalars(select(BedPool).where(BedPool.hospital_id == hospital_id)).all()
    order = list(BedType)
    return sorted(pools, key=lambda p: order.index(BedType(p.bed_type)))


def open_pools(session: Session, *, now: datetime) -> list[OpenPool]:
    """Every pool of every hospital not closed, with its staleness at `now`."""
    rows = session.execute(
        select(BedPool, Hospital)
        .join(Hospital, Hospital.id == BedPool.hospital_id)
        .where(Hospital.status != FacilityStatus.CLOSED)
        .order_by(Hospital.name, BedPool.bed_type)
    ).all()
    return [
        OpenPool(
            hospital_id=hospital.id,
            hospital_name=hospital.name,
            district=hospital.district,
            bed_type=BedType(pool.bed_type),
            total=pool.total,
            occupied=pool.occupied,
            out_of_service=pool.out_of_service,
            held=pool.held,
            available=max(pool.available, 0),
            as_of=pool.as_of,
            stale=counts_stale(pool.as_of, now),
        )
        for pool, hospital in rows
    ]


def _check_counts(c: BedCounts, prefix: str) -> None:
    word(BedType, c.bed_type, f"{prefix}bed_type")
    for name, value in (
        ("total", c.total),
        ("occupied", c.occupied),
        ("out_of_service", c.out_of_service),
        ("expected_discharges", c.expected_discharges),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{prefix}{name}", "must be a whole number, 0 or more")
        if value > MAX_COUNT:
            raise InvalidInput(f"{prefix}{name}", f"must be at most {MAX_COUNT}")
    if c.occupied > c.total:
        raise InvalidInput(f"{prefix}occupied", "must not exceed total")
    if c.occupied + c.out_of_service > c.total:
        raise InvalidInput(
            f"{prefix}out_of_service", "occupied + out_of_service must not exceed total"
        )
    if c.next_discharge_at is not None and c.next_discharge_at.tzinfo is None:
        raise InvalidInput(f"{prefix}next_discharge_at", "must carry a time zone")


def _check_update(counts: list[BedCounts], as_of: datetime, now: datetime, pooled: bool) -> None:
    if as_of.tzinfo is None:
        raise InvalidInput("as_of", "must carry a time zone (e.g. 2021-08-01T08:00:00+07:00)")
    skew = get_settings().bed_clock_skew_s
    if as_of - now > timedelta(seconds=skew):
        raise InvalidInput("as_of", f"is more than {skew:g} s ahead of the server's clock")
    seen: set[str] = set()
    for i, c in enumerate(counts):
        prefix = f"pools.{i}." if pooled else ""
        _check_counts(c, prefix)
        if c.bed_type in seen:
            raise InvalidInput(f"{prefix}bed_type", "appears twice")
        seen.add(c.bed_type)


def _pool_id(session: Session, hospital_id: str, bed_type: str) -> str:
    """The pool of a hospital and bed type, created empty (and never dated) on its first update."""
    empty = {"total": 0, "occupied": 0, "out_of_service": 0, "held": 0, "expected_discharges": 0}
    insert_ignore(
        session,
        BedPool,
        {"id": new_id(), "hospital_id": hospital_id, "bed_type": bed_type, **empty},
    )
    return str(
        session.scalar(
            select(BedPool.id).where(
                BedPool.hospital_id == hospital_id, BedPool.bed_type == bed_type
            )
        )
    )


_POOL_TABLE = cast(Table, BedPool.__table__)
_POOLS = _POOL_TABLE.c
# The one conditional UPDATE of a pool's counts: newer than what is stored, and leaving room
# for the held beds (beds promised to incoming patients stay promised). Built once, values
# as parameters (_counts_params), so SQLAlchemy reuses its compiled form.
_UPDATE_COUNTS = (
    update(_POOL_TABLE)
    .where(
        _POOLS.hospital_id == bindparam("w_hospital_id"),
        _POOLS.bed_type == bindparam("w_bed_type"),
        or_(_POOLS.as_of.is_(None), _POOLS.as_of < bindparam("w_as_of")),
        _POOLS.held <= bindparam("w_room"),
    )
    .values({name: bindparam(f"w_{name}") for name in (*BedCounts.FIGURES, "as_of", "updated_by")})
)
# A lone update's: the new row comes back as the session's BedPool, refreshed.
_WRITE_COUNTS = (
    select(BedPool)
    .from_statement(_UPDATE_COUNTS.returning(*_POOLS))
    .execution_options(populate_existing=True)
)
# The same UPDATE for the updates of a batch (write_together): the pool comes back as a
# plain row with its free beds, not as an entity of the session. Nothing in the batch's
# transaction reads the pools again, and loading entities was a quarter of its work.
_WRITE_COUNTS_ROW = _UPDATE_COUNTS.returning(*_POOLS, BedPool.available.label("available"))


def _counts_params(hospital_id: str, c: BedCounts, as_of: datetime, actor: str) -> dict[str, Any]:
    figures = {f"w_{name}": value for name, value in c.figures().items()}
    room = c.total - c.occupied - c.out_of_service
    return {
        **figures,
        "w_hospital_id": hospital_id,
        "w_bed_type": c.bed_type,
        "w_as_of": as_of,
        "w_room": room,
        "w_updated_by": actor,
    }


def _written(
    session: Session, hospital_id: str, c: BedCounts, as_of: datetime, actor: str
) -> BedPool | None:
    """The pool with the new counts, or None if the UPDATE's conditions refused them."""
    params = _counts_params(hospital_id, c, as_of, actor)
    return session.scalars(_WRITE_COUNTS, params).one_or_none()


def _write_counts(
    session: Session, hospital_id: str, c: BedCounts, as_of: datetime, actor: str
) -> BedPool:
    """The pool with the new counts, in one statement when the pool exists (as it nearly always does)."""
    pool = _written(session, hospital_id, c, as_of, actor)
    if pool is not None:
        return pool
    pool_id = _pool_id(session, hospital_id, c.bed_type)  # the first update creates the pool
    pool = _written(session, hospital_id, c, as_of, actor)
    if pool is not None:
        return pool
    stored = session.execute(select(BedPool.as_of, BedPool.held).where(BedPool.id == pool_id)).one()
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


def _store(
    session: Session,
    hospital_id: str,
    c: BedCounts,
    *,
    as_of: datetime,
    received_at: datetime,
    actor: str,
) -> BedPool:
    pool = _write_counts(session, hospital_id, c, as_of, actor)
    _keep(session, pool, c, as_of=as_of, received_at=received_at, actor=actor)
    return pool


def _keep(
    session: Session,
    pool: PoolFigures,
    c: BedCounts,
    *,
    as_of: datetime,
    received_at: datetime,
    actor: str,
) -> None:
    """The accepted update's kept row: a prebuilt INSERT (kernel.lean), now or with the others
    of an `inserts_together` block."""
    row = {"pool_id": pool.id, "hospital_id": pool.hospital_id, "bed_type": c.bed_type}
    times = {"as_of": as_of, "received_at": received_at, "sent_by": actor}
    insert_soon(session, BedUpdate, {**row, **c.figures(), **times})


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
    the UPDATE's WHERE clause, so two updates racing cannot let the older one win. With
    field_prefix, a refused field is named by its place in the list (pools.1.occupied).
    """
    now = utcnow()
    _check_update(counts, as_of, now, field_prefix)
    get_hospital(session, hospital_id)
    stored = {
        c.bed_type: _store(session, hospital_id, c, as_of=as_of, received_at=now, actor=actor)
        for c in sorted(counts, key=lambda c: c.bed_type)  # the lock order: see write_together
    }
    pools = [stored[c.bed_type] for c in counts]
    _record_update(session, hospital_id, as_of, actor, pools)
    waiting_passes_after_commit(session, {p.bed_type for p in pools if p.available > 0})
    return pools


def _record_update(
    session: Session, hospital_id: str, as_of: datetime, actor: str, pools: Sequence[PoolFigures]
) -> None:
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


@dataclass(frozen=True)
class PoolWrite:
    """One pool's counts from one hospital, checked (`checked_write`), not yet written."""

    hospital_id: str
    counts: BedCounts
    as_of: datetime
    actor: str


def checked_write(hospital_id: str, counts: BedCounts, as_of: datetime, actor: str) -> PoolWrite:
    """The update of one pool, refused (422) as update_beds refuses its counts, before any
    write; the caller has found the hospital (404)."""
    _check_update([counts], as_of, utcnow(), False)
    return PoolWrite(hospital_id, counts, as_of, actor)


def write_together(
    session: Session, writes: dict[int, PoolWrite], present: Callable[[PoolFigures], T]
) -> dict[int, T]:
    """Many one-pool updates (of any hospitals) in the session's transaction; not committed.

    Each update is the same conditional UPDATE as update_beds, with its kept row and its
    event; the kept rows and the events are written in one statement each, and the waiting
    queues are read once for all the bed types that have a free bed. Returns what `present`
    made of each pool written, by the write's key, taken at once (a pool written twice in
    one batch shows each update its own counts). A write left out was not made: the pool is
    new, an update as new was stored, or held beds leave no room. update_beds then takes it
    alone and says which, after this transaction commits.

    Pools are locked in (hospital id, bed type) order, as update_beds and the expiry of holds
    lock them, so that two writers of several pools cannot deadlock.
    """
    now = utcnow()
    written: dict[int, T] = {}
    freed: set[str] = set()
    lock_order = sorted(writes, key=lambda i: (writes[i].hospital_id, writes[i].counts.bed_type))
    with inserts_together(session):
        for i in lock_order:
            w = writes[i]
            params = _counts_params(w.hospital_id, w.counts, w.as_of, w.actor)
            row = session.execute(_WRITE_COUNTS_ROW, params).one_or_none()
            if row is None:
                continue
            pool = cast(PoolFigures, row)
            written[i] = present(pool)
            if pool.available > 0:
                freed.add(pool.bed_type)
            _keep(session, pool, w.counts, as_of=w.as_of, received_at=now, actor=w.actor)
            _record_update(session, w.hospital_id, w.as_of, w.actor, [pool])
    waiting_passes_after_commit(session, freed)
    return written
