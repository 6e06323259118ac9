"""The duties of the workers' scheduler: every periodic job and every due row, in one tick.

`hotline worker` runs `kernel.scheduler.Scheduler` with `tick` below; whichever worker holds
the scheduling role runs it every second. The tick asks the database (never Redis) what is
due and queues it once by id (`kernel.duties.enqueue_once`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch import jobs as dispatch_jobs
from kernel import duties
from kernel.db import unit_of_work
from kernel.duties import Due, enqueue_once
from kernel.settings import get_settings
from triage import jobs as triage_jobs
from triage.areas import jobs as area_jobs
from triage.areas.policy import area_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    queue: str
    func: str  # "module.function", run with no arguments
    every_s: Callable[[], float]


PERIODIC: dict[str, Periodic] = {
    # Hold expiry, requests a dead worker left matching, the waiting queues.
    "dispatch-maintenance": Periodic(
        "maintenance", "dispatch.jobs.maintain", lambda: dispatch_jobs.MAINTENANCE_EVERY_S
    ),
    area_jobs.DUTY: Periodic(
        "maintenance",
        "triage.areas.jobs.recompute_levels",
        lambda: float(area_policy().recompute_interval_s),
    ),
    # Redis's routing state and the database's record compared and repaired (hotline/reconcile.py).
    "routing-reconcile": Periodic(
        "maintenance",
        "hotline.reconcile.run_duty",
        lambda: get_settings().reconcile_interval_s,
    ),
    # Transfers dispatch could not take when the doctor decided.
    "triage-transfers": Periodic(
        "followups",
        "triage.jobs.retry_queued_transfers",
        lambda: get_settings().followup_sweep_interval_s,
    ),
}

# Rows that say when they are due, per domain.
DUE_ROWS: tuple[Callable[[Session, datetime], list[Due]], ...] = (
    triage_jobs.due_jobs,
    dispatch_jobs.due_jobs,
)


def run(name: str) -> Any:
    """The job of a periodic duty: run it and note when it ran and how it went."""
    duty = PERIODIC[name]
    module, _, func = duty.func.rpartition(".")
    outcome: Any = None
    try:
        outcome = getattr(importlib.import_module(module), func)()
    finally:
        with unit_of_work() as session:
            duties.record_run(session, name, "failed" if outcome is None else str(outcome))
    return outcome


def periodic_job(name: str) -> Due:
    return Due(PERIODIC[name].queue, "hotline.duties.run", (name,), f"duty-{name}", timeout=600)


def tick(session: Session, now: datetime) -> int:
    """Queue what is due now; how many jobs were queued."""
    queued = 0
    every = {name: duty.every_s() for name, duty in PERIODIC.items()}
    for name in duties.due_duties(session, every, now):
        if enqueue_once(periodic_job(name)):
            queued += 1
        # Queued now, or already waiting or running: either way not due again for a while.
        duties.mark_queued(session, name, every[name], now)
    for source in DUE_ROWS:
        for job in source(session, now):
            queued += enqueue_once(job)
    return queued
