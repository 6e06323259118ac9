"""RQ jobs of dispatch: match a request, work the waiting queue, and the maintenance sweep.

Jobs take ids, open their own unit of work, and are safe to run twice or concurrently: every
state change underneath is a conditional UPDATE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dispatch import holds, matching
from dispatch.enqueue import (
    DISPATCH_QUEUE,
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
from kernel.duties import Due, withdraw_queued
from kernel.errors import Conflict
from kernel.settings import get_settings

log = logging.getLogger(__name__)

# A request still `requested`/`matching` this long after its last change lost its worker.
STUCK_AFTER_S = 30.0
# Rounds one waiting-queue job runs at most while beds keep freeing under it.
WAITING_ROUNDS = 5
MAINTENANCE_EVERY_S = 5.0
DUE_PER_TICK = 500
# What a worker loses to another worker or an operator who moved the request first.
RACED = (Conflict, IntegrityError, StaleDataError)


@dataclass
class Batch:
    """What a match job claimed: its own request first, then others of the same bed type."""

    ids: list[str] = field(default_factory=list)
    bed_type: str = ""
    # For more than one request: one read of the bed type's pools, kept in step with the
    # batch's holds (a request alone reads the pools near it by the location index).
    pools: list[matching.PoolRow] | None = None


def claim_request(request_id: str, *, take_over: bool = False, more: int = 0) -> Batch:
    """Mark the request as being matched, and up to `more` others of its bed type that no
    worker has taken up yet, after releasing due holds (their beds may be the ones they need);
    committed on its own, so a worker killed after this leaves them where the stuck sweep
    looks. The others' queued jobs are withdrawn once the claim commits: their work is this
    batch's now. An empty batch: the request needs no matching (ended, placed, or another
    worker's).
    """
    batch = Batch()
    try:
        with unit_of_work() as session:
            holds.expire_due_holds(session)
            req = matching.claim_for_matching(session, request_id, take_over=take_over)
            if req is None:
                return batch
            if req.status != TransferStatus.MATCHING:
                more = 0  # waiting for a bed: the waiting pass, not a batch, matches it
            others = matching.claim_more(
                session, besides=request_id, bed_type=req.bed_type, limit=more
            )
            batch.bed_type = req.bed_type
            if others:
                batch.pools = matching.pools_of_type(session, req.bed_type)
    except RACED:
        return batch
    batch.ids = [request_id, *(c.id for c in others)]
    if others:
        try:
            withdraw_queued(DISPATCH_QUEUE, [match_job(c.id).job_id for c in others])
        except RedisError as exc:
            # Those jobs run and find their requests claimed: nothing is matched twice.
            log.warning("queued matches not withdrawn (%s); they will find their work done", exc)
    return batch


def match_claimed(request_id: str, *, pools: list[matching.PoolRow] | None = None) -> str:
    """Find and hold the earliest bed for a claimed request, or queue it."""
    try:
        with unit_of_work() as session:
            return matching.match(session, request_id, pools=pools)
    except RACED:
        # Nothing is lost: the request is in whatever state the winner left it, and the sweep
        # catches one left `matching`.
        return "raced"


def match_request(request_id: str, take_over: bool = False) -> str:
    """Match a transfer request and, in the same job, a batch of others of its bed type still
    waiting for a worker: claim them all, then hold the earliest bed for each, most urgent
    first, in one transaction (`matching.match_together`); what that leaves, each in its own.
    Returns the outcome of the job's own request.

    Under a backlog one job does the work of many (one claim, one read of the pools, one
    transaction of holds, one job's overhead); with no backlog the batch is the request
    alone. `take_over` (the stuck sweep's) also takes a request left `matching` by a worker
    that went quiet.
    """
    batch = claim_request(request_id, take_over=take_over, more=get_settings().match_batch - 1)
    if not batch.ids:
        return "skipped"
    return match_batch(batch)[request_id]


def match_batch(batch: Batch) -> dict[str, str]:
    """Hold beds for what `claim_request` claimed; the outcome of each request, by id."""
    outcomes: dict[str, str] = {}
    rest = batch.ids
    if batch.pools is not None:
        try:
            with unit_of_work() as session:
                placed = matching.match_together(session, batch.ids, batch.bed_type, batch.pools)
            outcomes = dict.fromkeys(placed.held, TransferStatus.HELD)
            rest = placed.rest
        except RACED:
            # A request changed under the batch and nothing of it was written; the snapshot
            # counted holds that rolled back, so each request now reads the pools afresh.
            batch.pools = None
    for rid in rest:
        outcomes[rid] = match_claimed(rid, pools=batch.pools)
    return outcomes


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
            enqueue_match(request_id, stale_after_s=stuck_after_s, take_over=True)
        summary["requeued"] = len(stuck)
        for bed_type in bed_types:
            enqueue_waiting_pass(bed_type)
        summary["waiting_passes"] = len(bed_types)
        telemetry.mark_sweep_now("dispatch_maintenance")
    except OperationalError as exc:
        log.warning("dispatch maintenance failed (%s); the next run retries", exc.orig)
    return summary


def due_jobs(session: Session, now: datetime) -> list[Due]:
    """Requests that need a worker now: one match job each for those new or refused, and for
    those left `matching` longer than STUCK_AFTER_S (their worker's claim has lapsed).

    Queued once by id, so a request whose job waits or runs is left alone; one whose job was
    lost (Redis flushed, the enqueue after its commit failed, the worker killed) is queued again.
    A request a batch claimed is `matching` without a job of its own: the batch's worker has it.
    """
    lapsed = now - timedelta(seconds=STUCK_AFTER_S)
    rows = session.execute(
        select(TransferRequest.id, TransferRequest.status)
        .where(
            or_(
                TransferRequest.status.in_(matching.NOT_TAKEN_UP),
                and_(
                    TransferRequest.status == TransferStatus.MATCHING,
                    TransferRequest.status_at <= lapsed,
                ),
            )
        )
        .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
        .limit(DUE_PER_TICK)
    )
    return [match_job(rid, take_over=status == TransferStatus.MATCHING) for rid, status in rows]
