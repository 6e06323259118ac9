"""End-to-end scale benchmark: thousands of consoles online and thousands of calls waiting, all
through the real API.

Run: .venv/bin/python -m bench.bench_scale_api [--doctors 5000] [--calls 10000] [--seconds 60]

Seeds `--doctors` doctor accounts, then brings every one online the way a console does: a
single-use websocket ticket, the console websocket, PUT presence available, and a heartbeat
every 3 s (console.js). The consoles are simulated cheaply: many websockets per process,
`--console-procs` processes, and the `--probe` consoles in one more of their own. Most
doctors serve branch 3; `--probe` of them serve branch 4.
Branch 3 gets one signed webhook arrival per doctor there plus `--calls` more, so every
branch-3 doctor accepts an offer and `--calls` calls stay waiting. Then, for `--seconds`:
branch-3 consoles complete calls at `--churn` per second (wrap-up, next offer from the
queue, accept), while probe calls arrive at branch 4 at `--probe-rate` per second and the
time from sending the webhook to the offer reaching the probe console is measured: the
offer latency with everyone online and the queues full.

A `hotline worker` runs beside the API, as in a deployment: its scheduler queues the
reconciliation pass, which compares every live call and doctor with Redis.

Prints offer latency (p50/p99/max), the app's own sweep and reconciliation durations
(hlm:sweep-ms, hlm:reconcile-ms), Redis used_memory, the RSS and CPU of the API processes and
the worker's CPU, websockets held, and from the same run the references: a trivial FastAPI
endpoint under wrk and redis-benchmark EVAL.

Uses DATABASE_URL / REDIS_URL when set (SCRATCH servers: the schema and the Redis db are
wiped), else the embedded default in a temporary folder, where the defaults are smaller
(--doctors 1000 --calls 2000): SQLite writes one transaction at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import bench_http
from bench.bench_routing import pct, redis_lua_reference
from bench.wrk import Server, run, trivial_posts

HEARTBEAT_S = 3.0  # hotline/static/console.js HEARTBEAT_MS
LOAD_BRANCH, PROBE_BRANCH = "3", "4"


def setup_env() -> dict[str, str]:
    return {
        **bench_http.setup_env(),
        # Offers stay open for the run (probe consoles never answer theirs), wrap-up is short
        # so completed doctors take the next waiting call within the measured window.
        "HOTLINE_OFFER_TIMEOUT_S": "900",
        "HOTLINE_WRAPUP_S": "2",
    }


def prepare(doctors: int, probe: int) -> list[tuple[str, str]]:
    """Fresh schema, the demo branches (queues unbounded), and the doctors: (token, branch)."""
    from sqlalchemy import select, text

    from hotline import doctors as doctor_accounts
    from hotline.demo import seed_branches
    from hotline.models import Branch
    from kernel import accounts, migrate
    from kernel.db import get_engine, unit_of_work
    from kernel.redisconn import get_redis
    from kernel.security import issue_token

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade()
    get_redis().flushdb()
    one_hash = accounts.hash_password("bench-password")  # argon2 once, not per account
    out = []
    with unit_of_work() as session:
        seed_branches(session)
        for branch in session.scalars(select(Branch)):
            branch.max_queue = 10_000_000
        for i in range(doctors):
            branch = PROBE_BRANCH if i < probe else LOAD_BRANCH
            user = accounts.User(
                username=f"scale-{i:05d}",
                password_hash=one_hash,
                role="doctor",
                display_name=f"scale {i}",
            )
            session.add(user)
            session.flush()
            doctor_accounts.create_doctor(
                session, user_id=user.id, full_name=f"Scale {i}", branches={branch: 1}
            )
            out.append((issue_token(user), branch))
    return out


# --------------------------------------------------------------------------- consoles


def console_worker(
    url: str,
    consoles: list[tuple[str, str]],
    churn_per_s: float,
    ready: Any,
    go: Any,
    stop: Any,
    results: Any,
) -> None:
    """One process holding many consoles; reports (offers seen, counts) when told to stop."""
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    results.put(asyncio.run(_consoles(url, consoles, churn_per_s, ready, go, stop)))


async def _consoles(
    url: str,
    consoles: list[tuple[str, str]],
    churn_per_s: float,
    ready: Any,
    go: Any,
    stop: Any,
) -> dict[str, Any]:
    import httpx
    import websockets

    ws_url = url.replace("http", "ws", 1) + "/ws/console?ticket="
    offers_seen: dict[str, float] = {}  # probe call id -> monotonic time of the offer
    on_call: dict[str, str] = {}  # token -> call id held (branch-3 consoles)
    counts = {"offers": 0, "accepted": 0, "completed": 0, "errors": 0, "open": 0, "closed": 0}
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    client = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
    tasks: list[asyncio.Task[None]] = []

    async def accept(token: str, offer_id: str) -> None:
        try:
            res = await client.post(
                f"/api/v1/offers/{offer_id}/accept", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError:
            counts["errors"] += 1
            return
        if res.status_code == 200:
            counts["accepted"] += 1
            on_call[token] = res.json()["id"]
        else:
            counts["errors"] += 1

    async def reader(ws: Any, token: str, branch: str) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") != "offer":
                    continue
                counts["offers"] += 1
                if branch == PROBE_BRANCH:
                    offers_seen[msg["call_id"]] = time.monotonic()
                else:
                    tasks.append(asyncio.create_task(accept(token, msg["offer_id"])))
        except websockets.ConnectionClosed:
            pass
        counts["closed"] += 1

    async def heartbeat(ws: Any) -> None:
        await asyncio.sleep(random.random() * HEARTBEAT_S)
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.send('{"type":"heartbeat"}')
                await asyncio.sleep(HEARTBEAT_S)

    sockets = []
    gate = asyncio.Semaphore(16)

    async def open_console(token: str, branch: str) -> None:
        try:
            await _open(token, branch)
        except (httpx.HTTPError, websockets.WebSocketException, OSError):
            counts["errors"] += 1  # reported: a console that never came online

    async def _open(token: str, branch: str) -> None:
        async with gate:
            auth = {"Authorization": f"Bearer {token}"}
            ticket = (await client.post("/api/v1/ws-tickets", headers=auth)).json()["ticket"]
            ws = await websockets.connect(ws_url + ticket, max_queue=None, open_timeout=60)
            sockets.append(ws)
            counts["open"] += 1
            tasks.append(asyncio.create_task(reader(ws, token, branch)))
            tasks.append(asyncio.create_task(heartbeat(ws)))
            res = await client.put(
                "/api/v1/doctors/me/presence", json={"state": "available"}, headers=auth
            )
            res.raise_for_status()

    await asyncio.gather(*(open_console(t, b) for t, b in consoles))
    ready.release()
    while not go.is_set():
        await asyncio.sleep(0.1)

    # Steady churn: branch-3 doctors finish calls at a fixed rate; each then wraps up and
    # takes the next waiting call (an offer pushed to its console, accepted above).
    async def complete(token: str, call_id: str) -> None:
        try:
            res = await client.post(
                f"/api/v1/calls/{call_id}/complete",
                json={"disposition": "advice_given", "notes": ""},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TransportError:
            counts["errors"] += 1
            return
        if res.status_code == 200:
            counts["completed"] += 1
        else:
            counts["errors"] += 1

    start = time.monotonic()
    n = 0
    while not stop.is_set():
        if churn_per_s > 0 and on_call:
            due = int((time.monotonic() - start) * churn_per_s)
            while n < due and on_call:
                token = random.choice(list(on_call))
                tasks.append(asyncio.create_task(complete(token, on_call.pop(token))))
                n += 1
        await asyncio.sleep(0.05)
    held = sum(1 for ws in sockets if ws.state.name == "OPEN")
    for t in tasks:
        t.cancel()
    for ws in sockets:
        await ws.close()
    await client.aclose()
    return {"offers_seen": offers_seen, "counts": counts, "held": held}


# --------------------------------------------------------------------------- arrivals


def arrival(i: int, branch: str, run: str) -> tuple[str, bytes, dict[str, str]]:
    from kernel.security import signed_headers

    path = "/api/v1/telephony/calls"
    body = json.dumps(
        {"provider_call_id": f"scale-{run}-{i}", "caller": f"09{i:08d}", "digits": branch},
        separators=(",", ":"),
    ).encode()
    return (
        body.decode(),
        body,
        {**signed_headers("POST", path, body), "Content-Type": "application/json"},
    )


async def send_arrival(client: Any, i: int, branch: str, run: str) -> Any:
    """POST one arrival; a connection the server closed as it was reused is tried again,
    signed afresh (the same provider call id: the API answers a repeat with the same call)."""
    import httpx

    for attempt in range(3):
        _, body, headers = arrival(i, branch, run)
        try:
            return await client.post("/api/v1/telephony/calls", content=body, headers=headers)
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def flood(url: str, n: int, run: str, concurrency: int) -> float:
    """n branch-3 arrivals as fast as the API takes them; returns arrivals per second."""
    import httpx

    todo = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for i in todo:
                res = await send_arrival(client, i, LOAD_BRANCH, run)
                res.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


async def probes(url: str, n: int, rate: float, run: str) -> dict[str, float]:
    """n branch-4 arrivals at a steady rate; returns call id -> monotonic time sent."""
    import httpx

    sent: dict[str, float] = {}

    async def post(client: Any, i: int) -> None:
        t0 = time.monotonic()
        res = await send_arrival(client, i, PROBE_BRANCH, run)
        res.raise_for_status()
        sent[res.json()["call_id"]] = t0

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        start = time.monotonic()
        tasks = []
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(client, 10_000_000 + i)))
        await asyncio.gather(*tasks)
    return sent


# --------------------------------------------------------------------------- processes


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
    return out


def cpu_s(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def pauses(url: str) -> dict[tuple[str, str], float]:
    """The API's GC-pause and loop-lag histograms, summed over its processes: (series, le) -> n."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str], float] = {}
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name not in ("hotline_gc_pause_seconds", "hotline_event_loop_lag_seconds"):
            continue
        for s in family.samples:
            key = family.name + ":" + s.labels.get("generation", "")
            if s.name.endswith("_bucket"):
                out[(key, s.labels["le"])] = out.get((key, s.labels["le"]), 0) + s.value
            elif s.name.endswith("_sum"):
                out[(key, "sum")] = out.get((key, "sum"), 0) + s.value
    return out


