"""Routing rules through the public API: offers, re-offers, priority, autopause, wrap-up, call-backs."""

from __future__ import annotations

import time

import pytest

from hotline.app import sweep_once
from hotline.models import Call
from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.redisconn import get_redis
from tests.helpers import (
    arrive,
    auth,
    doctor_id_for,
    make_user,
    offers_for,
    seed_branches,
    signed_get,
    signed_post,
    token_for,
    wait_for,
    ws_ticket,
)


@pytest.fixture
def two_doctors(client):
    seed_branches()
    make_user("dr_a", "doctor", branches={"3": 1})
    make_user("dr_b", "doctor", branches={"3": 1})
    return token_for(client, "dr_a"), token_for(client, "dr_b")


def go(client, token, state="available"):
    res = client.put("/api/v1/doctors/me/presence", json={"state": state}, headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def console(client, token):
    res = client.get("/api/v1/doctors/me", headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def idle_order_passed(username):
    """Wait until Redis's clock is past the millisecond the doctor went idle at.

    The idle order is kept in milliseconds: whoever goes available after this is strictly later.
    """
    r = get_redis()
    idle = int(r.hget(keys.doctor(doctor_id_for(username)), "idle"))

    def now_ms():
        seconds, micros = r.time()
        return seconds * 1000 + micros // 1000

    wait_for(lambda: now_ms() > idle, what=f"Redis's clock to pass {username}'s idle time")


def call_row(call_id):
    with unit_of_work() as s:
        return s.get(Call, call_id)


def test_a_call_is_offered_to_the_longest_idle_doctor_and_accepted(client, two_doctors):
    a, b = two_doctors
    go(client, a)
    idle_order_passed("dr_a")
    go(client, b)
    res = arrive(client, "pc-1")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "queued"
    offer = console(client, a)["offer"]
    assert offer is not None and offer["call_id"] == body["call_id"]
    assert console(client, b)["offer"] is None
    res = client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "connected"
    got = client.get(f"/api/v1/calls/{body['call_id']}", headers=auth(a)).json()
    assert got["status"] == "connected" and got["doctor_id"] == doctor_id_for("dr_a")
    # accepting twice is refused: the offer is gone
    again = client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
    assert again.status_code == 409 and again.json()["error"] == "offer_gone"


def test_only_the_offered_doctor_can_accept(client, two_doctors):
    a, b = two_doctors
    go(client, a)
    call_id = arrive(client, "pc-2").json()["call_id"]
    offer = console(client, a)["offer"]
    res = client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(b))
    assert res.status_code == 409
    assert call_row(call_id).status == "offered"


def test_expired_offer_goes_to_next_doctor_and_call_keeps_its_place(client, two_doctors, settings):
    settings.offer_timeout_s = 0.3
    a, b = two_doctors
    go(client, a)
    first = arrive(client, "pc-first", caller="0900000001").json()["call_id"]
    second = arrive(client, "pc-second", caller="0900000002").json()["call_id"]
    assert console(client, a)["offer"]["call_id"] == first
    time.sleep(0.4)  # the offer times out
    sweep_once()
    # a missed the first call, so a is offered the next one; the first call is back at
    # the head of the queue and goes to the next doctor who comes in
    assert console(client, a)["offer"]["call_id"] == second
    go(client, b)
    assert console(client, b)["offer"]["call_id"] == first
    outcomes = [o.outcome for o in offers_for(first)]
    assert outcomes == ["expired", None]


def test_decline_passes_the_call_on(client, two_doctors):
    a, b = two_doctors
    go(client, a)
    idle_order_passed("dr_a")
    go(client, b)
    call_id = arrive(client, "pc-d").json()["call_id"]
    offer = console(client, a)["offer"]
    res = client.post(f"/api/v1/offers/{offer['offer_id']}/decline", headers=auth(a))
    assert res.status_code == 204
    assert console(client, b)["offer"]["call_id"] == call_id
    assert console(client, a)["offer"] is None
    assert console(client, a)["state"] == "available"


def test_priority_classes_go_first_fifo_inside_a_class(client, two_doctors):
    from hotline import calls
    from hotline.routing.router import Router
    from kernel.redisconn import get_redis

    a, _ = two_doctors
    # Calls arrive while nobody is available: order of arrival 1..4.
    ids = []
    for i in range(4):
        ids.append(arrive(client, f"pc-p{i}", caller=f"090000010{i}").json()["call_id"])
    # The third caller is a known high-risk patient: raise its class directly in the queue
    # as the priority function would at arrival.
    with unit_of_work() as s:
        call = s.get(Call, ids[2])
        call.priority = int(calls.Priority.HIGH_RISK)
    get_redis().zadd(
        keys.queue("3"), {ids[2]: Router.score(1, int(call.queued_at.timestamp() * 1000))}
    )
    go(client, a)
    order = []
    for _ in range(4):
        offer = console(client, a)["offer"]
        order.append(offer["call_id"])
        client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
        client.post(
            f"/api/v1/calls/{offer['call_id']}/complete",
            headers=auth(a),
            json={"disposition": "advice_given", "notes": ""},
        )
        get_redis().zadd(keys.WRAP_UPS, {doctor_id_for("dr_a"): 0})  # end wrap-up now
        sweep_once()
    assert order == [ids[2], ids[0], ids[1], ids[3]]


def test_returning_abandoned_caller_is_ranked_above_routine(client, two_doctors):
    arrive(client, "pc-r1", caller="0911111111")
    signed_post(client, "/api/v1/telephony/calls/pc-r1/hangup")
    arrive(client, "pc-other", caller="0922222222")
    again = arrive(client, "pc-r2", caller="0911111111").json()
    assert again["position"] == 1
    assert call_row(again["call_id"]).priority_reason == "called and gave up recently"


def test_autopause_after_consecutive_missed_offers(client, two_doctors, settings):
    settings.offer_timeout_s = 0.2
    settings.autopause_after_missed = 2
    a, _ = two_doctors
    go(client, a)
    arrive(client, "pc-m1")
    # Each sleep lets an offer time out: the behaviour under test.
    time.sleep(0.3)
    sweep_once()
    assert console(client, a)["state"] == "available"  # one miss: still routed
    time.sleep(0.25)
    sweep_once()
    assert console(client, a)["state"] == "offered"  # the call comes back to the only doctor
    time.sleep(0.3)
    sweep_once()
    assert console(client, a)["state"] == "away"
    assert console(client, a)["offer"] is None


def test_wrap_up_before_next_offer(client, two_doctors, settings):
    settings.wrapup_s = 0.4
    a, _ = two_doctors
    go(client, a)
    first = arrive(client, "pc-w1").json()["call_id"]
    offer = console(client, a)["offer"]
    client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
    second = arrive(client, "pc-w2").json()["call_id"]
    res = client.post(
        f"/api/v1/calls/{first}/complete",
        headers=auth(a),
        json={"disposition": "advice_given", "notes": "ok"},
    )
    assert res.status_code == 200
    sweep_once()
    assert console(client, a)["state"] == "wrap_up"
    assert console(client, a)["offer"] is None
    time.sleep(0.5)  # the wrap-up time runs out
    sweep_once()
    assert console(client, a)["offer"]["call_id"] == second


def test_hangup_while_waiting_abandons_and_withdraws_offer(client, two_doctors):
    a, _ = two_doctors
    go(client, a)
    call_id = arrive(client, "pc-h").json()["call_id"]
    offer_id = console(client, a)["offer"]["offer_id"]
    res = signed_post(client, "/api/v1/telephony/calls/pc-h/hangup")
    assert res.json()["status"] == "abandoned"
    assert call_row(call_id).status == "abandoned"
    assert console(client, a)["state"] == "available"
    assert client.post(f"/api/v1/offers/{offer_id}/accept", headers=auth(a)).status_code == 409
    assert [o.outcome for o in offers_for(call_id)] == ["withdrawn"]


def test_hangup_while_connected_ends_the_call_then_doctor_completes(client, two_doctors):
    a, _ = two_doctors
    go(client, a)
    call_id = arrive(client, "pc-hc").json()["call_id"]
    offer = console(client, a)["offer"]
    client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
    assert signed_post(client, "/api/v1/telephony/calls/pc-hc/hangup").json()["status"] == "ended"
    assert call_row(call_id).status == "wrap_up"
    res = client.post(
        f"/api/v1/calls/{call_id}/complete",
        headers=auth(a),
        json={"disposition": "home_care", "notes": "stable"},
    )
    assert res.json()["status"] == "completed"


def test_callback_keeps_place_and_survives_hangup(client, two_doctors):
    a, _ = two_doctors
    first = arrive(client, "pc-cb", caller="0933333333").json()["call_id"]
    arrive(client, "pc-after", caller="0944444444")
    res = signed_post(client, "/api/v1/telephony/calls/pc-cb/callback")
    assert res.json()["status"] == "callback_pending"
    signed_post(client, "/api/v1/telephony/calls/pc-cb/hangup")
    assert call_row(first).status == "callback_pending"
    go(client, a)
    offer = console(client, a)["offer"]
    assert offer["call_id"] == first
    client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth(a))
    res = signed_get(client, "/api/v1/telephony/instructions?after=0")
    dial = [i for i in res.json() if i["action"] == "dial"]
    assert dial and dial[0]["params"]["number"] == "0933333333"


