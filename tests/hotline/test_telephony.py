"""The telephony webhooks: signatures, idempotency, clear refusals, nothing half-written."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from hotline.models import Call
from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.security import signed_headers
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


def test_a_captured_request_cannot_be_sent_again_or_elsewhere(client, r):
    seed_branches()
    call_id = arrive(client, "cap-1").json()["call_id"]
    arrive(client, "cap-2", caller="0902222222")
    body = b"{}"
    captured = signed_headers("POST", "/api/v1/telephony/calls/cap-1/hangup", body)
    # The same request twice: the second is a replay.
    first = client.post("/api/v1/telephony/calls/cap-1/hangup", content=body, headers=captured)
    assert first.status_code == 200 and first.json()["status"] == "abandoned"
    replay = client.post("/api/v1/telephony/calls/cap-1/hangup", content=body, headers=captured)
    assert replay.status_code == 401 and replay.json()["error"] == "replayed_signature"
    # The signature names its path: it cannot hang up another call.
    other = client.post("/api/v1/telephony/calls/cap-2/hangup", content=body, headers=captured)
    assert other.status_code == 401 and other.json()["error"] == "bad_signature"
    # Nor its method.
    assert client.get("/api/v1/telephony/calls/cap-1/hangup", headers=captured).status_code in (
        401,
        405,
    )
    # A signature older than five minutes is refused, however right it is.
    old = signed_headers(
        "POST", "/api/v1/telephony/calls/cap-2/hangup", body, now=time.time() - 301
    )
    stale = client.post("/api/v1/telephony/calls/cap-2/hangup", content=body, headers=old)
    assert stale.status_code == 401 and "clock" in stale.json()["detail"]
    assert r.zcard(keys.queue("3")) == 1  # cap-2 still waits
    with unit_of_work() as s:
        abandoned = s.scalars(select(Event).where(Event.kind == "call.abandoned")).all()
    assert [e.subject_id for e in abandoned] == [call_id]


def test_concurrent_hangups_of_one_call_abandon_it_once(client):
    seed_branches()
    call_id = arrive(client, "many-hangups").json()["call_id"]

    base = int(time.time())

    def hang_up(attempt: int) -> int:
        path = "/api/v1/telephony/calls/many-hangups/hangup"
        return signed_post(client, path, signed_at=base - attempt).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(hang_up, range(10))) == {200}
    with unit_of_work() as s:
        kinds = s.scalars(select(Event.kind).where(Event.subject_id == call_id)).all()
        assert s.get(Call, call_id).status == "abandoned"
    assert kinds.count("call.abandoned") == 1
    late = arrive(client, "many-hangups", signed_at=time.time() - 20).json()
    assert late["status"] == "abandoned"


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


def test_a_callback_for_an_unknown_call_is_404(client):
    assert signed_post(client, "/api/v1/telephony/calls/nope/callback").status_code == 404


def test_a_hangup_that_comes_before_its_call_means_the_call_is_never_queued(client, r):
    seed_branches()
    first = time.time()  # the repeat is signed a second apart: the same second would be a replay
    res = signed_post(client, "/api/v1/telephony/calls/early/hangup", signed_at=first)
    assert res.status_code == 200 and res.json() == {"call_id": None, "status": "abandoned"}
    again = signed_post(client, "/api/v1/telephony/calls/early/hangup", signed_at=first - 1)
    assert again.status_code == 200
    late = arrive(client, "early").json()
    assert late["status"] == "abandoned" and late["position"] is None
    assert r.zcard(keys.queue("3")) == 0
    with unit_of_work() as s:
        call = s.scalars(select(Call)).one()
        assert call.status == "abandoned" and call.abandoned_at is not None
        kinds = s.scalars(select(Event.kind).where(Event.subject_id == call.id)).all()
    assert sorted(kinds) == ["call.abandoned", "call.received"]


def test_a_retry_queues_a_call_committed_by_an_attempt_that_never_reached_the_queue(client, r):
    from hotline import calls
    from hotline.branches import branch_by_digit

    seed_branches()
    # The first attempt committed the call and died before queuing it (the gateway got
    # no answer, or a 503).
    with unit_of_work() as s:
        call = calls.register_call(
            s, provider_call_id="ghost-1", caller="0901234567", branch=branch_by_digit(s, "3")
        )
        call_id = call.id
    assert r.zcard(keys.queue("3")) == 0
    retry = arrive(client, "ghost-1").json()
    assert retry == {
        "call_id": call_id,
        "status": "queued",
        "position": 1,
        "expected_wait_s": retry["expected_wait_s"],
        "reason": None,
    }
    assert r.zrange(keys.queue("3"), 0, -1) == [call_id]
    # A further retry finds it in line and queues nothing twice.
    assert arrive(client, "ghost-1").json()["position"] == 1
    assert r.zcard(keys.queue("3")) == 1
