"""Writers of several bed pools lock them in one order, so they cannot deadlock (PostgreSQL).

A batch of bed updates, a pass that expires holds and a match batch each lock more than one
pool in one transaction. Here both are made to wait on the same pool, the batch first: once it is
let go, the batch takes that pool and goes on to the next. Had the expiry pass locked the
pools in another order, it would hold that next pool and wait for the first: a deadlock,
which PostgreSQL breaks by failing one of them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from dispatch import beds, jobs
from dispatch.holds import expire_due_holds
from dispatch.models import BedHold, BedPool, Hospital
from kernel.db import get_engine, unit_of_work
from tests.helpers import PICKUP, make_hospital, new_request, pool


def _deadlocks() -> int:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(
            conn.scalar(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            )
        )


def _waiting_on_locks() -> int:
    with get_engine().connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            )
        )


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.02)


def _two_pools_to_two_beds(
    a: str, b: str, outcome: dict[str, Any], errors: list[BaseException]
) -> None:
    """One batch of bed updates: both hospitals' ICU pools to 2 beds, given in the order a, b."""
    now = datetime.now(UTC)
    writes = {
        i: beds.PoolWrite(h, beds.BedCounts("icu", 2, 0, 0), now, "test")
        for i, h in enumerate((a, b))
    }
    try:
        with unit_of_work() as s:
            outcome["written"] = beds.write_together(s, writes, lambda p: p.total)
    except BaseException as exc:
        errors.append(exc)


def _queued_behind_a_held_row(hospital_id: str, writers: list[tuple[Any, str]]) -> None:
    """Hold the hospital's pool row, start each writer in turn once the one before waits on a
    lock, then let the row go and wait for the writers to finish."""
    with get_engine().connect() as blocker:
        blocker.execute(
            select(BedPool.id).where(BedPool.hospital_id == hospital_id).with_for_update()
        ).all()
        threads = []
        for n, (writer, what) in enumerate(writers, start=1):
            threads.append(threading.Thread(target=writer))
            threads[-1].start()
            _until(lambda n=n: _waiting_on_locks() >= n, what)
        blocker.rollback()
    for t in threads:
        t.join(30)


def test_a_batch_of_bed_updates_and_the_expiry_of_holds_lock_pools_in_one_order():
    if get_engine().dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no row locks to order")
    old = datetime.now(UTC) - timedelta(minutes=1)
    made = [
        make_hospital(f"Lock {i}", lat=10.7 + i / 50, beds={"icu": (0, 0)}, as_of=old)
        for i in range(2)
    ]
    first, second = sorted(made)  # the lock order: (hospital id, bed type)
    # A hold at `second`, then one at `first`: the order they were made in is not the
    # lock order.
    for n, hospital in enumerate((second, first)):
        with unit_of_work() as s:
            beds.update_beds(
                s,
                hospital_id=hospital,
                counts=[beds.BedCounts("icu", 1, 0, 0)],
                as_of=old + timedelta(seconds=n + 1),
                actor="test",
            )
        assert jobs.match_request(new_request(f"lock-{n}")) == "held"
    with unit_of_work() as s:
        s.execute(update(BedHold).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    before = _deadlocks()

    errors: list[BaseException] = []
    outcome: dict[str, Any] = {}

    def batch() -> None:
        _two_pools_to_two_beds(second, first, outcome, errors)

    def expiry() -> None:
        try:
            with unit_of_work() as s:
                outcome["expired"] = expire_due_holds(s)
        except BaseException as exc:
            errors.append(exc)

    # Someone holds the first pool's row; the batch, then the expiry pass, wait for it.
    _queued_behind_a_held_row(
        first,
        [
            (batch, "the batch to wait for the first pool"),
            (expiry, "the expiry pass to wait for a pool"),
        ],
    )

    assert not errors, errors
    assert outcome == {"written": {0: 2, 1: 2}, "expired": 2}
    assert _deadlocks() == before
    for hospital in (first, second):
        p = pool(hospital, "icu")
        assert (p.total, p.held) == (2, 0)


def test_a_match_batch_and_a_batch_of_bed_updates_lock_pools_in_one_order():
    if get_engine().dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no row locks to order")
    made = [make_hospital(f"Order {i}", beds={"icu": (1, 0)}) for i in range(2)]
    first, second = sorted(made)  # the lock order: (hospital id, bed type)
    # `second` is at the pick-up point and `first` farther off: the batch ranks `second`
    # first, the reverse of the lock order.
    with unit_of_work() as s:
        s.execute(
            update(Hospital)
            .where(Hospital.id == second)
            .values(lat=PICKUP["lat"], lon=PICKUP["lon"])
        )
        s.execute(update(Hospital).where(Hospital.id == first).values(lat=10.80, lon=106.72))
    urgent, routine = new_request("order-1", urgency="emergency"), new_request("order-2")
    batch = jobs.claim_request(routine, more=5)
    assert sorted(batch.ids) == sorted([urgent, routine])
    before = _deadlocks()

    errors: list[BaseException] = []
    outcome: dict[str, Any] = {}

    def bed_updates() -> None:
        _two_pools_to_two_beds(second, first, outcome, errors)

    def matches() -> None:
        try:
            outcome["matched"] = jobs.match_batch(batch)
        except BaseException as exc:
            errors.append(exc)

    # Someone holds the first pool's row: the bed updates wait for it, then the match batch.
    # Had the batch taken its holds in its ranking's order, it would hold `second` and wait
    # for `first`, while the bed updates, let through first, take `first` and wait for
    # `second`: a deadlock, which PostgreSQL breaks by failing one of them.
    _queued_behind_a_held_row(
        first,
        [
            (bed_updates, "the bed updates to wait for the first pool"),
            (matches, "the match batch to wait for a pool"),
        ],
    )

    assert not errors, errors
    assert outcome == {"written": {0: 2, 1: 2}, "matched": {urgent: "held", routine: "held"}}
    assert _deadlocks() == before
    with unit_of_work() as s:
        holds = dict(s.execute(select(BedHold.request_id, BedHold.hospital_id)).all())
    assert holds == {urgent: second, routine: first}
    for hospital in (first, second):
        p = pool(hospital, "icu")
        assert (p.total, p.held) == (2, 1)
