"""Run every benchmark, one after another: `python -m bench` (or `bench/run`).

Each runs in a process of its own and prints its figures with the references measured
in the same run. Uses DATABASE_URL / REDIS_URL when set (SCRATCH servers: schemas and
the Redis db are wiped), else the embedded default in a temporary folder.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.wrk import ROOT, ensure_wrk

SUITE: list[tuple[str, list[str]]] = [
    ("HTTP, one server process", ["bench.bench_http", "--workers", "1"]),
    ("HTTP, hotline serve --workers 2", ["bench.bench_http", "--workers", "2"]),
    ("arrival -> offer at console websockets", ["bench.bench_routing"]),
    ("matching jobs against RQ no-op jobs", ["bench.bench_dispatch"]),
    ("triage scoring and decision-to-dispatch", ["bench.bench_triage"]),
    ("10,000 waiting calls and 5,000 doctors online", ["bench.bench_scale"]),
    ("the same through the API: consoles, webhooks, offers", ["bench.bench_scale_api"]),
    ("what one console costs an API process", ["bench.bench_console_objects"]),
]


def main(argv: list[str]) -> int:
    only = set(argv)
    ensure_wrk()
    failed = 0
    for title, cmd in SUITE:
        if only and cmd[0].split(".")[-1] not in only:
            continue
        print(f"\n=== {title}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", *cmd], cwd=ROOT)
        print(
            f"=== {title}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.monotonic() - t0:.0f} s"
        )
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
