"""A routing decision whose database write lands after a newer one keeps its facts.

Redis decides; each decision is then written to the database by whichever process made
it, and two processes can commit in the opposite order to the one Redis decided in.
These tests take that interleaving on purpose: they hold one decision back, let the
next one commit, and only then write the first.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hotline import branches, calls, outcomes, presence
from hotline.models import Call, Doctor, Offer
from hotline.routing.router import router_for
from kernel.db import unit_of_work
from kernel.events import Event
from tests.helpers import doctor_id_for, make_user, seed_branches, wait_for


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _clock_past(moment: datetime) -> None:
    """Wait until the clock is a whole millisecond (Redis's resolution) past a moment.

    A write that stamped its own time instead of the decision's would then show a later one.
    """
    later = moment + timedelta(milliseconds=1)
    wait_for(lambda: datetime.now(UTC) > later, what=f"the clock to pass {later}")


@pytest.fixture
def doctor(r):
    seed_branches()
    make_user("late", "doctor", branches={"3": 1})
    doctor_id = doctor_id_for("late")
    with unit_of_work() as s:
        presence.set_presence(s, r, s.get(Doctor, doctor_id), "available")
    return doctor_id


def _arrive(r, pcid: str) -> str:
    with unit_of_work() as s:
        branch = branches.branch_by_digit(s, "3")
        call = calls.register_call(s, provider_call_id=pcid, caller="0901000000", branch=branch)
        call_id = call.id
    with unit_of_work() as s:
        calls.route_call(s, r, s.get(Call, call_id))
    return call_id


def _offer_id(r, doctor_id: str) -> str:
    return router_for(r).doctor_state(doctor_id)["offer"]


def _write(r, outcome, actor: str = "test") -> None:
    with unit_of_work() as s:
        outcomes.apply_outcome(s, r, outcome, actor=actor)


def test_an_answer_written_after_the_hangup_keeps_when_and_by_whom(r, doctor):
    call_id = _arrive(r, "late-1")
    router = router_for(r)
    accepted = router.accept(offer_id=_offer_id(r, doctor), doctor_id=doctor)
    assert accepted.result == "ok"
    # The caller hangs up; that decision is written first.
    with unit_of_work() as s:
        assert calls.hangup(s, r, s.get(Call, call_id)) == "ended"
    # Now the slower process writes the answer.
    _write(r, accepted)

    answered_at = _ms(next(c.at_ms for c in accepted.calls if c.status == "connected"))
    with unit_of_work() as s:
        call = s.get(Call, call_id)
        assert call.status == "wrap_up"  # the newer state stands
        assert call.answered_at == answered_at  # the older decision's fact is kept
        assert call.answered_by == doctor and call.doctor_id == doctor
        assert call.ended_at is not None and call.ended_at >= call.answered_at
        offer = s.scalars(select(Offer).where(Offer.call_id == call_id)).one()
        assert offer.outcome == "accepted" and offer.resolved_at == answered_at
        assert s.get(Doctor, doctor).presence == "on_call"

    # The doctor can complete the call: ownership is the written fact, not a lost state.
    with unit_of_work() as s:
        done = calls.complete_call(
            s, r, s.get(Doctor, doctor), s.get(Call, call_id), disposition="advice", notes=""
        )
        assert done.status == "completed"
        assert done.answered_at == answered_at and done.answered_by == doctor


def test_a_fact_once_written_is_never_overwritten_by_a_replay(r, doctor):
    call_id = _arrive(r, "late-2")
    accepted = router_for(r).accept(offer_id=_offer_id(r, doctor), doctor_id=doctor)
    _write(r, accepted)
    with unit_of_work() as s:
        first = s.get(Call, call_id).answered_at
    _clock_past(first)
    _write(r, accepted)  # the same decision written twice (a retried write)
    with unit_of_work() as s:
        call = s.get(Call, call_id)
        assert call.answered_at == first and call.status == "connected"


def test_an_offer_closed_before_it_was_written_is_recorded_whole(r, settings, doctor):
    settings.offer_timeout_s = 0.01
    with unit_of_work() as s:
        branch = branches.branch_by_digit(s, "3")
        call = calls.register_call(s, provider_call_id="late-3", caller="0902", branch=branch)
        call_id = call.id
    # Redis offers the call, but the process that decided it has not written anything yet.
    with unit_of_work() as s:
        held_back = router_for(r).enqueue(
            call_id=call_id,
            branch="3",
            priority=4,
            queued_ms=int(time.time() * 1000),
            caller="0902",
            max_queue=10,
            timeout_ms=10,
        )
    (made,) = held_back.offers
    time.sleep(0.05)  # the 10 ms offer times out
    # Another process expires the offer and writes first.
    with unit_of_work() as s:
        swept = presence.sweep(s, r)
    assert [c.outcome for c in swept.offers_closed] == ["expired"]
    _write(r, held_back)

    with unit_of_work() as s:
        offer = s.get(Offer, made.offer_id)
        assert offer.offered_at == _ms(made.offered_ms)
        assert offer.expires_at == _ms(made.expires_ms)
        assert offer.outcome == "expired" and offer.resolved_at is not None
        call = s.get(Call, call_id)
        # The newer state (back in the queue, or offered again) is the one that stands.
        live = router_for(r).position(call_id)[0]
        assert call.status == live
        assert call.answered_at is None and call.answered_by is None
        doc = s.get(Doctor, doctor)
        redis_state = router_for(r).doctor_state(doctor)
        assert doc.presence == redis_state["st"]
        assert doc.presence_version <= int(redis_state["ver"])


def test_presence_and_events_carry_the_time_redis_decided(r, doctor):
    call_id = _arrive(r, "late-4")
    accepted = router_for(r).accept(offer_id=_offer_id(r, doctor), doctor_id=doctor)
    decided = _ms(next(d.at_ms for d in accepted.doctors if d.state == "on_call"))
    _clock_past(decided)  # the write is slow
    _write(r, accepted)
    with unit_of_work() as s:
        assert s.get(Doctor, doctor).presence_at == decided
        ev = s.scalars(
            select(Event).where(Event.subject_id == call_id, Event.kind == "call.connected")
        ).one()
        assert ev.at == decided


def test_a_decision_on_many_calls_loses_only_the_states_a_newer_write_overtook(r):
    """A batch of arrivals' decision writes its calls' states in one statement; a call whose
    row already holds a newer version keeps it, the others take theirs, and the instances
    the writer holds show what the rows hold."""
    from hotline.routing.outcome import CallChange, Outcome
    from hotline.vocab import CallStatus

    seed_branches()
    with unit_of_work() as s:
        branch = branches.branch_by_digit(s, "3")
        made = [
            calls.register_call(
                s, provider_call_id=f"many-{i}", caller=f"0903{i:06d}", branch=branch
            )
            for i in range(3)
        ]
        ids = [c.id for c in made]
    with unit_of_work() as s:  # a newer decision on the middle call was written first
        s.execute(Call.__table__.update().where(Call.id == ids[1]).values(routing_version=9))
    now_ms = int(time.time() * 1000)
    changes = [CallChange(i, CallStatus.QUEUED, 5, "queued", "", now_ms) for i in ids]
    with unit_of_work() as s:
        held = [s.get(Call, i) for i in ids]
        outcomes.apply_outcome(s, r, Outcome(result="ok", calls=changes), actor="routing")
        seen = [(c.routing_version, c.status) for c in held if c is not None]
    with unit_of_work() as s:
        rows = [(c.routing_version, c.status) for c in (s.get(Call, i) for i in ids) if c]
    assert rows == [(5, "queued"), (9, "queued"), (5, "queued")]
    assert seen == rows
