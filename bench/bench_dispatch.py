"""Dispatch benchmark: matches/s and p99 request-to-hold with 500 hospitals while bed updates stream.

Run: `.venv/bin/python -m bench.bench_dispatch` (about 1-2 minutes). Without DATABASE_URL/REDIS_URL it
uses a fresh embedded SQLite + Redis in a temporary folder; with them, point at SCRATCH servers
(the dispatch tables are emptied). Prints figures; asserts nothing about timings.

The no-op baseline and the matches run under the same stream of bed updates through the API,
paced at --updates-per-second (50: each of the 50 hospitals' pools every 3 s), so the ratio
compares the two kinds of job under one load. Unpaced, the Python clients would take as much
of the two cores as the API gives them, and the ratio would measure the clients.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="hotline-bench-"))
os.environ.setdefault("HOTLINE_RUN_SWEEPER", "false")

WORKER_CODE = (
    "import hotline.tables, bench.bench_dispatch, sys\n"  # imported once, as hotline worker does
    "hotline.tables.load_all()\n"
    "from rq import Queue\n"
    "from kernel.redisconn import get_redis_bytes\n"
    "from kernel.rqworker import worker_class\n"  # HOTLINE_WORKER_CLASS, as for hotline worker
    "c = get_redis_bytes()\n"
    "worker_class()([Queue(sys.argv[1], connection=c)], connection=c)"
    ".work(burst=sys.argv[2] == 'burst', logging_level='ERROR')\n"
)
BED_TYPES = ("general", "oxygen", "icu")


def noop() -> None:
    """RQ's baseline: a job that does nothing, run by the same worker class."""


def rss_mb(procs: list[subprocess.Popen[bytes]]) -> list[float]:
    """Resident memory of each running worker process (Linux), in MB."""
    sizes = []
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
        sizes.append(kb / 1024)
    return sizes


def _env() -> dict[str, str]:
    from kernel.redisconn import redis_url
    from kernel.settings import get_settings

    env = {**os.environ, "REDIS_URL": redis_url()}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    return env


def start_workers(n: int, queue: str, mode: str) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, queue, mode],
            env=_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        for _ in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]], *, wait: bool = True) -> None:
    for p in procs:
        if p.poll() is None and not wait:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(600)


def reset(n_hospitals: int) -> list[str]:
    """Empty the dispatch tables and create the hospitals with fresh counts."""
    from sqlalchemy import delete

    from dispatch import beds, hospitals
    from dispatch.models import (
        AmbulanceTeam,
        BedHold,
        BedPool,
        BedUpdate,
        Hospital,
        TransferHistory,
        TransferRequest,
    )
    from kernel import migrate
    from kernel.accounts import ApiKey
    from kernel.db import unit_of_work

    migrate.upgrade()
    rng = random.Random(1022)
    with unit_of_work() as s:
        for model in (TransferHistory, BedHold, TransferRequest, BedUpdate, BedPool, AmbulanceTeam):
            s.execute(delete(model))
        s.execute(delete(ApiKey).where(ApiKey.name == "bench"))
        s.execute(delete(Hospital))
    ids = []
    now = datetime.now(UTC) - timedelta(seconds=30)
    with unit_of_work() as s:
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
            ids.append(h.id)
    return ids


def api_keys(hospital_ids: list[str]) -> dict[str, str]:
    from kernel import accounts
    from kernel.db import unit_of_work

    keys = {}
    with unit_of_work() as s:
        for hid in hospital_ids:
            _, plain = accounts.create_api_key(s, hospital_id=hid, name="bench")
            keys[hid] = plain
    return keys


class Updater:
    """Threads streaming bed updates through the HTTP API, each as its hospital's API key."""

    def __init__(self, base: str, keys: dict[str, str], threads: int, per_second: float = 0):
        """per_second: the rate of all threads together (0: as fast as they can)."""
        self.base, self.keys, self.n = base, keys, threads
        self.interval = threads / per_second if per_second > 0 else 0.0
        self.ok = self.refused = self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _run(self, seed: int) -> None:
        import httpx

        rng = random.Random(seed)
        hospitals = list(self.keys)
        next_at = time.perf_counter() + rng.random() * self.interval
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                if self.interval:
                    self._stop.wait(max(0.0, next_at - time.perf_counter()))
                    next_at += self.interval
                hid = rng.choice(hospitals)
                body = {
                    "total": 40,
                    "occupied": rng.randint(0, 30),
                    "out_of_service": 0,
                    "as_of": datetime.now(UTC).isoformat(),
                }
                try:
                    res = client.put(
                        f"/api/v1/hospitals/{hid}/beds/{rng.choice(BED_TYPES)}",
                        json=body,
                        headers={"X-API-Key": self.keys[hid]},
                    )
                except Exception:
                    with self._lock:
                        self.errors += 1
                    continue
                with self._lock:
                    if res.status_code == 200:
                        self.ok += 1
                    elif res.status_code == 409:
                        self.refused += 1  # same-microsecond as_of or beds held: refused by design
                    else:
                        self.errors += 1

    def start(self) -> Updater:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.n)
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def start_api() -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hotline.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=_env(),
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the API did not start")


