"""The call-centre port: everything triage needs from the call centre, which triage cannot import.

Triage sits below hotline (hotline -> triage -> dispatch -> kernel), yet a due follow-up has to
enter a branch queue, and the care-team rule asks who answered a patient's calls and follow-ups. The object
that does both is registered by the composition root at start (the API, the RQ worker, the
command line): hotline.followups.register(). Tests register their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class DueFollowUp:
    """What the call queue needs to know of a follow-up; no ORM object crosses the domain line."""

    followup_id: str
    patient_id: str
    phone: str
    task_ref: str
    branch_digit: str
    high_risk: bool
    reason: str


class CallCentre(Protocol):
    def dispatch(self, session: Session, task: DueFollowUp) -> None:
        """Put the follow-up call into the branch queue, in the caller's transaction."""

    def escalate(self, session: Session, task: DueFollowUp) -> None:
        """The follow-up is overdue: raise its priority in the queue."""

    def answered_call_from(self, session: Session, *, user_id: str, phones: Sequence[str]) -> bool:
        """Whether the doctor signed in as user_id answered a call from any of these numbers."""

    def took_task(self, session: Session, *, user_id: str, task_refs: Sequence[str]) -> bool:
        """Whether a call carrying one of these task references (a follow-up's) is offered to,
        or was answered by, the doctor signed in as user_id."""


_registered: CallCentre | None = None


def register_call_centre(call_centre: CallCentre | None) -> None:
    """Name the call centre this process uses (its composition root does, at start)."""
    global _registered
    _registered = call_centre


def call_centre() -> CallCentre:
    if _registered is None:
        raise RuntimeError(
            "no call centre registered: the process's composition root must call "
            "triage.ports.register_call_centre() at start"
        )
    return _registered
