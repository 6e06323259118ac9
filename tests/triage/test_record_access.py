"""A doctor reaches a patient's record only as the doctor who registered the patient, through
a call, an assigned follow-up, or breaking the glass; signing an assessment needs the same and
grants nothing; every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from hotline.models import Call
from kernel.db import unit_of_work, utcnow
from kernel.events import Event
from tests.helpers import (
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
from triage import followups
from triage.models import FollowUp, Patient


def _record_routes(patient_id: str, assessment_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"{TRIAGE_API}/patients/{patient_id}", None),
        ("PATCH", f"{TRIAGE_API}/patients/{patient_id}", {"sex": "female"}),
        ("GET", f"{TRIAGE_API}/patients/{patient_id}/timeline", None),
        ("GET", f"{TRIAGE_API}/assessments/{assessment_id}", None),
    ]


def _statuses(client: Any, headers: dict[str, str], patient_id: str, a_id: str) -> list[int]:
    return [
        client.request(m, url, json=body, headers=headers).status_code
        for m, url, body in _record_routes(patient_id, a_id)
    ]


def _found(client: Any, headers: dict[str, str], **query: str) -> list[str]:
    res = client.get(f"{TRIAGE_API}/patients", params=query, headers=headers)
    assert res.status_code == 200, res.text
    return [p["id"] for p in res.json()]


def _snapshot() -> tuple[Any, ...]:
    with unit_of_work() as s:
        patients = [(p.id, p.sex, p.full_name, p.outcome) for p in s.scalars(select(Patient))]
        events = [(e.id, e.kind) for e in s.scalars(select(Event).order_by(Event.id))]
        return patients, events


def _patient_with_assessment(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    author = login(client, "author")
    p = new_patient(client, author, phones=["0911111111"])
    a = sign(
        client,
        author,
        p["id"],
        decision={"action": "home_care", "follow_up_hours": 1},
        override_reason="checking back in an hour rather than the default interval",
    )
    return p, a


def test_a_doctor_without_a_relationship_is_refused_and_nothing_changes(client: Any) -> None:
    p, a = _patient_with_assessment(client)
    stranger = login(client, "stranger")
    before = _snapshot()
    # Nor may the stranger sign an assessment of the patient (it would be written into a
    # record they may not read, and act on it: follow-ups, a transfer).
    signing = sign(client, stranger, p["id"], expect=403)
    assert signing["error"] == "not_on_care_team"
    # Whatever the stranger sends: the refusal comes before the body is read, so a malformed
    # assessment or patch gets the same 403, not a 422 describing the record's fields.
    for method, url in (
        ("POST", f"{TRIAGE_API}/patients/{p['id']}/assessments"),
        ("PATCH", f"{TRIAGE_API}/patients/{p['id']}"),
    ):
        garbage = client.request(method, url, json={"spo2": "high", "x": [1]}, headers=stranger)
        assert (garbage.status_code, garbage.json()["error"]) == (403, "not_on_care_team")
    refusals = [
        client.request(m, url, json=body, headers=stranger)
        for m, url, body in _record_routes(p["id"], a["id"])
    ]
    assert [r.status_code for r in refusals] == [403, 403, 403, 403]
    assert {r.json()["error"] for r in refusals} == {"not_on_care_team"}
    assert _found(client, stranger, phone="0911111111") == []
    assert _found(client, stranger, name="Nguyễn") == []
    assert _snapshot() == before  # not even a read was recorded


def test_a_call_from_the_patients_number_opens_the_record(client: Any) -> None:
    p, a = _patient_with_assessment(client)
    doc = login(client, "oncall")
    other_number = login(client, "elsewhere")
    answered_call_from("elsewhere", "0922222222")  # a call, but from someone else
    answered_call_from("oncall", "0911111111")
    assert _statuses(client, doc, p["id"], a["id"]) == [200, 200, 200, 200]
    assert _found(client, doc, phone="0911111111") == [p["id"]]
    assert _statuses(client, other_number, p["id"], a["id"]) == [403, 403, 403, 403]


def test_an_assigned_follow_up_opens_the_record(client: Any) -> None:
    seed_branches()
    p, a = _patient_with_assessment(client)
    fu_id = a["follow_up"]["id"]
    make_user("checker", "doctor", branches={"3": 1})
    checker = auth(token_for(client, "checker"))
    checker_doctor = doctor_id_for("checker")
    assert _statuses(client, checker, p["id"], a["id"]) == [403, 403, 403, 403]
    with unit_of_work() as s:
        assert followups.dispatch_due(s, fu_id, now=utcnow() + timedelta(hours=2))
    with unit_of_work() as s:
        task_ref = s.scalar(select(FollowUp.task_ref).where(FollowUp.id == fu_id))
        # The follow-up call is offered to the checker (not answered yet: no call relationship).
        offered = s.execute(
            update(Call)
            .where(Call.task_ref == task_ref)
            .values(doctor_id=checker_doctor, status="offered")
        )
        assert offered.rowcount == 1  # type: ignore[attr-defined]
    assert _statuses(client, checker, p["id"], a["id"]) == [200, 200, 200, 200]


def test_breaking_the_glass_is_audited_and_runs_out(client: Any, settings: Any) -> None:
    p, a = _patient_with_assessment(client)
    doc, bystander = login(client, "er_doc"), login(client, "bystander")
    url = f"{TRIAGE_API}/patients/{p['id']}/break-glass"
    disp = login(client, "disp", "dispatcher")
    before = _snapshot()
    for body in ({}, {"reason": "short"}, {"reason": "   \u0000          "}):
        res = client.post(url, json=body, headers=doc)
        assert res.status_code == 422 and res.json()["detail"][0]["field"] == "reason"
    assert client.post(url, json={"reason": "no reason at all"}, headers=disp).status_code == 403
    assert _snapshot() == before
    assert _statuses(client, doc, p["id"], a["id"]) == [403, 403, 403, 403]

    reason = "patient collapsed at the ward gate; no call on record"
    res = client.post(url, json={"reason": reason}, headers=doc)
    assert res.status_code == 201 and res.json()["reason"] == reason
    with unit_of_work() as s:
        glass = s.scalars(select(Event).where(Event.kind == "patient.break_glass")).all()
        assert [(e.subject_id, e.actor, e.data["reason"]) for e in glass] == [
            (p["id"], "user:er_doc", reason)
        ]
    assert _statuses(client, doc, p["id"], a["id"]) == [200, 200, 200, 200]
    # The grant is the doctor's alone, and for this patient alone.
    assert _statuses(client, bystander, p["id"], a["id"]) == [403, 403, 403, 403]
    registrar = login(client, "registrar")
    other = new_patient(client, registrar, full_name="Khác", phones=["0933333333"])
    assert client.get(f"{TRIAGE_API}/patients/{other['id']}", headers=doc).status_code == 403
    # Its time runs out.
    settings.break_glass_ttl_s = 0
    assert _statuses(client, doc, p["id"], a["id"]) == [403, 403, 403, 403]


def test_supervisors_read_as_before(client: Any) -> None:
    p, a = _patient_with_assessment(client)
    sup = login(client, "sup", "supervisor")
    assert _statuses(client, sup, p["id"], a["id"]) == [200, 200, 200, 200]
    assert _found(client, sup, phone="0911111111") == [p["id"]]
