"""Race and restart tests against real API processes: nothing offered twice, nothing lost."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from hotline.models import Call
from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.redisconn import get_redis
from tests.helpers import (
    LiveServer,
    arrive,
    assert_routing_invariants,
    auth,
    live_servers,
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


@pytest.fixture
def two_servers():
    with live_servers(2) as servers:
        yield servers


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

    calls, offers = assert_routing_invariants(get_redis())
    assert len(calls) == N_CALLS
    assert len(offers) > N_CALLS // 2  # the race really offered calls


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
