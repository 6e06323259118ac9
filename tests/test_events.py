"""The event log's promise to its subscribers: what they hear of an event is its committed
row (the same id, time, kind, subject and data), in the order the events were recorded, and
nothing of a transaction that rolled back. Real database, real Redis pub/sub; the waits are
bounds for a broken build, not timings."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from kernel import events
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import get_redis

BOUND_S = 10


def _listening() -> Any:
    sub = get_redis().pubsub(ignore_subscribe_messages=True)
    sub.subscribe(events.EVENTS_CHANNEL)
    deadline = time.monotonic() + BOUND_S
    while not sub.subscribed and time.monotonic() < deadline:
        sub.get_message(timeout=0.05)
    return sub


def _heard(sub: Any, tag: str, count: int, wait_s: float = BOUND_S) -> list[dict[str, Any]]:
    """The messages about subject `tag` (other tests' events may share the channel)."""
    heard: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while len(heard) < count and time.monotonic() < deadline:
        message = sub.get_message(timeout=0.05)
        if message is not None:
            body = json.loads(message["data"])
            if body["subject_id"] == tag:
                heard.append(body)
    return heard


def _rows(tag: str) -> list[dict[str, Any]]:
    with unit_of_work() as session:
        found = session.scalars(select(Event).where(Event.subject_id == tag).order_by(Event.id))
        return [json.loads(json.dumps(e.as_message())) for e in found]


def test_subscribers_hear_the_committed_rows_in_the_order_recorded() -> None:
    tag = uuid.uuid4().hex
    sub = _listening()
    try:
        with unit_of_work() as session:
            with events.together(session):  # written at the end of the block, in one statement
                events.record(session, kind="test.a", subject_type="test", subject_id=tag)
                events.record(
                    session, kind="test.b", subject_type="test", subject_id=tag, data={"n": 2}
                )
            events.record(  # written at once
                session,
                kind="test.c",
                subject_type="test",
                subject_id=tag,
                actor="tester",
                data={"n": 3, "note": "Bệnh nhân khó thở"},
            )
        heard = _heard(sub, tag, 3)
    finally:
        sub.close()
    rows = _rows(tag)
    assert [r["kind"] for r in rows] == ["test.a", "test.b", "test.c"]
    assert heard == rows
    assert rows[2]["actor"] == "tester" and rows[2]["data"]["note"] == "Bệnh nhân khó thở"


def test_nothing_of_a_rolled_back_transaction_is_written_or_heard() -> None:
    tag = uuid.uuid4().hex
    sub = _listening()
    try:
        with pytest.raises(RuntimeError), unit_of_work() as session:
            with events.together(session):
                events.record(session, kind="test.a", subject_type="test", subject_id=tag)
            events.record(session, kind="test.b", subject_type="test", subject_id=tag)
            raise RuntimeError("the request fails after recording")
        heard = _heard(sub, tag, 1, wait_s=1.0)
    finally:
        sub.close()
    assert heard == []
    assert _rows(tag) == []
