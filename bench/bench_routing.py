"""Routing benchmark: call arrivals through the HTTP API and arrival-to-offer latency at consoles.

Run: .venv/bin/python -m bench.bench_routing [--consoles 300] [--calls 300]

Uses DATABASE_URL / REDIS_URL when set, else the embedded default in a temporary folder.
Prints, from the same run, the machine's own references: a trivial FastAPI endpoint's
requests/s under the same client load, and redis-benchmark running one small Lua script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _setup_env() -> None:
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="hotline-bench-"))
    os.environ.setdefault("HOTLINE_JWT_SECRET", "bench-jwt-secret-0123456789abcdef")
    os.environ.setdefault("HOTLINE_TELEPHONY_SECRET", "bench-telephony-secret-012345")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: str, port: int, env: dict[str, str], factory: bool = True) -> Any:
    import httpx

    args = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if factory:
        args.append("--factory")
    proc = subprocess.Popen(args, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{app} did not start")


def prepare(consoles: int) -> list[str]:
    """Fresh schema, the demo branches, and `consoles` doctors; returns their tokens."""
    from hotline import service
    from hotline.demo import seed_branches
    from kernel import accounts, migrate
    from kernel.db import unit_of_work
    from kernel.redisconn import get_redis
    from kernel.security import issue_token

    migrate.upgrade()
    get_redis().flushdb()
    tokens = []
    one_hash = accounts.hash_password("bench-password")  # argon2 once, not per account
    run = uuid.uuid4().hex[:6]
    with unit_of_work() as session:
        seed_branches(session)
        for i in range(consoles):
            user = accounts.User(
                username=f"bench-{run}-{i}",
                password_hash=one_hash,
                role="doctor",
                display_name=f"bench {i}",
            )
            session.add(user)
            session.flush()
            service.create_doctor(
                session, user_id=user.id, full_name=f"Bench {i}", branches={"3": 1}
            )
            tokens.append(issue_token(user))
    return tokens


async def load(
    url: str,
    requests: list[tuple[str, bytes, dict[str, str]]],
    concurrency: int,
    on_sent: Any = None,
) -> tuple[float, list[float]]:
    import httpx

    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, bytes, dict[str, str]]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                path, body, headers = queue.get_nowait()
                t0 = time.perf_counter()
                if on_sent:
                    on_sent(body, t0)
                if body:
                    res = await client.post(path, content=body, headers=headers)
                else:
                    res = await client.get(path, headers=headers)
                res.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(requests) / elapsed, latencies


async def routing_run(url: str, tokens: list[str], calls: int, concurrency: int) -> dict[str, Any]:
    import httpx
    import websockets

    from kernel.security import sign_body

    offered_at: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    pcid_to_call: dict[str, str] = {}
    sockets = []
    for t in tokens:
        ws = await websockets.connect(
            url.replace("http", "ws", 1) + f"/ws/console?token={t}", max_queue=None
        )
        sockets.append(ws)
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for t in tokens:
            res = await c.put(
                "/api/v1/doctors/me/presence",
                json={"state": "available"},
                headers={"Authorization": f"Bearer {t}"},
            )
            res.raise_for_status()

    async def reader(ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "offer":
                offered_at[msg["call_id"]] = time.perf_counter()

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    requests = []
    for i in range(calls):
        pcid = f"bench-{uuid.uuid4().hex}"
        body = json.dumps({"provider_call_id": pcid, "caller": f"09{i:08d}", "digits": "3"})
        requests.append(
            (
                "/api/v1/telephony/calls",
                body.encode(),
                {
                    "X-Hotline-Signature": sign_body(body.encode()),
                    "Content-Type": "application/json",
                },
            )
        )

    def on_sent(body: bytes, t0: float) -> None:
        sent_at[json.loads(body)["provider_call_id"]] = t0

    rate, http_lat = await load(url, requests, concurrency, on_sent)
    # Map provider ids to call ids via the receipts: re-post is idempotent and cheap.
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for _path, body, headers in requests:
            res = await c.post("/api/v1/telephony/calls", content=body, headers=headers)
            pcid_to_call[json.loads(body)["provider_call_id"]] = res.json()["call_id"]
    deadline = time.monotonic() + 10
    while len(offered_at) < calls and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for t in readers:
        t.cancel()
    for ws in sockets:
        await ws.close()
    to_offer = [
        offered_at[pcid_to_call[p]] - t0
        for p, t0 in sent_at.items()
        if pcid_to_call.get(p) in offered_at
    ]
    return {"rate": rate, "http": http_lat, "to_offer": to_offer, "offered": len(offered_at)}


def redis_lua_reference(redis_url: str) -> float | None:
    exe = shutil.which("redis-benchmark")
    if not exe:
        return None
    from urllib.parse import urlparse

    u = urlparse(redis_url)
    out = subprocess.run(
        [
            exe,
            "-h",
            u.hostname or "127.0.0.1",
            "-p",
            str(u.port or 6379),
            "-n",
            "100000",
            "-q",
            "eval",
            "return redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])",
            "1",
            "bench:z",
            "1",
            "m",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    # "eval ...: 123456.79 requests per second, p50=..."
    for part in out.replace("\r", "\n").split("\n"):
        if "requests per second" in part:
            return float(part.split(":")[-1].split("requests")[0].strip().split()[-1])
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--consoles", type=int, default=300)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    _setup_env()
    from kernel.redisconn import redis_url

    env = {**os.environ, "REDIS_URL": redis_url(), "HOTLINE_OFFER_TIMEOUT_S": "60"}
    tokens = prepare(args.consoles)

    port = free_port()
    api = start_server("hotline.app:create_app", port, env)
    try:
        result = asyncio.run(
            routing_run(f"http://127.0.0.1:{port}", tokens, args.calls, args.concurrency)
        )
        api_rss = rss_mb(api.pid)
    finally:
        api.terminate()
        api.wait(10)

    ref_port = free_port()
    ref = start_server("bench.trivial_app:app", ref_port, env, factory=False)
    try:
        n = max(args.calls * 4, 1000)
        ref_rate, ref_lat = asyncio.run(
            load(f"http://127.0.0.1:{ref_port}", [("/ping", b"", {})] * n, args.concurrency)
        )
    finally:
        ref.terminate()
        ref.wait(10)
    lua = redis_lua_reference(env["REDIS_URL"])

    to_offer_ms = [x * 1000 for x in result["to_offer"]]
    backend = "postgres" if os.environ.get("DATABASE_URL") else "sqlite (embedded)"
    print(
        f"routing benchmark  backend={backend}  consoles={args.consoles}  calls={args.calls}"
        f"  client concurrency={args.concurrency}  cores={os.cpu_count()}"
    )
    print(
        f"  call arrivals        {result['rate']:8.1f} /s   http p50 "
        f"{pct(result['http'], 50) * 1000:6.1f} ms  p99 {pct(result['http'], 99) * 1000:6.1f} ms"
    )
    if to_offer_ms:
        print(
            f"  arrival -> offer     p50 {pct(to_offer_ms, 50):6.1f} ms  p99 "
            f"{pct(to_offer_ms, 99):6.1f} ms  mean {statistics.mean(to_offer_ms):6.1f} ms"
            f"  ({result['offered']}/{args.calls} offers seen at consoles)"
        )
    print(f"  API process RSS      {api_rss:8.1f} MB")
    print(
        f"  reference: trivial FastAPI endpoint {ref_rate:8.1f} req/s  p99 "
        f"{pct(ref_lat, 99) * 1000:6.1f} ms"
    )
    print(f"  ratio arrivals / trivial endpoint   {result['rate'] / ref_rate:6.2f}")
    if lua:
        print(f"  reference: redis-benchmark EVAL (one ZADD) {lua:10.0f} /s")
    else:
        print("  reference: redis-benchmark not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
