"""The voice line under a race: callers following TwiML on two API processes, doctors
accepting on consoles, phones that sometimes do not answer. Nobody is bridged twice."""

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

from hotline.models import Call
from hotline.voice.caller import VoiceCaller
from kernel.db import unit_of_work
from kernel.redisconn import get_redis
from kernel.settings import get_settings
from tests.helpers import (
    assert_routing_invariants,
    auth,
    live_servers,
    make_user,
    seed_branches,
    token_for,
)

N_CALLERS = 40
N_DOCTORS = 8


@pytest.fixture
def two_servers():
    with live_servers(2, {"HOTLINE_VOICE_ANNOUNCE_EVERY_S": "0.5"}) as servers:
        yield servers


def test_voice_callers_and_console_doctors_never_bridge_twice(two_servers):
    seed_branches()
    bases = [s.url for s in two_servers]
    tokens = []
    for i in range(N_DOCTORS):
        name = f"vrace{i}"
        make_user(name, "doctor", branches={"3": 1, "4": 2} if i % 2 else {"4": 1, "3": 2})
        with httpx.Client(base_url=bases[i % 2], timeout=30) as c:
            tokens.append(token_for(c, name))
            res = c.put(
                "/api/v1/voice/doctors/me/line",
                json={"phone": f"+849110000{i:02d}"},
                headers=auth(tokens[i]),
            )
            assert res.status_code == 200
    stop = threading.Event()
    errors: list[str] = []
    lock = threading.Lock()
    # phone -> [(start, end, call sid)] of each ringing leg; sid -> legs that answered
    legs: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    answered: dict[str, int] = defaultdict(int)

    def doctor(i: int) -> None:
        rnd = random.Random(i)
        with httpx.Client(base_url=bases[i % 2], timeout=30, headers=auth(tokens[i])) as c:
            while not stop.is_set():
                c.post("/api/v1/doctors/me/heartbeat")
                c.put("/api/v1/doctors/me/presence", json={"state": "available"})
                state = c.get("/api/v1/doctors/me").json()
                call, offer = state.get("call"), state.get("offer")
                if call and call["status"] == "wrap_up":
                    c.post(
                        f"/api/v1/calls/{call['id']}/complete",
                        json={"disposition": "advice_given", "notes": ""},
                    )
                elif offer and not call:
                    if rnd.random() < 0.85:
                        res = c.post(f"/api/v1/offers/{offer['offer_id']}/accept")
                        if res.status_code not in (200, 409):
                            errors.append(f"accept {res.status_code} {res.text}")
                    else:
                        c.post(f"/api/v1/offers/{offer['offer_id']}/decline")
                time.sleep(rnd.uniform(0.01, 0.05))

    settings = get_settings()

    def caller(n: int) -> None:
        rnd = random.Random(1000 + n)
        sid = f"CA-vrace-{n}"

        def ring(kind: str, phone: str) -> str:
            start = time.monotonic()
            time.sleep(rnd.uniform(0.01, 0.05))
            outcome = rnd.choices(["completed", "no-answer", "busy"], [0.7, 0.2, 0.1])[0]
            with lock:
                legs[phone].append((start, time.monotonic(), sid))
                if outcome == "completed":
                    answered[sid] += 1
            return outcome

        with httpx.Client(base_url=bases[n % 2], timeout=30) as http:
            c = VoiceCaller(
                http,
                sid=sid,
                caller=f"+8490{n:07d}",
                auth_token=settings.twilio_auth_token,
                public_url=settings.public_url,
                keys=[rnd.choice("334")],
                on_dial=ring,
            )
            try:
                c.dial_in()
                gives_up = rnd.random() < 0.15
                polls = 0
                deadline = time.monotonic() + 120
                while not c.ended and c.queue is not None:
                    if gives_up and polls >= rnd.randint(1, 20):
                        c.hang_up()
                        break
                    c.poll()
                    polls += 1
                    time.sleep(0.03)
                    assert time.monotonic() < deadline, f"{sid} waited too long"
            except Exception as exc:  # reported below with the others
                errors.append(f"{sid}: {exc!r}")

    doctors = [threading.Thread(target=doctor, args=(i,)) for i in range(N_DOCTORS)]
    for t in doctors:
        t.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(caller, range(N_CALLERS)))
    stop.set()
    for t in doctors:
        t.join(60)
    for server in two_servers:
        server.stop()
    assert errors == []

    # A caller is bridged to one doctor at most; a doctor's phone rings for one caller at a time.
    assert all(n <= 1 for n in answered.values()), answered
    for phone, spans in legs.items():
        spans.sort()
        for (_s1, e1, sid1), (s2, _e2, sid2) in itertools.pairwise(spans):
            assert s2 >= e1, f"{phone} rang for {sid1} and {sid2} at once"
    calls, _offers = assert_routing_invariants(get_redis())
    assert len(calls) == N_CALLERS
    assert sum(len(v) for v in legs.values()) > len(answered)  # some legs went unanswered
    with unit_of_work() as s:
        statuses = set(s.scalars(select(Call.status)))
    assert statuses <= {"completed", "abandoned", "wrap_up"}, statuses