def create_requests(n: int, tag: str, rng: random.Random) -> list[str]:
    from dispatch import transfers
    from dispatch.vocab import Urgency
    from kernel.db import unit_of_work

    with unit_of_work() as s:
        return [
            transfers.create_transfer_request(
                s,
                patient_ref=f"{tag}-{i}",
                bed_type=rng.choice(BED_TYPES),
                urgency=rng.choice(list(Urgency)),
                pickup_lat=10.70 + rng.random() * 0.2,
                pickup_lon=106.60 + rng.random() * 0.2,
                requested_by="bench",
            ).id
            for i in range(n)
        ]


def request_to_hold_ms(ids: list[str]) -> tuple[list[float], dict[str, int]]:
    from sqlalchemy import select

    from dispatch.models import BedHold, TransferRequest
    from kernel.db import unit_of_work

    with unit_of_work() as s:
        reqs = {
            r.id: r for r in s.scalars(select(TransferRequest).where(TransferRequest.id.in_(ids)))
        }
        holds = s.scalars(select(BedHold).where(BedHold.request_id.in_(ids))).all()
        lat = [
            (h.created_at - reqs[h.request_id].requested_at).total_seconds() * 1000 for h in holds
        ]
        counts: dict[str, int] = {}
        for r in reqs.values():
            counts[r.status] = counts.get(r.status, 0) + 1
    return lat, counts


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def wait_drained(queue: Any, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pr.poll() is None for pr in procs):
        time.sleep(0.05)


def busy_rate(job_ids: list[str]) -> float:
    """Jobs per second from the first job's start to the last one's end: the rate once the
    workers are up, without their start-up (RQ keeps each job's times until its result expires)."""
    from rq.job import Job

    from kernel.redisconn import get_redis_bytes

    jobs = [j for j in Job.fetch_many(job_ids, connection=get_redis_bytes()) if j is not None]
    starts = [j.started_at for j in jobs if j.started_at is not None]
    ends = [j.ended_at for j in jobs if j.ended_at is not None]
    if len(ends) < 2 or not starts:
        return float("nan")
    return len(ends) / max((max(ends) - min(starts)).total_seconds(), 1e-6)


def matched_rate(ids: list[str]) -> tuple[float, int]:
    """Requests matched per second from the first match job's start to the last request's
    outcome (its status time): the rate once the workers are up. A batch's job matches
    requests whose own jobs it withdrew, so the jobs' end times alone would not say when the
    work was done. Also returns how many match jobs ran."""
    from rq.job import Job
    from sqlalchemy import func, select

    from dispatch.models import TransferRequest
    from kernel.db import unit_of_work
    from kernel.redisconn import get_redis_bytes

    fetched = Job.fetch_many([f"match-{rid}" for rid in ids], connection=get_redis_bytes())
    starts = [j.started_at for j in fetched if j is not None and j.started_at is not None]
    with unit_of_work() as s:
        last = s.scalar(
            select(func.max(TransferRequest.status_at)).where(TransferRequest.id.in_(ids))
        )
    if not starts or last is None:
        return float("nan"), len(starts)
    first = min(starts)
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return len(ids) / max((last - first).total_seconds(), 1e-6), len(starts)


