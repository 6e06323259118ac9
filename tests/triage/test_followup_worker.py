"""A real RQ worker killed by SIGKILL in the middle of a follow-up job: the follow-up still happens once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kernel import events
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import get_redis
from tests.helpers import ROOT, child_env, followup, login, new_patient, sign, wait_for
from triage import jobs
from triage.models import FollowUp
from triage.ports import DueFollowUp

HANG = "test:sink:hang"  # "before" hangs inside the transaction, "after" once it committed
HUNG = "test:sink:hung"
ENTERED = "test:sink:entered"


class SlowSink:
    """Writes its effect in the job's transaction, then hangs where the test says."""

    def dispatch(self, session: Session, task: DueFollowUp) -> None:
        r = get_redis()
        events.record(
            session, kind="test.sink", subject_type="followup", subject_id=task.followup_id
        )
        session.flush()
        r.incr(ENTERED)
        where = r.get(HANG)
        if where == "before":
            r.set(HUNG, os.getpid())
            time.sleep(120)
        elif where == "after":

            def hang() -> None:
                r.set(HUNG, os.getpid())
                time.sleep(120)

            events.after_commit(session, hang)

    def escalate(self, session: Session, task: DueFollowUp) -> None:
        pass


sink = SlowSink()


def start_worker(*, burst: bool = False) -> subprocess.Popen[bytes]:
    # The worker takes this module's slow call centre in place of the hotline's own.
    code = (
        "import hotline.followups, tests.triage.test_followup_worker as here\n"
        "hotline.followups.sink = here.sink\n"
        "from hotline.jobs import run_worker\n"
        f"run_worker(burst={burst}, queues=['followups'])"
    )
    # Its own process group, so that the kill takes any child running the job with it.
    return subprocess.Popen(
        [sys.executable, "-c", code], env=child_env(), cwd=ROOT, start_new_session=True
    )


def kill_when_hung(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    def hung() -> str | None:
        horse = get_redis().get(HUNG)
        assert horse or proc.poll() is None, "the worker exited early"
        return horse

    horse = wait_for(hung, timeout=timeout, what="the worker to reach the sink")
    # The job runs in the worker itself (HOTLINE_WORKER_CLASS=simple) or in a forked child
    # in its own session (fork): a crash of the machine takes both, so both get SIGKILL.
    os.kill(int(horse), signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(int(horse), os.WNOHANG)
    get_redis().delete(HANG, HUNG)


def due_followup(client: Any) -> str:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    fid: str = sign(client, doc, p["id"])["follow_up"]["id"]
    past = followup(fid).due_at - timedelta(hours=13)
    with unit_of_work() as session:
        session.execute(update(FollowUp).where(FollowUp.id == fid).values(due_at=past))
    return fid


def effects(fid: str) -> tuple[str, int, int]:
    with unit_of_work() as session:
        fu = session.get(FollowUp, fid)
        assert fu is not None
        count = session.scalar(
            select(func.count(Event.id)).where(Event.kind == "test.sink", Event.subject_id == fid)
        )
        dispatched = session.scalar(
            select(func.count(Event.id)).where(
                Event.kind == "followup.dispatched", Event.subject_id == fid
            )
        )
        return fu.state, int(count or 0), int(dispatched or 0)


def run_burst() -> None:
    proc = start_worker(burst=True)
    assert proc.wait(120) == 0


def test_killed_mid_job_the_sweep_retries_and_it_happens_once(client: Any) -> None:
    fid = due_followup(client)
    r = get_redis()
    r.set(HANG, "before")
    jobs.followups_queue().enqueue(jobs.followup_due, fid)
    worker = start_worker()
    kill_when_hung(worker)
    # The killed job's transaction never committed: nothing happened yet.
    assert effects(fid) == ("scheduled", 0, 0)
    assert jobs.sweep_once()["due"] == 1
    run_burst()
    assert effects(fid) == ("dispatched", 1, 1)
    assert int(r.get(ENTERED) or 0) == 2  # entered twice, took effect once
    # Running the job again (RQ re-queueing the dead job, another sweep) changes nothing.
    assert jobs.sweep_once()["due"] == 0
    jobs.followups_queue().enqueue(jobs.followup_due, fid)
    run_burst()
    assert effects(fid) == ("dispatched", 1, 1)


def test_killed_after_commit_the_retry_does_not_repeat_it(client: Any) -> None:
    fid = due_followup(client)
    r = get_redis()
    r.set(HANG, "after")
    jobs.followups_queue().enqueue(jobs.followup_due, fid)
    kill_when_hung(start_worker())
    assert effects(fid) == ("dispatched", 1, 1)
    # RQ never heard the job finish; whatever re-runs it, the guarded transition refuses.
    assert jobs.sweep_once()["due"] == 0
    jobs.followups_queue().enqueue(jobs.followup_due, fid)
    run_burst()
    assert effects(fid) == ("dispatched", 1, 1)
    assert int(r.get(ENTERED) or 0) == 1
