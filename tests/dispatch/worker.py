"""A real RQ worker for the dispatch tests, of `hotline worker`'s class; optionally one that stalls.

Run as `python -m tests.dispatch.worker QUEUES [STALL_S]`. With STALL_S, every match job claims
its request (and commits the claim) and then sleeps that long before it looks for a bed: the
moment the crash test kills the worker at.
"""

from __future__ import annotations

import sys
import time

from rq import Queue

from dispatch import jobs  # imported once, as `hotline worker` does
from kernel.redisconn import get_redis_bytes
from kernel.rqworker import worker_class


def stall_after_claim(seconds: float) -> None:
    match_claimed = jobs.match_claimed

    def stalled(request_id: str) -> str:
        time.sleep(seconds)
        return match_claimed(request_id)

    # match_request looks match_claimed up in its module at each call, so the job sees this.
    jobs.match_claimed = stalled  # type: ignore[assignment]


def main(queues: str, stall_s: float = 0.0) -> None:
    if stall_s > 0:
        stall_after_claim(stall_s)
    connection = get_redis_bytes()
    worker_class()(
        [Queue(q, connection=connection) for q in queues.split(",")], connection=connection
    ).work(burst=True, logging_level="WARNING")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
