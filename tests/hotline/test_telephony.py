"""The telephony webhooks: signatures, idempotency, clear refusals, nothing half-written."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from hotline.models import Call
from kernel.db import unit_of_work
from kernel.events import Event
from tests.helpers import arrive, seed_branches, signed_post


def count(model):
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_missing_or_wrong_signature_is_refused(client):
    seed_branches()
    body = json.dumps({"provider_call_id": "x1", "caller": "0901234567", "digits": "3"})
    res = client.post("/api/v1/telephony/calls", content=body)
    assert res.status_code == 401 and res.json()["error"] == "bad_signature"
    res = client.post(
        "/api/v1/telephony/calls",
        content=body,
        headers={"X-Hotline-Signature": "sha256=" + "0" * 64},
    )
    assert res.status_code == 401
    # a signature over a different body does not carry over
    other = signed_post(client, "/api/v1/telephony/calls", raw=b"{}")
    assert other.status_code == 422
    assert count(Call) == 0


def test_same_provider_call_id_gives_the_same_call(client):
    seed_branches()
    first = arrive(client, "dup-1").json()
    second = arrive(client, "dup-1").json()
    assert first["call_id"] == second["call_id"]
    assert first["status"] == second["status"] == "queued"
    assert count(Call) == 1
    received = [e for e in _events() if e.kind == "call.received"]
    assert len(received) == 1


def _events():
    with unit_of_work() as s:
        return s.scalars(select(Event)).all()


def test_reusing_a_provider_call_id_for_another_caller_is_a_conflict(client):
    seed_branches()
    arrive(client, "dup-2", caller="0901111111")
    res = arrive(client, "dup-2", caller="0902222222")
    assert res.status_code == 409 and res.json()["error"] == "id_reused"


def test_garbage_json_wrong_types_and_unknown_branch_name_the_field(client):
    seed_branches()
    res = signed_post(client, "/api/v1/telephony/calls", raw=b"{not json")
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "body"
    res = signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": "g1", "caller": 12345, "digits": "3"},
    )
    assert res.status_code == 422
    assert [p["field"] for p in res.json()["detail"]] == ["caller"]
    res = signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": "g2", "caller": "not-a-phone", "digits": "3"},
    )
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "caller"
    res = signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": "g3", "caller": "0901234567", "digits": "9"},
    )
    assert res.status_code == 422
    assert res.json()["error"] == "unknown_branch"
    assert res.json()["detail"][0]["field"] == "digits"
    res = signed_post(
        client,
        "/api/v1/telephony/calls",
        {"provider_call_id": "g4", "caller": "0901234567", "digits": "3", "extra": 1},
    )
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "extra"
    assert count(Call) == 0
    assert [e for e in _events() if e.subject_type == "call"] == []


def test_full_queue_and_closed_branch_are_clear_rejections(client):
    seed_branches()
    with unit_of_work() as s:
        from hotline.models import Branch

        b3 = s.scalar(select(Branch).where(Branch.digit == "3"))
        b3.max_queue = 2
        b4 = s.scalar(select(Branch).where(Branch.digit == "4"))
        b4.opens_at, b4.closes_at = "00:00", "00:01"  # closed nearly all day
    assert arrive(client, "f1").json()["status"] == "queued"
    assert arrive(client, "f2").json()["position"] == 2
    full = arrive(client, "f3").json()
    assert full["status"] == "rejected" and full["reason"] == "queue_full"
    closed = arrive(client, "c1", digits="4").json()
    assert closed["status"] == "rejected" and closed["reason"] == "branch_closed"
    # rejected calls are recorded too, and told to the gateway
    with unit_of_work() as s:
        statuses = sorted(s.scalars(select(Call.status)).all())
    assert statuses == ["queued", "queued", "rejected", "rejected"]


def test_position_and_expected_wait(client):
    seed_branches()
    a = arrive(client, "w1").json()
    b = arrive(client, "w2").json()
    assert (a["position"], b["position"]) == (1, 2)
    assert 0 < a["expected_wait_s"] < b["expected_wait_s"]


def test_hangup_and_callback_for_unknown_call_are_404(client):
    assert signed_post(client, "/api/v1/telephony/calls/nope/hangup").status_code == 404
    assert signed_post(client, "/api/v1/telephony/calls/nope/callback").status_code == 404