def check_counters() -> str:
    from sqlalchemy import func, select

    from dispatch.models import BedHold, BedPool
    from kernel.db import unit_of_work

    with unit_of_work() as s:
        bad = s.scalar(
            select(func.count())
            .select_from(BedPool)
            .where(
                (BedPool.held < 0)
                | (BedPool.occupied + BedPool.out_of_service + BedPool.held > BedPool.total)
            )
        )
        held = s.scalar(select(func.coalesce(func.sum(BedPool.held), 0)))
        live = s.scalar(
            select(func.count()).select_from(BedHold).where(BedHold.released_at.is_(None))
        )
    return f"pools over-booked or negative: {bad}; sum(held) = {held}, live holds = {live}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hospitals", type=int, default=500)
    ap.add_argument("--workers", type=int, default=4)
    # Large enough that the workers' start (about a second each) does not set the rates.
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--noop-jobs", type=int, default=1000)
    ap.add_argument("--updaters", type=int, default=4)
    ap.add_argument(
        "--updates-per-second",
        type=float,
        default=50,
        help="the bed updates streaming while no-op jobs and matches run (0: unpaced)",
    )
    ap.add_argument("--paced-seconds", type=float, default=8.0)
    args = ap.parse_args(argv)

    from rq import Queue, Worker

    from kernel.redisconn import get_redis_bytes
    from kernel.settings import get_settings

    settings = get_settings()
    backend = "postgres" if settings.database_url else "embedded sqlite"
    from kernel.rqworker import worker_class

    print(
        f"dispatch bench: {backend}, {args.hospitals} hospitals, {args.workers} RQ workers "
        f"({worker_class().__name__}, HOTLINE_WORKER_CLASS={settings.worker_class}, "
        f"HOTLINE_MATCH_BATCH={settings.match_batch}), "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    rng = random.Random(7)
    hospital_ids = reset(args.hospitals)
    conn = get_redis_bytes()
    for name in ("dispatch", "bench-noop"):
        Queue(name, connection=conn).empty()

    api, base = start_api()
    try:
        keys = api_keys(hospital_ids[:50])
        # 1. Bed updates per second through the API, alone and unpaced.
        up = Updater(base, keys, args.updaters).start()
        time.sleep(5)
        up.stop()
        solo = up.ok / 5
        print(
            f"bed updates via API:  {solo:8.1f} /s alone ({up.ok} ok, {up.refused} refused 409, "
            f"{up.errors} errors; {args.updaters} client threads)",
            flush=True,
        )

        # 2. RQ's own throughput: no-op jobs, same worker class, same number of workers,
        # while the same bed updates stream as during the matches below.
        stream = args.updates_per_second
        q = Queue("bench-noop", connection=conn)
        noop_ids = [
            q.enqueue("bench.bench_dispatch.noop", result_ttl=600).id for _ in range(args.noop_jobs)
        ]
        up = Updater(base, keys, args.updaters, stream).start()
        t_up = time.perf_counter()
        t0 = time.perf_counter()
        procs = start_workers(args.workers, "bench-noop", "burst")
        stop_workers(procs)
        noop_rate = args.noop_jobs / (time.perf_counter() - t0)
        up.stop()
        during = up.ok / (time.perf_counter() - t_up)
        noop_busy = busy_rate(noop_ids)
        print(
            f"RQ no-op jobs:        {noop_rate:8.1f} jobs/s ({args.noop_jobs} jobs; "
            f"{noop_busy:.1f} /s once the workers are up; bed updates meanwhile {during:.1f} /s)",
            flush=True,
        )

        # 3. A backlog of requests matched while bed updates stream.
        ids = create_requests(args.requests, "backlog", rng)
        up = Updater(base, keys, args.updaters, stream).start()
        t_up = time.perf_counter()
        t0 = time.perf_counter()
        procs = start_workers(args.workers, "dispatch", "burst")
        stop_workers(procs)
        elapsed = time.perf_counter() - t0
        up.stop()
        during = up.ok / (time.perf_counter() - t_up)
        lat, counts = request_to_hold_ms(ids)
        match_rate = len(ids) / elapsed
        print(
            f"matches (backlog):    {match_rate:8.1f} /s ({len(ids)} requests in {elapsed:.1f} s; "
            f"outcomes {counts})",
            flush=True,
        )
        print(
            f"  request-to-hold:    p50 {p(lat, 50):.0f} ms, p99 {p(lat, 99):.0f} ms "
            "(includes queueing behind the backlog)",
            flush=True,
        )
        print(f"  bed updates meanwhile: {during:.1f} /s through the API", flush=True)
        print(f"  ratio matches / RQ no-op jobs: {match_rate / noop_rate:.2f}", flush=True)
        match_busy, jobs_run = matched_rate(ids)
        print(f"  match jobs run: {jobs_run} for {len(ids)} requests", flush=True)
        print(
            f"  once the workers are up: {match_busy:.1f} matches/s against {noop_busy:.1f} "
            f"no-op jobs/s, ratio {match_busy / noop_busy:.2f}",
            flush=True,
        )

        # 4. Paced arrivals at about half the measured rate: latency without a backlog.
        rate = max(1.0, match_rate / 2)
        procs = start_workers(args.workers, "dispatch", "run")
        # Pace only once every worker listens, so start-up time is not counted as latency.
        deadline = time.monotonic() + 60
        while (
            Worker.count(connection=conn, queue=Queue("dispatch", connection=conn)) < args.workers
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        up = Updater(base, keys, args.updaters, stream).start()
        paced: list[str] = []
        t_end = time.perf_counter() + args.paced_seconds
        i = 0
        while time.perf_counter() < t_end:
            paced += create_requests(1, f"paced-{i}", rng)
            i += 1
            time.sleep(1 / rate)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Queue("dispatch", connection=conn).count:
            time.sleep(0.1)
        time.sleep(1)
        up.stop()
        rss = rss_mb(procs)
        stop_workers(procs, wait=False)
        lat, counts = request_to_hold_ms(paced)
        print(
            f"matches (paced {rate:.0f}/s): request-to-hold p50 {p(lat, 50):.0f} ms, "
            f"p99 {p(lat, 99):.0f} ms over {len(paced)} requests; outcomes {counts}",
            flush=True,
        )
        if rss:
            print(
                f"worker RSS after the paced run: {min(rss):.0f}-{max(rss):.0f} MB "
                f"({len(rss)} workers)",
                flush=True,
            )
        print(f"invariants: {check_counters()}", flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        api.terminate()
        api.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
