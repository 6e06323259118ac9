"""Redis failover through Sentinel: routing carries on against the promoted replica.

A primary, a replica and a sentinel run on local ports (the redis-server build the
project installs, in sentinel mode for the sentinel). The API reaches Redis through a
redis+sentinel:// URL. The primary is killed mid-traffic; after the promotion the calls
go on being offered and answered, none twice and none lost, and what the replica missed
is repaired by the workers' reconciliation pass.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import _client, redis_server_binary
from tests.helpers import (
    LiveServer,
    LiveWorker,
    arrive,
    assert_routing_invariants,
    auth,
    free_port,
    make_user,
    seed_branches,
    token_for,
    wait_for,
)

SERVICE = "hotline-primary"


class RedisNode:
    def __init__(self, workdir: Path, name: str, *args: str):
        self.port = free_port()
        self.dir = workdir / name
        self.dir.mkdir()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisNode:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                *self.args,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        wait_for(lambda: _pings(client), what=f"redis on {self.port}")
        return self

    def client(self):
        import redis

        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def sentinel_redis(tmp_path: Path) -> Iterator[tuple[str, RedisNode, RedisNode]]:
    primary = RedisNode(tmp_path, "primary").start()
    replica = RedisNode(tmp_path, "replica", "--replicaof", "127.0.0.1", str(primary.port))
    replica.start()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    sentinel = RedisNode(tmp_path, "sentinel", str(conf), "--sentinel")
    sentinel.start()
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}/0"
    wait_for(
        lambda: replica.client().info("replication").get("master_link_status") == "up",
        what="the replica to follow the primary",
    )
    try:
        yield url, primary, sentinel
    finally:
        for node in (sentinel, replica, primary):
            node.stop()


def _primary_port(sentinel: RedisNode) -> int:
    _host, port = sentinel.client().execute_command("SENTINEL", "get-master-addr-by-name", SERVICE)
    return int(port)


def _arrive_until_answered(c: httpx.Client, pcid: str, caller: str) -> dict:
    # During the failover the API answers 503; the gateway retries, signing anew.
    for attempt in itertools.count():
        res = arrive(c, pcid, caller=caller, signed_at=int(time.time()) - attempt % 250)
        if res.status_code == 200:
            return res.json()
        assert res.status_code == 503, res.text
        assert attempt < 200, "the API never came back after the failover"
        time.sleep(0.1)  # pacing the gateway's retries
    raise AssertionError


def test_routing_carries_on_after_the_primary_dies(sentinel_redis):
    url, primary, sentinel = sentinel_redis
    seed_branches()
    for name in ("fo1", "fo2"):
        make_user(name, "doctor", branches={"3": 1})
    env = {
        "REDIS_URL": url,
        "HOTLINE_RECONCILE_INTERVAL_S": "0.5",
        "HOTLINE_RECONCILE_GRACE_S": "2",
        "HOTLINE_WRAPUP_S": "0.2",
    }
    server = LiveServer(env).start()
    worker = LiveWorker(env).start()  # its scheduler queues the reconciliation pass
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            heads = [auth(token_for(c, name)) for name in ("fo1", "fo2")]
            for h in heads:
                assert (
                    c.put(
                        "/api/v1/doctors/me/presence", json={"state": "available"}, headers=h
                    ).status_code
                    == 200
                )
            before = [_arrive_until_answered(c, f"fo-{i}", f"0903{i:06d}") for i in range(6)]
            assert all(b["status"] == "queued" for b in before)
            old_port = primary.port
            primary.stop()
            wait_for(lambda: _primary_port(sentinel) != old_port, timeout=30, what="promotion")
            after = [_arrive_until_answered(c, f"fo-{i}", f"0903{i:06d}") for i in range(6, 10)]
            assert all(a["status"] == "queued" for a in after)
            # What a replica that had not caught up would lack: a waiting call.
            lost = after[-1]["call_id"]
            promoted = _client(url, decode_responses=True)
            promoted.delete(keys.call(lost))
            promoted.zrem(keys.queue("3"), lost)
            promoted.zrem(keys.waiting("3"), lost)
            # Routing works on the new primary: both doctors take and finish calls.
            answered = _work_the_queue(c, heads, calls=10)
        assert answered == 10
    finally:
        server.stop()
        worker.stop()

    new_primary = _client(url, decode_responses=True)
    calls, offers = assert_routing_invariants(new_primary)
    assert len(calls) == 10
    assert sorted(c.status for c in calls) == ["completed"] * 10
    accepted = [o for o in offers if o.outcome == "accepted"]
    assert sorted(o.call_id for o in accepted) == sorted(c.id for c in calls)
    assert new_primary.zcard(keys.queue("3")) == 0
    with unit_of_work() as s:
        repaired = s.scalars(
            select(Event.data).where(Event.kind == "routing.repaired", Event.subject_id == lost)
        ).all()
    # Restored first; a later decision whose write was slow may be recorded by a pass too.
    assert [d["repair"] for d in repaired][:1] == ["restored"]


def _work_the_queue(c: httpx.Client, heads: list[dict], calls: int) -> int:
    """The doctors accept and complete offers until `calls` calls are done."""
    done = 0
    deadline = time.monotonic() + 90
    while done < calls:
        assert time.monotonic() < deadline, f"only {done} of {calls} calls were answered"
        progressed = False
        for h in heads:
            c.post("/api/v1/doctors/me/heartbeat", headers=h)
            state = c.get("/api/v1/doctors/me", headers=h)
            if state.status_code != 200:
                continue
            body = state.json()
            if body.get("call"):
                res = c.post(
                    f"/api/v1/calls/{body['call']['id']}/complete",
                    json={"disposition": "advice_given", "notes": ""},
                    headers=h,
                )
                done += res.status_code == 200
                progressed = True
            elif body.get("offer"):
                c.post(f"/api/v1/offers/{body['offer']['offer_id']}/accept", headers=h)
                progressed = True
            elif body.get("state") in ("offline", "away"):
                c.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=h)
        if not progressed:
            time.sleep(0.05)  # pacing the doctors' consoles
    return done
