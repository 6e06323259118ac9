"""Observability figures: the cost of one /metrics scrape at volume, and the request-path cost of
the HTTP metrics and access log against the same route without them, on the same run.

    .venv/bin/python -m bench.bench_metrics [--calls 10000] [--hospitals 500] [--seconds 10]

Scrape: fills a scratch embedded database (or DATABASE_URL / REDIS_URL when set) with N waiting
calls (rows and their Redis queue entries), completed calls, doctors, hospitals with three bed
pools each and transfer requests, then times the collector in-process (and counts its SQL
statements) and GET /metrics on a real uvicorn process.

Overhead: wrk against a one-route app with and without kernel.http_observe's middleware, and
against the real app's /healthz with and without it, each server logging as `hotline serve`
does (JSON, info level), interleaved twice.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
DISTRICTS = [f"Quận {n}" for n in range(1, 13)] + [
    "Bình Thạnh",
    "Gò Vấp",
    "Phú Nhuận",
    "Tân Bình",
    "Tân Phú",
    "Bình Tân",
    "Thủ Đức",
    "Hóc Môn",
    "Củ Chi",
    "Bình Chánh",
    "Nhà Bè",
    "Cần Giờ",
]


# -- the apps wrk measures ---------------------------------------------------------------
def plain_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def observed_app() -> FastAPI:
    from kernel import http_observe

    app = plain_app()
    http_observe.install(app)
    return app


def real_app_without_observe() -> FastAPI:
    from hotline.app import create_app
    from kernel.http_observe import ObserveMiddleware

    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ObserveMiddleware]
    return app


def serve(target: str, port: int) -> None:
    import uvicorn

    from kernel import logs

    uvicorn.run(
        target,
        factory=True,
        host="127.0.0.1",
        port=port,
        log_config=logs.config("info"),
        access_log=False,
        ws="websockets-sansio",
    )


# -- helpers -----------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(target: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_metrics", "--serve", target, "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/openapi.json", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{target} did not start")


def _wrk(url: str, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


# -- filling the database ----------------------------------------------------------------
def fill(n_calls: int, n_hospitals: int, n_history: int, n_doctors: int, n_transfers: int) -> None:
    from sqlalchemy import insert, select

    from dispatch.models import BedPool, Hospital, TransferRequest
    from hotline.demo import seed_branches
    from hotline.models import Branch, Call, Doctor
    from hotline.routing import keys
    from kernel.accounts import User
    from kernel.db import new_id, unit_of_work
    from kernel.redisconn import get_redis

    rnd = random.Random(1022)
    now = datetime.now(UTC)
    with unit_of_work() as s:
        seed_branches(s)
    with unit_of_work() as s:
        branches = list(s.execute(select(Branch.id, Branch.digit)).all())
    r = get_redis()
    tag = new_id()[:8]
    waiting: list[dict[str, Any]] = []
    pipe = r.pipeline(transaction=False)
    for n in range(n_calls):
        bid, digit = branches[n % len(branches)]
        queued = now - timedelta(seconds=rnd.uniform(0, 1800))
        cid = new_id()
        waiting.append(
            {
                "id": cid,
                "provider_call_id": f"bench-{tag}-{n}",
                "caller": f"09{rnd.randrange(10**8):08d}",
                "branch_id": bid,
                "status": "queued",
                "priority": 4,
                "queued_at": queued,
                "created_at": queued,
            }
        )
        ms = int(queued.timestamp() * 1000)
        pipe.zadd(keys.queue(digit), {cid: keys.score(4, ms)})
        pipe.zadd(keys.waiting(digit), {cid: ms})
    pipe.execute()
    history: list[dict[str, Any]] = []
    for n in range(n_history):
        bid, _ = branches[n % len(branches)]
        queued = now - timedelta(seconds=rnd.uniform(0, 7 * 86400))
        answered = n % 5 != 0
        wait = timedelta(seconds=rnd.uniform(2, 120))
        history.append(
            {
                "id": new_id(),
                "provider_call_id": f"bench-{tag}-h{n}",
                "caller": f"09{rnd.randrange(10**8):08d}",
                "branch_id": bid,
                "status": "completed" if answered else "abandoned",
                "priority": 4,
                "queued_at": queued,
                "created_at": queued,
                "answered_at": queued + wait if answered else None,
                "abandoned_at": None if answered else queued + wait,
                "ended_at": queued + wait * 3,
            }
        )
    hospitals: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    for n in range(n_hospitals):
        hid = new_id()
        hospitals.append(
            {
                "id": hid,
                "name": f"Bench hospital {tag} {n}",
                "tier": 1 + n % 3,
                "district": DISTRICTS[n % len(DISTRICTS)],
                "lat": 10.7 + rnd.uniform(0, 0.2),
                "lon": 106.6 + rnd.uniform(0, 0.2),
                "capabilities": ["oxygen", "icu"],
            }
        )
        for bed_type in ("general", "oxygen", "icu"):
            total = rnd.randrange(10, 200)
            occupied = rnd.randrange(0, total)
            pools.append(
                {
                    "id": new_id(),
                    "hospital_id": hid,
                    "bed_type": bed_type,
                    "total": total,
                    "occupied": occupied,
                    "as_of": now - timedelta(seconds=rnd.uniform(0, 12 * 3600)),
                }
            )
    users = [
        {
            "id": new_id(),
            "username": f"bench-{tag}-dr{n}",
            "password_hash": "x",
            "role": "doctor",
            "display_name": f"Dr {n}",
            "active": True,
        }
        for n in range(n_doctors)
    ]
    doctors = [
        {
            "id": new_id(),
            "user_id": u["id"],
            "full_name": u["display_name"],
            "presence": rnd.choice(["offline", "available", "on_call", "wrap_up", "away"]),
        }
        for u in users
    ]
    requests = [
        {
            "id": new_id(),
            "patient_ref": f"bench-{tag}-p{n}",
            "live_patient_ref": f"bench-{tag}-p{n}",
            "bed_type": "icu" if n % 2 else "oxygen",
            "urgency": ("emergency", "urgent", "routine")[n % 3],
            "urgency_rank": n % 3,
            "pickup_lat": 10.77,
            "pickup_lon": 106.7,
            "status": "waiting_for_bed",
            "requested_by": "bench",
            "requested_at": now - timedelta(seconds=rnd.uniform(0, 3600)),
            "status_at": now,
            "version": 1,
        }
        for n in range(n_transfers)
    ]
    with unit_of_work() as s:
        for model, rows in (
            (Call, waiting),
            (Call, history),
            (Hospital, hospitals),
            (BedPool, pools),
            (User, users),
            (Doctor, doctors),
            (TransferRequest, requests),
        ):
            for i in range(0, len(rows), 2000):
                s.execute(insert(model), rows[i : i + 2000])


def time_scrapes(n: int) -> tuple[list[float], int, int, int]:
    from sqlalchemy import event

    from hotline import metrics
    from kernel.db import get_engine

    statements: list[str] = []
    started: dict[int, float] = {}
    took: dict[str, list[float]] = {}

    def count(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)
        started[id(cursor)] = time.perf_counter()

    def done(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        key = " ".join(statement.split())[:60]
        took.setdefault(key, []).append((time.perf_counter() - started[id(cursor)]) * 1000)

    metrics.exposition()  # warm: the ORM compiles each statement once
    times = []
    event.listen(get_engine(), "before_cursor_execute", count)
    event.listen(get_engine(), "after_cursor_execute", done)
    for _ in range(n):
        t = time.perf_counter()
        body = metrics.exposition()
        times.append((time.perf_counter() - t) * 1000)
    event.remove(get_engine(), "before_cursor_execute", count)
    event.remove(get_engine(), "after_cursor_execute", done)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    slowest = sorted(took.items(), key=lambda kv: -statistics.median(kv[1]))[:3]
    for key, ms in slowest:
        print(f"  statement median {statistics.median(ms):.1f} ms: {key}")
    return times, len(statements) // n, len(body), series


def asgi_cost(with_middleware: bool, n: int) -> float:
    """Microseconds of CPU per request through the ASGI app alone (no network, no client)."""
    import asyncio

    app = observed_app() if with_middleware else plain_app()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ping",
        "raw_path": b"/ping",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    async def run() -> float:
        for _ in range(200):  # warm up
            await app(dict(scope), receive, send)
        t = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.process_time() - t) / n * 1e6

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--hospitals", type=int, default=500)
    ap.add_argument("--history", type=int, default=20_000)
    ap.add_argument("--doctors", type=int, default=200)
    ap.add_argument("--transfers", type=int, default=1_000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--scrape-only", action="store_true", help="skip the wrk part")
    ap.add_argument("--serve", default="")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0

    os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))
    os.environ.setdefault("HOTLINE_RUN_SWEEPER", "false")
    from kernel import migrate
    from kernel.redisconn import redis_url
    from kernel.settings import get_settings

    env = {**os.environ, "REDIS_URL": redis_url()}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    backend = "PostgreSQL" if get_settings().database_url else "embedded SQLite"
    migrate.upgrade()
    t = time.perf_counter()
    fill(args.calls, args.hospitals, args.history, args.doctors, args.transfers)
    print(
        f"filled ({backend}): {args.calls} waiting calls, {args.history} past calls, "
        f"{args.hospitals} hospitals x 3 pools, {args.doctors} doctors, {args.transfers} "
        f"transfer requests in {time.perf_counter() - t:.1f} s"
    )

    times, per_scrape, size, series = time_scrapes(args.scrapes)
    print(
        f"scrape in-process: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
        f"({args.scrapes} scrapes), {per_scrape} SQL statements each, {size} bytes, {series} series"
    )
    api, api_url = _start("hotline.app:create_app", env)
    try:
        with httpx.Client(base_url=api_url, timeout=60) as http:
            http.get("/metrics")
            over_http = []
            for _ in range(args.scrapes):
                t = time.perf_counter()
                res = http.get("/metrics")
                over_http.append((time.perf_counter() - t) * 1000)
                assert res.status_code == 200
            waiting = sum(
                float(line.rsplit(" ", 1)[1])
                for line in res.text.splitlines()
                if line.startswith("hotline_calls_waiting{")
            )
        print(
            f"scrape over HTTP: median {statistics.median(over_http):.1f} ms, max "
            f"{max(over_http):.1f} ms; calls waiting reported: {waiting:.0f}"
        )
    finally:
        api.terminate()
        api.wait(30)

    if args.scrape_only:
        return 0
    import logging

    from kernel import logs

    logs.configure("INFO")  # the access line is written as `hotline serve` writes it ...
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115  (... to nowhere)
    rounds = {False: [], True: []}  # type: dict[bool, list[float]]
    for _ in range(5):
        for flag in (False, True):
            rounds[flag].append(asgi_cost(flag, 2000))
    plain, observed = statistics.median(rounds[False]), statistics.median(rounds[True])
    print(
        f"in-process ASGI /ping (CPU per request, median of 5 x 2000): without {plain:.0f} us, "
        f"with {observed:.0f} us; the middleware, metrics and access line add {observed - plain:.0f} us"
    )

    pairs = (
        (
            "trivial /ping",
            "bench.bench_metrics:plain_app",
            "bench.bench_metrics:observed_app",
            "/ping",
        ),
        (
            "real app /healthz",
            "bench.bench_metrics:real_app_without_observe",
            "hotline.app:create_app",
            "/healthz",
        ),
    )
    for name, without, with_, path in pairs:
        results: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
        for _ in range(2):
            for label, target in (("without", without), ("with", with_)):
                proc, url = _start(target, env)
                try:
                    _wrk(url + path, 2)  # warm-up
                    results[label].append(_wrk(url + path, args.seconds))
                finally:
                    proc.terminate()
                    proc.wait(30)
        summary = {}
        for label, runs in results.items():
            summary[label] = {
                k: statistics.median(run[k] for run in runs) for k in ("rps", "p50_ms", "p99_ms")
            }
            bad = sum(run["non2xx"] for run in runs)
            print(
                f"{name} {label:>7} metrics: {summary[label]['rps']:.0f} req/s, p50 "
                f"{summary[label]['p50_ms']:.2f} ms, p99 {summary[label]['p99_ms']:.2f} ms"
                + (f" ({bad:.0f} non-2xx)" if bad else "")
                + "  [runs: "
                + ", ".join(f"{run['rps']:.0f}" for run in runs)
                + " req/s]"
            )
        ratio = summary["with"]["rps"] / summary["without"]["rps"]
        per_request_us = (1 / summary["with"]["rps"] - 1 / summary["without"]["rps"]) * 1e6
        print(
            f"{name}: with/without throughput {ratio:.2f}; added cost {per_request_us:.0f} us "
            f"of server time per request (wrk -t2 -c16, {args.seconds:.0f} s, median of 2)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
