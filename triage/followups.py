"""Follow-up calls owed to home patients: scheduling, the guarded state machine, and the sink to the call queue.

States move forward only: scheduled -> dispatched -> escalated -> done, or -> cancelled when a newer
assessment supersedes a follow-up before it was due. Each move is a conditional UPDATE on the
expected state, so a job that runs twice (a worker crash, a sweep re-enqueue) acts once.

The sink: triage must not import hotline, so the object that turns a due follow-up into an
outbound task is found by the dotted path in settings.followup_sink ("hotline.followups:sink"),
resolved when first used in whichever process runs the job; tests register their own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kernel import events
from kernel.db import utcnow
from kernel.settings import get_settings
from triage.models import FollowUp

if TYPE_CHECKING:
    from triage.models import Assessment, Patient
    from triage.scoring.rules import RuleSet

OPEN_STATES = ("scheduled", "dispatched", "escalated")


@dataclass(frozen=True)
class DueFollowUp:
    """What the call queue needs to know; no ORM object crosses the domain line."""

    followup_id: str
    patient_id: str
    phone: str
    task_ref: str
    branch_digit: str
    high_risk: bool
    reason: str


class FollowUpSink(Protocol):
    def dispatch(self, session: Session, task: DueFollowUp) -> None:
        """Put the follow-up call into the branch queue, in the caller's transaction."""

    def escalate(self, session: Session, task: DueFollowUp) -> None:
        """The follow-up is overdue: raise its priority in the queue."""


_registered: FollowUpSink | None = None


def register_sink(sink: FollowUpSink | None) -> None:
    """Override the configured sink (tests, or an app that wires it explicitly)."""
    global _registered
    _registered = sink


def get_sink() -> FollowUpSink:
    if _registered is not None:
        return _registered
    module, _, attr = get_settings().followup_sink.partition(":")
    sink: FollowUpSink = getattr(importlib.import_module(module), attr)
    return sink


# --------------------------------------------------------------------------- scheduling


def rising_risk(current: Assessment, previous: Assessment | None, rule_set: RuleSet) -> str | None:
    """Why the interval is shortened, or None: NEWS2 up by 2+, or SpO2 newly at a warning sign."""
    if previous is None:
        return None
    if (
        current.news2_total is not None
        and previous.news2_total is not None
        and current.news2_total - previous.news2_total >= 2
    ):
        return f"NEWS2 rose {previous.news2_total} -> {current.news2_total}"
    limit = rule_set.spo2_warning_at_or_below
    if (
        current.spo2 is not None
        and previous.spo2 is not None
        and current.spo2 <= limit < previous.spo2
    ):
        return f"SpO2 fell {previous.spo2}% -> {current.spo2}% (warning at <= {limit}%)"
    return None


def schedule(
    session: Session,
    *,
    patient: Patient,
    assessment: Assessment,
    previous: Assessment | None,
    phone: str | None,
    hours: float,
    rule_set: RuleSet,
) -> FollowUp:
    s = get_settings()
    reason = f"home care: follow-up in {hours:g} h"
    rising = rising_risk(assessment, previous, rule_set)
    if rising:
        hours = hours * s.followup_rising_risk_factor
        reason = f"{rising}: interval shortened to {hours:g} h"
    due = assessment.signed_at + timedelta(hours=hours)
    fu = FollowUp(
        patient_id=patient.id,
        assessment_id=assessment.id,
        phone=phone,
        interval_hours=hours,
        reason=reason[:255],
        due_at=due,
        escalate_at=due + timedelta(seconds=s.followup_grace_s),
        state="scheduled",
    )
    session.add(fu)
    session.flush()
    fu.task_ref = f"followup:{fu.id}"
    events.record(
        session,
        kind="followup.scheduled",
        subject_type="followup",
        subject_id=fu.id,
        actor="triage",
        data={
            "patient_id": patient.id,
            "due_at": due.isoformat(),
            "hours": hours,
            "reason": reason,
        },
    )
    fu_id, escalate_at = fu.id, fu.escalate_at

    def _enqueue() -> None:
        from triage import jobs

        jobs.schedule_followup(fu_id, due, escalate_at)

    events.after_commit(session, _enqueue)
    return fu


