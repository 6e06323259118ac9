"""The audit/event log: every state change is a row, published on Redis pub/sub once committed."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, event, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from kernel.db import Base, utcnow

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "events"


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_events_subject", "subject_type", "subject_id", "id"),)

    def as_message(self) -> dict[str, Any]:
        return message(self)


@dataclass(slots=True)
class Recorded:
    """An event this process recorded: a plain record of its row, written once and never
    read back (an ORM instance would cost every field an instrumented set), then published
    once its transaction commits."""

    kind: str
    subject_type: str
    subject_id: str
    actor: str | None
    data: dict[str, Any]
    at: datetime
    id: int | None = None

    def as_message(self) -> dict[str, Any]:
        return message(self)


def message(ev: Event | Recorded) -> dict[str, Any]:
    """What a subscriber hears of an event, from its row or from this process's record."""
    return {
        "id": ev.id,
        "at": ev.at.isoformat(),
        "kind": ev.kind,
        "subject_type": ev.subject_type,
        "subject_id": ev.subject_id,
        "actor": ev.actor,
        "data": ev.data,
    }


# Built once, on the table (plain Core, not the ORM's bulk path): the same statement object
# reuses its compiled form, and the values come as parameters. The new id comes back the
# way the dialect gives it (RETURNING on PostgreSQL, the last row id on SQLite).
_INSERT = insert(Event.__table__)  # type: ignore[arg-type]


def record(
    session: Session,
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Recorded:
    """Write an event row in the session's transaction; it is published only if that commits."""
    ev = Recorded(kind, subject_type, subject_id, actor, data or {}, at or utcnow())
    session.info.setdefault("pending_events", []).append(ev)
    gathered: list[Recorded] | None = session.info.get("events_together")
    if gathered is not None:
        gathered.append(ev)  # written with the others at the end of the block (together)
        return ev
    # One Core INSERT (no unit-of-work flush): the row is written once and never changed.
    result = session.execute(_INSERT, _row(ev))
    ev.id = result.inserted_primary_key[0]  # type: ignore[attr-defined]
    return ev


def _row(ev: Recorded) -> dict[str, Any]:
    return {
        "at": ev.at,
        "kind": ev.kind,
        "subject_type": ev.subject_type,
        "subject_id": ev.subject_id,
        "actor": ev.actor,
        "data": ev.data,
    }


# Many rows in one statement, their ids returned in the order of the rows.
_INSERT_MANY = _INSERT.returning(Event.__table__.c.id, sort_by_parameter_order=True)


@contextlib.contextmanager
def together(session: Session) -> Iterator[None]:
    """The events recorded in this block are written at its end, in ONE statement.

    For a request that records many events before it commits (a batch of arrivals); the
    block must not read its own events back before it ends. Their ids follow the order
    they were recorded in. On an error nothing of them is written.
    """
    gathered: list[Recorded] = []
    session.info["events_together"] = gathered
    try:
        yield
    finally:
        session.info.pop("events_together", None)
    if gathered:
        ids = session.execute(_INSERT_MANY, [_row(ev) for ev in gathered]).scalars().all()
        for ev, id_ in zip(gathered, ids, strict=True):
            ev.id = id_


def after_commit(session: Session, fn: Callable[[], Any]) -> None:
    """Run fn once the session's transaction commits; dropped on rollback (jobs, pushes)."""
    session.info.setdefault("after_commit", []).append(fn)


def _publish_pending(session: Session) -> None:
    events = session.info.pop("pending_events", [])
    callbacks = session.info.pop("after_commit", [])
    if events:
        _outbox.send([json.dumps(ev.as_message(), default=str) for ev in events], events)
    for fn in callbacks:
        try:
            fn()
        except Exception:
            log.exception("after-commit callback failed")


class _Outbox:
    """Publishes committed events from a thread of its own, in commit order.

    The rows are durable once committed and a missed push is recovered by polling, so
    the request that committed them does not wait for Redis to take the messages.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[list[tuple[str, str]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, messages: list[str], events: list[Recorded]) -> None:
        batch = []
        for msg, ev in zip(messages, events, strict=True):
            batch += [(EVENTS_CHANNEL, msg), (f"{EVENTS_CHANNEL}:{ev.subject_type}", msg)]
        self._queue.put(batch)
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="event-outbox", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        from kernel.errors import outages
        from kernel.redisconn import get_redis

        while True:
            batch = self._queue.get()
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:  # what queued up meanwhile goes in the same trip
                    batch += self._queue.get_nowait()
            try:
                pipe = get_redis().pipeline(transaction=False)
                for channel, msg in batch:
                    pipe.publish(channel, msg)
                pipe.execute()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Redis is away: the rows are durable and pages recover them by polling.
                # One line per outage (kernel.errors.outages), not a traceback per batch.
                outages.failed("redis", exc)
                log.warning("could not publish %d events while Redis is away", len(batch) // 2)
            except Exception:  # the rows are durable; a missed push is recovered by polling
                log.exception("could not publish %d events", len(batch) // 2)


_outbox = _Outbox()


def _drop_pending(session: Session) -> None:
    session.info.pop("pending_events", None)
    session.info.pop("after_commit", None)


event.listen(Session, "after_commit", _publish_pending)
event.listen(Session, "after_soft_rollback", lambda s, _t: _drop_pending(s))
