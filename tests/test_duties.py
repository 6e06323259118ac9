"""The workers' scheduler, with real `hotline worker` processes on real Redis: a Redis flush, a
SIGKILLed scheduler and a lost enqueue all leave the due work done, because what is due lives
in the database.

Each test prints what it measured (run with -s): how late the work ran after it fell due, and
how long a new worker took to hold the scheduling role.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from rq import Queue
from sqlalchemy import update

from dispatch import enqueue
from dispatch.models import TransferRequest
from kernel.db import unit_of_work, utcnow
from kernel.redisconn import get_redis, get_redis_bytes, redis_server_binary
from kernel.scheduler import LEASE_KEY
from tests.helpers import (
    PICKUP,
    ROOT,
    LiveWorker,
    child_env,
    followup,
    free_port,
    login,
    make_hospital,
    new_patient,
    seed_branches,
    sign,
    wait_for,
)
from triage.models import FollowUp

WAIT_S = 90.0  # generous: the machine is slow and shared


class Workers:
    """`hotline worker` processes, each in its own process group; all stopped at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hotline.jobs import run_worker; run_worker()"],
            env=child_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """What a crashed machine does: the worker and its job processes die at once."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture
def workers() -> Iterator[Workers]:
    w = Workers()
    try:
        yield w
    finally:
        w.stop_all()


def role_holder() -> str:
    return str(get_redis().get(LEASE_KEY) or "")


def holds_role(proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "the worker exited"
    return f":{proc.pid}:" in role_holder()


def followup_due_in(
    client: Any, doc: dict[str, str], seconds: float, phone: str
) -> tuple[str, datetime]:
    """A home-care follow-up (through the API) whose due time is moved to `seconds` from now."""
    p = new_patient(client, doc, full_name=f"BN {phone}", phones=[phone])
    fid: str = sign(client, doc, p["id"])["follow_up"]["id"]
    due = utcnow() + timedelta(seconds=seconds)
    with unit_of_work() as session:
        session.execute(update(FollowUp).where(FollowUp.id == fid).values(due_at=due))
    return fid, due


def dispatched(fid: str) -> datetime | None:
    fu = followup(fid)
    return fu.dispatched_at if fu.state == "dispatched" else None


def request_status(rid: str) -> str:
    with unit_of_work() as session:
        req = session.get(TransferRequest, rid)
        assert req is not None
        return req.status


def post_transfer(client: Any, doc: dict[str, str], patient: str) -> str:
    res = client.post(
        "/api/v1/transfers",
        json={"patient_ref": patient, "bed_type": "icu", "urgency": "urgent", "pickup": PICKUP},
        headers=doc,
    )
    assert res.status_code == 202, res.text
    rid: str = res.json()["id"]
    return rid


def held(rid: str) -> bool:
    return request_status(rid) == "held"


def test_a_redis_flush_loses_no_timer(client: Any, workers: Workers) -> None:
    seed_branches()
    doc = login(client, "doc")
    make_hospital("Bệnh viện Chợ Rẫy", beds={"icu": (2, 0)})
    # Pending before anything runs: a transfer request queued for matching, a follow-up due soon.
    rid = post_transfer(client, doc, "p-flush-1")
    fid, due = followup_due_in(client, doc, 6, "0901000001")
    get_redis_bytes().flushdb()  # the match job goes; no follow-up timer was in Redis anyway
    assert Queue("dispatch", connection=get_redis_bytes()).count == 0
    worker = workers.start()
    wait_for(lambda: held(rid), timeout=WAIT_S, what="the flushed request to be matched")
    done = wait_for(lambda: dispatched(fid), timeout=WAIT_S, what="the follow-up to be dispatched")
    print(
        f"\nfollow-up due after a flush, worker started after it: {(done - due).total_seconds():.2f} s late"
    )

    # Flushed again while the worker runs and holds the role: the role and the queues go.
    wait_for(lambda: holds_role(worker), timeout=WAIT_S, what="the worker to hold the role")
    fid2, due2 = followup_due_in(client, doc, 5, "0901000002")
    get_redis_bytes().flushdb()
    rid2 = post_transfer(client, doc, "p-flush-2")
    get_redis_bytes().flushdb()  # its match job too, before the worker could take it
    done2 = wait_for(lambda: dispatched(fid2), timeout=WAIT_S, what="the second follow-up")
    wait_for(lambda: held(rid2), timeout=WAIT_S, what="the second request to be matched")
    print(
        f"follow-up due after a flush under a running worker: {(done2 - due2).total_seconds():.2f} s late"
    )
    assert followup(fid).state == followup(fid2).state == "dispatched"


def test_a_killed_scheduler_is_replaced_within_its_lease(client: Any, workers: Workers) -> None:
    seed_branches()
    doc = login(client, "doc")
    make_hospital("Bệnh viện Nhân dân 115", beds={"icu": (1, 0)})
    first = workers.start()
    wait_for(lambda: holds_role(first), timeout=WAIT_S, what="the first worker to hold the role")
    fid, due = followup_due_in(client, doc, 8, "0901000003")
    workers.kill(first)
    killed_at = time.monotonic()
    lease_left_ms = get_redis().pttl(LEASE_KEY)  # what the dead holder's lease still had
    # While no worker runs, a transfer is requested (its job waits in Redis) ...
    rid = post_transfer(client, doc, "p-kill-1")
    # ... and a second worker starts two seconds after the kill.
    time.sleep(2.0)
    second = workers.start()
    wait_for(lambda: holds_role(second), timeout=WAIT_S, what="the new worker to take the role")
    took = time.monotonic() - killed_at
    wait_for(lambda: held(rid), timeout=WAIT_S, what="the request to be matched")
    done = wait_for(lambda: dispatched(fid), timeout=WAIT_S, what="the follow-up to be dispatched")
    print(
        f"\nrole taken {took:.2f} s after the SIGKILL (the dead lease had {lease_left_ms} ms left;"
        " the new worker started 2 s after the kill)"
    )
    print(f"follow-up due across the kill: {(done - due).total_seconds():.2f} s late")
    assert followup(fid).state == "dispatched"


def test_a_transfer_whose_enqueue_failed_is_still_matched(
    client: Any, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_hospital("Bệnh viện Chợ Rẫy", beds={"icu": (1, 0)})
    doc = login(client, "doc")

    def redis_down(_due: Any) -> bool:
        raise redis.ConnectionError("Redis went away between the commit and the enqueue")

    # The failure is injected exactly where Redis is reached after the request committed.
    monkeypatch.setattr(enqueue, "enqueue_once", redis_down)
    rid = post_transfer(client, doc, "p-lost-1")
    monkeypatch.undo()
    assert request_status(rid) == "requested"
    assert Queue("dispatch", connection=get_redis_bytes()).count == 0  # no job anywhere
    workers.start()
    wait_for(lambda: held(rid), timeout=WAIT_S, what="the request to be matched")
    with unit_of_work() as session:
        req = session.get(TransferRequest, rid)
        assert req is not None and req.hospital_id is not None


class PrivateRedis:
    """A Redis server of this test's own, on a fixed port, that the test stops and restarts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, timeout=WAIT_S, what="the private Redis to start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_connect_timeout=1)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False


