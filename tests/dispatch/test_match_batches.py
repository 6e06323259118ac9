"""Match batches: under a backlog one match job claims and places many requests of its bed type.

What the dispatcher relies on: the most urgent get the beds first, every request is placed once,
a bed is held by one request, the jobs the batch made moot leave the queue, a request an operator
changes under a batch keeps the operator's change, and a worker killed mid-batch loses nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import event, func, select

from dispatch import handover, jobs
from dispatch.models import BedHold, TransferHistory, TransferRequest
from kernel.db import get_engine, unit_of_work
from kernel.redisconn import get_redis_bytes
from tests.helpers import make_hospital, new_request, pool, run_workers, start_worker, wait_for

URGENCY_CYCLE = ("routine", "urgent", "emergency")


def statuses(ids: list[str]) -> dict[str, str]:
    with unit_of_work() as s:
        rows = s.execute(
            select(TransferRequest.id, TransferRequest.status).where(TransferRequest.id.in_(ids))
        )
        return {rid: status for rid, status in rows}


def in_queue_order(ids: list[str]) -> list[str]:
    """The requests as a freed bed is offered to them: most urgent, then longest waiting."""
    with unit_of_work() as s:
        return list(
            s.scalars(
                select(TransferRequest.id)
                .where(TransferRequest.id.in_(ids))
                .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
            )
        )


def live_holds_by_request() -> dict[str, int]:
    with unit_of_work() as s:
        rows = s.execute(
            select(BedHold.request_id, func.count())
            .where(BedHold.released_at.is_(None))
            .group_by(BedHold.request_id)
        )
        return {rid: n for rid, n in rows}


def steps(request_id: str, kind: str) -> int:
    with unit_of_work() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(TransferHistory)
                .where(TransferHistory.request_id == request_id, TransferHistory.kind == kind)
            )
        )


def queued_jobs() -> set[str]:
    return set(Queue("dispatch", connection=get_redis_bytes()).job_ids)


def test_one_job_places_a_backlog_most_urgent_first_and_withdraws_the_jobs_it_made_moot():
    a = make_hospital("Batch A", beds={"icu": (3, 0), "oxygen": (2, 0)})
    b = make_hospital("Batch B", lat=10.80, lon=106.72, beds={"icu": (1, 0)})
    icu = [new_request(f"batch-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(10)]
    oxygen = new_request("batch-oxygen", bed_type="oxygen", urgency="emergency")
    assert queued_jobs() == {f"match-{rid}" for rid in [*icu, oxygen]}

    # The job of the last (a routine request) runs first, here in the test's process as a
    # worker would run it: it claims the whole ICU backlog.
    assert jobs.match_request(icu[-1]) in ("held", "waiting_for_bed")

    order = in_queue_order(icu)
    st = statuses(icu)
    assert [st[rid] for rid in order] == ["held"] * 4 + ["waiting_for_bed"] * 6
    holds = live_holds_by_request()
    assert all(holds.get(rid) == 1 for rid in order[:4])
    assert not any(rid in holds for rid in order[4:])
    assert (pool(a, "icu").held, pool(b, "icu").held) == (3, 1)
    for rid in icu:
        assert steps(rid, "matching") == 1
    # The oxygen request is not of this batch: untouched, its own job still waiting for it.
    assert statuses([oxygen])[oxygen] == "requested"
    left = queued_jobs()
    assert f"match-{oxygen}" in left
    assert not left & {f"match-{rid}" for rid in icu[:-1]}  # the last's job is the one that ran
    run_workers(1)
    assert statuses([oxygen])[oxygen] == "held" and pool(a, "oxygen").held == 1
    assert statuses(icu) == st  # nothing queued for the ICU requests moved them again


def test_a_request_claimed_by_a_batch_is_left_to_it_unless_taken_over():
    make_hospital("Taken", beds={"icu": (2, 0)})
    first, second = new_request("own-1"), new_request("own-2")
    batch = jobs.claim_request(first, more=5)
    assert batch.ids == [first, second]
    assert statuses([second])[second] == "matching"
    # Its own job, had a worker taken it before the batch withdrew it, does nothing.
    assert jobs.match_request(second) == "skipped"
    assert statuses([second])[second] == "matching"
    # The stuck sweep's job takes a claim over (its worker went quiet for too long).
    assert jobs.match_request(second, take_over=True) == "held"
    outcomes = jobs.match_batch(batch)
    assert outcomes[first] == "held"
    assert outcomes[second] == "held"  # placed already: the batch leaves it as it is
    assert live_holds_by_request() == {first: 1, second: 1}


def test_every_request_of_a_batch_gets_an_outcome_even_one_that_no_longer_exists():
    make_hospital("Outcomes", beds={"icu": (1, 0)})
    ids = [new_request(f"outcome-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(3)]
    batch = jobs.claim_request(ids[0], more=5)
    batch.ids.append("no-such-request")
    outcomes = jobs.match_batch(batch)
    assert sorted(outcomes.values()) == ["held", "missing", "waiting_for_bed", "waiting_for_bed"]
    assert outcomes["no-such-request"] == "missing"


def test_a_request_cancelled_under_a_batch_stays_cancelled_and_the_others_are_placed():
    if get_engine().dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no change can land inside the batch")
    hospital = make_hospital("Conflict", beds={"icu": (6, 0)})
    ids = [new_request(f"cancel-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(5)]
    batch = jobs.claim_request(ids[0], more=10)
    assert sorted(batch.ids) == sorted(ids)
    victim = ids[3]
    fired: list[str] = []

    def operator_cancels(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The dispatcher cancels a request after the batch read it, before it writes it.
        if fired or not statement.lstrip().upper().startswith("UPDATE BED_POOLS"):
            return
        fired.append(statement)
        with unit_of_work() as s:
            handover.cancel(s, request_id=victim, actor="disp", reason="family took the patient")

    event.listen(get_engine(), "before_cursor_execute", operator_cancels)
    try:
        outcomes = jobs.match_batch(batch)
    finally:
        event.remove(get_engine(), "before_cursor_execute", operator_cancels)
    assert fired, "the batch took no bed"
    assert outcomes[victim] == "cancelled"
    assert statuses([victim])[victim] == "cancelled"
    others = [rid for rid in ids if rid != victim]
    assert all(outcomes[rid] == "held" for rid in others)
    assert live_holds_by_request() == dict.fromkeys(others, 1)
    assert pool(hospital, "icu").held == 4  # the batch's holds were undone, then placed once
    assert steps(victim, "held") == 0


def test_a_worker_killed_mid_batch_loses_no_request_and_each_is_placed_once():
    hospital = make_hospital("Survivor", beds={"icu": (5, 0)})
    ids = [new_request(f"kill-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(4)]
    worker = start_worker(stall_after_claim_s=60)
    # The batch claims every request, then (once the claim commits) withdraws their jobs.
    wait_for(
        lambda: (
            set(statuses(ids).values()) == {"matching"}
            and not queued_jobs() & {f"match-{rid}" for rid in ids}
        ),
        timeout=60,
        what="the worker's batch to claim every request and withdraw their jobs",
    )
    os.killpg(worker.pid, signal.SIGKILL)  # mid-batch: claimed, nothing held
    worker.wait(10)
    assert pool(hospital, "icu").held == 0
    # Nothing queued for them and still `matching`: the stuck sweep takes each over.
    assert jobs.maintain(stuck_after_s=0)["requeued"] == 4
    run_workers(2)
    assert set(statuses(ids).values()) == {"held"}
    assert live_holds_by_request() == dict.fromkeys(ids, 1)
    assert pool(hospital, "icu").held == 4
    assert all(steps(rid, "held") == 1 for rid in ids)


def test_batches_of_four_worker_processes_hold_each_bed_once():
    hospitals = [
        make_hospital(f"Race {i}", lat=10.76 + i * 0.01, lon=106.70, beds={"icu": (4, 0)})
        for i in range(5)
    ]
    ids = [new_request(f"many-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(60)]
    run_workers(4)  # four real RQ worker processes, each claiming batches of the backlog
    st = statuses(ids)
    assert sorted(st.values()) == ["held"] * 20 + ["waiting_for_bed"] * 40
    holds = live_holds_by_request()
    assert sorted(holds) == sorted(rid for rid in ids if st[rid] == "held")
    assert set(holds.values()) == {1}
    for h in hospitals:
        p = pool(h, "icu")
        assert (p.held, p.available) == (4, 0)
    for rid in ids:
        assert steps(rid, "matching") == 1
