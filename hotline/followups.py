"""The call centre as triage sees it (triage.ports.CallCentre): follow-up calls into the branch
queue, and who answered a patient's calls."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotline import calls
from hotline.models import Call, Doctor
from triage import ports
from triage.ports import DueFollowUp


class HotlineCallCentre:
    """What triage reaches through triage.ports once register() has run."""

    def dispatch(self, session: Session, task: DueFollowUp) -> None:
        priority = calls.Priority.HIGH_RISK if task.high_risk else calls.Priority.RETURNING
        calls.enqueue_task(
            session,
            branch_digit=task.branch_digit,
            phone=task.phone,
            task_ref=task.task_ref,
            priority=priority,
            reason="follow-up due",
        )

    def escalate(self, session: Session, task: DueFollowUp) -> None:
        # The router has no re-prioritise operation yet, so an overdue follow-up gets a second
        # task at the head of the queue; whichever a doctor answers, the signed assessment
        # closes the follow-up (the other is then a short confirmation call).
        calls.enqueue_task(
            session,
            branch_digit=task.branch_digit,
            phone=task.phone,
            task_ref=f"{task.task_ref}:escalated",
            priority=calls.Priority.SEVERE_CALLBACK,
            reason="follow-up overdue",
        )

    def answered_call_from(self, session: Session, *, user_id: str, phones: Sequence[str]) -> bool:
        # answered_by, not doctor_id: the doctor a call is with now may not be who answered it.
        answered = session.scalar(
            select(Call.id)
            .join(Doctor, Doctor.id == Call.answered_by)
            .where(Doctor.user_id == user_id, Call.caller.in_(phones))
            .limit(1)
        )
        return answered is not None

    def took_task(self, session: Session, *, user_id: str, task_refs: Sequence[str]) -> bool:
        # A follow-up call is the doctor's once offered to them (doctor_id) or answered.
        doctor_ids = select(Doctor.id).where(Doctor.user_id == user_id).scalar_subquery()
        taken = session.scalar(
            select(Call.id)
            .where(
                Call.task_ref.in_(task_refs),
                or_(Call.doctor_id == doctor_ids, Call.answered_by == doctor_ids),
            )
            .limit(1)
        )
        return taken is not None


sink = HotlineCallCentre()


def register() -> None:
    """Hand triage this process's call centre; every composition root calls it at start."""
    ports.register_call_centre(sink)