def pause_lines(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> list[str]:
    """Per series, over the measured window: count, total, and the bucket bound of p99 and max."""
    lines = []
    for key in sorted({k for k, _ in after}):
        bounds = sorted(
            (float(le), after[(key, le)] - before.get((key, le), 0))
            for k, le in after
            if k == key and le != "sum"
        )
        n = bounds[-1][1] if bounds else 0
        if not n:
            continue
        total = after.get((key, "sum"), 0) - before.get((key, "sum"), 0)
        p99 = next(b for b, c in bounds if c >= 0.99 * n)
        top = next(b for b, c in bounds if c >= n)
        below = max((b for b, c in bounds if c < n), default=0.0)
        lines.append(
            f"  {key:<34} n={int(n):6d}  total {total * 1000:8.1f} ms  p99 <= {p99 * 1000:g} ms"
            f"  max in ({below * 1000:g}, {top * 1000:g}] ms"
        )
    return lines


def wait_until(what: str, check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    sqlite = not os.environ.get("DATABASE_URL")
    ap = argparse.ArgumentParser()
    ap.add_argument("--doctors", type=int, default=1000 if sqlite else 5000)
    ap.add_argument("--calls", type=int, default=2000 if sqlite else 10_000)
    ap.add_argument("--probe", type=int, default=None, help="probe consoles (branch 4)")
    ap.add_argument("--probe-rate", type=float, default=5.0, help="probe arrivals per second")
    ap.add_argument("--churn", type=float, default=5.0, help="calls completed per second")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2, help="API server processes")
    ap.add_argument("--console-procs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32, help="webhook clients")
    args = ap.parse_args(argv)
    probe = args.probe if args.probe is not None else max(1, min(500, args.doctors // 10))
    n_probes = min(probe, int(args.probe_rate * args.seconds))
    loaded = args.doctors - probe

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = setup_env()
    from hotline.routing import keys
    from kernel import telemetry
    from kernel.redisconn import get_redis

    t = time.monotonic()
    consoles = prepare(args.doctors, probe)
    r = get_redis()
    base_mem = int(r.info("memory")["used_memory"])
    print(f"seeded {args.doctors} doctors in {time.monotonic() - t:.0f} s", flush=True)

    # uvicorn restarts a worker that misses a 5 s health check, dropping its thousands of
    # websockets; on a busy shared machine bringing them online can starve it that long.
    api = Server(
        "hotline.app:create_app",
        env,
        workers=args.workers,
        extra_args=("--timeout-worker-healthcheck", "60"),
    )
    print(f"API log: {api.log_path}", flush=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctx = mp.get_context("spawn")
    procs = []
    try:
        api_pids = process_tree(api.pid)
        ready, go, stop, results = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Queue()
        # The probe consoles get a process of their own: the offer latency is then read by
        # an event loop that is not also serving thousands of other websockets.
        probes_, load = consoles[:probe], consoles[probe:]
        shares = [probes_] + [load[i :: args.console_procs] for i in range(args.console_procs)]
        t = time.monotonic()
        for n, share in enumerate(shares):
            churn = 0.0 if n == 0 else args.churn / args.console_procs
            p = ctx.Process(
                target=console_worker,
                args=(api.url, share, churn, ready, go, stop, results),
            )
            p.start()
            procs.append(p)
        for _ in procs:
            if not ready.acquire(timeout=1800):
                raise RuntimeError("consoles did not come online")
        online_s = time.monotonic() - t
        online = sum(int(r.scard(keys.staffed(b))) for b in (LOAD_BRANCH, PROBE_BRANCH))
        print(f"{online} doctors online in {online_s:.0f} s", flush=True)

        run_id = uuid.uuid4().hex[:6]
        flood_rate = asyncio.run(flood(api.url, loaded + args.calls, run_id, args.concurrency))
        print(f"{loaded + args.calls} arrivals at {flood_rate:.0f}/s", flush=True)
        # Settled: every branch-3 doctor online holds an accepted call, the rest wait.
        wait_until("the branch-3 offers to be accepted", lambda: r.zcard(keys.OFFERS) <= 0, 600)
        waiting = int(r.zcard(keys.waiting(LOAD_BRANCH)))
        queued = int(r.zcard(keys.queue(LOAD_BRANCH)))

        r.delete(telemetry.SWEEP_TIMES, telemetry.RECONCILE_TIMES)
        paused0 = pauses(api.url)
        worker_pids = process_tree(worker.pid)
        cpu0, wcpu0, t0 = cpu_s(api_pids), cpu_s(worker_pids), time.monotonic()
        go.set()
        sent = asyncio.run(probes(api.url, n_probes, args.probe_rate, run_id))
        rest = args.seconds - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)
        cpu = (cpu_s(api_pids) - cpu0) / (time.monotonic() - t0)
        worker_cpu = (cpu_s(worker_pids) - wcpu0) / (time.monotonic() - t0)
        api_rss = rss_mb(api_pids)
        paused = pause_lines(paused0, pauses(api.url))
        mem_mb = (int(r.info("memory")["used_memory"]) - base_mem) / 2**20
        sweeps = [float(x) for x in r.lrange(telemetry.SWEEP_TIMES, 0, -1)]
        recon = [float(x) for x in r.lrange(telemetry.RECONCILE_TIMES, 0, -1)]
        stop.set()
        outs = [results.get(timeout=120) for _ in procs]
    finally:
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        api.stop()
        worker.terminate()
        worker.wait(60)

    seen: dict[str, float] = {}
    counts: dict[str, int] = {}
    held = 0
    for o in outs:
        seen.update(o["offers_seen"])
        held += o["held"]
        for k, v in o["counts"].items():
            counts[k] = counts.get(k, 0) + v
    lat = [(seen[c] - t0_) * 1000 for c, t0_ in sent.items() if c in seen]

    with Server("bench.trivial_app:app", env, workers=args.workers, factory=False) as ref:
        sample = arrival(0, LOAD_BRANCH, "x")[1]
        trivial = run(
            ref.url, list(trivial_posts(60_000, sample)), duration_s=5, server_pid=ref.pid
        )
    lua = redis_lua_reference(env["REDIS_URL"])

    backend = "postgres" if not sqlite else "sqlite (embedded)"
    print(
        f"scale benchmark through the API  backend={backend}  doctors={args.doctors}"
        f"  calls waiting={waiting} ({queued} not yet offered)  API processes={args.workers}"
        f"  cores={os.cpu_count()}  load={os.getloadavg()[0]:.1f}"
    )
    print(
        f"  consoles online           {online} in {online_s:.0f} s ({held} websockets held at the end)"
    )
    print(f"  webhook arrivals          {flood_rate:8.1f} /s  ({loaded + args.calls} calls)")
    print(
        f"  during {args.seconds:.0f} s (and bringing consoles online): completed {counts.get('completed', 0)}, accepted"
        f" {counts.get('accepted', 0)}, errors {counts.get('errors', 0)}"
        f"  (churn {args.churn}/s)"
    )
    if lat:
        print(
            f"  arrival -> offer at {args.probe_rate:.0f}/s  p50 {pct(lat, 50):6.1f} ms  p99 "
            f"{pct(lat, 99):6.1f} ms  max {max(lat):6.1f} ms  ({len(lat)}/{len(sent)} seen)"
        )
    if sweeps:
        print(
            f"  sweep (app, routing)      p50 {pct(sweeps, 50):6.2f} ms  p99 "
            f"{pct(sweeps, 99):6.2f} ms  max {max(sweeps):6.1f} ms  ({len(sweeps)} sweeps)"
        )
    if recon:
        print(
            f"  reconciliation (worker)   p50 {pct(recon, 50):6.1f} ms  max "
            f"{max(recon):6.1f} ms  ({len(recon)} passes)"
        )
    if paused:
        print(
            "  interpreter pauses in the API processes during the window (GC by generation; loop lag):"
        )
        print("\n".join(paused))
    print(f"  Redis used_memory         {mem_mb:8.1f} MB (the routing state and its pushes)")
    print(f"  API RSS (all processes)   {api_rss:8.1f} MB  CPU {cpu * 100:5.0f} % of one core")
    print(f"  worker CPU                {worker_cpu * 100:8.0f} % of one core")
    print(
        f"  reference: trivial FastAPI POST (wrk)  {trivial.rate:8.1f} req/s  p99 {trivial.p99_ms:.1f} ms"
    )
    print(f"  ratio webhook arrivals / trivial       {flood_rate / trivial.rate:6.3f}")
    if lua:
        print(f"  reference: redis-benchmark EVAL (one ZADD) {lua:10.0f} /s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