def close_open(session: Session, patient_id: str, *, by_assessment_id: str) -> None:
    """A new assessment answers the follow-ups that were owed: done if called, cancelled if not yet due."""
    now = utcnow()
    for from_states, to_state in (
        (("dispatched", "escalated"), "done"),
        (("scheduled",), "cancelled"),
    ):
        ids = list(
            session.scalars(
                update(FollowUp)
                .where(FollowUp.patient_id == patient_id, FollowUp.state.in_(from_states))
                .values(state=to_state, closed_at=now, closed_by_assessment_id=by_assessment_id)
                .returning(FollowUp.id)
                .execution_options(synchronize_session=False)
            )
        )
        for fid in ids:
            events.record(
                session,
                kind=f"followup.{to_state}",
                subject_type="followup",
                subject_id=fid,
                actor="triage",
                data={"assessment_id": by_assessment_id},
            )


def _transition(
    session: Session, followup_id: str, *, from_state: str, to_state: str, **values: Any
) -> bool:
    """The one guard: only the job that moves the row out of from_state acts."""
    res = session.execute(
        update(FollowUp)
        .where(FollowUp.id == followup_id, FollowUp.state == from_state)
        .values(state=to_state, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(res, "rowcount", 0) == 1)


def _task(session: Session, fu: FollowUp) -> DueFollowUp:
    from triage import service

    risk = service.caller_risk(session, fu.phone) if fu.phone else None
    return DueFollowUp(
        followup_id=fu.id,
        patient_id=fu.patient_id,
        phone=fu.phone or "",
        task_ref=fu.task_ref or f"followup:{fu.id}",
        branch_digit=get_settings().followup_branch_digit,
        high_risk=bool(risk and (risk.high_risk or risk.severe)),
        reason=fu.reason,
    )


def dispatch_due(session: Session, followup_id: str, now: datetime | None = None) -> bool:
    """Turn a due follow-up into an outbound task once; False when it was not due or already done."""
    now = now or utcnow()
    fu = session.get(FollowUp, followup_id)
    if fu is None or fu.state != "scheduled" or fu.due_at > now:
        return False
    if not _transition(
        session, followup_id, from_state="scheduled", to_state="dispatched", dispatched_at=now
    ):
        return False
    session.refresh(fu)
    if not fu.phone:
        # Nobody can be called: a person has to find the patient.
        _transition(
            session, followup_id, from_state="dispatched", to_state="escalated", escalated_at=now
        )
        _alert_supervisor(session, fu, "no phone number to call")
        return True
    get_sink().dispatch(session, _task(session, fu))
    events.record(
        session,
        kind="followup.dispatched",
        subject_type="followup",
        subject_id=fu.id,
        actor="triage",
        data={"patient_id": fu.patient_id, "task_ref": fu.task_ref},
    )
    return True


def escalate_overdue(session: Session, followup_id: str, now: datetime | None = None) -> bool:
    """Past the grace period and still not answered: priority up and a supervisor alert, once."""
    now = now or utcnow()
    fu = session.get(FollowUp, followup_id)
    if fu is None or fu.state != "dispatched" or fu.escalate_at > now:
        return False
    if not _transition(
        session, followup_id, from_state="dispatched", to_state="escalated", escalated_at=now
    ):
        return False
    session.refresh(fu)
    if fu.phone:
        get_sink().escalate(session, _task(session, fu))
    _alert_supervisor(session, fu, f"follow-up not done within {get_settings().followup_grace_s} s")
    return True


def _alert_supervisor(session: Session, fu: FollowUp, why: str) -> None:
    events.record(
        session,
        kind="followup.escalated",
        subject_type="followup",
        subject_id=fu.id,
        actor="triage",
        data={
            "patient_id": fu.patient_id,
            "why": why,
            "alert": "supervisor",
            "due_at": fu.due_at.isoformat(),
        },
    )


def due_for_dispatch(session: Session, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(FollowUp.id).where(FollowUp.state == "scheduled", FollowUp.due_at <= now)
        )
    )


def due_for_escalation(session: Session, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(FollowUp.id).where(FollowUp.state == "dispatched", FollowUp.escalate_at <= now)
        )
    )


def any_open(session: Session) -> bool:
    return (
        session.scalar(
            select(FollowUp.id).where(FollowUp.state.in_(("scheduled", "dispatched"))).limit(1)
        )
        is not None
    )


def view(fu: FollowUp) -> dict[str, Any]:
    return {
        "id": fu.id,
        "assessment_id": fu.assessment_id,
        "state": fu.state,
        "due_at": fu.due_at,
        "escalate_at": fu.escalate_at,
        "interval_hours": fu.interval_hours,
        "reason": fu.reason,
        "phone": fu.phone,
        "dispatched_at": fu.dispatched_at,
        "escalated_at": fu.escalated_at,
        "closed_at": fu.closed_at,
    }
