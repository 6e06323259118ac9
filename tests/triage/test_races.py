"""Concurrency claims: one amendment per record, one dispatch per follow-up, whoever races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from kernel.accounts import Principal, Role, User
from kernel.db import unit_of_work
from kernel.errors import DomainError
from tests.helpers import STABLE_VITALS, RecordingSink, followup, login, new_patient, sign
from triage import followups
from triage.models import Patient
from triage.schemas import AssessmentIn
from triage.signing import AlreadyAmended, sign_assessment


def race(fn: Callable[[], Any], n: int = 6) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            out: Any = fn()
        except DomainError as exc:
            out = exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_amendments_one_wins(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    first = sign(client, doc, p["id"])
    with unit_of_work() as session:
        user = session.scalars(select(User).where(User.username == "doc")).one()
        who = Principal(id=user.id, role=Role.DOCTOR, username="doc")

    def amend() -> str:
        with unit_of_work() as session:
            patient = session.get(Patient, p["id"])
            assert patient is not None
            body = AssessmentIn.model_validate({"vitals": STABLE_VITALS, "amends_id": first["id"]})
            return sign_assessment(session, who, patient, body).id

    results = race(amend)
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, AlreadyAmended)]
    assert len(won) == 1 and len(lost) == len(results) - 1, results


def test_concurrent_due_jobs_dispatch_once(client: Any, sink: RecordingSink) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    fu = followup(sign(client, doc, p["id"])["follow_up"]["id"])

    def due() -> bool:
        with unit_of_work() as session:
            return followups.dispatch_due(session, fu.id, fu.due_at)

    assert sorted(race(due)) == [False] * 5 + [True]
    assert len(sink.dispatched) == 1
