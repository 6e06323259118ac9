"""RQ workers: the queues every domain's background jobs run on, and the worker entry point."""

from __future__ import annotations

import logging

from rq import Queue, Worker

from dispatch import jobs as dispatch_jobs
from hotline import followups, tables
from kernel import logs
from kernel.redisconn import get_redis_bytes
from kernel.settings import get_settings
from triage import jobs as triage_jobs
from triage.areas import jobs as area_jobs

QUEUES = ("dispatch", "followups", "maintenance", "default")

log = logging.getLogger(__name__)


def queue(name: str) -> Queue:
    return Queue(name, connection=get_redis_bytes())


def run_worker(*, burst: bool = False, queues: list[str] | None = None) -> int:
    logs.configure(get_settings().log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    conn = get_redis_bytes()
    # Expire due holds and re-queue stuck requests before taking new work, so nothing
    # waits for the first periodic pass after a restart.
    dispatch_jobs.on_worker_start()
    # Configure the ORM once here, before the worker forks, not in every job's process.
    tables.load_all()
    followups.register()
    # Scheduled follow-ups live in Redis, which keeps nothing across a restart; the
    # sweep re-arms them from the database.
    triage_jobs.arm_sweep(0)
    area_jobs.ensure_scheduled()
    worker = Worker([Queue(q, connection=conn) for q in (queues or QUEUES)], connection=conn)
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    return 0
