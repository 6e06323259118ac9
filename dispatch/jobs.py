"""RQ jobs of dispatch: match a request, work the waiting queue, and the maintenance sweep.

Jobs take ids, open their own unit of work, and are safe to run twice or concurrently: every
state change underneath is a conditional UPDATE.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dispatch import holds, matching
from dispatch.enqueue import (
    enqueue_match,
    enqueue_waiting_pass,
    match_job,
    waiting_pass_started,
    waiting_pass_wanted,
)
from dispatch.models import TransferRequest
from dispatch.vocab import TransferStatus
from kernel import telemetry
from kernel.db import unit_of_work
from kernel.duties import Due
from kernel.errors import Conflict

log = logging.getLogger(__name__)

# A request still `requested`/`matching` this long after its last change lost its worker.
STUCK_AFTER_S = 30.0
# Rounds one waiting-queue job runs at most while beds keep freeing under it.
WAITING_ROUNDS = 5
MAINTENANCE_EVERY_S = 5.0
DUE_PER_TICK = 500
CLAIMED = "claimed"
# What a worker loses to another worker or an operator who moved the request first.
RACED = (Conflict, IntegrityError, StaleDataError)


def claim_request(request_id: str) -> str:
    """Mark the request as being matched, after releasing due holds (their beds may be the ones
    it needs); committed on its own so a worker killed after this leaves it where the sweep looks.
    """
    try:
        with unit_of_work() as session:
            holds.expire_due_holds(session)
            if not matching.claim_for_matching(session, request_id):
                return "skipped"
    except RACED:
        return "raced"
    return CLAIMED


def match_claimed(request_id: str) -> str:
    """Find and hold the earliest bed for a claimed request, or queue it."""
    try:
        with unit_of_work() as session:
            return matching.match(session, request_id)
    except RACED:
        # Nothing is lost: the request is in whatever state the winner left it, and the sweep
        # catches one left `matching`.
        return "raced"


def match_request(request_id: str) -> str:
    """Match one transfer request: claim it, then find and hold the earliest bed."""
    claimed = claim_request(request_id)
    return match_claimed(request_id) if claimed == CLAIMED else claimed


def match_waiting(bed_type: str) -> int:
    """Offer freed beds to the waiting queue of a bed type, most urgent and longest waiting first.

    One job for the whole queue (queued once, `dispatch.enqueue.enqueue_waiting_pass`): the
    pools are read once per round and kept in step with the holds placed, each hold in its own
    transaction. A bed that frees while a round runs asks for another round, which this job
    runs itself (up to WAITING_ROUNDS); the maintenance duty catches anything past that.
    """
    placed = 0
    for _ in range(WAITING_ROUNDS):
        waiting_pass_started(bed_type)
        with unit_of_work() as session:
            waiting = matching.waiting_queue(session, bed_type)
            pools = matching.pools_of_type(session, bed_type) if waiting else []
        for request_id in waiting:
            try:
                with unit_of_work() as session:
                    if matching.match(session, request_id, pools=pools) == TransferStatus.HELD:
                        placed += 1
            except RACED:
                continue
        if not waiting or not waiting_pass_wanted(bed_type):
            break
    return placed


def maintain(*, stuck_after_s: float = STUCK_AFTER_S) -> dict[str, int]:
    """Expire due holds, re-enqueue requests a dead worker left behind, retry the waiting queues.

    A periodic duty (`hotline/duties.py`): the scheduler queues it every MAINTENANCE_EVERY_S.
    """
    summary = {"expired": 0, "requeued": 0, "waiting_passes": 0}
    try:
        with unit_of_work() as session:
            summary["expired"] = holds.expire_due_holds(session)
        with unit_of_work() as session:
            stuck = matching.requests_stuck(session, older_than_s=stuck_after_s)
            bed_types = matching.bed_types_waiting(session)
        for request_id in stuck:
            # Matching this long means its worker is gone, whatever its last heartbeat says.
            enqueue_match(request_id, stale_after_s=stuck_after_s)
        summary["requeued"] = len(stuck)
        for bed_type in bed_types:
            enqueue_waiting_pass(bed_type)
        summary["waiting_passes"] = len(bed_types)
        telemetry.mark_sweep_now("dispatch_maintenance")
    except OperationalError as exc:
        log.warning("dispatch maintenance failed (%s); the next run retries", exc.orig)
    return summary


def due_jobs(session: Session, now: datetime) -> list[Due]:
    """Requests that need a worker now (new, refused, or left matching): one match job each.

    Queued once by id, so a request whose job waits or runs is left alone; one whose job was
    lost (Redis flushed, the enqueue after its commit failed, the worker killed) is queued again.
    """
    ids = session.scalars(
        select(TransferRequest.id)
        .where(TransferRequest.status.in_(matching.NEEDS_A_WORKER))
        .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        .limit(DUE_PER_TICK)
    )
    return [match_job(rid) for rid in ids]
