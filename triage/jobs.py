"""RQ jobs of triage: due and overdue follow-ups on queue "followups", and the sweep that repairs lost jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from rq import Queue

from kernel import telemetry
from kernel.db import unit_of_work, utcnow
from kernel.redisconn import get_redis, get_redis_bytes
from kernel.settings import get_settings
from triage import followups, transfers
from triage.models import Transfer
from triage.vocabulary import TransferState

log = logging.getLogger(__name__)

FOLLOWUPS = "followups"
SWEEP_KEY = "triage:followup-sweep:armed"


def followups_queue() -> Queue:
    return Queue(FOLLOWUPS, connection=get_redis_bytes())


def followup_due(followup_id: str) -> bool:
    with unit_of_work() as session:
        return followups.dispatch_due(session, followup_id)


def followup_overdue(followup_id: str) -> bool:
    with unit_of_work() as session:
        return followups.escalate_overdue(session, followup_id)


def schedule_followup(followup_id: str, due_at: datetime, escalate_at: datetime) -> None:
    """Called after the assessment commits; if this is lost, the sweep still finds the row."""
    q = followups_queue()
    now = utcnow()
    if due_at <= now:
        q.enqueue(followup_due, followup_id)
    else:
        q.enqueue_at(due_at, followup_due, followup_id)
    q.enqueue_at(max(escalate_at, now), followup_overdue, followup_id)
    arm_sweep()


def arm_sweep(delay_s: float | None = None) -> bool:
    """Keep one sweep scheduled while follow-ups are open (the key stops duplicates)."""
    delay = get_settings().followup_sweep_interval_s if delay_s is None else delay_s
    if not get_redis().set(SWEEP_KEY, "1", nx=True, px=int(max(delay, 1) * 2000)):
        return False
    followups_queue().enqueue_in(timedelta(seconds=delay), sweep)
    return True


def sweep_once(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue follow-ups whose job was lost (worker killed, Redis flushed) and retry queued transfers."""
    now = now or utcnow()
    with unit_of_work() as session:
        due = followups.due_for_dispatch(session, now)
        overdue = followups.due_for_escalation(session, now)
        pending_transfers = transfers.queued_transfers(session)
    q = followups_queue()
    for fid in due:
        q.enqueue(followup_due, fid)
    for fid in overdue:
        q.enqueue(followup_overdue, fid)
    retried = 0
    for tid in pending_transfers:
        with unit_of_work() as session:
            tr = session.get(Transfer, tid)
            if tr is not None and tr.state == TransferState.QUEUED:
                retried += transfers.request_transfer(session, tr)
    return {"due": len(due), "overdue": len(overdue), "transfers": retried}


def sweep() -> dict[str, int]:
    get_redis().delete(SWEEP_KEY)
    counts = sweep_once()
    telemetry.mark_sweep_now("followup_sweep")
    with unit_of_work() as session:
        still_open = followups.any_open(session)
    if still_open:
        arm_sweep()
    return counts
