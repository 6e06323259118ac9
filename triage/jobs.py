"""RQ jobs of triage: due and overdue follow-ups on queue "followups", and queued transfers retried.

No timer lives in Redis: a follow-up's due and escalation times are on its row, and the
workers' scheduler (`kernel/scheduler.py`) asks `due_jobs` every second what to queue.
"""

from __future__ import annotations

import logging
from datetime import datetime

from rq import Queue
from sqlalchemy.orm import Session

from kernel import telemetry
from kernel.db import unit_of_work, utcnow
from kernel.duties import Due, enqueue_once
from kernel.redisconn import get_redis_bytes
from triage import followups, transfers
from triage.models import Transfer
from triage.vocabulary import TransferState

log = logging.getLogger(__name__)

FOLLOWUPS = "followups"


def followups_queue() -> Queue:
    return Queue(FOLLOWUPS, connection=get_redis_bytes())


def followup_due(followup_id: str) -> bool:
    with unit_of_work() as session:
        return followups.dispatch_due(session, followup_id)


def followup_overdue(followup_id: str) -> bool:
    with unit_of_work() as session:
        return followups.escalate_overdue(session, followup_id)


def due_job(followup_id: str) -> Due:
    return Due(FOLLOWUPS, "triage.jobs.followup_due", (followup_id,), f"followup-due-{followup_id}")


def overdue_job(followup_id: str) -> Due:
    return Due(
        FOLLOWUPS, "triage.jobs.followup_overdue", (followup_id,), f"followup-overdue-{followup_id}"
    )


def schedule_followup(followup_id: str, due_at: datetime) -> None:
    """Called after the assessment commits: a follow-up due already is queued at once; a later
    one is queued by the scheduler when its row says it is due (so losing this loses nothing)."""
    if due_at <= utcnow():
        enqueue_once(due_job(followup_id))


def due_jobs(session: Session, now: datetime) -> list[Due]:
    """Follow-ups due for their call, and dispatched ones due for escalation."""
    due = followups.due_for_dispatch(session, now)
    overdue = followups.due_for_escalation(session, now)
    return [*map(due_job, due), *map(overdue_job, overdue)]


def retry_queued_transfers() -> int:
    """Ask dispatch again for transfers it could not take (a periodic duty)."""
    with unit_of_work() as session:
        pending = transfers.queued_transfers(session)
    retried = 0
    for tid in pending:
        with unit_of_work() as session:
            tr = session.get(Transfer, tid)
            if tr is not None and tr.state == TransferState.QUEUED:
                retried += transfers.request_transfer(session, tr)
    return retried


def sweep_once(now: datetime | None = None) -> dict[str, int]:
    """Queue every follow-up job that is due and retry queued transfers, now (what the
    scheduler does on its ticks and duties, in one call)."""
    now = now or utcnow()
    with unit_of_work() as session:
        due = followups.due_for_dispatch(session, now)
        overdue = followups.due_for_escalation(session, now)
    for job in [*map(due_job, due), *map(overdue_job, overdue)]:
        enqueue_once(job)
    retried = retry_queued_transfers()
    telemetry.mark_sweep_now("followup_sweep")
    return {"due": len(due), "overdue": len(overdue), "transfers": retried}
