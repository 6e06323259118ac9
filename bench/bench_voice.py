"""Voice line benchmark: wait polls per second (wrk) and a doctor's accept -> the caller's <Leave/>.

Run: .venv/bin/python -m bench.bench_voice [--waiting 50] [--trials 30] [--seconds 10]

Uses DATABASE_URL / REDIS_URL when set, else the embedded default in a temporary folder.
wait polls are driven by wrk (Debian's /usr/bin/wrk, a C load generator, so the client is
not the bottleneck), signed like the provider, against callers really waiting in line;
the same wrk run against a trivial FastAPI endpoint is the reference. Accept -> <Leave/>:
a caller polls back-to-back while a doctor accepts on the console API; the provider adds
its own pause between polls (HOTLINE_VOICE_WAIT_PAUSE_S) on top of this figure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.bench_routing import _setup_env, free_port, pct, prepare, start_server

TWIML = "/api/v1/voice/twiml"


def signed(path: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    from twilio.request_validator import RequestValidator

    from kernel.settings import get_settings

    s = get_settings()
    sig = RequestValidator(s.twilio_auth_token).compute_signature(s.public_url + path, params)
    headers = {
        "X-Twilio-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return urlencode(params), headers


def post(client: Any, path: str, params: dict[str, str]) -> Any:
    body, headers = signed(path, params)
    res = client.post(path, content=body, headers=headers)
    res.raise_for_status()
    return res


def wrk(
    url: str, path: str, requests: list[tuple[str, dict[str, str]]], seconds: int
) -> dict[str, float]:
    """wrk against url+path, cycling through the given (body, headers); GET when no body."""
    lines = ["local reqs = {}"]
    for i, (body, headers) in enumerate(requests, start=1):
        hdrs = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        method = "POST" if body else "GET"
        lines.append(f'reqs[{i}] = wrk.format("{method}", "{path}", {{{hdrs}}}, "{body}")')
    lines += [
        "local i = 0",
        "request = function()",
        f"  i = i % {len(requests)} + 1",
        "  return reqs[i]",
        "end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lines))
        script = f.name
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(script)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)

    def latency(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    return {
        "rate": rate,
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiting", type=int, default=50, help="callers waiting in line")
    ap.add_argument("--trials", type=int, default=30, help="accepts timed to <Leave/>")
    ap.add_argument("--seconds", type=int, default=10, help="each wrk run")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found (apt-get install wrk)")
        return 1
    _setup_env()
    import httpx
    from sqlalchemy import select

    from hotline.models import Call, Doctor
    from kernel.db import unit_of_work
    from kernel.redisconn import redis_url

    env = {**os.environ, "REDIS_URL": redis_url(), "HOTLINE_OFFER_TIMEOUT_S": "60"}
    tokens = prepare(args.trials)
    with unit_of_work() as session:
        for i, doctor in enumerate(session.scalars(select(Doctor))):
            doctor.phone = f"+8491{i:07d}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start_server("hotline.app:create_app", port, env)
    try:
        n = args.waiting + args.trials
        sids = [f"CAbench{i:06d}" for i in range(n)]
        with httpx.Client(base_url=base, timeout=30) as c:
            for i, sid in enumerate(sids):
                params = {"CallSid": sid, "From": f"+8490{i:07d}", "To": "1022", "Digits": "3"}
                post(c, f"{TWIML}/menu", params)
        polls = [signed(f"{TWIML}/wait", {"CallSid": sid}) for sid in sids[: args.waiting]]
        wait = wrk(base, f"{TWIML}/wait", polls, args.seconds)
        leave_ms = accept_to_leave(base, tokens, sids)
    finally:
        api.terminate()
        api.wait(10)
    ref_port = free_port()
    ref = start_server("bench.trivial_app:app", ref_port, env, factory=False)
    try:
        trivial = wrk(f"http://127.0.0.1:{ref_port}", "/ping", [("", {})], args.seconds)
    finally:
        ref.terminate()
        ref.wait(10)
    with unit_of_work() as session:
        queued = len(list(session.scalars(select(Call.id))))

    backend = "postgres" if os.environ.get("DATABASE_URL") else "sqlite (embedded)"
    print(
        f"voice benchmark  backend={backend}  waiting callers={args.waiting}  calls={queued}"
        f"  wrk -t2 -c16 -d{args.seconds}s  cores={os.cpu_count()}"
    )
    print(
        f"  wait polls              {wait['rate']:8.1f} req/s  p50 {wait['p50']:6.1f} ms"
        f"  p99 {wait['p99']:6.1f} ms  non-2xx {wait['errors']:.0f}"
    )
    print(
        f"  reference: trivial FastAPI endpoint {trivial['rate']:8.1f} req/s  p50 "
        f"{trivial['p50']:6.1f} ms  p99 {trivial['p99']:6.1f} ms"
    )
    print(f"  ratio wait polls / trivial endpoint  {wait['rate'] / trivial['rate']:6.2f}")
    if leave_ms:
        print(
            f"  accept -> <Leave/> (back-to-back polls, {len(leave_ms)} accepts)  p50 "
            f"{pct(leave_ms, 50):6.1f} ms  p99 {pct(leave_ms, 99):6.1f} ms  max {max(leave_ms):6.1f} ms"
        )
    return 0


def accept_to_leave(base: str, tokens: list[str], sids: list[str]) -> list[float]:
    """Each doctor in turn goes available, takes the head call's offer and accepts it; the
    caller polls back-to-back; the time from sending the accept to the first <Leave/>."""
    import httpx
    from sqlalchemy import select

    from hotline.models import Call
    from kernel.db import unit_of_work

    with unit_of_work() as session:
        sid_of = {c.id: c.provider_call_id for c in session.scalars(select(Call))}
    results: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for token in tokens:
            h = {"Authorization": f"Bearer {token}"}
            c.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=h)
            offer = None
            deadline = time.monotonic() + 10
            while offer is None and time.monotonic() < deadline:
                offer = c.get("/api/v1/doctors/me", headers=h).json()["offer"]
            if offer is None:
                continue
            sid = sid_of[offer["call_id"]]
            left = threading.Event()
            t0 = [0.0]
            seen = [0.0]

            def poll(
                sid: str = sid,
                left: threading.Event = left,
                t0: list[float] = t0,
                seen: list[float] = seen,
            ) -> None:
                body, headers = signed(f"{TWIML}/wait", {"CallSid": sid})
                with httpx.Client(base_url=base, timeout=30) as p:
                    while not left.is_set():
                        res = p.post(f"{TWIML}/wait", content=body, headers=headers)
                        if t0[0] and "<Leave" in res.text:
                            seen[0] = time.perf_counter()
                            left.set()

            poller = threading.Thread(target=poll)
            poller.start()
            time.sleep(0.2)  # the caller is polling before the doctor accepts
            t0[0] = time.perf_counter()
            c.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=h).raise_for_status()
            left.wait(30)
            poller.join(30)
            if seen[0]:
                results.append((seen[0] - t0[0]) * 1000)
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