def test_silent_console_leaves_routing(client, two_doctors, settings, r):
    settings.heartbeat_timeout_s = 0.3
    a, b = two_doctors
    go(client, a)
    go(client, b)
    # a stays silent past the 0.3 s heartbeat timeout; b beats half way through.
    time.sleep(0.2)
    client.post("/api/v1/doctors/me/heartbeat", headers=auth(b))
    time.sleep(0.2)
    sweep_once()
    assert console(client, a)["state"] == "offline"
    assert console(client, b)["state"] == "available"


def test_heartbeats_over_the_console_websocket_keep_a_doctor_in_routing(
    client, two_doctors, settings, r
):
    # Heartbeats that arrive on the websocket are written to Redis in batches: a console
    # that keeps sending them stays in routing, the silent one leaves it.
    settings.heartbeat_timeout_s = 2.0
    a, b = two_doctors
    go(client, a)
    go(client, b)
    b_id = console(client, b)["doctor"]["id"]
    started = time.monotonic()
    with client.websocket_connect(f"/ws/console?ticket={ws_ticket(client, b)}") as ws:
        assert ws.receive_json()["type"] == "hello"
        time.sleep(1.5)
        before = r.zscore(keys.HEARTBEATS, b_id)
        ws.send_json({"type": "heartbeat"})
        wait_for(lambda: r.zscore(keys.HEARTBEATS, b_id) > before, what="b's heartbeat")
        time.sleep(max(0.0, started + 2.2 - time.monotonic()))
        sweep_once()
    assert console(client, a)["state"] == "offline"
    assert console(client, b)["state"] == "available"


