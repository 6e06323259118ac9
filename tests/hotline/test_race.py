"""Race and restart tests against real API processes: nothing offered twice, nothing lost."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from hotline.models import Call, Doctor, Offer
from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import get_redis
from tests.helpers import (
    LiveServer,
    arrive,
    auth,
    make_user,
    offers_for,
    seed_branches,
    signed_post,
    token_for,
    wait_for,
)

N_CALLS = 300
N_DOCTORS = 24


def _token(base: str, username: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as c:
        return token_for(c, username)


def _assert_no_overlap(intervals: dict[str, list[tuple[float, float, str]]], what: str) -> None:
    for key, spans in intervals.items():
        spans.sort()
        for (_s1, e1, o1), (s2, _e2, o2) in itertools.pairwise(spans):
            assert s2 >= e1, f"{what} {key} held offers {o1} and {o2} at once"


@pytest.fixture
def two_servers():
    # Short timers so offers expire, wrap-ups end and re-offers happen during the race.
    env = {
        "HOTLINE_OFFER_TIMEOUT_S": "1.0",
        "HOTLINE_WRAPUP_S": "0.2",
        "HOTLINE_AUTOPAUSE_AFTER_MISSED": "1000",
    }
    servers = [LiveServer(env).start(), LiveServer(env).start()]
    yield servers
    for s in servers:
        s.stop()


def test_hundreds_of_calls_and_dozens_of_doctors_never_double_offer(two_servers):
    seed_branches()
    for i in range(N_DOCTORS):
        make_user(f"race{i}", "doctor", branches={"3": 1, "4": 2} if i % 3 else {"4": 1})
    bases = [s.url for s in two_servers]
    tokens = [_token(bases[i % 2], f"race{i}") for i in range(N_DOCTORS)]
    stop = threading.Event()
    errors: list[str] = []

    def doctor(i: int) -> None:
        rnd = random.Random(i)
        with httpx.Client(base_url=bases[i % 2], timeout=30, headers=auth(tokens[i])) as c:
            while not stop.is_set():
                c.post("/api/v1/doctors/me/heartbeat")
                action = rnd.random()
                if action < 0.1:
                    c.put(
                        "/api/v1/doctors/me/presence",
                        json={"state": rnd.choice(["away", "offline"])},
                    )
                    continue
                c.put("/api/v1/doctors/me/presence", json={"state": "available"})
                state = c.get("/api/v1/doctors/me").json()
                offer = state.get("offer")
                if state.get("call"):
                    c.post(
                        f"/api/v1/calls/{state['call']['id']}/complete",
                        json={"disposition": "advice_given", "notes": ""},
                    )
                elif offer:
                    if rnd.random() < 0.8:
                        res = c.post(f"/api/v1/offers/{offer['offer_id']}/accept")
                        if res.status_code == 200:
                            c.post(
                                f"/api/v1/calls/{offer['call_id']}/complete",
                                json={"disposition": "advice_given", "notes": ""},
                            )
                        elif res.status_code != 409:
                            errors.append(f"accept {res.status_code} {res.text}")
                    elif rnd.random() < 0.5:
                        c.post(f"/api/v1/offers/{offer['offer_id']}/decline")
                time.sleep(rnd.uniform(0, 0.02))

    def caller(n: int) -> None:
        rnd = random.Random(1000 + n)
        with httpx.Client(base_url=bases[n % 2], timeout=30) as c:
            pcid = f"race-{n}"
            res = arrive(c, pcid, caller=f"09{n:08d}", digits=rnd.choice("334"))
            if res.status_code != 200:
                errors.append(f"arrive {res.status_code} {res.text}")
                return
            if rnd.random() < 0.2:
                time.sleep(rnd.uniform(0, 1.5))
                signed_post(c, f"/api/v1/telephony/calls/{pcid}/hangup")

    doctors = [threading.Thread(target=doctor, args=(i,)) for i in range(N_DOCTORS)]
    for t in doctors:
        t.start()
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(caller, range(N_CALLS)))
    # The doctors work on after the last arrival: offers expire, wrap-ups end, calls go again.
    time.sleep(3)
    stop.set()
    for t in doctors:
        t.join(60)
    # Stop both servers (their sweeps commit what they decided) so that Redis and the
    # database stand still while they are compared.
    for server in two_servers:
        server.stop()
    assert errors == []

    with unit_of_work() as s:
        calls = s.scalars(select(Call)).all()
        offers = s.scalars(select(Offer)).all()
        doctors = s.scalars(select(Doctor)).all()
    assert len(calls) == N_CALLS
    now = time.time()
    by_call: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    by_doctor: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    accepted: dict[str, list[Offer]] = defaultdict(list)
    for o in offers:
        end = o.resolved_at.timestamp() if o.resolved_at else now
        by_call[o.call_id].append((o.offered_at.timestamp(), end, o.id))
        by_doctor[o.doctor_id].append((o.offered_at.timestamp(), end, o.id))
        if o.outcome == "accepted":
            accepted[o.call_id].append(o)
        # Every resolved offer says how and when; every unresolved one is still live.
        assert (o.outcome is None) == (o.resolved_at is None), o.id
        assert o.outcome in (None, "accepted", "declined", "withdrawn", "expired"), o.id
        if o.outcome is None:
            assert r_offer_live(o.id), f"offer {o.id} is open in the database only\n" + story(o)
    assert len(offers) > N_CALLS // 2  # the race really offered calls
    _assert_no_overlap(by_call, "call")
    _assert_no_overlap(by_doctor, "doctor")
    assert all(len(v) == 1 for v in accepted.values())
    assert_call_facts(calls, accepted)

    # Every call and doctor is accounted for, and the database agrees with Redis.
    r = get_redis()
    live = {"queued", "offered", "callback_pending"}
    for call in calls:
        assert call.status in live | {"connected", "wrap_up", "completed", "abandoned"}
        redis_status = r.hget(keys.call(call.id), "st")
        if call.status in live:
            assert redis_status in live, (call.id, call.status, redis_status)
        if call.status in ("completed", "abandoned"):
            assert redis_status is None
        if redis_status is not None:
            assert call.status == redis_status, (call.id, call.status, redis_status)
    for doc in doctors:
        assert doc.presence == (r.hget(keys.doctor(doc.id), "st") or "offline"), doc.id


def story(offer: Offer) -> str:
    """What the event log says happened to an offer's call and doctor (for a failure message)."""
    with unit_of_work() as s:
        rows = s.scalars(
            select(Event)
            .where(Event.subject_id.in_((offer.call_id, offer.doctor_id)))
            .order_by(Event.at, Event.id)
        ).all()
        return "\n".join(
            f"{e.at:%H:%M:%S.%f} {e.subject_type} {e.kind} {e.actor} {e.data}" for e in rows
        )


