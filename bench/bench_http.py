"""HTTP benchmark with wrk: call arrivals and bed updates against a trivial FastAPI POST.

Run: .venv/bin/python -m bench.bench_http [--workers 1] [--duration 10] [--connections 50]

Each figure is wrk's, against one server set up as `hotline serve` runs it (uvicorn,
the same process count); the trivial endpoint is served the same way in the same run,
and the ratio is printed. So is the arrival's floor (bench/floor_app.py): the hotline's
application answering a signed webhook with no Redis and no database, the most an
arrival could reach on this framework. Every request is unique: arrivals are signed webhooks with
fresh timestamps and their own provider_call_id (the replay cache refuses a signature
twice), bed updates each carry a later as_of for their hospital. Uses DATABASE_URL /
REDIS_URL when set (SCRATCH servers: the schema is dropped), else the embedded default.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import floor_app
from bench.wrk import Request, Server, WrkResult, run, trivial_posts

BED_TYPES = ("general", "oxygen", "icu")


def setup_env() -> dict[str, str]:
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="hotline-bench-"))
    os.environ.setdefault("HOTLINE_JWT_SECRET", "bench-jwt-secret-0123456789abcdef")
    os.environ.setdefault("HOTLINE_TELEPHONY_SECRET", "bench-telephony-secret-012345")
    from kernel.redisconn import redis_url

    return {**os.environ, "REDIS_URL": redis_url()}


def fresh_schema() -> None:
    from sqlalchemy import text

    from kernel import migrate
    from kernel.db import get_engine
    from kernel.redisconn import get_redis

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade()
    get_redis().flushdb()


def seed(n_hospitals: int) -> list[tuple[str, str]]:
    """The demo branches (queues unbounded) and hospitals with pools; (hospital id, API key)."""
    from sqlalchemy import select

    from dispatch import beds, hospitals
    from hotline.demo import seed_branches
    from hotline.models import Branch
    from kernel import accounts
    from kernel.db import unit_of_work

    rng = random.Random(1022)
    now = datetime.now(UTC) - timedelta(seconds=60)
    out = []
    with unit_of_work() as s:
        seed_branches(s)
        for branch in s.scalars(select(Branch)):
            branch.max_queue = 10_000_000
        for i in range(n_hospitals):
            h = hospitals.create_hospital(
                s,
                name=f"Bench hospital {i:03d}",
                tier=rng.choice((2, 3)),
                lat=10.70 + rng.random() * 0.2,
                lon=106.60 + rng.random() * 0.2,
                actor="bench",
            )
            counts = [beds.BedCounts(t, 40, rng.randint(0, 30), 0) for t in BED_TYPES]
            beds.update_beds(s, hospital_id=h.id, counts=counts, as_of=now, actor="bench")
            _, key = accounts.create_api_key(s, hospital_id=h.id, name="bench")
            out.append((h.id, key))
    return out


def arrivals(n: int, path: str = "/api/v1/telephony/calls") -> list[Request]:
    """Signed call webhooks, each its own call and caller (`path`: the floor's route too)."""
    from kernel.security import signed_headers

    run_id = uuid.uuid4().hex[:8]
    reqs = []
    for i in range(n):
        body = json.dumps(
            {"provider_call_id": f"wrk-{run_id}-{i}", "caller": f"09{i:08d}", "digits": "3"},
            separators=(",", ":"),
        ).encode()
        headers = {**signed_headers("POST", path, body), "Content-Type": "application/json"}
        reqs.append(Request("POST", path, body, headers))
    return reqs


def bed_updates(n: int, hospitals: list[tuple[str, str]]) -> list[Request]:
    """Round-robin over hospitals and bed types, each a later as_of than the one before."""
    rng = random.Random(13)
    start = datetime.now(UTC) - timedelta(seconds=30)
    reqs = []
    for i in range(n):
        hid, key = hospitals[i % len(hospitals)]
        bed_type = BED_TYPES[(i // len(hospitals)) % len(BED_TYPES)]
        body = json.dumps(
            {
                "total": 40,
                "occupied": rng.randint(0, 40),
                "out_of_service": 0,
                "as_of": (start + timedelta(microseconds=i)).isoformat(),
            },
            separators=(",", ":"),
        ).encode()
        headers = {"X-Api-Key": key, "Content-Type": "application/json"}
        reqs.append(Request("PUT", f"/api/v1/hospitals/{hid}/beds/{bed_type}", body, headers))
    return reqs


def measure(
    *, workers: int, duration: float, connections: int, hospitals: int, per_second: int
) -> dict[str, WrkResult]:
    env = setup_env()
    fresh_schema()
    keyed = seed(hospitals)
    n = int(per_second * duration)
    kw: dict[str, Any] = {"connections": connections, "duration_s": duration}
    results: dict[str, WrkResult] = {}
    sample = arrivals(1)[0].body
    with Server("bench.trivial_app:app", env, workers=workers, factory=False) as ref:
        results["trivial"] = run(ref.url, list(trivial_posts(n, sample)), server_pid=ref.pid, **kw)
    with Server("bench.floor_app:create_app", env, workers=workers) as floor:
        floor_posts = arrivals(n, floor_app.PATH)
        results["floor"] = run(floor.url, floor_posts, server_pid=floor.pid, **kw)
    with Server("hotline.app:create_app", env, workers=workers) as api:
        results["arrivals"] = run(api.url, arrivals(n), server_pid=api.pid, **kw)
        results["beds"] = run(api.url, bed_updates(n, keyed), server_pid=api.pid, **kw)
    return results


def report(results: dict[str, WrkResult], workers: int, connections: int) -> None:
    backend = "postgres" if os.environ.get("DATABASE_URL") else "sqlite (embedded)"
    ref = results["trivial"].rate
    print(
        f"HTTP with wrk  backend={backend}  server processes={workers}"
        f"  wrk -t2 -c{connections}  cores={os.cpu_count()}"
    )
    print(results["trivial"].row("trivial FastAPI POST (reference)"))
    print(results["floor"].row("arrival's floor (no Redis, no DB)"))
    print(results["arrivals"].row("call arrivals (signed webhook)"))
    print(results["beds"].row("bed updates (API key)"))
    print(f"  ratio floor / trivial        {results['floor'].rate / ref:6.3f}")
    print(f"  ratio arrivals / trivial     {results['arrivals'].rate / ref:6.3f}")
    print(f"  ratio bed updates / trivial  {results['beds'].rate / ref:6.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--hospitals", type=int, default=500)
    ap.add_argument(
        "--per-second", type=int, default=6000, help="requests prepared per second of run"
    )
    args = ap.parse_args(argv)
    results = measure(
        workers=args.workers,
        duration=args.duration,
        connections=args.connections,
        hospitals=args.hospitals,
        per_second=args.per_second,
    )
    report(results, args.workers, args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
