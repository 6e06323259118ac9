"""Work handed to the dispatch workers: a request to match, a waiting queue to try again.

Jobs are named by their import path, so the rules that hand work over need not import the jobs
module (which imports them). The after-commit forms send nothing if the transaction rolls back.
"""

from __future__ import annotations

from functools import partial

from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import TransferRequest
from dispatch.vocab import TransferStatus
from kernel import events
from kernel.duties import STALE_JOB_S, Due, enqueue_once
from kernel.redisconn import get_redis_bytes

DISPATCH_QUEUE = "dispatch"
MAINTENANCE_QUEUE = "maintenance"
# An ask for a waiting-queue pass that no job read in this long is moot (the duty re-asks).
WANTED_TTL_S = 600


def queue(name: str) -> Queue:
    return Queue(name, connection=get_redis_bytes())


def match_job(request_id: str, *, take_over: bool = False) -> Due:
    """The one job that matches a request: its id is the request's, so it is queued once.

    With `take_over` (the stuck sweep's) it also takes a request another worker claimed and
    never finished.
    """
    args: tuple[str, ...] | tuple[str, bool] = (request_id, True) if take_over else (request_id,)
    return Due(DISPATCH_QUEUE, "dispatch.jobs.match_request", args, f"match-{request_id}")


def enqueue_match(
    request_id: str, *, stale_after_s: float = STALE_JOB_S, take_over: bool = False
) -> bool:
    """Queue the request's match unless it is queued or running; if Redis fails here, the
    scheduler finds the request still unmatched in the database and queues it."""
    return enqueue_once(match_job(request_id, take_over=take_over), stale_after_s=stale_after_s)


def _wanted_key(bed_type: str) -> str:
    return f"dispatch:waiting-pass-wanted:{bed_type}"


def waiting_pass_job(bed_type: str) -> Due:
    """The one job that works a bed type's waiting queue: queued once, however many beds free."""
    return Due(
        DISPATCH_QUEUE, "dispatch.jobs.match_waiting", (bed_type,), f"waiting-{bed_type}", 300
    )


def enqueue_waiting_pass(bed_type: str) -> None:
    """Ask for a pass over the waiting queue: queue its job unless it waits already.

    The ask is also a Redis flag the running job reads when it finishes a round: a bed freed
    while it runs (its job id is taken, so nothing new is queued) gets another round. Should the
    flag land just as the job ends, the maintenance duty's pass (every few seconds) offers it.
    """
    get_redis_bytes().set(_wanted_key(bed_type), b"1", ex=WANTED_TTL_S)
    enqueue_once(waiting_pass_job(bed_type))


def waiting_pass_started(bed_type: str) -> None:
    """A round begins: the asks so far are answered by it."""
    get_redis_bytes().delete(_wanted_key(bed_type))


def waiting_pass_wanted(bed_type: str) -> bool:
    """Was another round asked for since the last one began?"""
    return bool(get_redis_bytes().exists(_wanted_key(bed_type)))


def match_after_commit(session: Session, request_id: str) -> None:
    events.after_commit(session, lambda: enqueue_match(request_id))


def waiting_pass_after_commit(session: Session, bed_type: str) -> None:
    """Offer a freed bed to the waiting queue once this commits (if anyone is waiting)."""
    waiting_passes_after_commit(session, {bed_type})


def waiting_passes_after_commit(session: Session, bed_types: set[str]) -> None:
    """The same for several bed types, with one read of the waiting requests for all."""
    if not bed_types:
        return
    waiting = session.scalars(
        select(TransferRequest.bed_type)
        .where(
            TransferRequest.status == TransferStatus.WAITING_FOR_BED,
            TransferRequest.bed_type.in_(sorted(bed_types)),
        )
        .distinct()
    ).all()
    for bed_type in waiting:
        events.after_commit(session, partial(enqueue_waiting_pass, bed_type))
