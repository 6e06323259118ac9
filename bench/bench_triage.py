"""Triage figures: score endpoint throughput and p99 against a trivial endpoint, and decision-to-dispatch time.

Runs the real API under uvicorn on a scratch embedded database (or DATABASE_URL/REDIS_URL when
set), next to a one-route FastAPI app measured the same way in the same run:

    .venv/bin/python -m bench.bench_triage [--seconds 5] [--concurrency 8] [--transfers 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1022"

trivial_app = FastAPI()


@trivial_app.post("/ping")
def ping(body: dict[str, Any]) -> dict[str, bool]:
    return {"ok": True}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(target: str, env: dict[str, str], factory: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log"] + (["--factory"] if factory else [])
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/docs", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{target} did not start")


def _load(
    url: str,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            while time.monotonic() < stop:
                t = time.perf_counter()
                res = http.post(path, json=body)
                mine.append(time.perf_counter() - t)
                bad += res.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--transfers", type=int, default=30)
    args = ap.parse_args()

    os.environ.setdefault("HOTLINE_DATA_DIR", tempfile.mkdtemp(prefix="bench-triage-"))
    os.environ.setdefault("HOTLINE_RUN_SWEEPER", "false")
    from kernel import accounts, migrate
    from kernel.db import unit_of_work
    from kernel.redisconn import redis_url
    from kernel.settings import get_settings

    env = {**os.environ, "REDIS_URL": redis_url()}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    migrate.upgrade()
    suffix = str(int(time.time()))
    with unit_of_work() as session:
        accounts.create_user(
            session, username=f"bench_dr_{suffix}", password=PASSWORD, role="doctor"
        )
        accounts.create_user(
            session, username=f"bench_disp_{suffix}", password=PASSWORD, role="dispatcher"
        )

    api, api_url = _serve("hotline.app:create_app", env, factory=True)
    ref, ref_url = _serve("bench.bench_triage:trivial_app", env, factory=False)
    try:
        with httpx.Client(base_url=api_url) as http:

            def token(user: str) -> dict[str, str]:
                res = http.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
                return {"Authorization": f"Bearer {res.json()['access_token']}"}

            doc, disp = token(f"bench_dr_{suffix}"), token(f"bench_disp_{suffix}")
            vitals = {
                "age": 67,
                "respiratory_rate": 22,
                "spo2": 95,
                "on_oxygen": False,
                "systolic_bp": 118,
                "diastolic_bp": 76,
                "pulse": 104,
                "consciousness": "alert",
                "temperature_c": 38.4,
                "symptoms": ["cough"],
            }
            print(
                f"load: {args.concurrency} client threads x {args.seconds:g} s each target "
                f"({'postgres' if get_settings().database_url else 'embedded sqlite'})"
            )
            trivial = _load(ref_url, "/ping", vitals, {}, args.seconds, args.concurrency)
            scored = _load(
                api_url, "/api/v1/triage/score", vitals, doc, args.seconds, args.concurrency
            )
            for name, r in (("trivial FastAPI endpoint", trivial), ("POST /triage/score", scored)):
                print(
                    f"  {name:26s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                    f"p99 {r['p99_ms']:6.1f} ms  ({int(r['requests'])} requests, "
                    f"{int(r['errors'])} errors)"
                )
            print(
                f"  score / trivial: {scored['rps'] / trivial['rps']:.2f} x throughput, "
                f"{scored['p99_ms'] / trivial['p99_ms']:.1f} x p99"
            )

            # Decision to visibility: sign a transfer decision, then watch dispatch's board.
            visible: list[float] = []
            signing: list[float] = []
            for i in range(args.transfers):
                p = http.post(
                    "/api/v1/triage/patients",
                    headers=doc,
                    json={"full_name": f"Bench {i}", "phones": [f"0909{i:06d}"], "age_years": 50},
                ).json()
                # kernel.deps commits after the response is sent (FastAPI's default yield
                # scope), so wait until the patient is really there before timing.
                url = f"/api/v1/triage/patients/{p['id']}"
                while http.get(url, headers=doc).status_code != 200:
                    time.sleep(0.001)
                t0 = time.perf_counter()
                res = http.post(
                    f"/api/v1/triage/patients/{p['id']}/assessments",
                    headers=doc,
                    json={"vitals": {"spo2": 93, "respiratory_rate": 24}},
                )
                signing.append(time.perf_counter() - t0)
                assert res.status_code == 201, res.text
                while True:
                    board = http.get("/api/v1/transfers", headers=disp).json()
                    if any(t.get("patient_ref") == p["id"] for t in board):
                        visible.append(time.perf_counter() - t0)
                        break
                    if time.perf_counter() - t0 > 10:
                        raise RuntimeError("transfer never reached dispatch's board")
            visible.sort()
            print(
                f"  transfer decision -> on dispatch's board: median "
                f"{statistics.median(visible) * 1000:.1f} ms, max {visible[-1] * 1000:.1f} ms "
                f"(signing alone median {statistics.median(signing) * 1000:.1f} ms; "
                f"{len(visible)} decisions)"
            )
    finally:
        for proc in (api, ref):
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
