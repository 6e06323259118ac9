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
    from sqlalchemy import select, text

    from hotline import doctors
    from hotline.demo import seed_branches
    from hotline.models import Branch
    from kernel import accounts, migrate
    from kernel.db import get_engine, unit_of_work
    from kernel.redisconn import get_redis
    from kernel.security import issue_token

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        # A clean schema: doctors left from an earlier run would be restored as
        # available (without consoles) and take the offers.
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade()
    get_redis().flushdb()
    tokens = []
    one_hash = accounts.hash_password("bench-password")  # argon2 once, not per account
    run = uuid.uuid4().hex[:6]
    with unit_of_work() as session:
        seed_branches(session)
        # Offered-but-unanswered calls count against the queue limit; lift it so the
        # benchmark measures routing, not the rejection of a full queue.
        for branch in session.scalars(select(Branch)):
            branch.max_queue = 100_000
        for i in range(consoles):
            user = accounts.User(
                username=f"bench-{run}-{i}",
                password_hash=one_hash,
                role="doctor",
                display_name=f"bench {i}",
            )
            session.add(user)
            session.flush()
            doctors.create_doctor(
                session, user_id=user.id, full_name=f"Bench {i}", branches={"3": 1}
            )
            tokens.append(issue_token(user))
    return tokens


async def load(
    url: str,
    requests: list[tuple[str, bytes, dict[str, str]]],
    concurrency: int,
    on_sent: Any = None,
    on_done: Any = None,
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
                if on_done:
                    on_done(body, res)
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(requests) / elapsed, latencies


def _arrival(i: int) -> tuple[str, bytes, dict[str, str]]:
    from kernel.security import signed_headers

    pcid = f"bench-{uuid.uuid4().hex}"
    body = json.dumps({"provider_call_id": pcid, "caller": f"09{i:08d}", "digits": "3"}).encode()
    path = "/api/v1/telephony/calls"
    headers = {**signed_headers("POST", path, body), "Content-Type": "application/json"}
    return path, body, headers


async def routing_run(
    url: str, tokens: list[str], calls: int, paced: int, concurrency: int
) -> dict[str, Any]:
    import httpx
    import websockets

    offered_at: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    pcid_to_call: dict[str, str] = {}
    sockets = []
    for t in tokens:
        ticket = httpx.post(
            url + "/api/v1/ws-tickets", headers={"Authorization": f"Bearer {t}"}
        ).json()["ticket"]
        ws = await websockets.connect(
            url.replace("http", "ws", 1) + f"/ws/console?ticket={ticket}", max_queue=None
        )
        sockets.append(ws)

    async def reader(ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "offer":
                offered_at[msg["call_id"]] = time.perf_counter()

    async def heartbeat(ws: Any) -> None:
        # As a real console does: a silent console is taken out of routing.
        while True:
            await asyncio.sleep(3)
            await ws.send(json.dumps({"type": "heartbeat"}))

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    readers += [asyncio.create_task(heartbeat(ws)) for ws in sockets]
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for t in tokens:
            res = await c.put(
                "/api/v1/doctors/me/presence",
                json={"state": "available"},
                headers={"Authorization": f"Bearer {t}"},
            )
            res.raise_for_status()

    requests = [_arrival(i) for i in range(calls)]

    def on_sent(body: bytes, t0: float) -> None:
        sent_at[json.loads(body)["provider_call_id"]] = t0

    def on_done(body: bytes, res: Any) -> None:
        # The answer names the call: a webhook cannot be sent twice (replay cache).
        pcid_to_call[json.loads(body)["provider_call_id"]] = res.json()["call_id"]

    rate, http_lat = await load(url, requests, concurrency, on_sent, on_done)
    call_of: dict[str, str] = {}
    paced_sent: dict[str, float] = {}

    async def post(c: Any, req: tuple[str, bytes, dict[str, str]]) -> None:
        path, body, headers = req
        t0 = time.perf_counter()
        res = await c.post(path, content=body, headers=headers)
        pcid = json.loads(body)["provider_call_id"]
        call_of[pcid] = res.json()["call_id"]
        paced_sent[pcid] = t0

    # Paced: arrivals at half the saturated rate, so latency is service time, not queueing.
    paced_rate = max(rate / 2, 1.0)
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        start = time.perf_counter()
        tasks = []
        for i in range(paced):
            delay = start + i / paced_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(c, _arrival(calls + i))))
        await asyncio.gather(*tasks)
    deadline = time.monotonic() + 10
    while len(offered_at) < calls + paced and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for t in readers:
        t.cancel()
    for ws in sockets:
        await ws.close()

    def latencies(sent: dict[str, float], ids: dict[str, str]) -> list[float]:
        return [offered_at[ids[p]] - t0 for p, t0 in sent.items() if ids.get(p) in offered_at]

    return {
        "rate": rate,
        "http": http_lat,
        "to_offer": latencies(sent_at, pcid_to_call),
        "paced_rate": paced_rate,
        "paced_to_offer": latencies(paced_sent, call_of),
        "offered": len(offered_at),
    }


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
    ap.add_argument("--consoles", type=int, default=400)
    ap.add_argument("--calls", type=int, default=200, help="arrivals as fast as possible")
    ap.add_argument("--paced", type=int, default=200, help="arrivals at half that rate")
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
            routing_run(
                f"http://127.0.0.1:{port}", tokens, args.calls, args.paced, args.concurrency
            )
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
            f"{pct(to_offer_ms, 99):6.1f} ms  (saturated: includes queueing at the API)"
        )
    paced_ms = [x * 1000 for x in result["paced_to_offer"]]
    if paced_ms:
        print(
            f"  paced at {result['paced_rate']:5.1f}/s: arrival -> offer p50 "
            f"{pct(paced_ms, 50):6.1f} ms  p99 {pct(paced_ms, 99):6.1f} ms  "
            f"({result['offered']}/{args.calls + args.paced} offers seen at consoles)"
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
