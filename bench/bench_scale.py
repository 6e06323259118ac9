"""Scale benchmark: 10,000 waiting calls and 5,000 doctors online, at the routing layer.

Run: .venv/bin/python -m bench.bench_scale [--calls 10000] [--doctors 5000]

Drives the routing scripts in Redis directly (the layer every API process shares):
5,000 doctors sign in to one branch, 10,000 calls arrive (the first 5,000 are offered
at once), every console heart-beats, and the 250 ms sweep runs repeatedly. Prints the
decision latency of an arrival that is offered and of one that waits, the sweep's
time, the heartbeat round and Redis memory. Uses REDIS_URL when set (a SCRATCH db: it
is flushed), else the embedded Redis. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--doctors", type=int, default=5_000)
    ap.add_argument("--sweeps", type=int, default=40)
    args = ap.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="hotline-bench-"))
    from hotline.routing import keys
    from hotline.routing.router import router_for
    from kernel.redisconn import get_redis

    r = get_redis()
    r.flushdb()
    router = router_for(r)
    timeout_ms = 600_000  # offers stay open for the run: the sweep measures a steady state
    base_mem = int(r.info("memory")["used_memory"])

    doctors = [f"doc-{i:05d}" for i in range(args.doctors)]
    t0 = time.perf_counter()
    for d in doctors:
        router.set_presence(
            doctor_id=d, state="available", branches={"3": 1}, timeout_ms=timeout_ms
        )
    sign_in_s = time.perf_counter() - t0

    offered_ms: list[float] = []
    waiting_ms: list[float] = []
    now_ms = router.now_ms()
    run = uuid.uuid4().hex[:6]
    for i in range(args.calls):
        t = time.perf_counter()
        out = router.enqueue(
            call_id=f"call-{run}-{i:05d}",
            branch="3",
            priority=4,
            queued_ms=now_ms + i,
            caller=f"09{i:08d}",
            max_queue=10_000_000,
            timeout_ms=timeout_ms,
        )
        (offered_ms if out.offers else waiting_ms).append((time.perf_counter() - t) * 1000)

    t = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    stamp = router.now_ms()
    for d in doctors:
        pipe.zadd(keys.HEARTBEATS, {d: stamp}, xx=True)
    pipe.execute()
    heartbeat_round_ms = (time.perf_counter() - t) * 1000

    sweep_ms = []
    for _ in range(args.sweeps):
        t = time.perf_counter()
        router.sweep(timeout_ms=timeout_ms, heartbeat_timeout_ms=600_000, autopause_after=3)
        sweep_ms.append((time.perf_counter() - t) * 1000)

    mem_mb = (int(r.info("memory")["used_memory"]) - base_mem) / 2**20
    waiting = r.zcard(keys.waiting("3"))
    print(
        f"scale benchmark  doctors={args.doctors}  calls={args.calls}  cores={os.cpu_count()}"
        f"  (routing scripts in Redis, called from one client)"
    )
    print(f"  doctors signed in        {args.doctors / sign_in_s:8.0f} /s")
    print(
        f"  arrival offered at once  p50 {pct(offered_ms, 50):6.2f} ms  p99 "
        f"{pct(offered_ms, 99):6.2f} ms  ({len(offered_ms)} calls)"
    )
    if waiting_ms:
        print(
            f"  arrival that waits       p50 {pct(waiting_ms, 50):6.2f} ms  p99 "
            f"{pct(waiting_ms, 99):6.2f} ms  ({len(waiting_ms)} calls; {waiting} in the queue)"
        )
    print(f"  heartbeat round ({args.doctors} consoles, one pipeline) {heartbeat_round_ms:7.1f} ms")
    print(
        f"  sweep with everyone online   p50 {pct(sweep_ms, 50):6.2f} ms  max "
        f"{max(sweep_ms):6.2f} ms  ({args.sweeps} sweeps)"
    )
    print(f"  Redis memory for the state   {mem_mb:7.1f} MB")
    r.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
