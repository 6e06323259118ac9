"""RQ workers: the queues every domain's background jobs run on, and the worker entry point."""

from __future__ import annotations

import logging
import time

import redis
from rq import Queue

from hotline import duties, followups, tables
from kernel import logs
from kernel.duties import JOB_HEARTBEAT_S
from kernel.redisconn import get_redis_bytes
from kernel.rqworker import worker_class
from kernel.scheduler import MAX_BACKOFF_S, Scheduler
from kernel.settings import get_settings

QUEUES = ("dispatch", "followups", "maintenance", "default")

log = logging.getLogger(__name__)


def queue(name: str) -> Queue:
    return Queue(name, connection=get_redis_bytes())


class _OneLinePerOutage(logging.Filter):
    """RQ logs every failed reconnection; keep the first of an outage, drop the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "could not connect to Redis" not in record.getMessage():
            return True
        seen, self.down = self.down, True
        return not seen

    def back(self, what: str) -> None:
        if what == "Redis":
            self.down = False


def _wait_for_redis(conn: redis.Redis) -> None:
    delay = 0.25
    while True:
        try:
            conn.ping()
            return
        except redis.RedisError:
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


def run_worker(*, burst: bool = False, queues: list[str] | None = None) -> int:
    logs.configure(get_settings().log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    quiet = _OneLinePerOutage()
    logging.getLogger("rq.worker").addFilter(quiet)
    conn = get_redis_bytes()
    # Configure the ORM once here, not in every job (or every forked job process).
    tables.load_all()
    followups.register()
    # Every worker runs the scheduler loop; one at a time holds the role and queues what the
    # database says is due (hold expiry, re-matching, follow-ups, the periodic duties).
    scheduler = Scheduler(duties.tick, on_back=quiet.back).start()
    try:
        while True:
            # Started, or RQ gave up on an error (Redis went away mid-call): begin once it
            # answers. RQ's worker talks to Redis as it is made; a worker started during a
            # Redis failover used to exit there.
            _wait_for_redis(conn)
            worker = None
            try:
                worker = worker_class()(
                    [Queue(q, connection=conn) for q in (queues or QUEUES)], connection=conn
                )
                worker.job_monitoring_interval = JOB_HEARTBEAT_S
                worker.max_connection_wait_time = MAX_BACKOFF_S
                worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
            except redis.RedisError as exc:
                # Raised outside RQ's own retry loop (made, registering, tearing down).
                log.warning("worker: Redis unreachable (%s); waiting", exc)
            if burst or (worker is not None and worker._shutdown_requested_date is not None):
                return 0
    finally:
        scheduler.stop()
