"""Concurrency claims: the last-bed race across worker processes and threads, and a killed worker."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

from rq import Queue
from sqlalchemy import select

from dispatch import beds, jobs
from dispatch.models import BedHold, BedPool, TransferRequest
from kernel.db import unit_of_work
from kernel.redisconn import get_redis_bytes
from tests.helpers import (
    make_hospital,
    new_request,
    pool,
    run_workers,
    start_worker,
    transfer,
    wait_for,
)

URGENCY_CYCLE = ("routine", "urgent", "emergency")


def assert_pool_sane(p: BedPool) -> None:
    for n in ("total", "occupied", "out_of_service", "held"):
        assert getattr(p, n) >= 0, n
    assert p.occupied + p.out_of_service + p.held <= p.total


def live_holds() -> list[BedHold]:
    with unit_of_work() as s:
        return list(s.scalars(select(BedHold).where(BedHold.released_at.is_(None))))


def statuses() -> dict[str, str]:
    with unit_of_work() as s:
        return {r.id: r.status for r in s.scalars(select(TransferRequest))}


def next_in_line(request_ids: list[str]) -> str:
    with unit_of_work() as s:
        waiting = s.scalars(
            select(TransferRequest)
            .where(TransferRequest.id.in_(request_ids), TransferRequest.status == "waiting_for_bed")
            .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        ).all()
        return waiting[0].id


def free_one_bed(hospital_id: str) -> None:
    with unit_of_work() as s:
        beds.update_beds(
            s,
            hospital_id=hospital_id,
            counts=[beds.BedCounts("icu", 2, 0, 0)],
            as_of=datetime.now(UTC),
            actor="test",
        )


def test_last_bed_race_across_worker_processes(r):
    hospital = make_hospital("Last bed", beds={"icu": (1, 0)})
    ids = [new_request(f"race-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(30)]
    assert Queue("dispatch", connection=get_redis_bytes()).count == 30
    run_workers(4)  # four real RQ worker processes race for the bed
    holds = live_holds()
    assert len(holds) == 1
    p = pool(hospital, "icu")
    assert (p.total, p.held) == (1, 1)
    assert_pool_sane(p)
    st = statuses()
    assert sorted(st.values()).count("held") == 1
    assert sorted(st.values()).count("waiting_for_bed") == 29
    # When a bed frees, the next by urgency, then waiting time, gets it.
    expected = next_in_line(ids)
    free_one_bed(hospital)
    run_workers(3)
    assert statuses()[expected] == "held"
    assert len(live_holds()) == 2
    p = pool(hospital, "icu")
    assert (p.total, p.held) == (2, 2)
    assert_pool_sane(p)


def test_last_bed_race_across_threads_calling_the_job():
    hospital = make_hospital("Last bed", beds={"icu": (1, 0)})
    ids = [new_request(f"thr-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(24)]
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def run(rid: str) -> None:
        try:
            barrier.wait()
            jobs.match_request(rid)
            jobs.match_request(rid)  # running twice is harmless
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(live_holds()) == 1
    st = statuses()
    assert list(st.values()).count("held") == 1
    assert all(st[i] in ("held", "waiting_for_bed") for i in ids)
    assert_pool_sane(pool(hospital, "icu"))


def test_worker_killed_mid_match_loses_no_request_and_it_is_matched_once():
    hospital = make_hospital("Survivor", beds={"icu": (3, 0)})
    rid = new_request("p-kill", urgency="emergency")
    worker = start_worker(stall_after_claim_s=60)
    wait_for(
        lambda: transfer(rid)["status"] == "matching",
        timeout=60,
        what="the worker to claim the request",
    )
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-match
    worker.wait(10)
    assert transfer(rid)["status"] == "matching"  # claimed, not lost
    assert pool(hospital, "icu").held == 0
    # The maintenance sweep notices the request nobody finishes and enqueues it again;
    # sweeping twice (two maintenance runs racing) still ends in one hold.
    assert jobs.maintain(stuck_after_s=0)["requeued"] == 1
    assert jobs.maintain(stuck_after_s=0)["requeued"] == 1
    run_workers(2)
    got = transfer(rid)
    assert got["status"] == "held"
    assert [h["kind"] for h in got["history"]].count("held") == 1
    assert len(live_holds()) == 1 and pool(hospital, "icu").held == 1


def test_freed_beds_go_to_the_waiting_queue_in_one_job_in_urgency_order():
    near = make_hospital("Near", beds={"icu": (1, 1)})
    far = make_hospital("Far", lat=10.90, lon=106.80, beds={"icu": (1, 1)})
    ids = [new_request(f"wait-{i}", urgency=URGENCY_CYCLE[i % 3]) for i in range(9)]
    run_workers(2)
    assert sorted(statuses().values()) == ["waiting_for_bed"] * 9
    expected = []
    with unit_of_work() as s:
        expected = list(
            s.scalars(
                select(TransferRequest.id)
                .where(TransferRequest.id.in_(ids))
                .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
            )
        )[:4]
    # Beds free at two hospitals, in four updates: one job works the whole queue.
    for hospital, total in ((near, 2), (far, 2), (near, 3), (far, 3)):
        with unit_of_work() as s:
            beds.update_beds(
                s,
                hospital_id=hospital,
                counts=[beds.BedCounts("icu", total, 1, 0)],
                as_of=datetime.now(UTC),
                actor="test",
            )
    queued = Queue("dispatch", connection=get_redis_bytes()).job_ids
    assert queued == ["waiting-icu"]
    run_workers(3)
    st = statuses()
    # Four beds, four holds: to the four first in urgency order, each bed held once.
    assert sorted(rid for rid in ids if st[rid] == "held") == sorted(expected)
    assert len(live_holds()) == 4
    for hospital in (near, far):
        p = pool(hospital, "icu")
        assert p.held == 2 and p.available == 0
        assert_pool_sane(p)
    # Another pass (the maintenance duty's, say) changes nothing.
    assert jobs.match_waiting("icu") == 0
    assert len(live_holds()) == 4