def r_offer_live(offer_id: str) -> bool:
    return bool(get_redis().exists(keys.offer(offer_id)))


def assert_call_facts(calls: list[Call], accepted: dict[str, list[Offer]]) -> None:
    """Every fact a call's story implies is recorded, whatever order the writes landed in."""
    for call in calls:
        took = accepted.get(call.id)
        if took:
            assert call.answered_at is not None, call.id
            assert call.answered_by == took[0].doctor_id, call.id
            assert call.answered_at == took[0].resolved_at, call.id
        else:
            assert call.answered_at is None and call.answered_by is None, call.id
        if call.status in ("connected", "wrap_up", "completed"):
            assert took, f"{call.status} call {call.id} has no accepted offer"
        if call.status in ("wrap_up", "completed", "abandoned"):
            assert call.ended_at is not None, call.id
        if call.status == "completed":
            assert call.completed_at is not None, call.id
        if call.status == "abandoned":
            assert call.abandoned_at is not None and call.answered_at is None, call.id
        else:
            assert call.abandoned_at is None, call.id


def test_restart_and_redis_flush_lose_no_call(settings):
    seed_branches()
    make_user("doc", "doctor", branches={"3": 1})
    server = LiveServer().start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            ids = [arrive(c, f"rs-{i}", caller=f"0912{i:06d}").json()["call_id"] for i in range(20)]
        server.stop(kill=True)
        server = LiveServer().start()
        r = get_redis()
        assert r.zrange(keys.queue("3"), 0, -1) == ids  # same calls, same order, no duplicate
        r.flushdb()
        wait_for(lambda: r.zcard(keys.queue("3")) >= 20, timeout=10, what="the queue rebuilt")
        assert r.zrange(keys.queue("3"), 0, -1) == ids
        with httpx.Client(base_url=server.url, timeout=30) as c:
            token = _token(server.url, "doc")
            h = auth(token)
            c.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=h)
            offer = c.get("/api/v1/doctors/me", headers=h).json()["offer"]
            assert offer["call_id"] == ids[0]
            # and the same again with the doctor's presence in play
            r.flushdb()
            # The sweep rebuilds Redis, voiding the offer, then offers the call again.
            wait_for(
                lambda: {None, "withdrawn"} <= {o.outcome for o in offers_for(ids[0])},
                timeout=10,
                what="the voided offer made again",
            )
            state = c.get("/api/v1/doctors/me", headers=h).json()
            # the voided offer is made again: the doctor is still signed in
            assert state["offer"]["call_id"] == ids[0]
        with unit_of_work() as s:
            statuses = s.scalars(select(Call.status)).all()
        assert len(statuses) == 20
        assert sorted((o.outcome for o in offers_for(ids[0])), key=str) == [None, "withdrawn"]
    finally:
        server.stop()


def test_a_gateway_retrying_the_same_call_at_once_creates_one_call(live_server):
    seed_branches()

    base = int(time.time())

    def post(attempt: int) -> tuple[int, str]:
        # Each retry is signed anew by the gateway (a signature is good for one request).
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            res = arrive(c, "retry-storm", caller="0909999999", signed_at=base - attempt)
            return res.status_code, res.json().get("call_id", "")

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(32)))
    assert {code for code, _ in results} == {200}
    assert len({call_id for _, call_id in results}) == 1
    with unit_of_work() as s:
        assert len(s.scalars(select(Call)).all()) == 1
    assert get_redis().zcard(keys.queue("3")) == 1
