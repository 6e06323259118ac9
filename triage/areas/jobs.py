"""RQ job of areas: recompute every ward's epidemic level, rescheduling itself on the maintenance queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Queue
from sqlalchemy.exc import OperationalError

from kernel import telemetry
from kernel.db import unit_of_work
from kernel.redisconn import get_redis, get_redis_bytes
from triage.areas import levels
from triage.areas.policy import area_policy

log = logging.getLogger(__name__)

MAINTENANCE_QUEUE = "maintenance"
_LEASE_KEY = "triage:epidemic-levels:scheduled"


def _queue() -> Queue:
    return Queue(MAINTENANCE_QUEUE, connection=get_redis_bytes())


def recompute_levels(*, reschedule: bool = True) -> dict[str, int]:
    """Recompute all wards; running it twice stores nothing new (unchanged inputs only move checked_at)."""
    counts = {"changed": 0, "unchanged": 0}
    try:
        with unit_of_work() as session:
            counts = levels.recompute_levels(session)
        telemetry.mark_sweep_now("epidemic_levels")
    except OperationalError:
        log.exception("epidemic level recompute failed; the next run retries")
    finally:
        if reschedule:
            get_redis().delete(_LEASE_KEY)
            ensure_scheduled()
    return counts


def ensure_scheduled() -> bool:
    """Keep one recompute scheduled (the dispatch maintenance pattern): a lease key stops
    duplicates, and its expiry heals a schedule lost with Redis or a killed worker."""
    every = area_policy().recompute_interval_s
    if not get_redis().set(_LEASE_KEY, "1", nx=True, ex=int(every * 3) + 1):
        return False
    _queue().enqueue_in(timedelta(seconds=every), recompute_levels, result_ttl=60)
    return True