def test_calls_of_one_millisecond_stand_in_line_in_the_order_they_came(r):
    """A batch of arrivals can share a millisecond: each caller still hears a place of
    their own, the line keeps their order, and a call handed back keeps its place."""
    from hotline.routing.router import router_for

    router = router_for(r)
    same_ms = 1_700_000_000_000
    came = ["call-e", "call-d", "call-c", "call-b", "call-a"]  # ids in the reverse order
    heard = []
    for call_id in came:
        out = router.enqueue(
            call_id=call_id,
            branch="3",
            priority=1,
            queued_ms=same_ms,
            caller="0900000000",
            max_queue=100,
            timeout_ms=15_000,
        )
        heard.append(out.position)
    assert heard == [1, 2, 3, 4, 5]
    assert r.zrange(keys.queue("3"), 0, -1) == came
    # The first is offered to a doctor, who declines it: it goes back to the head, not
    # behind the others of its millisecond.
    out = router.set_presence(
        doctor_id="doc-1", state="available", branches={"3": 1}, timeout_ms=15_000
    )
    (offer,) = out.offers
    assert offer.call_id == "call-e"
    assert r.zrange(keys.queue("3"), 0, -1) == came[1:]
    router.decline(offer_id=offer.offer_id, doctor_id="doc-1", timeout_ms=15_000)
    line = r.zrange(keys.queue("3"), 0, -1)  # the doctor may have been offered call-d meanwhile
    assert line[0] == "call-e" and line[1:] == [c for c in came[1:] if c in line]
    assert router.position("call-e") == ("queued", 1)
