"""A FHIR report and a JSON update racing on one pool, with holds taken meanwhile, through a real server.

Both routes share one update path, so whatever the interleaving: no accepted update is older than
the one stored before it, the pool ends with the counts of the newest accepted update, no bed is
counted twice (occupied + out of service + held never exceeds total) and every accepted update is
kept exactly once.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fhir.resources.R4B.measurereport import MeasureReport
from sqlalchemy import select

from dispatch import jobs
from dispatch.fhir import codes
from dispatch.models import BedHold, BedUpdate
from kernel.accounts import create_api_key
from kernel.db import unit_of_work
from tests.helpers import make_hospital, new_request, pool

PER_SENDER = 12
SENDERS = ("fhir", "fhir", "json", "json")
PATIENTS = 8


def _fhir_body(hospital_id: str, as_of: datetime, total: int, occupied: int) -> bytes:
    def coded(code: str) -> dict[str, Any]:
        return {"coding": [{"system": codes.SYSTEM, "code": code}]}

    report = MeasureReport.model_validate(
        {
            "status": "complete",
            "type": "summary",
            "measure": codes.MEASURE,
            "subject": {"reference": f"Location/{hospital_id}"},
            "period": {"start": as_of, "end": as_of},
            "group": [
                {
                    "code": coded("numICUBeds"),
                    "population": [
                        {"code": coded("total"), "count": total},
                        {"code": coded("occupied"), "count": occupied},
                    ],
                }
            ],
        }
    )
    return report.model_dump_json(exclude_none=True).encode()


def test_fhir_and_json_updates_racing_with_holds_never_go_back_in_time_or_overbook(live_server):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    hospital = make_hospital("Bệnh viện Đua", beds={"icu": (10, 0)}, as_of=base)
    with unit_of_work() as s:
        _, key = create_api_key(s, hospital_id=hospital, name="his")
    requests = [new_request(f"race-fhir-{i}") for i in range(PATIENTS)]

    # Distinct times dealt round-robin, each sender's now and then out of order: senders overtake
    # one another, so some updates are stored and some arrive after a newer one.
    rng = random.Random(7)
    plans: list[list[tuple[datetime, int, int]]] = []
    for n in range(len(SENDERS)):
        mine = [base + timedelta(seconds=1 + n + i * len(SENDERS)) for i in range(PER_SENDER)]
        for i in range(0, PER_SENDER - 1, 2):
            if rng.random() < 0.3:
                mine[i], mine[i + 1] = mine[i + 1], mine[i]
        plans.append([(t, rng.randint(2, 12), rng.randint(0, 2)) for t in mine])

    results: list[tuple[str, datetime, int, int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(SENDERS) + len(requests))

    def send(kind: str, plan: list[tuple[datetime, int, int]]) -> None:
        try:
            with httpx.Client(base_url=live_server.url, timeout=60) as http:
                barrier.wait()
                for as_of, total, occupied in plan:
                    if kind == "fhir":
                        res = http.post(
                            "/fhir/MeasureReport",
                            content=_fhir_body(hospital, as_of, total, occupied),
                            headers={"X-Api-Key": key, "Content-Type": "application/fhir+json"},
                        )
                    else:
                        res = http.put(
                            f"/api/v1/hospitals/{hospital}/beds/icu",
                            json={
                                "total": total,
                                "occupied": occupied,
                                "out_of_service": 0,
                                "as_of": as_of.isoformat(),
                            },
                            headers={"X-Api-Key": key},
                        )
                    with lock:
                        results.append((kind, as_of, total, occupied, res.status_code))
        except BaseException as exc:
            errors.append(exc)

    def hold(request_id: str) -> None:
        try:
            barrier.wait()
            jobs.match_request(request_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=send, args=(kind, plan))
        for kind, plan in zip(SENDERS, plans, strict=True)
    ] + [threading.Thread(target=hold, args=(rid,)) for rid in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(results) == PER_SENDER * len(SENDERS)

    # Only two answers: stored, or refused as stale / leaving no room for held beds.
    assert {status for *_, status in results} <= {200, 201, 409}
    accepted = [r for r in results if r[4] in (200, 201)]
    assert accepted

    with unit_of_work() as s:
        kept = s.execute(
            select(BedUpdate.as_of, BedUpdate.total, BedUpdate.occupied)
            .where(BedUpdate.hospital_id == hospital, BedUpdate.as_of > base)
            .order_by(BedUpdate.id)
        ).all()
        live = s.scalars(
            select(BedHold).where(BedHold.hospital_id == hospital, BedHold.released_at.is_(None))
        ).all()

    def utc(t: datetime) -> datetime:
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    # Nothing lost, nothing doubled: one kept row per accepted update, the same figures.
    assert sorted((utc(t), total, occ) for t, total, occ in kept) == sorted(
        (t, total, occ) for _, t, total, occ, _ in accepted
    )
    # Never back in time: in the order they were stored, every accepted update is newer.
    times = [utc(t) for t, *_ in kept]
    assert times == sorted(times) and len(set(times)) == len(times)
    # The pool holds the newest accepted counts, and never counts a bed twice.
    newest = max(accepted, key=lambda r: r[1])
    p = pool(hospital, "icu")
    assert (utc(p.as_of), p.total, p.occupied) == (newest[1], newest[2], newest[3])  # type: ignore[arg-type]
    assert p.held == len(live)
    assert p.occupied + p.out_of_service + p.held <= p.total
