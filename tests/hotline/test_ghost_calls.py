"""An API killed between committing a call and queuing it loses no caller.

The failure is injected exactly there: the API reaches Redis through a proxy the test
controls, which holds the enqueue script's request (recognised by its SHA) instead of
passing it on. The call row is committed, the enqueue never arrives, and the API is
killed. The workers' reconciliation pass puts the call in its place, and the gateway's
retry, answered by another API process, finds it queued, once.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from hotline.models import Call
from hotline.routing import keys
from hotline.routing.router import LUA
from kernel.db import unit_of_work
from kernel.redisconn import get_redis, redis_url
from tests.helpers import (
    LiveServer,
    LiveWorker,
    arrive,
    assert_routing_invariants,
    seed_branches,
    wait_for,
)


class HoldingProxy:
    """A TCP proxy to Redis that swallows any request carrying `marker` (and all after it
    on that connection), as if the process had died right before sending it."""

    def __init__(self, upstream: tuple[str, int], marker: bytes):
        self.upstream, self.marker = upstream, marker
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        with src, dst:
            while chunk := _recv(src):
                if outbound and self.marker in chunk:
                    self.held.set()
                    while _recv(src):  # swallow the rest; the caller is about to die
                        pass
                    return
                try:
                    dst.sendall(chunk)
                except OSError:  # the other side closed: this connection is over
                    return

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _script_sha(name: str) -> bytes:
    source = (LUA / "prelude.lua").read_text() + (LUA / f"{name}.lua").read_text()
    return hashlib.sha1(source.encode()).hexdigest().encode()


@pytest.fixture
def proxy() -> Iterator[HoldingProxy]:
    parts = urlsplit(redis_url())
    p = HoldingProxy((parts.hostname or "127.0.0.1", parts.port or 6379), _script_sha("enqueue"))
    yield p
    p.close()


def test_a_call_committed_by_a_killed_api_is_queued_by_the_next_one(proxy):
    seed_branches()
    parts = urlsplit(redis_url())
    doomed = LiveServer(
        {"REDIS_URL": f"redis://127.0.0.1:{proxy.port}{parts.path}", "HOTLINE_RUN_SWEEPER": "false"}
    ).start()
    answers: list[object] = []

    def gateway() -> None:
        try:
            with httpx.Client(base_url=doomed.url, timeout=30) as c:
                answers.append(arrive(c, "killed-1", caller="0907000001").status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    caller = threading.Thread(target=gateway)
    caller.start()
    proxy.held.wait(30)
    assert proxy.held.is_set(), "the enqueue never left the API"
    with unit_of_work() as s:
        call = s.scalars(select(Call).where(Call.provider_call_id == "killed-1")).one()
    assert call.status == "queued"  # committed before Redis heard of it
    doomed.stop(kill=True)
    caller.join(30)
    assert answers and answers[0] != 200  # the gateway never heard "queued"
    r = get_redis()
    assert r.zcard(keys.queue("3")) == 0

    timers = {"HOTLINE_RECONCILE_INTERVAL_S": "0.5", "HOTLINE_RECONCILE_GRACE_S": "1"}
    survivor = LiveServer(timers).start()
    worker = LiveWorker(timers).start()  # its scheduler queues the reconciliation pass
    try:
        wait_for(
            lambda: r.zrange(keys.queue("3"), 0, -1) == [call.id],
            timeout=20,
            what="the reconciliation sweep to queue the call",
        )
        with httpx.Client(base_url=survivor.url, timeout=30) as c:
            retry = arrive(c, "killed-1", caller="0907000001")
        assert retry.status_code == 200
        assert retry.json()["status"] == "queued" and retry.json()["position"] == 1
    finally:
        survivor.stop()
        worker.stop()
    assert r.zcard(keys.queue("3")) == 1
    assert_routing_invariants(r)
