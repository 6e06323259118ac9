"""Outages answer 503 naming the dependency, log one line, and heal; nothing accepted is lost.

A TCP proxy the test controls stands between a live API and Redis (both backends) or
PostgreSQL (PostgreSQL backend only). Cutting it drops every open connection and refuses
new ones, as a dead server or a broken network would; restoring it listens again on the
same port. The test prints, per outage, how long each refused request took, the time from
the dependency's return to the first request that succeeded, and how many requests
answered 503 in between (also written to test-artifacts/outages-<backend>.txt).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from kernel.db import get_engine
from kernel.redisconn import redis_url
from kernel.settings import get_settings
from tests.helpers import (
    ARTIFACTS,
    ROOT,
    LiveServer,
    account_headers,
    arrive,
    assert_routing_invariants,
    free_port,
    seed_branches,
    wait_for,
)

REPORT: list[str] = []


class CutProxy:
    """A TCP relay to one server that the test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> CutProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone leaves it listening
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def _via(url: str, proxy: CutProxy) -> str:
    """The same URL with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")
    at = netloc[0] + "@" if netloc[0] else ""
    return urlunsplit(parts._replace(netloc=f"{at}127.0.0.1:{proxy.port}"))


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    return parts.hostname or "127.0.0.1", parts.port or 0


@contextlib.contextmanager
def api_through(env: dict[str, str], log: Path) -> Iterator[LiveServer]:
    """A live API process whose Redis or database URL goes through the proxy; stderr to log."""
    server = LiveServer(env)
    server.env.update(env)  # child_env() names this run's database after the overrides
    with log.open("wb") as err:
        server.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hotline.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(server.port),
                "--log-level",
                "warning",
            ],
            env=server.env,
            cwd=ROOT,
            stderr=err,
        )
        try:
            wait_for(server._healthy, timeout=60, every=0.1, what="the API to start")
            yield server
        finally:
            server.stop()


def _heal(http: httpx.Client, path: str, headers: dict[str, str]) -> tuple[float, int]:
    """Request until one succeeds: seconds from now to that success, and the 503s before it."""
    restored = time.monotonic()
    refused = 0
    while True:
        res = http.get(path, headers=headers)
        if res.status_code == 200:
            return time.monotonic() - restored, refused
        assert res.status_code == 503, res.text
        refused += 1
        assert time.monotonic() - restored < 60, "the API did not heal within a minute"
        time.sleep(0.02)


def _refused_during_outage(
    http: httpx.Client, dependency: str, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[float]:
    took = []
    for method, path, kwargs in requests:
        started = time.monotonic()
        res = http.request(method, path, **kwargs)
        took.append(time.monotonic() - started)
        assert res.status_code == 503, (method, path, res.status_code, res.text)
        body = res.json()
        assert body["error"] == "dependency_unavailable", body
        assert body["detail"]["dependency"] == dependency, body
        assert res.headers.get("retry-after"), res.headers
    return took


def _run_outage(dependency: str, env_key: str, url: str, tmp_path: Path, r: Any) -> None:
    seed_branches()
    admin = account_headers("admin", "admin")
    proxy = CutProxy(*_target(url)).start()
    log = tmp_path / "api.log"
    try:
        with (
            api_through({env_key: _via(url, proxy)}, log) as api,
            httpx.Client(base_url=api.url, timeout=30) as http,
        ):
            assert arrive(http, "before-outage").json()["status"] == "queued"
            proxy.cut()
            ready = http.get("/healthz/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["dependencies"][dependency]["ready"] is False
            protected = (
                ("GET", "/api/v1/branches/3/queue", {"headers": admin})
                if dependency == "redis"
                else ("GET", "/api/v1/branches", {"headers": admin})
            )
            took = _refused_during_outage(http, dependency, [protected] * 5)
            # The gateway offers a call during the outage: refused, so the gateway retries.
            res = arrive(http, "during-outage")
            assert res.status_code == 503, res.text
            proxy.restore()
            healed_s, refused = _heal(http, protected[1], protected[2]["headers"])
            # The gateway's retry (signed anew) is queued once.
            assert arrive(http, "during-outage").json()["status"] == "queued"
            assert http.get("/healthz/ready").status_code == 200
        calls, _ = assert_routing_invariants(r)
        assert sorted(c.provider_call_id for c in calls) == ["before-outage", "during-outage"]
    finally:
        proxy.cut()
    lines = log.read_text(errors="replace").splitlines()
    down = [line for line in lines if f"{dependency} unreachable" in line]
    assert len(down) == 1, "\n".join(lines[-40:])
    tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    assert tracebacks == 0, "\n".join(lines[-60:])
    backend = get_engine().dialect.name
    REPORT.append(
        f"{backend} {dependency} outage: 503 in {max(took) * 1000:.0f} ms at most "
        f"(of {len(took)}); first success {healed_s:.2f} s after the return, "
        f"{refused} requests answered 503 in between; {len(down)} log line, "
        f"{tracebacks} tracebacks"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"outages-{backend}.txt").write_text("\n".join(REPORT) + "\n")
    print("\n" + REPORT[-1])


def test_redis_outage_answers_503_and_heals(tmp_path, r):
    _run_outage("redis", "REDIS_URL", redis_url(), tmp_path, r)


def test_database_outage_answers_503_and_heals(tmp_path, r):
    url = get_settings().database_url
    if not url or not url.startswith("postgresql"):
        pytest.skip("the embedded SQLite file cannot be cut off; PostgreSQL only")
    _run_outage("database", "DATABASE_URL", url, tmp_path, r)
