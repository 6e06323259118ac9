"""The TwiML voice line, driven by a caller that follows the TwiML as the provider does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from twilio.request_validator import RequestValidator

from hotline.models import Call, Doctor, Offer
from hotline.routing import keys
from hotline.voice.caller import CallerError, VoiceCaller
from kernel.db import get_engine, unit_of_work
from kernel.events import Event
from tests.helpers import (
    assert_routing_invariants,
    auth,
    doctor_id_for,
    make_user,
    seed_branches,
    token_for,
)

TWIML = "/api/v1/voice/twiml"


def caller(client: Any, settings: Any, sid: str, number: str = "+84901234567", **kw: Any):
    return VoiceCaller(
        client,
        sid=sid,
        caller=number,
        auth_token=settings.twilio_auth_token,
        public_url=settings.public_url,
        **kw,
    )


def doctor(client: Any, username: str, *, phone: str | None = "+84911000001", **prefs: int):
    make_user(username, "doctor", branches={k.lstrip("b"): v for k, v in prefs.items()} or {"3": 1})
    h = auth(token_for(client, username))
    if phone:
        res = client.put("/api/v1/voice/doctors/me/line", json={"phone": phone}, headers=h)
        assert res.status_code == 200, res.text
    return h


def available(client: Any, h: dict[str, str]) -> None:
    res = client.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=h)
    assert res.status_code == 200, res.text


def offer_of(client: Any, h: dict[str, str]) -> dict[str, Any] | None:
    return client.get("/api/v1/doctors/me", headers=h).json()["offer"]


@contextlib.contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements this process sends to the database inside the block."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(get_engine(), "before_cursor_execute", seen)


def unanswering_phone(
    client: Any, settings: Any, sid: str, doctors: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], VoiceCaller]:
    """Two doctors (username: phone), the first available; a caller queued whose dialled
    doctor phones never answer."""
    seed_branches()
    settings.autopause_after_missed = 5
    (name1, phone1), (name2, phone2) = doctors.items()
    h1 = doctor(client, name1, phone=phone1)
    h2 = doctor(client, name2, phone=phone2)
    available(client, h1)
    c = caller(client, settings, sid, keys=["3"], on_dial=lambda kind, who: "no-answer")
    c.dial_in()
    return h1, h2, c


def count(model: Any) -> int:
    with unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def call_row(sid: str) -> Call:
    with unit_of_work() as s:
        call = s.scalar(select(Call).where(Call.provider_call_id == sid))
        assert call is not None
        s.expunge(call)
        return call


def said(c: VoiceCaller, text: str) -> bool:
    return any(text in h for h in c.heard)


def test_menu_queue_place_and_the_accepting_doctors_phone(client, settings, r):
    seed_branches()
    h = doctor(client, "lan", phone="+84911000001")
    first = caller(client, settings, "CA-first", keys=["3"])
    second = caller(client, settings, "CA-second", "+84902", keys=["3"])
    first.dial_in()
    # The greeting and a menu built from the branches, each in its language.
    assert said(first, "1022") and said(first, "Bấm phím 3 để gặp Chăm sóc F0 tại nhà")
    assert said(first, "Bấm phím 4")
    assert first.queue is not None
    second.dial_in()
    # The place spoken is the queue's place.
    second.poll()
    assert said(second, "vị trí số 2")
    first.poll()
    assert said(first, "vị trí số 1")
    # Nothing changed: the next poll says nothing, it only listens for a key.
    heard = len(second.heard)
    second.poll()
    assert len(second.heard) == heard
    assert r.zrange(keys.queue("3"), 0, -1) == [call_row("CA-first").id, call_row("CA-second").id]

    available(client, h)
    offer = offer_of(client, h)
    assert offer["call_id"] == call_row("CA-first").id
    first.poll()  # ringing on the console: still waiting
    assert first.queue is not None and not first.dialled
    assert client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=h).status_code == 200
    first.poll()  # <Leave/>, then the <Enqueue> action dials the doctor
    assert first.left and first.dialled == [("Number", "+84911000001")]
    assert first.whispers == ["Cuộc gọi từ đường dây Chăm sóc F0 tại nhà."]
    # The conversation ended (on_dial "completed"): the doctor wraps up and completes.
    assert call_row("CA-first").status == "wrap_up"
    done = client.post(
        f"/api/v1/calls/{offer['call_id']}/complete",
        json={"disposition": "advice_given", "notes": ""},
        headers=h,
    )
    assert done.status_code == 200, done.text
    assert call_row("CA-first").status == "completed"
    # The second caller moved up, and is told so.
    second.poll()
    assert said(second, "vị trí số 1")
    assert_routing_invariants(r)


def test_a_browser_client_identity_is_rung_instead_of_the_phone(client, settings):
    seed_branches()
    h = doctor(client, "web")
    client.put(
        "/api/v1/voice/doctors/me/line",
        json={"phone": "+84911000002", "client_identity": "dr-web"},
        headers=h,
    )
    available(client, h)
    c = caller(client, settings, "CA-web", keys=["3"])
    c.dial_in()
    client.post(f"/api/v1/offers/{offer_of(client, h)['offer_id']}/accept", headers=h)
    c.poll()
    assert c.dialled == [("Client", "dr-web")]


def test_unanswered_doctor_phone_puts_the_caller_back_at_the_head(client, settings, r):
    h1, h2, c = unanswering_phone(
        client, settings, "CA-miss", {"busy1": "+84911000011", "busy2": "+84911000012"}
    )
    call_id = call_row("CA-miss").id
    # Two more callers wait behind, one of them a higher class than a routine call.
    others = [
        caller(client, settings, f"CA-behind{i}", f"+8490200000{i}", keys=["3"]) for i in range(2)
    ]
    for o in others:
        o.dial_in()
    with unit_of_work() as s:
        behind = s.scalar(select(Call).where(Call.provider_call_id == "CA-behind1"))
        behind.priority = 1  # as if a known high-risk patient
    r.zadd(keys.queue("3"), {call_row("CA-behind1").id: keys.score(1, 0)})
    offer = offer_of(client, h1)
    assert offer["call_id"] == call_id
    assert client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=h1).status_code == 200
    c.poll()  # leave, dial, no answer
    assert c.dialled == [("Number", "+84911000011")]
    assert said(c, "Quý vị vẫn ở đầu hàng chờ")
    assert c.queue is not None  # waiting again
    # At the head of its queue, ahead of the higher class.
    assert r.zrange(keys.queue("3"), 0, 0) == [call_id]
    c.poll()
    assert said(c, "vị trí số 1")
    # The doctor counts a missed offer and is not offered this call again at once.
    doc1 = doctor_id_for("busy1")
    assert r.hget(keys.doctor(doc1), "missed") == "1"
    with unit_of_work() as s:
        first_offer = s.get(Offer, offer["offer_id"])
        assert first_offer.outcome == "expired"
        row = s.get(Call, call_id)
        assert row.status == "queued" and row.answered_by is None and row.answered_at is None
        assert s.scalar(select(func.count()).where(Event.kind == "call.doctor_leg_unanswered")) == 1
    # A retried dial action changes nothing twice.
    again = c.post(f"{TWIML}/dialed?doctor={doc1}", c.params(DialCallStatus="no-answer"))
    assert again is not None and again[-1].tag == "Enqueue"
    assert r.hget(keys.doctor(doc1), "missed") == "1"
    # Another doctor takes it, and answers.
    c.on_dial = lambda kind, who: "completed"
    available(client, h2)
    offer2 = offer_of(client, h2)
    assert offer2["call_id"] == call_id
    client.post(f"/api/v1/offers/{offer2['offer_id']}/accept", headers=h2)
    c.poll()
    assert c.dialled[-1] == ("Number", "+84911000012")
    row = call_row("CA-miss")
    assert row.answered_by == doctor_id_for("busy2") and row.status == "wrap_up"
    assert_routing_invariants(r)


def test_an_unanswered_phone_writes_its_rows_in_the_global_lock_order(client, settings, r):
    # The deadlock CI once met: a doctor's phone does not answer, and the same decision
    # offers the call to the next doctor. A sweep expiring that new offer locks the offer,
    # then the call; this request must not hold the call while it writes the offer.
    h1, h2, c = unanswering_phone(
        client, settings, "CA-order", {"order1": "+84911000021", "order2": "+84911000022"}
    )
    offer = offer_of(client, h1)
    assert offer is not None
    assert client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=h1).status_code == 200
    available(client, h2)  # free when the first phone fails: the decision offers it the call
    with statements_run() as statements:
        c.poll()  # leave the queue, dial the doctor's phone: no answer
    rank = {"offers": 0, "calls": 1, "doctors": 2}
    writes = []
    for statement in statements:
        words = statement.split()
        where = {"UPDATE": 1, "INSERT": 2}.get(words[0].upper()) if words else None
        if where is not None and words[where].strip('"') in rank:
            writes.append(words[where].strip('"'))
    second = offer_of(client, h2)
    assert second is not None and second["call_id"] == offer["call_id"]
    # Offers, then calls, then doctors: never a call row ahead of an offer row.
    assert "calls" in writes and writes.count("offers") >= 2, writes
    assert [rank[t] for t in writes] == sorted(rank[t] for t in writes), writes


def test_hanging_up_while_the_offer_rings_withdraws_it_at_once(client, settings, r):
    seed_branches()
    h = doctor(client, "ring")
    available(client, h)
    c = caller(client, settings, "CA-ring", keys=["3"])
    c.dial_in()
    offer = offer_of(client, h)
    assert offer is not None
    c.hang_up()
    assert offer_of(client, h) is None
    with unit_of_work() as s:
        assert s.get(Offer, offer["offer_id"]).outcome == "withdrawn"
    assert call_row("CA-ring").status == "abandoned"
    assert r.hget(keys.doctor(doctor_id_for("ring")), "st") == "available"
    # The provider's status callback, retried, changes nothing more.
    c.status_callback("completed")
    c.status_callback("completed")
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).where(Event.kind == "call.abandoned")) == 1
    assert_routing_invariants(r)


def test_retried_webhooks_change_nothing_twice(client, settings, r):
    seed_branches()
    c = caller(client, settings, "CA-retry")
    for _ in range(3):
        c.post(f"{TWIML}/menu", c.params(Digits="3"))
    assert count(Call) == 1 and r.zcard(keys.queue("3")) == 1
    c.post(f"{TWIML}/wait/key", c.params(Digits="1"))
    c.post(f"{TWIML}/wait/key", c.params(Digits="1"))
    assert call_row("CA-retry").status == "callback_pending"
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).where(Event.kind == "call.callback_requested")) == 1


def test_a_key_while_waiting_asks_for_a_call_back_and_keeps_the_place(client, settings, r):
    seed_branches()
    a, b = (
        caller(client, settings, "CA-a", keys=["3"]),
        caller(client, settings, "CA-b", "+84903", keys=["3"]),
    )
    a.dial_in()
    b.dial_in()
    b.press("9")
    b.poll()
    assert said(b, "Chúng tôi đã ghi nhận") and b.ended
    assert call_row("CA-b").status == "callback_pending"
    assert r.zrange(keys.queue("3"), 0, -1) == [call_row("CA-a").id, call_row("CA-b").id]
    # The caller's line ended; the call-back is the hotline's to make, it stays.
    assert call_row("CA-b").status == "callback_pending"


def test_menu_replays_a_wrong_key_then_says_goodbye(client, settings):
    seed_branches()
    settings.voice_menu_attempts = 3
    c = caller(client, settings, "CA-lost", keys=["7", "8", "9"])
    c.dial_in()
    assert c.ended and said(c, "Xin cảm ơn quý vị đã gọi")
    assert sum("Lựa chọn chưa đúng" in h for h in c.heard) == 2
    assert count(Call) == 0


def test_a_closed_branch_says_its_hours_and_a_full_one_offers_a_call_back(client, settings):
    seed_branches()
    with unit_of_work() as s:
        from hotline.models import Branch

        four = s.scalar(select(Branch).where(Branch.digit == "4"))
        four.opens_at, four.closes_at = "00:00", "00:01"
        four.timezone = "Pacific/Kiritimati"  # a minute of opening far from now, mostly
        three = s.scalar(select(Branch).where(Branch.digit == "3"))
        three.max_queue = 1
        three.language = "en"
    closed = caller(client, settings, "CA-closed", keys=["4"])
    closed.dial_in()
    assert closed.ended and said(closed, "làm việc từ 00:00 đến 00:01")
    assert call_row("CA-closed").status == "rejected"
    one = caller(client, settings, "CA-one", "+84905", keys=["3"])
    one.dial_in()
    full = caller(client, settings, "CA-full", "+84906", keys=["3", "1"])
    full.dial_in()
    # Branch 3 speaks English: its menu item and its prompts.
    assert said(full, "For F0 home care, press 3.")
    assert said(full, "the line is full") and said(full, "still full")
    assert call_row("CA-full").reject_reason == "queue_full"
    # Once there is room, a caller turned away gets a call-back task, and is told so.
    one.hang_up()
    again = caller(client, settings, "CA-full2", "+84907", keys=["3"])
    again.dial_in()
    one_more = caller(client, settings, "CA-full3", "+84908", keys=["3"])
    one_more.dial_in()
    assert said(one_more, "the line is full")
    again.hang_up()  # room again while the caller listens to the offer, and presses 1
    doc = one_more.post(f"{TWIML}/full", one_more.params(Digits="1"))
    assert doc is not None and "A doctor will call you back" in (doc[0].text or "")
    with unit_of_work() as s:
        tasks = list(s.scalars(select(Call).where(Call.provider_call_id.like("callback:%"))))
    assert [(t.caller, t.direction, t.status) for t in tasks if t.status != "rejected"] == [
        ("+84908", "callback", "callback_pending")
    ]


def test_bad_signatures_unknown_calls_and_garbage_are_refused_writing_nothing(client, settings, r):
    seed_branches()
    events_before, keys_before = count(Event), r.dbsize()
    params = {"CallSid": "CA-bad", "From": "+84901234567", "To": "1022", "Digits": "3"}
    url = settings.public_url + f"{TWIML}/menu"
    good = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    # Missing, wrong, for another host, for other parameters, with another token.
    res = client.post(f"{TWIML}/menu", data=params)
    assert res.status_code == 403 and res.json()["error"] == "bad_signature"
    wrong = [
        "x" * 28,
        RequestValidator(settings.twilio_auth_token).compute_signature(
            "https://elsewhere.example" + f"{TWIML}/menu", params
        ),
        RequestValidator(settings.twilio_auth_token).compute_signature(
            url, {**params, "Digits": "4"}
        ),
        RequestValidator("another-token").compute_signature(url, params),
    ]
    for sig in wrong:
        res = client.post(f"{TWIML}/menu", data=params, headers={"X-Twilio-Signature": sig})
        assert res.status_code == 403, sig
    # A JSON body is not the provider's form.
    res = client.post(f"{TWIML}/menu", json=params, headers={"X-Twilio-Signature": good})
    assert res.status_code == 403
    assert count(Call) == 0 and count(Event) == events_before and r.dbsize() == keys_before
    # Signed, but garbage: 422 naming the field.
    c = caller(client, settings, "CA-bad")
    for path, extra, field in [
        ("/menu", {"From": "<script>"}, "From"),
        ("/menu", {"Digits": "3; DROP"}, "Digits"),
        ("/menu", {"CallSid": "../../etc"}, "CallSid"),
        ("/dialed?doctor=x", {"DialCallStatus": "maybe"}, "DialCallStatus"),
        ("/status", {"CallStatus": "exploded"}, "CallStatus"),
    ]:
        with pytest.raises(CallerError) as err:
            c.post(f"{TWIML}{path}", c.params(**extra))
        assert err.value.status == 422
        assert field in err.value.body
    with pytest.raises(CallerError) as err:
        c.post(f"{TWIML}/menu?attempt=-1", c.params(Digits="3"))
    assert err.value.status == 422
    # Unknown CallSid on a follow-up URL: 404.
    for path in ("/wait", "/wait/key", "/leave", "/dialed?doctor=x", "/status", "/full"):
        with pytest.raises(CallerError) as err:
            params = c.params(CallStatus="completed", Digits="1", DialCallStatus="busy")
            c.post(f"{TWIML}{path}", params)
        assert err.value.status == 404, path
    assert count(Call) == 0 and count(Event) == events_before and r.dbsize() == keys_before


def test_a_caller_who_hangs_up_at_the_menu_is_never_queued(client, settings, r):
    seed_branches()
    c = caller(client, settings, "CA-gone")
    c.dial_in()
    c.status_callback("completed")  # gone during the menu
    # The menu's request arrives late (a retry): the call is recorded abandoned, never queued.
    late = c.post(f"{TWIML}/menu", c.params(Digits="3"))
    assert late is not None and late[-1].tag == "Hangup"
    assert call_row("CA-gone").status == "abandoned"
    assert r.zcard(keys.queue("3")) == 0


def test_doctor_lines_are_set_by_the_doctor_or_an_admin_only(client):
    seed_branches()
    h = doctor(client, "own", phone=None)
    other = doctor(client, "other", phone=None)
    target = doctor_id_for("own")
    res = client.put(f"/api/v1/voice/doctors/{target}/line", json={"phone": "+849"}, headers=other)
    assert res.status_code == 403
    res = client.put("/api/v1/voice/doctors/me/line", json={"phone": "call me"}, headers=h)
    assert res.status_code == 422 and "phone" in res.text
    make_user("root", "admin")
    admin = auth(token_for(client, "root"))
    res = client.put(
        f"/api/v1/voice/doctors/{target}/line", json={"phone": "+84911222333"}, headers=admin
    )
    assert res.status_code == 200
    assert client.get("/api/v1/voice/doctors/me/line", headers=h).json()["phone"] == "+84911222333"
    with unit_of_work() as s:
        assert s.get(Doctor, target).phone == "+84911222333"
    res = client.put("/api/v1/voice/branches/3/language", json={"language": "fr"}, headers=admin)
    assert res.status_code == 422 and "language" in res.text
    res = client.put("/api/v1/voice/branches/3/language", json={"language": "en"}, headers=h)
    assert res.status_code == 403


def test_a_wait_poll_reads_redis_only(client, settings):
    seed_branches()
    c = caller(client, settings, "CA-cheap", keys=["3"])
    c.dial_in()
    c.poll()  # the line's state is in Redis from the menu on
    with statements_run() as statements:
        for _ in range(5):
            c.poll()
        polls_read = list(statements)
        # The listener does see a request that reads the call row.
        c.post(f"{TWIML}/wait/key", c.params(Digits=""))
    assert c.queue is not None
    assert polls_read == [] and statements


@pytest.mark.parametrize("first", ["status", "queue"])
def test_the_line_ending_is_recorded_once_whatever_reports_it_first(client, settings, r, first):
    seed_branches()
    h = doctor(client, "order")
    c = caller(client, settings, "CA-order", keys=["3"])
    c.dial_in()
    assert c.queue is not None
    _, action = c.queue
    reports = {
        "status": lambda: c.status_callback("completed"),
        "queue": lambda: c.post(action, c.params(QueueResult="hangup")),
    }
    reports[first]()
    for report in reports.values():  # both, and the first again: retries
        report()
    assert call_row("CA-order").status == "abandoned"
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).where(Event.kind == "call.abandoned")) == 1
    # A doctor going available now is offered nothing.
    available(client, h)
    assert offer_of(client, h) is None
    assert_routing_invariants(r)


def test_a_recorded_prompt_is_played_and_served_instead_of_speech(settings, tmp_path):
    from fastapi.testclient import TestClient

    from hotline.app import create_app

    seed_branches()
    (tmp_path / "vi").mkdir()
    (tmp_path / "vi" / "greeting.mp3").write_bytes(b"ID3-recorded-greeting")
    settings.voice_audio_dir = tmp_path
    with TestClient(create_app()) as client:
        c = caller(client, settings, "CA-audio", keys=["3"])
        c.dial_in()
        url = f"{settings.public_url}/voice-audio/vi/greeting.mp3"
        assert c.heard[0] == url and not said(c, "xin chào quý vị")
        assert said(c, "Bấm phím 3")  # no recording for it: speech
        assert client.get("/voice-audio/vi/greeting.mp3").content == b"ID3-recorded-greeting"


def test_the_doctor_is_rung_only_once_the_acceptance_is_written(client, settings, r):
    from hotline.outcomes import apply_outcome
    from hotline.routing.router import router_for

    seed_branches()
    h = doctor(client, "slow", phone="+84911000099")
    available(client, h)
    c = caller(client, settings, "CA-slow", keys=["3"])
    c.dial_in()
    offer = offer_of(client, h)
    # Redis decides the acceptance; the API process has not written it yet.
    decided = router_for(r).accept(offer_id=offer["offer_id"], doctor_id=doctor_id_for("slow"))
    assert decided.result == "ok"
    _, action = c.queue
    doc = c.post(action, c.params(QueueResult="leave"))
    assert [v.tag for v in doc] == ["Pause", "Redirect"] and not c.dialled
    with unit_of_work() as s:
        apply_outcome(s, r, decided, actor="test")
    c.queue = None
    c.run(doc)  # the redirect comes back: now the doctor is rung
    assert c.dialled == [("Number", "+84911000099")]


def test_the_place_is_told_again_after_the_announce_interval(client, settings):
    seed_branches()
    c = caller(client, settings, "CA-again", keys=["3"])
    c.dial_in()
    c.poll()
    told = sum("vị trí số 1" in h for h in c.heard)
    c.poll()
    assert sum("vị trí số 1" in h for h in c.heard) == told  # unchanged, not said again
    settings.voice_announce_every_s = 0
    c.poll()
    assert sum("vị trí số 1" in h for h in c.heard) == told + 1
    assert said(c, "Thời gian chờ dự kiến khoảng 3 phút")  # 180 s per call, one ahead


def test_unanswered_legs_autopause_a_doctor_like_missed_offers(client, settings, r):
    seed_branches()
    settings.autopause_after_missed = 1
    h = doctor(client, "away")
    available(client, h)
    c = caller(client, settings, "CA-away", keys=["3"], on_dial=lambda kind, who: "busy")
    c.dial_in()
    client.post(f"/api/v1/offers/{offer_of(client, h)['offer_id']}/accept", headers=h)
    c.poll()
    doc = doctor_id_for("away")
    assert r.hget(keys.doctor(doc), "st") == "away"
    with unit_of_work() as s:
        assert s.get(Doctor, doc).presence == "away"
    assert c.queue is not None and call_row("CA-away").status == "queued"
    assert_routing_invariants(r)


def test_a_line_with_no_auth_token_configured_takes_no_call(client, settings):
    seed_branches()
    settings.twilio_auth_token = ""
    c = caller(client, settings, "CA-untokened", keys=["3"])
    with pytest.raises(CallerError) as err:
        c.dial_in()  # signed with the same empty token: still refused
    assert err.value.status == 403
    assert count(Call) == 0
