"""A transfer decision opens a transfer request in dispatch, with the right bed, urgency and pickup."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dispatch import transfers as dispatch_transfers
from kernel.db import unit_of_work
from tests.helpers import answered_call_from, login, new_patient, sign
from triage import jobs
from triage.models import FollowUp, Transfer


def test_oxygen_transfer_creates_a_dispatch_request(client: Any, settings: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc, lat=10.80, lon=106.65)
    a = sign(client, doc, p["id"], vitals={"spo2": 93})
    assert a["decision"]["action"] == "transfer" and a["decision"]["tier"] == 2
    tr = a["transfer"]
    assert tr["state"] == "requested" and tr["bed_type"] == "oxygen"
    assert tr["urgency"] == "urgent" and tr["dispatch_status"] == "requested"
    assert a["follow_up"] is None
    with unit_of_work() as session:
        req = dispatch_transfers.get_transfer(session, tr["transfer_request_id"])
        assert (req.patient_ref, req.bed_type, req.urgency) == (p["id"], "oxygen", "urgent")
        assert (req.pickup_lat, req.pickup_lon) == (10.80, 106.65)
        assert "NEWS2" in req.note and a["id"] in req.note
    answered_call_from("doc")
    got = client.get(f"/api/v1/triage/patients/{p['id']}", headers=doc).json()
    assert got["care_tier"] == 2


def test_icu_transfer_uses_the_ward_centroid(client: Any, settings: Any) -> None:
    settings.triage_ward_centroids = {"26734": (10.7626, 106.6602)}
    doc = login(client, "doc")
    p = new_patient(client, doc, ward_code="26734")
    a = sign(client, doc, p["id"], vitals={"spo2": 88})
    tr = a["transfer"]
    assert (tr["bed_type"], tr["urgency"]) == ("icu", "emergency")
    assert tr["pickup"] == {"lat": 10.7626, "lon": 106.6602, "source": "ward_centre"}


def test_override_to_transfer_and_a_second_decision_joins_the_live_request(
    client: Any,
) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    first = sign(
        client,
        doc,
        p["id"],
        decision={"action": "transfer", "level_of_care": "oxygen"},
        override_reason="lives alone, cannot self-report",
    )
    assert first["overridden"] and first["transfer"]["state"] == "requested"
    again = sign(client, doc, p["id"], vitals={"spo2": 94})
    assert again["transfer"]["transfer_request_id"] == first["transfer"]["transfer_request_id"]


def test_dispatch_unavailable_queues_then_the_sweep_requests(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)

    def dispatch_down(*_: Any, **__: Any) -> Any:
        raise ConnectionError("dispatch unavailable")

    monkeypatch.setattr(dispatch_transfers, "create_transfer_request", dispatch_down)
    a = sign(client, doc, p["id"], vitals={"spo2": 93})
    assert a["transfer"]["state"] == "queued" and a["transfer"]["transfer_request_id"] is None
    monkeypatch.undo()
    assert jobs.sweep_once()["transfers"] == 1
    with unit_of_work() as session:
        tr = session.scalar(select(Transfer))
        assert tr is not None and tr.state == "requested" and tr.transfer_request_id
        assert session.scalar(select(FollowUp.id)) is None


def test_timeline_merges_assessments_followups_and_transfers(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    sign(client, doc, p["id"])
    sign(client, doc, p["id"], vitals={"spo2": 93, "respiratory_rate": 22})
    answered_call_from("doc")
    tl = client.get(f"/api/v1/triage/patients/{p['id']}/timeline", headers=doc).json()
    kinds = [i["kind"] for i in tl["items"]]
    assert kinds.count("assessment") == 2 and "transfer" in kinds and "follow_up" in kinds
    assert [(t["news2"], t["spo2"]) for t in tl["trend"]] == [(0, 98), (4, 93)]
    cancelled = [i for i in tl["items"] if i["kind"] == "follow_up"]
    assert cancelled[0]["state"] == "cancelled"


def test_demo_seed_is_idempotent(client: Any) -> None:
    from hotline.demo import seed_demo as seed_hotline
    from triage import demo
    from triage.models import Assessment, Patient

    with unit_of_work() as session:
        seed_hotline(session)
    with unit_of_work() as session:
        assert demo.seed_demo(session)
    with unit_of_work() as session:
        assert demo.seed_demo(session) == []
        assert len(session.scalars(select(Patient)).all()) == 3
        assert len(session.scalars(select(Assessment)).all()) == 5


def test_pickup_says_where_it_came_from(client: Any, settings: Any) -> None:
    """A precise point, the ward's imported centre, or unknown: never a silent city centre."""
    from triage.areas.models import District, Province, Ward

    with unit_of_work() as session:
        session.add(Province(code="79", name="Hồ Chí Minh"))
        session.flush()
        session.add(District(code="760", province_code="79", name="Quận 1"))
        session.flush()
        session.add(
            Ward(
                code="26743",
                district_code="760",
                name="Bến Thành",
                population=10_000,
                centre_lat=10.7725,
                centre_lon=106.6980,
            )
        )
    doc = login(client, "doc_pickup")
    cases = [
        ({"lat": 10.80, "lon": 106.65}, (10.80, 106.65, "precise")),
        ({"ward_code": "26743", "street": "12 Lê Lợi"}, (10.7725, 106.6980, "ward_centre")),
        ({}, (settings.triage_default_lat, settings.triage_default_lon, "unknown")),
    ]
    for n, (where, expected) in enumerate(cases):
        p = new_patient(client, doc, phones=[f"090100000{n}"], **where)
        tr = sign(client, doc, p["id"], vitals={"spo2": 93})["transfer"]
        assert (tr["pickup"]["lat"], tr["pickup"]["lon"], tr["pickup"]["source"]) == expected
        with unit_of_work() as session:
            req = dispatch_transfers.get_transfer(session, tr["transfer_request_id"])
            assert req.pickup_source == expected[2]
    answered_call_from("doc_pickup", "0901000002")  # the record opens to the doctor on a call
    got = client.get(f"/api/v1/triage/patients/{p['id']}", headers=doc).json()
    assert got["street"] is None
    with_street = new_patient(client, doc, phones=["0901999999"], street="12 Lê Lợi")
    assert with_street["street"] == "12 Lê Lợi"
