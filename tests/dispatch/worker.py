"""A real RQ worker for the dispatch tests, of `hotline worker`'s class; optionally one that stalls.

Run as `python -m tests.dispatch.worker QUEUES [STALL_S]`. With STALL_S, every match job claims
its request, and the batch with it (and commits the claim), and then sleeps that long before it
looks for a bed: the moment the crash tests kill the worker at.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rq import Queue

from dispatch import jobs  # imported once, as `hotline worker` does
from kernel.redisconn import get_redis_bytes
from kernel.rqworker import worker_class


def stall_after_claim(seconds: float) -> None:
    claim_request = jobs.claim_request

    def stalled(request_id: str, **kwargs: Any) -> jobs.Batch:
        batch = claim_request(request_id, **kwargs)
        time.sleep(seconds)
        return batch

    # match_request looks claim_request up in its module at each call, so the job sees this.
    jobs.claim_request = stalled  # type: ignore[assignment]


def main(queues: str, stall_s: float = 0.0) -> None:
    if stall_s > 0:
        stall_after_claim(stall_s)
    connection = get_redis_bytes()
    worker_class()(
        [Queue(q, connection=connection) for q in queues.split(",")], connection=connection
    ).work(burst=True, logging_level="WARNING")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
