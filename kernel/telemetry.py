"""Figures the metrics endpoint reads from Redis: durations observed by any process, sweep runs.

A duration that happens in an RQ worker (a bed held, a patient admitted) must be visible to
whichever API process Prometheus scrapes. Each observation is one pipelined write to a Redis
hash of cumulative-ready bucket counts, so every process adds to the same histogram and a
scrape reads it in one command. Observations are made after the transaction that caused
them commits (kernel.events.after_commit), so a rolled-back hold is never counted.

Keys (prefix hlm:, outside the routing prefix, so a routing rebuild keeps them):
  hlm:hist:{name}  HASH  "le:<bound>" -> observations in (previous bound, bound]
                         "le:+Inf", "count", "sum"
  hlm:sweeps       HASH  sweep name -> Unix time of its last completed run
  hlm:sweep-ms     LIST  milliseconds of the latest routing sweeps (API), newest first
  hlm:reconcile-ms LIST  milliseconds of the latest reconciliation passes (workers), newest first
"""

from __future__ import annotations

import logging
import math
import time

import redis
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

P = "hlm:"
SWEEPS = P + "sweeps"
SWEEP_TIMES = P + "sweep-ms"
SWEEP_TIMES_KEPT = 2000
RECONCILE_TIMES = P + "reconcile-ms"
RECONCILE_TIMES_KEPT = 200

# Seconds: from a few seconds (a free bed nearby) to a day (waiting for a discharge).
DURATION_BUCKETS: tuple[float, ...] = (
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    43200.0,
    86400.0,
)

# The histograms other domains observe into; the metrics endpoint exposes each.
REQUEST_TO_HOLD = "transfer_request_to_hold_seconds"
REQUEST_TO_ADMISSION = "transfer_request_to_admission_seconds"
HISTOGRAMS = (REQUEST_TO_HOLD, REQUEST_TO_ADMISSION)


def histogram_key(name: str) -> str:
    return f"{P}hist:{name}"


def bucket_field(bound: float) -> str:
    return "le:+Inf" if math.isinf(bound) else f"le:{bound:g}"


def observe(r: redis.Redis, name: str, seconds: float) -> None:
    """Add one observation; a Redis failure is logged, never raised (figures are not records)."""
    seconds = max(seconds, 0.0)
    bound = next((b for b in DURATION_BUCKETS if seconds <= b), math.inf)
    try:
        pipe = r.pipeline(transaction=True)
        pipe.hincrby(histogram_key(name), bucket_field(bound), 1)
        pipe.hincrby(histogram_key(name), "count", 1)
        pipe.hincrbyfloat(histogram_key(name), "sum", seconds)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not record an observation of %s", name)


def read_histogram(raw: dict[str, str]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs ending with +Inf, and the sum, from a histogram hash."""
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in (*DURATION_BUCKETS, math.inf):
        running += float(raw.get(bucket_field(bound), 0))
        buckets.append(("+Inf" if math.isinf(bound) else f"{bound:g}", running))
    return buckets, float(raw.get("sum", 0.0))


def mark_sweep(r: redis.Redis, name: str, at: float | None = None) -> None:
    """Record that a periodic sweep finished a run now (read as its last-run time)."""
    try:
        r.hset(SWEEPS, name, f"{at if at is not None else time.time():.3f}")
    except redis.RedisError:
        log.warning("could not record the run of sweep %s", name)


def record_sweep_time(r: redis.Redis, seconds: float) -> None:
    """Keep the last SWEEP_TIMES_KEPT routing sweep durations in milliseconds, newest first.

    One pipelined write per sweep: how long the 250 ms timers take at a given load is
    read here (bench/bench_scale_api.py) without a profiler.
    """
    _keep_duration(r, SWEEP_TIMES, SWEEP_TIMES_KEPT, seconds)


def record_reconcile_time(r: redis.Redis, seconds: float) -> None:
    """Keep the last RECONCILE_TIMES_KEPT reconciliation pass durations, as for sweeps."""
    _keep_duration(r, RECONCILE_TIMES, RECONCILE_TIMES_KEPT, seconds)


def _keep_duration(r: redis.Redis, key: str, kept: int, seconds: float) -> None:
    try:
        pipe = r.pipeline(transaction=False)
        pipe.lpush(key, f"{seconds * 1000:.2f}")
        pipe.ltrim(key, 0, kept - 1)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not record a duration in %s", key)


def observe_after_commit(session: Session, name: str, seconds: float) -> None:
    """Observe once the session's transaction commits; nothing if it rolls back."""
    from kernel.events import after_commit
    from kernel.redisconn import get_redis

    after_commit(session, lambda: observe(get_redis(), name, seconds))


def mark_sweep_now(name: str) -> None:
    from kernel.redisconn import get_redis

    mark_sweep(get_redis(), name)
