"""Call arrivals that come in together are written together.

At a peak, dozens of webhooks arrive within a few milliseconds of each other. Each one
alone costs a worker-thread hop, a connection from the pool, a replay check in Redis and
two commits. Here the arrivals waiting on the event loop go to the worker thread as one
batch: one hop, one connection, one round trip for all their replay checks, and one
commit for all their rows before any of them enters a queue, then one for what routing
decided. At a quiet moment a batch is one arrival and nothing changes.

The promises of the single arrival hold for each call of a batch: its row is committed
before Redis hears of it, and its caller is answered "queued" only once it is in the
queue. A batch that cannot be written whole (a concurrent attempt of the same call
committed first, the database refused) is rolled back and its arrivals are then taken
one at a time, each as the single path takes it; an arrival that fails (a bad body, an
unknown branch) fails alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import redis
from sqlalchemy.orm import Session

from hotline import calls, schemas
from hotline.outcomes import apply_outcome
from hotline.routing.outcome import Outcome
from hotline.vocab import CallStatus
from kernel.batches import Batches, batches_on
from kernel.db import one_connection_session
from kernel.deps import parse_body
from kernel.errors import DomainError, Unauthorized
from kernel.lean import inserts_together
from kernel.security import first_uses
from kernel.settings import get_settings

Result = calls.CallReceipt | BaseException
Arrival = tuple[bytes, str]  # (body, signature), the signature checked already


def batches_for(state: Any, r: redis.Redis) -> Batches[Arrival, calls.CallReceipt]:
    """The app's arrival batches (one per app, created on first use)."""
    s = get_settings()
    return batches_on(
        state,
        "arrival_batches",
        partial(arrive_batch, r),
        size=s.arrival_batch_size,
        running=s.arrival_batches_running,
        gather_s=s.hot_batch_gather_ms / 1000,
    )


def arrive_batch(r: redis.Redis, items: list[Arrival]) -> list[Result]:
    """Receive each (body, signature): a receipt or the error that arrival gets."""
    results: list[Result | None] = [None] * len(items)
    first_use = first_uses(r, [signature for _, signature in items])
    payloads: dict[int, schemas.IncomingCall] = {}
    for i, (body, _) in enumerate(items):
        if not first_use[i]:
            results[i] = Unauthorized("this signature was used already", code="replayed_signature")
            continue
        try:
            payloads[i] = parse_body(schemas.IncomingCall, body)
        except Exception as exc:
            results[i] = exc
    if payloads:
        with one_connection_session() as session:
            for i, result in receive_together(session, r, payloads).items():
                results[i] = result
    answered = [x for x in results if x is not None]
    assert len(answered) == len(items), "every arrival of a batch gets its answer"
    return answered


def receive_together(
    session: Session, r: redis.Redis, arrivals: dict[int, schemas.IncomingCall]
) -> dict[int, Result]:
    """calls.receive for many arrivals at once, on one session: committed rows first (one
    commit), then each into its queue, then what routing decided (one commit)."""
    if len(arrivals) == 1:
        ((i, one),) = arrivals.items()
        return {i: _alone(session, r, one)}
    results: dict[int, Result] = {}
    # Each call id and each caller once to a batch: the rows are written together at the
    # end, so an arrival could not see an earlier one of the same batch (a retry of the
    # same call; the same caller's call just recorded as abandoned, which makes a
    # returning caller). Those are taken after the batch, one at a time.
    taken: list[int] = []
    later: list[int] = []
    pids: set[str] = set()
    callers: set[str] = set()
    for i, p in arrivals.items():
        if p.provider_call_id in pids or p.caller in callers:
            later.append(i)
            continue
        pids.add(p.provider_call_id)
        callers.add(p.caller)
        taken.append(i)
    fresh: list[tuple[int, Any]] = []
    try:
        with inserts_together(session):
            asked = [(arrivals[i].provider_call_id, arrivals[i].caller) for i in taken]
            probes = calls.arrival_probes(session, asked)
            for i in taken:
                p = arrivals[i]
                probe = probes[p.provider_call_id]
                if probe.known is not None:
                    later.append(i)  # a retry of a recorded call: the single path answers it
                    continue
                try:
                    call = calls.record_arrival(
                        session, p.provider_call_id, p.caller, p.digits, probe, write_soon=True
                    )
                except DomainError as exc:  # an unknown branch: refused before any write
                    results[i] = exc
                    continue
                fresh.append((i, call))
        session.commit()
    except Exception:
        # Another process committed one of these calls first, or the database refused:
        # nothing of the batch is written. Take each the way a single arrival is taken.
        session.rollback()
        return {i: results.get(i) or _alone(session, r, arrivals[i]) for i in arrivals}
    # Into their queues, in one round trip. The decisions of the whole batch are written
    # as ONE decision, so that its rows are locked in the global order (offers, calls,
    # doctors; see hotline/outcomes.py) as every other writer locks them: two decisions
    # written one after the other in one transaction could deadlock with another process.
    decided: list[tuple[int, Any, Outcome]] = []
    alone: list[tuple[int, Any]] = []
    queueing: list[tuple[int, Any]] = []
    for i, call in fresh:
        if call.status in (CallStatus.REJECTED, CallStatus.ABANDONED):
            alone.append((i, call))  # never queued: route_call tells the gateway
        else:
            queueing.append((i, call))
    try:
        outcomes = calls.queue_many_in_redis(r, [call for _, call in queueing])
    except Exception as exc:  # committed, not queued: each retry queues its call
        outcomes = [exc] * len(queueing)
    for (i, call), outcome in zip(queueing, outcomes, strict=True):
        if isinstance(outcome, Exception):
            results[i] = outcome  # committed, not queued: the retry queues it
        elif outcome.result in calls.NOT_QUEUED:
            alone.append((i, call))  # full, gone or queued meanwhile: route_call decides
        else:
            decided.append((i, call, outcome))
    alone.sort(key=lambda item: item[0])
    try:
        with inserts_together(session):
            apply_outcome(session, r, merged([o for _, _, o in decided]), actor="routing")
            for i, call, outcome in decided:
                results[i] = calls.queued(session, call, outcome)
        session.commit()
    except Exception as exc:
        # Queued, not recorded: each caller is told to retry; the retry finds its call in
        # the queue, and the reconciliation pass records what routing decided.
        session.rollback()
        for i, _, _ in decided:
            results[i] = exc
    for i, call in alone:
        results[i] = _attempt(session, partial(calls.route_call, session, r, call))
    for i in sorted(later):
        results[i] = _alone(session, r, arrivals[i])
    return results


def merged(outcomes: list[Outcome]) -> Outcome:
    """Many decisions as one, each list in decision order."""
    one = Outcome(result="ok")
    for o in outcomes:
        one.offers += o.offers
        one.offers_closed += o.offers_closed
        one.calls += o.calls
        one.doctors += o.doctors
    return one


def _alone(session: Session, r: redis.Redis, p: schemas.IncomingCall) -> Result:
    receive = partial(calls.receive, session, r, provider_call_id=p.provider_call_id)
    return _attempt(session, partial(receive, caller=p.caller, digits=p.digits))


def _attempt(session: Session, step: Callable[[], calls.CallReceipt]) -> Result:
    """One arrival's step in a transaction of its own: its receipt, or its error."""
    try:
        receipt = step()
        session.commit()
        return receipt
    except Exception as exc:
        session.rollback()
        return exc
