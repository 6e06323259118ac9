"""Follow-up calls owed to home patients: scheduling, and the guarded state machine that takes them to the call queue.

States move forward only: scheduled -> dispatched -> escalated -> done, or -> cancelled when a newer
assessment supersedes a follow-up before it was due. Each move is a conditional UPDATE on the
expected state, so a job that runs twice (a worker crash, a sweep re-enqueue) acts once. The call
queue itself is the call centre's, reached through triage.ports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kernel import events
from kernel.db import utcnow
from kernel.settings import get_settings
from triage import ports
from triage.caller_risk import caller_risk
from triage.models import FollowUp
from triage.vocabulary import FollowUpState

if TYPE_CHECKING:
    from triage.models import Assessment, Patient
    from triage.scoring.rules import RuleSet

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
    """The follow-up a home-care decision owes, due `hours` after signing (sooner if risk rises)."""
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
        state=FollowUpState.SCHEDULED,
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
    fu_id = fu.id

    def _enqueue() -> None:
        # Imported here: the jobs run this module's functions, so it imports this one.
        from triage import jobs

        jobs.schedule_followup(fu_id, due)

    events.after_commit(session, _enqueue)
    return fu


def close_open(session: Session, patient_id: str, *, by_assessment_id: str) -> None:
    """A new assessment answers the follow-ups that were owed: done if called, cancelled if not yet due."""
    now = utcnow()
    for from_states, to_state in (
        ((FollowUpState.DISPATCHED, FollowUpState.ESCALATED), FollowUpState.DONE),
        ((FollowUpState.SCHEDULED,), FollowUpState.CANCELLED),
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


# --------------------------------------------------------------------------- the state machine


@dataclass(frozen=True, slots=True)
class _Move:
    """A forward move a job makes once its time has come."""

    from_state: FollowUpState
    to_state: FollowUpState
    due: Callable[[FollowUp], datetime]
    stamp: str  # the column that records when it happened


_DISPATCH: Final = _Move(
    FollowUpState.SCHEDULED, FollowUpState.DISPATCHED, lambda f: f.due_at, "dispatched_at"
)
_ESCALATE: Final = _Move(
    FollowUpState.DISPATCHED, FollowUpState.ESCALATED, lambda f: f.escalate_at, "escalated_at"
)


def _transition(session: Session, followup_id: str, move: _Move, now: datetime) -> bool:
    """The one guard: only the job that moves the row out of move.from_state acts."""
    res = session.execute(
        update(FollowUp)
        .where(FollowUp.id == followup_id, FollowUp.state == move.from_state)
        .values({"state": move.to_state, move.stamp: now})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(res, "rowcount", 0) == 1)


def _take(session: Session, followup_id: str, move: _Move, now: datetime) -> FollowUp | None:
    """Make the move if the follow-up is due for it; None when it was not, or another job did."""
    fu = session.get(FollowUp, followup_id)
    if fu is None or fu.state != move.from_state or move.due(fu) > now:
        return None
    if not _transition(session, followup_id, move, now):
        return None
    session.refresh(fu)
    return fu


def _task(session: Session, fu: FollowUp) -> ports.DueFollowUp:
    risk = caller_risk(session, fu.phone) if fu.phone else None
    return ports.DueFollowUp(
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
    fu = _take(session, followup_id, _DISPATCH, now)
    if fu is None:
        return False
    if not fu.phone:
        # Nobody can be called: a person has to find the patient.
        _transition(session, followup_id, _ESCALATE, now)
        _alert_supervisor(session, fu, "no phone number to call")
        return True
    ports.call_centre().dispatch(session, _task(session, fu))
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
    fu = _take(session, followup_id, _ESCALATE, now)
    if fu is None:
        return False
    if fu.phone:
        ports.call_centre().escalate(session, _task(session, fu))
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


# --------------------------------------------------------------------------- the sweep's queries


def due_for_dispatch(session: Session, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(FollowUp.id).where(
                FollowUp.state == FollowUpState.SCHEDULED, FollowUp.due_at <= now
            )
        )
    )


def due_for_escalation(session: Session, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(FollowUp.id).where(
                FollowUp.state == FollowUpState.DISPATCHED, FollowUp.escalate_at <= now
            )
        )
    )


def any_open(session: Session) -> bool:
    """Whether a follow-up still waits for its due or overdue job (the sweep stays armed)."""
    waiting = (FollowUpState.SCHEDULED, FollowUpState.DISPATCHED)
    return (
        session.scalar(select(FollowUp.id).where(FollowUp.state.in_(waiting)).limit(1)) is not None
    )


# The reasons schedule() writes, read back as a code and numbers for the pages to word.
_REASONS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("home_care", re.compile(r"home care: follow-up in ([\d.]+) h"), ("hours",)),
    (
        "news2_rose",
        re.compile(r"NEWS2 rose (\d+) -> (\d+): interval shortened to ([\d.]+) h"),
        ("from", "to", "hours"),
    ),
    (
        "spo2_fell",
        re.compile(
            r"SpO2 fell (\d+)% -> (\d+)% \(warning at <= (\d+)%\): "
            r"interval shortened to ([\d.]+) h"
        ),
        ("from", "to", "limit", "hours"),
    ),
)


def reason_code(reason: str | None) -> tuple[str | None, dict[str, float]]:
    """A follow-up's reason as (code, numbers): ("news2_rose", {"from": 3, "to": 6, "hours": 12})."""
    for code, pattern, names in _REASONS:
        m = pattern.fullmatch(reason or "")
        if m:
            return code, {n: float(v) for n, v in zip(names, m.groups(), strict=True)}
    return None, {}


def view(fu: FollowUp) -> dict[str, Any]:
    code, params = reason_code(fu.reason)
    return {
        "reason_code": code,
        "reason_params": params,
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
