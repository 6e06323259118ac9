"""A transfer request's steps: each moves its status and leaves a history row and an event.

Every ORM update of a request is conditional on its version, so of two steps racing on one
request (two workers, a worker and an operator) exactly one is flushed; the other raises
TransferChanged (409) and its transaction rolls back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dispatch.models import TransferHistory, TransferRequest
from dispatch.vocab import TransferStatus
from kernel import events
from kernel.db import utcnow
from kernel.errors import Conflict
from kernel.lean import insert_soon


class TransferChanged(Conflict):
    code = "transfer_changed"


class RequestFacts(Protocol):
    """What a step's record reads of its request: a loaded request, or a row a batch claimed."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def hospital_id(self) -> str | None: ...
    @property
    def urgency(self) -> str: ...
    @property
    def bed_type(self) -> str: ...


def record(
    session: Session,
    req: RequestFacts,
    kind: str,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """A step on the request: a history row for the board and an event for the audit and pushes."""
    at = utcnow()
    payload = {"status": req.status, "hospital_id": req.hospital_id, **(data or {})}
    # One prebuilt Core INSERT (kernel.lean): nothing reads the row back as an object, and the
    # unit of work would cost a step more Python than the statement itself.
    row = {"request_id": req.id, "at": at, "kind": kind, "status": req.status, "actor": actor}
    insert_soon(session, TransferHistory, {**row, "data": payload})
    events.record(
        session,
        kind=f"transfer.{kind}",
        subject_type="transfer",
        subject_id=req.id,
        actor=actor,
        data={"urgency": req.urgency, "bed_type": req.bed_type, **payload},
        at=at,
    )


def save(session: Session) -> None:
    """Flush a request's step; a concurrent step on the same request wins, this one 409s."""
    try:
        session.flush()
    except StaleDataError:
        raise TransferChanged("the request changed meanwhile; reload and try again") from None


def set_status(req: TransferRequest, status: TransferStatus, now: datetime) -> None:
    req.status = status
    req.status_at = now


def advance(
    session: Session,
    req: TransferRequest,
    status: TransferStatus,
    now: datetime,
    *,
    actor: str | None,
    kind: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Move the request to a status and record the step (named after the status unless told)."""
    set_status(req, status, now)
    record(session, req, kind or status, actor=actor, data=data)
    save(session)
