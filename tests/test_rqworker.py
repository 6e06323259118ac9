"""`hotline worker`'s default worker class runs jobs in its own process: one job's failure, open
transaction or length must not reach the next job or make the job look lost."""

from __future__ import annotations

import time
from typing import Any

from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from kernel import events
from kernel.db import get_engine, unit_of_work
from kernel.duties import Due, enqueue_once
from kernel.events import Event
from kernel.redisconn import get_redis_bytes
from kernel.rqworker import InProcessWorker, worker_class


def write_then_fail(tag: str) -> None:
    """Writes an event, then fails inside the transaction."""
    with unit_of_work() as session:
        events.record(session, kind="test.worker", subject_type="test", subject_id=tag)
        session.flush()
        raise RuntimeError("the job fails half-way")


def write(tag: str) -> int:
    with unit_of_work() as session:
        events.record(session, kind="test.worker", subject_type="test", subject_id=tag)
    return get_engine().pool.checkedout()  # type: ignore[attr-defined, no-any-return]


LONG = Due("test-worker", "tests.test_rqworker.long_job", (2.5,), "long-job")


def long_job(seconds: float) -> bool:
    """Runs past the staleness limit the scheduler would use, then asks for itself again."""
    time.sleep(seconds)
    return enqueue_once(LONG, stale_after_s=1.5)


def _written(tag: str) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count(Event.id)).where(Event.subject_id == tag)) or 0)


def test_the_default_worker_does_not_fork() -> None:
    assert worker_class() is InProcessWorker


def test_a_failed_job_leaves_nothing_behind_for_the_next(settings: Any) -> None:
    conn = get_redis_bytes()
    q = Queue("test-worker", connection=conn)
    failed = q.enqueue(write_then_fail, "first")
    ok = q.enqueue(write, "second")
    worker = InProcessWorker([q], connection=conn)
    worker.work(burst=True, logging_level="ERROR")
    assert failed.get_status() == JobStatus.FAILED
    assert _written("first") == 0  # its transaction rolled back
    assert ok.get_status() == JobStatus.FINISHED
    assert ok.return_value() == 0  # no connection left checked out by either job
    assert _written("second") == 1


def test_a_long_job_keeps_beating_and_is_not_queued_twice() -> None:
    conn = get_redis_bytes()
    q = Queue("test-worker", connection=conn)
    assert enqueue_once(LONG)
    worker = InProcessWorker([q], connection=conn)
    worker.job_monitoring_interval = 1
    worker.work(burst=True, logging_level="ERROR")
    job = Job.fetch("long-job", connection=conn)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() is False  # still alive when it asked: not queued a second time
    assert job.started_at is not None and job.last_heartbeat is not None
    # It beat while it ran, as a forking worker's parent beats for its child.
    assert (job.last_heartbeat - job.started_at).total_seconds() >= 1
