"""The audit/event log: every state change is a row, published on Redis pub/sub once committed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, event
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
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "actor": self.actor,
            "data": self.data,
        }


def record(
    session: Session,
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Add an event to the session; it is published only if the transaction commits."""
    ev = Event(
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        data=data or {},
        at=at or utcnow(),
    )
    session.add(ev)
    session.info.setdefault("pending_events", []).append(ev)
    return ev


def after_commit(session: Session, fn: Callable[[], Any]) -> None:
    """Run fn once the session's transaction commits; dropped on rollback (jobs, pushes)."""
    session.info.setdefault("after_commit", []).append(fn)


def _publish_pending(session: Session) -> None:
    events = session.info.pop("pending_events", [])
    callbacks = session.info.pop("after_commit", [])
    if events:
        from kernel.redisconn import get_redis

        try:
            r = get_redis()
            pipe = r.pipeline(transaction=False)
            for ev in events:
                msg = json.dumps(ev.as_message(), default=str)
                pipe.publish(EVENTS_CHANNEL, msg)
                pipe.publish(f"{EVENTS_CHANNEL}:{ev.subject_type}", msg)
            pipe.execute()
        except Exception:  # the row is durable; a missed push is recovered by polling
            log.exception("could not publish %d events", len(events))
    for fn in callbacks:
        try:
            fn()
        except Exception:
            log.exception("after-commit callback failed")


def _drop_pending(session: Session) -> None:
    session.info.pop("pending_events", None)
    session.info.pop("after_commit", None)


event.listen(Session, "after_commit", _publish_pending)
event.listen(Session, "after_soft_rollback", lambda s, _t: _drop_pending(s))
