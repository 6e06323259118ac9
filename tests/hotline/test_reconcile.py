"""The reconciliation pass: decisions whose writes were lost, and Redis that lost data, repaired."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline import calls, outcomes, presence, rebuild, reconcile
from hotline.models import Call, Doctor, Offer
from hotline.routing import keys
from hotline.routing.router import router_for
from kernel import telemetry
from kernel.db import unit_of_work, utcnow
from kernel.events import Event
from tests.helpers import assert_routing_invariants, doctor_id_for, make_user, seed_branches


@pytest.fixture
def grace(settings, r):
    # Repairs wait for a difference to last; the tests run the passes back to back.
    settings.reconcile_grace_s = 0
    with unit_of_work() as s:  # as an API process does when it starts
        rebuild.ensure_ready(s, r)
    return settings


def passes(r, n: int = 2) -> dict[str, int]:
    """Run n passes (a difference is repaired once two passes have seen it)."""
    total: dict[str, int] = {}
    for _ in range(n):
        with unit_of_work() as s:
            for k, v in reconcile.reconcile(s, r).items():
                total[k] = total.get(k, 0) + v
    return total


def doctor(r, username: str = "rc", state: str = "available") -> str:
    make_user(username, "doctor", branches={"3": 1})
    doctor_id = doctor_id_for(username)
    with unit_of_work() as s:
        presence.set_presence(s, r, s.get(Doctor, doctor_id), state)
    return doctor_id


def committed_call(pcid: str, caller: str = "0901000001") -> str:
    """A call row committed as an arrival does, before Redis hears of it."""
    from hotline.branches import branch_by_digit

    with unit_of_work() as s:
        call = calls.register_call(
            s, provider_call_id=pcid, caller=caller, branch=branch_by_digit(s, "3")
        )
        return call.id


def routed_call(r, pcid: str, caller: str = "0901000001") -> str:
    call_id = committed_call(pcid, caller)
    with unit_of_work() as s:
        calls.route_call(s, r, s.get(Call, call_id))
    return call_id


def repairs(subject_id: str) -> list[str]:
    with unit_of_work() as s:
        rows = s.scalars(
            select(Event).where(Event.kind == "routing.repaired", Event.subject_id == subject_id)
        ).all()
        return [e.data["repair"] for e in rows]


def test_a_call_committed_but_never_queued_is_queued_in_its_place(r, grace):
    seed_branches()
    first = routed_call(r, "rc-1", "0901000001")
    ghost = committed_call("rc-2", "0901000002")  # the API died before the enqueue
    last = routed_call(r, "rc-3", "0901000003")
    assert router_for(r).position(ghost) == (None, None)
    assert passes(r)["restored"] == 1
    assert r.zrange(keys.queue("3"), 0, -1) == [first, ghost, last]
    assert repairs(ghost) == ["restored"]
    assert passes(r) == {}  # nothing left to repair
    assert_routing_invariants(r)


def test_a_difference_is_repaired_only_once_it_has_lasted(r, grace):
    seed_branches()
    grace.reconcile_grace_s = 60
    ghost = committed_call("rc-grace")
    assert passes(r) == {}
    assert router_for(r).position(ghost) == (None, None)


def test_an_answer_decided_in_redis_but_never_written_is_recorded(r, grace):
    seed_branches()
    doc = doctor(r)
    call_id = routed_call(r, "rc-acc")
    offer_id = router_for(r).doctor_state(doc)["offer"]
    lost = router_for(r).accept(offer_id=offer_id, doctor_id=doc)  # the write never happens
    assert lost.result == "ok"
    done = passes(r)
    assert done["recorded"] >= 2  # the call and the doctor
    with unit_of_work() as s:
        call = s.get(Call, call_id)
        assert call.status == "connected" and call.answered_by == doc
        assert call.answered_at is not None
        assert s.get(Offer, offer_id).outcome == "accepted"
        assert s.get(Doctor, doc).presence == "on_call"
    assert_routing_invariants(r)


def test_an_offer_whose_closing_write_was_lost_never_outlives_the_next_offer(r, grace):
    # Redis ends an offer and offers the call to the next doctor in one decision; the
    # write of that decision fails (a locked or unreachable database). The pass records the
    # next offer at the time Redis made it, and must end the first no later than that:
    # the record may never show the call offered to two doctors at once.
    import time

    seed_branches()
    first = doctor(r, "rc-a")
    call_id = routed_call(r, "rc-lost-close")
    second = doctor(r, "rc-b")
    offer_id = router_for(r).doctor_state(first)["offer"]
    lost = router_for(r).decline(offer_id=offer_id, doctor_id=first, timeout_ms=30_000)
    assert lost.result == "ok"  # the write never happens
    next_offer = router_for(r).doctor_state(second)["offer"]
    time.sleep(0.05)  # the pass runs later than the decision
    assert passes(r)["closed"] == 1
    with unit_of_work() as s:
        ended = s.get(Offer, offer_id)
        following = s.get(Offer, next_offer)
        assert following is not None and following.call_id == call_id
        assert ended.outcome == "withdrawn"
        assert ended.resolved_at <= following.offered_at
    assert_routing_invariants(r)


def test_a_call_redis_holds_after_the_database_ended_it_is_undone(r, grace):
    seed_branches()
    doc = doctor(r)
    call_id = routed_call(r, "rc-stray")
    offer_id = router_for(r).doctor_state(doc)["offer"]
    with unit_of_work() as s:  # a terminal write that Redis never saw
        call = s.get(Call, call_id)
        call.status, call.routing_version = "abandoned", outcomes.TERMINAL_VERSION
        call.abandoned_at = call.ended_at = utcnow()
    assert passes(r)["dropped"] == 1
    assert router_for(r).position(call_id) == (None, None)
    assert router_for(r).doctor_state(doc)["st"] == "available"
    with unit_of_work() as s:
        assert s.get(Offer, offer_id).outcome == "withdrawn"
        assert s.get(Doctor, doc).presence == "available"
    assert_routing_invariants(r)


def test_redis_that_lost_a_connected_call_gets_it_back_with_its_doctor(r, grace):
    seed_branches()
    doc = doctor(r)
    call_id = routed_call(r, "rc-conn")
    with unit_of_work() as s:
        presence.accept_offer(s, r, s.get(Doctor, doc), router_for(r).doctor_state(doc)["offer"])
    # A failover to a replica that missed the last writes: the call and the doctor as
    # they were before the answer.
    r.delete(keys.call(call_id))
    r.hset(keys.doctor(doc), mapping={"st": "available", "call": "", "ver": 1})
    r.zadd(keys.available("3"), {doc: 1})
    second = routed_call(r, "rc-next", "0901000009")  # must not be offered to the doctor
    done = passes(r)
    assert done["restored"] >= 1
    assert router_for(r).doctor_state(doc)["st"] == "on_call"
    assert router_for(r).doctor_state(doc)["call"] == call_id
    assert router_for(r).position(second)[0] == "queued"
    with unit_of_work() as s:
        assert s.get(Call, call_id).status == "connected"
        assert s.get(Call, second).status == "queued"
        # Every offer made while Redis was wrong is closed, none is left open.
        open_offers = s.scalars(select(Offer).where(Offer.outcome.is_(None))).all()
        assert [o.id for o in open_offers if not r.exists(keys.offer(o.id))] == []
    # The restored versions outrank the record: the doctor's next decision is written.
    with unit_of_work() as s:
        calls.complete_call(
            s, r, s.get(Doctor, doc), s.get(Call, call_id), disposition="advice", notes=""
        )
    with unit_of_work() as s:
        assert s.get(Doctor, doc).presence == "wrap_up"
    assert_routing_invariants(r)


def test_the_workers_duty_runs_one_pass_at_a_time_and_backs_off_after_a_long_one(r, grace):
    seed_branches()
    ghost = committed_call("rc-duty")
    r.set(keys.RECONCILE_LOCK, "1")  # another worker's pass is running
    assert reconcile.run_duty() == "not due"
    assert router_for(r).position(ghost) == (None, None)
    r.delete(keys.RECONCILE_LOCK)
    assert reconcile.run_duty() == "restored 1"
    assert router_for(r).position(ghost)[0] == "queued"
    assert repairs(ghost) == ["restored"]
    # A pass far shorter than the interval leaves the next one free to run at its time.
    assert not r.exists(keys.RECONCILE_LOCK)
    assert reconcile.run_duty() == "in agreement"
    assert len(r.lrange(telemetry.RECONCILE_TIMES, 0, -1)) == 2
    assert float(r.hget(telemetry.SWEEPS, "reconciliation")) > 0
    # With no interval of its own, a pass keeps the lock long enough that passes use at
    # most their share of the time: the next duty finds it held.
    grace.reconcile_interval_s = 0
    took_ms = float(r.lrange(telemetry.RECONCILE_TIMES, 0, 0)[0])
    assert reconcile.run_duty() == "in agreement"
    held_ms = r.pttl(keys.RECONCILE_LOCK)
    assert held_ms > 0
    assert reconcile.run_duty() == "not due"
    print(f"\na pass of {took_ms:.1f} ms held the next one back {held_ms} ms")
