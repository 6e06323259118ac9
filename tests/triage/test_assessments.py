"""Patients, signed assessments: immutability, amendment chains, who may read, the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kernel.db import unit_of_work
from kernel.events import Event
from tests.helpers import (
    STABLE_VITALS,
    TRIAGE_API,
    answered_call_from,
    auth,
    doctor_id_for,
    login,
    make_user,
    new_patient,
    seed_branches,
    sign,
    token_for,
)
from triage.assessments import content_hash
from triage.caller_risk import CallerRisk, caller_risk
from triage.models import Assessment, ImmutableRecord


def test_patient_create_search_and_household(client: Any) -> None:
    doc = login(client, "doc")
    answered_call_from("doc")  # the console's way in: a call from the patient's number
    a = new_patient(client, doc, phones=["090 123-4567"])
    assert a["phones"] == ["0901234567"]
    new_patient(client, doc, full_name="Trần Thị Bình", age_years=70)
    by_phone = client.get(
        f"{TRIAGE_API}/patients", params={"phone": "0901234567"}, headers=doc
    ).json()
    assert sorted(p["full_name"] for p in by_phone) == ["Nguyễn Văn An", "Trần Thị Bình"]
    by_name = client.get(f"{TRIAGE_API}/patients", params={"name": "bình"}, headers=doc).json()
    assert [p["full_name"] for p in by_name] == ["Trần Thị Bình"]
    bad = client.post(
        f"{TRIAGE_API}/patients", json={"full_name": "X", "phones": ["12ab"]}, headers=doc
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "phones"
    assert client.get(f"{TRIAGE_API}/patients", headers=doc).status_code == 422


def test_outcome_is_recorded_with_a_date(client: Any) -> None:
    doc = login(client, "doc")
    answered_call_from("doc")  # the console's way in: a call from the patient's number
    p = new_patient(client, doc)
    res = client.patch(
        f"{TRIAGE_API}/patients/{p['id']}", json={"outcome": "recovered"}, headers=doc
    )
    assert res.status_code == 200
    assert res.json()["outcome"] == "recovered" and res.json()["outcome_on"]
    bad = client.patch(f"{TRIAGE_API}/patients/{p['id']}", json={"outcome": "lost"}, headers=doc)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "outcome"


def test_sign_records_scores_hash_and_rules_version(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"], call_id="call-1", notes="stable")
    assert a["scores"]["news2"]["total"] == 0
    assert a["decision"]["action"] == "home_care" and not a["overridden"]
    assert a["rules_version"].startswith("news2-rcp-2017/r2+moh-261-2022")
    assert len(a["content_hash"]) == 64 and a["hash_valid"]
    assert a["follow_up"]["state"] == "scheduled" and a["follow_up"]["interval_hours"] == 12
    assert a["call_id"] == "call-1"


def test_age_comes_from_the_patient_or_is_required(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc, age_years=None)
    res = client.post(
        f"{TRIAGE_API}/patients/{p['id']}/assessments", json={"vitals": STABLE_VITALS}, headers=doc
    )
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "vitals.age"
    sign(client, doc, p["id"], vitals={"age": 33})


def test_bad_vitals_name_the_field_and_store_nothing(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    res = client.post(
        f"{TRIAGE_API}/patients/{p['id']}/assessments",
        json={"vitals": {**STABLE_VITALS, "spo2": 120}},
        headers=doc,
    )
    assert res.status_code == 422
    assert res.json()["detail"] == [{"field": "spo2", "rule": "must be between 50 and 100 %"}]
    with unit_of_work() as session:
        assert session.scalar(select(Assessment.id)) is None


def test_override_needs_a_reason(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    # SpO2 95 is a warning sign: the recommendation is an oxygen bed.
    res = client.post(
        f"{TRIAGE_API}/patients/{p['id']}/assessments",
        json={"vitals": {**STABLE_VITALS, "spo2": 95}, "decision": {"action": "home_care"}},
        headers=doc,
    )
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "override_reason"
    a = sign(
        client,
        doc,
        p["id"],
        vitals={"spo2": 95},
        decision={"action": "home_care", "follow_up_hours": 2},
        override_reason="re-measured 97% after 60 s at rest",
    )
    assert a["overridden"] and a["recommendation"]["action"] == "transfer"
    assert a["decision"] == {
        "action": "home_care",
        "level_of_care": None,
        "tier": None,
        "urgency": None,
        "follow_up_hours": 2,
    }
    # Agreeing explicitly is not an override.
    same = sign(client, doc, p["id"], decision={"action": "home_care"})
    assert not same["overridden"]


def test_only_doctors_sign(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    for name, role in (("sup", "supervisor"), ("boss", "admin"), ("disp", "dispatcher")):
        sign(client, login(client, name, role), p["id"], expect=403)


def test_no_route_changes_or_deletes_an_assessment(client: Any) -> None:
    doc = login(client, "doc")
    answered_call_from("doc")  # the console's way in: a call from the patient's number
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    url = f"{TRIAGE_API}/assessments/{a['id']}"
    for method in ("put", "patch", "delete"):
        res = client.request(method.upper(), url, json={"notes": "edited"}, headers=doc)
        assert res.status_code == 405, (method, res.status_code)
    nested = f"{TRIAGE_API}/patients/{p['id']}/assessments/{a['id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        assert client.request(method, nested, json={}, headers=doc).status_code in (404, 405)
    spec = client.get("/openapi.json").json()["paths"]
    methods = {m for path, ops in spec.items() if "assessment" in path for m in ops}
    assert methods == {"get", "post"}, methods
    assert client.get(url, headers=doc).json()["notes"] == ""


def test_the_orm_refuses_updates_and_deletes(client: Any) -> None:
    doc = login(client, "doc")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    with pytest.raises(ImmutableRecord), unit_of_work() as session:
        row = session.get(Assessment, a["id"])
        assert row is not None
        row.notes = "rewritten"
        session.flush()
    with pytest.raises(ImmutableRecord), unit_of_work() as session:
        row = session.get(Assessment, a["id"])
        session.delete(row)
        session.flush()
    with unit_of_work() as session:
        row = session.get(Assessment, a["id"])
        assert row is not None and row.notes == ""
        assert content_hash(row) == row.content_hash


def test_amendments_chain(client: Any) -> None:
    doc = login(client, "doc")
    answered_call_from("doc")  # the console's way in: a call from the patient's number
    p = new_patient(client, doc)
    first = sign(client, doc, p["id"], vitals={"pulse": 70})
    second = sign(client, doc, p["id"], amends_id=first["id"], vitals={"pulse": 95})
    third = sign(client, doc, p["id"], amends_id=second["id"], notes="typo in pulse")
    assert second["amends_id"] == first["id"] and third["amends_id"] == second["id"]
    again = client.post(
        f"{TRIAGE_API}/patients/{p['id']}/assessments",
        json={"vitals": STABLE_VITALS, "amends_id": first["id"]},
        headers=doc,
    )
    assert again.status_code == 409 and again.json()["error"] == "already_amended"
    assert (
        client.get(f"{TRIAGE_API}/assessments/{first['id']}", headers=doc).json()["amended_by_id"]
        == second["id"]
    )
    other = new_patient(client, doc, full_name="Lê Văn Cường", phones=["0907654321"])
    cross = client.post(
        f"{TRIAGE_API}/patients/{other['id']}/assessments",
        json={"vitals": STABLE_VITALS, "amends_id": third["id"]},
        headers=doc,
    )
    assert cross.status_code == 422 and cross.json()["detail"][0]["field"] == "amends_id"
    tl = client.get(f"{TRIAGE_API}/patients/{p['id']}/timeline", headers=doc).json()
    # The trend shows only the latest word of each chain.
    assert [t["assessment_id"] for t in tl["trend"]] == [third["id"]]


def test_read_permissions_and_audit_trail(client: Any) -> None:
    doc = login(client, "doc")
    other = login(client, "other")
    sup = login(client, "sup", "supervisor")
    disp = login(client, "disp", "dispatcher")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    url = f"{TRIAGE_API}/assessments/{a['id']}"
    # The doctor who registered the patient is on the care team (the caller may be a
    # relative, calling from another number).
    assert client.get(url, headers=doc).status_code == 200
    assert client.get(url, headers=sup).status_code == 200
    denied = client.get(url, headers=other)
    assert denied.status_code == 403 and denied.json()["error"] == "not_on_care_team"
    assert client.get(url, headers=disp).status_code == 403
    assert client.get(f"{TRIAGE_API}/patients/{p['id']}/timeline", headers=other).status_code == 403
    # Another doctor may not sign for the patient either (signing once opened the record).
    assert sign(client, other, p["id"], expect=403)["error"] == "not_on_care_team"
    assert client.get(f"{TRIAGE_API}/patients/{p['id']}", headers=other).status_code == 403
    # Taking a call from the patient's number puts them on the care team.
    answered_call_from("other")
    sign(client, other, p["id"])
    assert client.get(url, headers=other).status_code == 200
    with unit_of_work() as session:
        reads = session.scalars(
            select(Event).where(Event.kind == "assessment.read", Event.subject_id == a["id"])
        ).all()
        assert sorted(e.actor or "" for e in reads) == ["user:doc", "user:other", "user:sup"]
        signed = session.scalars(select(Event).where(Event.kind == "assessment.signed")).all()
        assert {e.actor for e in signed} == {"user:doc", "user:other"}
        assert all(e.data["content_hash"] for e in signed)


def test_caller_took_a_call_joins_the_care_team(client: Any) -> None:
    from hotline import branches
    from hotline.models import Call
    from kernel.db import utcnow

    seed_branches()
    doc = login(client, "doc")
    p = new_patient(client, doc)
    a = sign(client, doc, p["id"])
    make_user("oncall", "doctor", branches={"3": 1})
    oncall_id = doctor_id_for("oncall")
    with unit_of_work() as session:
        branch = branches.branch_by_digit(session, "3")
        session.add(
            Call(
                provider_call_id="pc-1",
                caller="0901234567",
                branch_id=branch.id,
                status="completed",
                doctor_id=oncall_id,
                answered_by=oncall_id,
                answered_at=utcnow(),
            )
        )
    res = client.get(
        f"{TRIAGE_API}/assessments/{a['id']}", headers=auth(token_for(client, "oncall"))
    )
    assert res.status_code == 200


def test_caller_risk_for_routing(client: Any) -> None:
    doc = login(client, "doc")
    with unit_of_work() as session:
        assert caller_risk(session, "0901234567") is None
    p = new_patient(client, doc, age_years=70)
    new_patient(client, doc, full_name="Child", age_years=8)
    with unit_of_work() as session:
        risk = caller_risk(session, "0901234567")
        assert risk == CallerRisk(severe=False, high_risk=False, age=70)
    sign(
        client,
        doc,
        p["id"],
        vitals={"spo2": 92},
        decision={"action": "home_care", "follow_up_hours": 1},
        override_reason="family refuses transfer; oxygen at home",
    )
    new_patient(client, doc, full_name="Pregnant", age_years=30, pregnant=True)
    with unit_of_work() as session:
        risk = caller_risk(session, "0901234567")
        assert risk is not None and risk.severe and risk.high_risk and risk.age == 70
