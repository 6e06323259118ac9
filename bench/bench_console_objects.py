"""What one console costs an API process: objects the garbage collector tracks, and memory.

Run: .venv/bin/python -m bench.bench_console_objects [--consoles 1000]

Serves the app in this process (uvicorn in a thread, with its lifespan: hub, figures round,
heartbeats, sweeper), brings `--consoles` consoles online from a process of their own the
way `bench_scale_api` does (ticket, websocket, presence available, a heartbeat every 3 s),
and counts the objects the cyclic collector tracks (frozen ones included) before and
after, by type. A full collection walks these: fewer per console is a shorter walk.

Uses DATABASE_URL / REDIS_URL when set (SCRATCH servers: the schema and the Redis db are
wiped), else the embedded default in a temporary folder.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import resource
import threading
import time
from collections import Counter
from typing import Any

from bench.bench_scale_api import console_worker, prepare, setup_env
from bench.wrk import free_port

TOP_TYPES = 12


def tracked() -> Counter[str]:
    """Objects the collector tracks, frozen ones included, by type name."""
    gc.collect()  # garbage gone (the API's policy then freezes what is left, see below)
    gc.unfreeze()  # frozen objects are out of get_objects()' sight
    counts = Counter(type(o).__name__ for o in gc.get_objects())
    gc.freeze()
    return counts


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--consoles", type=int, default=1000)
    args = ap.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import os

    os.environ.update(setup_env())
    consoles = prepare(args.consoles, 0)

    import uvicorn

    from hotline.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    time.sleep(2)  # the lifespan's first sweep and the collector policy in place
    before, rss0 = tracked(), rss_mb()

    ctx = mp.get_context("spawn")
    ready, go, stop, results = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Queue()
    url = f"http://127.0.0.1:{port}"
    proc = ctx.Process(target=console_worker, args=(url, consoles, 0.0, ready, go, stop, results))
    proc.start()
    try:
        if not ready.acquire(timeout=900):
            raise RuntimeError("consoles did not come online")
        go.set()
        time.sleep(10)  # heartbeats and queue figures flowing
        after, rss1 = tracked(), rss_mb()
        stop.set()
        out: dict[str, Any] = results.get(timeout=120)
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        server.should_exit = True
        thread.join(30)

    n = max(1, out["held"])
    grown = after - before
    print(f"console objects  consoles held={out['held']}  errors={out['counts'].get('errors', 0)}")
    print(
        f"  GC-tracked objects per console  {sum(grown.values()) / n:8.1f}"
        f"  ({sum(before.values())} before, {sum(after.values())} after)"
    )
    print(f"  RSS per console                 {(rss1 - rss0) * 1024 / n:8.1f} KB")
    for name, count in grown.most_common(TOP_TYPES):
        print(f"    {name:28s} {count / n:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