def test_a_worker_waits_out_a_redis_outage_and_does_what_fell_due(client: Any) -> None:
    seed_branches()
    doc = login(client, "doc")
    private = PrivateRedis()
    private.start()
    log = ROOT / "test-artifacts" / "duties-outage-worker.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", "from hotline.jobs import run_worker; run_worker()"],
            env=child_env({"REDIS_URL": private.url}),
            cwd=ROOT,
            start_new_session=True,
            stderr=out,
        )
    try:
        wait_for(
            lambda: f":{worker.pid}:" in str(private.client().get(LEASE_KEY) or ""),
            timeout=WAIT_S,
            what="the worker to hold the role",
        )
        fid, due = followup_due_in(client, doc, 2, "0901000009")
        private.stop()
        # The follow-up falls due while Redis is gone.
        wait_for(lambda: utcnow() > due + timedelta(seconds=2), timeout=WAIT_S, what="the due time")
        assert followup(fid).state == "scheduled" and worker.poll() is None
        private.start()
        back = utcnow()
        done = wait_for(lambda: dispatched(fid), timeout=WAIT_S, what="the follow-up after Redis")
        assert worker.poll() is None, "the worker survived the outage"
        print(f"\nfollow-up dispatched {(done - back).total_seconds():.2f} s after Redis came back")
        # One line per outage from each loop, not one per retry.
        text = log.read_text()
        assert text.count("could not connect to Redis") == 1, text
        assert text.count("scheduler: Redis unreachable") == 1, text
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        private.stop()


def test_a_worker_started_before_redis_answers_waits_for_it(client: Any) -> None:
    # As during a failover, or when the machine boots the workers before Redis.
    seed_branches()
    doc = login(client, "doc")
    private = PrivateRedis()
    worker = LiveWorker({"REDIS_URL": private.url}).start()
    assert worker.proc is not None
    try:
        fid, _due = followup_due_in(client, doc, 1, "0901000010")
        time.sleep(5)  # long enough to import, make RQ's worker and find nothing listening
        assert worker.proc.poll() is None, "the worker exited while Redis was not there"
        private.start()
        wait_for(lambda: dispatched(fid), timeout=WAIT_S, what="the follow-up once Redis answers")
        assert f":{worker.proc.pid}:" in str(private.client().get(LEASE_KEY) or "")
    finally:
        worker.stop()
        private.stop()
