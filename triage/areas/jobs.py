"""RQ job of areas: recompute every ward's epidemic level (a periodic duty of the workers' scheduler)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from kernel import telemetry
from kernel.db import unit_of_work
from triage.areas import levels

log = logging.getLogger(__name__)

DUTY = "epidemic-levels"


def recompute_levels() -> dict[str, int]:
    """Recompute all wards; running it twice stores nothing new (unchanged inputs only move checked_at)."""
    counts = {"changed": 0, "unchanged": 0}
    try:
        with unit_of_work() as session:
            counts = levels.recompute_levels(session)
        telemetry.mark_sweep_now("epidemic_levels")
    except OperationalError as exc:
        log.warning("epidemic level recompute failed (%s); the next run retries", exc.orig)
    return counts
