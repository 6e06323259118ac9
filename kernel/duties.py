"""What background work is due, kept in the database, and jobs queued once by a stable id.

Two kinds of timer exist. Periodic duties (hold expiry and stuck requests, the epidemic
levels, queued triage transfers) are rows of the ``duties`` table with their next due time.
Everything else that falls due already carries its time on its own row (a follow-up's
``due_at``, a transfer request still ``requested``): the domains answer "what is due now" with
a query (:class:`Due` items). The scheduler (``kernel/scheduler.py``) asks both every second
and queues the answer with :func:`enqueue_once`, so Redis holds no timer that a flush could
lose: the database still says the work is due, and the next tick queues it again.

A job id names the work (``followup-due-<id>``, ``match-<id>``, ``duty-<name>``; RQ allows letters, digits, ``-`` and ``_``), so a piece
of work is queued at most once at a time: a second enqueue while the first waits or runs is
refused, and a job whose worker died (its heartbeat stopped) is replaced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Float, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from kernel.db import Base, insert_ignore, utcnow
from kernel.redisconn import get_redis_bytes

log = logging.getLogger(__name__)

# A started job whose heartbeat is older than STALE_JOB_S lost its worker: `hotline worker`
# beats every JOB_HEARTBEAT_S while a job runs.
JOB_HEARTBEAT_S = 5
STALE_JOB_S = 4.0 * JOB_HEARTBEAT_S
RESULT_TTL_S = 60
FAILURE_TTL_S = 24 * 3600
_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


class Duty(Base):
    """A periodic duty: when it is next due, when it was last queued and last ran."""

    __tablename__ = "duties"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    every_s: Mapped[float] = mapped_column(Float)
    next_due_at: Mapped[datetime]
    last_queued_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(255))


@dataclass(frozen=True)
class Due:
    """A job that is due now: queue name, function path, arguments and its stable id."""

    queue: str
    func: str
    args: tuple[Any, ...]
    job_id: str
    timeout: int = 120


def _alive(job: Job, now: datetime, stale_after_s: float) -> bool:
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return True
    if status != JobStatus.STARTED:
        return False  # finished, failed, stopped or cancelled: the work may be queued again
    beat = job.last_heartbeat or job.started_at
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=now.tzinfo)
    return (now - beat).total_seconds() < stale_after_s


def enqueue_once(due: Due, *, stale_after_s: float = STALE_JOB_S) -> bool:
    """Queue the job unless the same id already waits or runs; True when queued now.

    A running job whose last heartbeat is older than `stale_after_s` counts as dead.
    """
    conn = get_redis_bytes()
    q = Queue(due.queue, connection=conn)
    for _ in range(3):
        try:
            q.enqueue_call(
                due.func,
                args=due.args,
                job_id=due.job_id,
                unique=True,
                timeout=due.timeout,
                result_ttl=RESULT_TTL_S,
                failure_ttl=FAILURE_TTL_S,
            )
            return True
        except DuplicateJobError:
            try:
                job = Job.fetch(due.job_id, connection=conn)
            except NoSuchJobError:
                continue  # it ended in between: try again
            if _alive(job, utcnow(), stale_after_s):
                return False
            if job.get_status(refresh=False) == JobStatus.STARTED:
                log.warning("job %s lost its worker; queued again", due.job_id)
            job.delete()  # out of every registry, so RQ's own clean-up cannot touch the new one
    return False


# Out of the queue's list and, only if it was still there, the job's hash: one script, so no
# worker can take the job between the two (a worker takes a job by moving it off that list).
_WITHDRAW = """
local taken = 0
for i, job_id in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], 1, job_id) == 1 then
    redis.call('DEL', KEYS[i + 1])
    taken = taken + 1
  end
end
return taken
"""


def withdraw_queued(queue_name: str, job_ids: list[str]) -> int:
    """Take jobs back that still wait in their queue (their work was done another way).

    A job a worker has already taken is left alone: it runs, and must find its work done.
    Returns how many were withdrawn; their ids are free for `enqueue_once` again.
    """
    if not job_ids:
        return 0
    conn = get_redis_bytes()
    keys = [Queue(queue_name, connection=conn).key, *(Job.key_for(j) for j in job_ids)]
    return int(conn.eval(_WITHDRAW, len(keys), *keys, *job_ids))


# --------------------------------------------------------------------------- periodic duties


def due_duties(session: Session, every: dict[str, float], now: datetime) -> list[str]:
    """The named duties due now; a duty seen for the first time is due at once."""
    for name, every_s in every.items():
        insert_ignore(session, Duty, {"name": name, "every_s": every_s, "next_due_at": now})
    return list(
        session.scalars(
            select(Duty.name).where(Duty.name.in_(list(every)), Duty.next_due_at <= now)
        )
    )


def mark_queued(session: Session, name: str, every_s: float, now: datetime) -> None:
    session.execute(
        update(Duty)
        .where(Duty.name == name)
        .values(every_s=every_s, next_due_at=now + timedelta(seconds=every_s), last_queued_at=now)
    )


def record_run(session: Session, name: str, outcome: str) -> None:
    session.execute(
        update(Duty)
        .where(Duty.name == name)
        .values(last_run_at=utcnow(), last_outcome=outcome[:255])
    )


def due_now(session: Session, name: str) -> None:
    """Ask for a duty's next run at the next tick (after an import, say)."""
    session.execute(update(Duty).where(Duty.name == name).values(next_due_at=utcnow()))
