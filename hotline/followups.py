"""The follow-up sink: how triage's due follow-ups enter the branch queue as outbound tasks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hotline import calls
from triage.followups import DueFollowUp


class HotlineFollowUpSink:
    """Found by triage through settings.followup_sink = "hotline.followups:sink"."""

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


sink = HotlineFollowUpSink()
