"""The RQ worker class `hotline worker` runs: jobs in the worker's own process by default.

RQ's forking `Worker` starts a process per job; with jobs that take a few milliseconds the fork,
a fresh database connection and statement compilation per job cost more than the work. The
default here is RQ's `SimpleWorker`, which runs each job in the worker's process, plus what the
fork gave for free:

- a heartbeat while a job runs (the forking worker's parent beats for its child): a job whose
  heartbeat stops is taken for lost by `kernel.duties.enqueue_once` and queued again, so a
  long job must keep beating or it would be run twice at once;
- nothing a job leaves behind reaches the next one: every job opens its own unit of work
  (`kernel.db.unit_of_work`), which rolls back and closes its session on any error, and the
  worker logs an error if a job leaves a database connection checked out.

A killed worker (SIGKILL, a crashed machine) loses the job it was running exactly as a killed
work-horse did: its heartbeat stops, and the sweeps queue the work again from the database.
`HOTLINE_WORKER_CLASS=fork` selects RQ's forking worker.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue
from rq.worker import BaseWorker, WorkerStatus

from kernel.settings import get_settings

log = logging.getLogger(__name__)

WORKER_CLASSES = ("simple", "fork")


class InProcessWorker(SimpleWorker):
    """RQ's SimpleWorker with a heartbeat thread for the running job."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job, execution)
                except redis.RedisError as exc:  # the next beat tries again
                    log.warning("heartbeat for job %s failed (%s)", job.id, exc)

        beater = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
        beater.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beater.join()
            _check_no_connection_left(job.id)
        self.set_state(WorkerStatus.IDLE)


def _check_no_connection_left(job_id: str) -> None:
    """A job must return every database connection it took: say so loudly when one did not."""
    from kernel.db import get_engine  # the engine is made on first use, not at import

    pool = get_engine().pool
    checked_out = getattr(pool, "checkedout", lambda: 0)()
    if checked_out:
        log.error("job %s left %d database connection(s) checked out", job_id, checked_out)


def worker_class() -> type[BaseWorker]:
    """The worker class the settings name (`HOTLINE_WORKER_CLASS`: simple or fork)."""
    return Worker if get_settings().worker_class == "fork" else InProcessWorker
