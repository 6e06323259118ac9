"""Arrivals written together (hotline/arrivals.py) answer each caller as a lone arrival would."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select, update

from hotline import arrivals
from hotline.calls import CallReceipt
from hotline.models import Call, GatewayInstruction
from hotline.routing import keys
from kernel.db import unit_of_work
from kernel.errors import DomainError, Unauthorized
from kernel.events import Event
from kernel.security import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from tests.helpers import arrive, assert_routing_invariants, login, new_patient, seed_branches

PATH = "/api/v1/telephony/calls"


def _signed(
    pcid: str, caller: str, digits: str = "3", at: float | None = None
) -> tuple[bytes, str]:
    body = json.dumps({"provider_call_id": pcid, "caller": caller, "digits": digits}).encode()
    return body, signed_headers("POST", PATH, body, now=at)[SIGNATURE_HEADER]


def test_one_batch_answers_each_arrival_as_if_it_came_alone(r, client):
    seed_branches()
    now = time.time()
    earlier = arrive(client, "b-earlier", caller="0907000000", signed_at=now).json()
    fresh = [_signed(f"b-{i}", f"090700000{i + 1}", at=now) for i in range(5)]
    items = [
        *fresh,
        _signed("b-0", "0907000001", at=now - 1),  # the gateway's retry of b-0, signed anew
        fresh[1],  # the same signature again: a replay
        (b'{"provider_call_id": "b-bad", "caller": ', "sig-of-a-broken-body"),
        _signed("b-nowhere", "0907000009", digits="9", at=now),  # no such branch
        _signed("b-earlier", "0907000000", at=now - 1),  # a retry of a call recorded before
    ]
    results = arrivals.arrive_batch(r, items)

    receipts = results[:5]
    assert all(isinstance(x, CallReceipt) and x.status == "queued" for x in receipts), results
    # In line behind the call that came before the batch, in the order they came (even
    # those that share a millisecond), each having heard a place of its own.
    queued = r.zrange(keys.queue("3"), 0, -1)
    assert queued == [earlier["call_id"], *(x.call_id for x in receipts)]  # type: ignore[union-attr]
    assert [x.position for x in receipts] == [2, 3, 4, 5, 6]  # type: ignore[union-attr]
    retry, replay, broken, nowhere, earlier_retry = results[5:]
    assert isinstance(retry, CallReceipt) and retry.call_id == receipts[0].call_id  # type: ignore[union-attr]
    assert isinstance(replay, Unauthorized) and replay.code == "replayed_signature"
    assert isinstance(broken, RequestValidationError)
    assert isinstance(nowhere, DomainError)
    assert isinstance(earlier_retry, CallReceipt)
    assert earlier_retry.call_id == earlier["call_id"] and earlier_retry.position == 1
    with unit_of_work() as s:
        pcids = sorted(s.scalars(select(Call.provider_call_id)))
        # Each call's story, written in one statement per table for the batch, reads in
        # the order it happened, like the call that came alone.
        stories = [
            list(
                s.scalars(select(Event.kind).where(Event.subject_id == call_id).order_by(Event.id))
            )
            for call_id in [earlier["call_id"], *(x.call_id for x in receipts)]  # type: ignore[union-attr]
        ]
        holds = s.scalars(
            select(GatewayInstruction.call_id).where(GatewayInstruction.action == "hold")
        )
        held = sorted(holds)
    assert pcids == sorted(["b-earlier", *(f"b-{i}" for i in range(5))])
    assert stories == [["call.received", "call.queued"]] * 6, stories
    assert held == sorted([earlier["call_id"], *(x.call_id for x in receipts)])  # type: ignore[union-attr]
    assert_routing_invariants(r)


def test_a_burst_through_the_api_fails_only_the_bad_arrivals(r, live_server):
    seed_branches()
    now = time.time()
    good = [_signed(f"burst-{i}", f"09080{i:05d}", at=now) for i in range(40)]
    requests = [
        *good,
        good[3],  # sent twice: one of the two is a replay
        (b'{"provider_call_id": 7}', ""),  # malformed, signed below
        _signed("burst-nowhere", "0908099999", digits="9", at=now),
    ]

    def send(item: tuple[bytes, str]) -> int:
        body, signature = item
        headers = {"Content-Type": "application/json"}
        if signature:
            headers.update({TIMESTAMP_HEADER: str(int(now)), SIGNATURE_HEADER: signature})
        else:
            headers.update(signed_headers("POST", PATH, body, now=now))
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            return c.post(PATH, content=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        codes = list(pool.map(send, requests))
    twice = sorted([codes[3], codes[40]])
    assert codes[:3] + codes[4:40] == [200] * 39
    assert twice == [200, 401]
    assert codes[41] == 422 and codes[42] in (404, 422), codes
    with unit_of_work() as s:
        assert len(s.scalars(select(Call)).all()) == 40
    assert r.zcard(keys.queue("3")) == 40
    assert_routing_invariants(r)


def test_a_batch_that_loses_a_call_to_another_process_takes_its_arrivals_one_by_one(r):
    from hotline import calls
    from hotline.branches import branch_by_digit

    seed_branches()
    now = time.time()
    items = [_signed(f"race-{i}", f"090900000{i}", at=now) for i in range(3)]
    pool = ThreadPoolExecutor(max_workers=1)
    with unit_of_work() as s:
        # Another API process records race-1 and has not committed yet: the batch does not
        # see it when it reads, and its own INSERT then collides with it.
        other = calls.register_call(
            s, provider_call_id="race-1", caller="0909000001", branch=branch_by_digit(s, "3")
        )
        s.flush()
        other_id = other.id
        written = pool.submit(arrivals.arrive_batch, r, items)
        time.sleep(0.5)
    results = written.result(timeout=60)
    pool.shutdown()
    assert all(isinstance(x, CallReceipt) and x.status == "queued" for x in results), results
    assert results[1].call_id == other_id  # type: ignore[union-attr]
    with unit_of_work() as s:
        assert sorted(s.scalars(select(Call.provider_call_id))) == ["race-0", "race-1", "race-2"]
    assert r.zcard(keys.queue("3")) == 3
    assert_routing_invariants(r)


def test_a_caller_twice_in_one_batch_is_taken_as_if_the_calls_came_one_after_the_other(r):
    """The batch writes its rows at its end, so the second call of a caller cannot see the
    first. Here the first was over before it reached us (the hang-up came first): it is
    recorded abandoned, and the same caller's next call is a returning caller's."""
    from hotline import calls

    seed_branches()
    now = time.time()
    with unit_of_work() as s:
        calls.hangup_before_call(s, "twice-0")
    items = [
        _signed("twice-0", "0908000000", at=now),
        _signed("other-0", "0908000001", at=now),
        _signed("twice-1", "0908000000", at=now),
    ]
    first, other, second = arrivals.arrive_batch(r, items)
    assert isinstance(first, CallReceipt) and first.status == "abandoned", first
    assert isinstance(other, CallReceipt) and other.status == "queued", other
    assert isinstance(second, CallReceipt) and second.status == "queued", second
    with unit_of_work() as s:
        priority = dict(s.execute(select(Call.provider_call_id, Call.priority)).all())
    assert priority == {
        "twice-0": calls.Priority.ROUTINE,
        "other-0": calls.Priority.ROUTINE,
        "twice-1": calls.Priority.RETURNING,
    }
    # The returning caller is answered first, though their call came last.
    assert r.zrange(keys.queue("3"), 0, -1) == [second.call_id, other.call_id]
    assert_routing_invariants(r)


def test_the_batch_queues_its_calls_in_one_round_trip_each_deciding_alone(r):
    """Router.enqueue_many: the calls join their queue in the list's order, as separate
    enqueues would, and a call whose script fails answers its own error."""
    import redis as redis_lib

    from hotline.routing.router import EnqueueCall, Router

    def call(call_id: str, max_queue: object = 100) -> EnqueueCall:
        at = int(time.time() * 1000)
        return {
            "call_id": call_id,
            "branch": "3",
            "priority": 4,
            "queued_ms": at,
            "caller": f"caller-{call_id}",
            "max_queue": max_queue,  # type: ignore[typeddict-item]  # garbage on purpose
            "timeout_ms": 20_000,
        }

    first, broken, last = Router(r).enqueue_many(
        [call("many-a"), call("many-bad", max_queue="not a number"), call("many-c")]
    )
    assert isinstance(broken, redis_lib.ResponseError), broken
    assert not isinstance(first, Exception) and not isinstance(last, Exception)
    assert (first.result, first.position) == ("queued", 1)
    assert (last.result, last.position) == ("queued", 2)
    assert r.zrange(keys.queue("3"), 0, -1) == ["many-a", "many-c"]
    (again,) = Router(r).enqueue_many([call("many-a")])  # already in line: not twice
    assert not isinstance(again, Exception) and again.result == "exists"
    assert r.zcard(keys.queue("3")) == 2


def test_a_lone_arrival_and_a_batch_read_the_same_facts_of_a_caller(r, client):
    """A lone arrival reads its facts in one statement (arrival_probe), a batch in four
    (arrival_probes): for each kind of caller both must read the same, or a caller's
    priority would hang on whether someone else called at the same moment."""
    from hotline import calls
    from kernel.db import get_engine

    seed_branches()
    assert arrive(client, "p-known", caller="0909000001").status_code == 200
    with unit_of_work() as s:
        calls.hangup_before_call(s, "p-hung")
        calls.hangup_before_call(s, "p-gone")
        calls.hangup_before_call(s, "p-gone-long")
    # Two callers whose call was over before it reached us: one just now, one long ago.
    assert arrive(client, "p-gone", caller="0909000003").json()["status"] == "abandoned"
    assert arrive(client, "p-gone-long", caller="0909000004").json()["status"] == "abandoned"
    with get_engine().begin() as conn:
        conn.execute(
            update(Call)
            .where(Call.provider_call_id == "p-gone-long")
            .values(created_at=datetime.now(UTC) - timedelta(days=30))
        )
    new_patient(client, login(client, "probe-doc"), phones=["0909000005"])

    asked = {
        "p-known": "0909000001",  # a retry of a call we know
        "p-hung": "0909000002",  # its hang-up came first
        "p-again": "0909000003",  # gave up a moment ago
        "p-later": "0909000004",  # gave up long before the window
        "p-patient": "0909000005",  # a patient is on file for the number
        "p-plain": "0909000006",  # nothing known
    }
    with unit_of_work() as s:
        together = calls.arrival_probes(s, list(asked.items()))
        alone = {pid: calls.arrival_probe(s, pid, caller) for pid, caller in asked.items()}
        known_id = s.scalar(select(Call.id).where(Call.provider_call_id == "p-known"))
    assert together == alone
    facts = {
        pid: (p.known is not None, p.hung_up_at is not None, p.gave_up_recently, p.has_patients)
        for pid, p in alone.items()
    }
    assert facts == {
        "p-known": (True, False, False, False),
        "p-hung": (False, True, False, False),
        "p-again": (False, False, True, False),
        "p-later": (False, False, False, False),
        "p-patient": (False, False, False, True),
        "p-plain": (False, False, False, False),
    }
    assert alone["p-known"].known == known_id
