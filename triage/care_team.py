"""Who may read and write a patient's record (the patient, assessments, timeline, follow-ups).

Supervisors and admins always. A doctor only through a relationship with the patient:
- the doctor registered the patient (created the record);
- a call from one of the patient's numbers that the doctor answered (is handling or handled);
- one of the patient's follow-up calls, offered to or answered by the doctor;
- an explicit "break the glass": the doctor states a reason, an audit event records it, and
  the record is open to that doctor for a limited time (settings.break_glass_ttl_s).
Hospital staff (signed in, not an API key) read the timeline of a patient whose transfer
request is held at or sent to their hospital, and of no one else.
Signing an assessment needs the relationship too, and gives none by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel import events
from kernel.accounts import Principal, Role
from kernel.db import utcnow
from kernel.errors import Forbidden
from kernel.events import Event
from kernel.settings import get_settings
from triage import ports
from triage.models import FollowUp, Patient, PatientPhone

BREAK_GLASS = "patient.break_glass"


class NotOnCareTeam(Forbidden):
    code = "not_on_care_team"


def relationship(session: Session, principal: Principal, patient_id: str) -> str | None:
    """Why the principal may read the patient's record ("role", "hospital", "registered",
    "call", "follow_up", "break_glass"), or None if they may not."""
    if principal.role in (Role.SUPERVISOR, Role.ADMIN):
        return "role"
    if principal.role is Role.HOSPITAL:
        return "hospital" if _sent_to_their_hospital(session, principal, patient_id) else None
    if principal.role is not Role.DOCTOR or principal.via_api_key:
        return None
    patient = session.get(Patient, patient_id)
    if patient is not None and patient.created_by == principal.actor:
        return "registered"
    centre = ports.call_centre()
    phones = list(
        session.scalars(select(PatientPhone.phone).where(PatientPhone.patient_id == patient_id))
    )
    if phones and centre.answered_call_from(session, user_id=principal.id, phones=phones):
        return "call"
    refs = [
        ref
        for task_ref in session.scalars(
            select(FollowUp.task_ref).where(
                FollowUp.patient_id == patient_id, FollowUp.task_ref.is_not(None)
            )
        )
        if task_ref
        for ref in (task_ref, f"{task_ref}:escalated")
    ]
    if refs and centre.took_task(session, user_id=principal.id, task_refs=refs):
        return "follow_up"
    if break_glass_until(session, principal, patient_id) is not None:
        return "break_glass"
    return None


def _sent_to_their_hospital(session: Session, principal: Principal, patient_id: str) -> bool:
    if principal.via_api_key or not principal.hospital_id:
        return False
    from dispatch.models import TransferRequest

    return (
        session.scalar(
            select(TransferRequest.id)
            .where(
                TransferRequest.patient_ref == patient_id,
                TransferRequest.hospital_id == principal.hospital_id,
            )
            .limit(1)
        )
        is not None
    )


# Who may open a patient's timeline at all; the care team then decides for each patient.
TIMELINE_ROLES = (Role.DOCTOR, Role.SUPERVISOR, Role.HOSPITAL)


def may_read_timeline(session: Session, principal: Principal, patient_id: str) -> bool:
    """What the timeline route allows: the card shows its link exactly when this is true."""
    return principal.role in TIMELINE_ROLES and on_care_team(session, principal, patient_id)


def on_care_team(session: Session, principal: Principal, patient_id: str) -> bool:
    return relationship(session, principal, patient_id) is not None


def require_care_team(session: Session, principal: Principal, patient_id: str) -> None:
    if not on_care_team(session, principal, patient_id):
        raise NotOnCareTeam(
            "a doctor reads or writes a patient's record only after registering the patient, "
            "while handling or after handling a call from the patient, on an assigned "
            "follow-up, or by breaking the glass with a reason"
        )


def break_glass_until(session: Session, principal: Principal, patient_id: str) -> datetime | None:
    """When the principal's latest running break-the-glass grant on the patient ends."""
    ttl = timedelta(seconds=get_settings().break_glass_ttl_s)
    latest = session.scalar(
        select(Event.at)
        .where(
            Event.subject_type == "patient",
            Event.subject_id == patient_id,
            Event.kind == BREAK_GLASS,
            Event.actor == principal.actor,
            Event.at > utcnow() - ttl,
        )
        .order_by(Event.id.desc())
        .limit(1)
    )
    return _aware(latest) + ttl if latest is not None else None


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


def break_the_glass(
    session: Session, principal: Principal, patient: Patient, reason: str
) -> datetime:
    """Open the record to a doctor without a relationship, for a while, on the audit record.

    The grant *is* the audit event: nothing else stores it, so it cannot exist unrecorded.
    """
    now = utcnow()
    until = now + timedelta(seconds=get_settings().break_glass_ttl_s)
    events.record(
        session,
        kind=BREAK_GLASS,
        subject_type="patient",
        subject_id=patient.id,
        actor=principal.actor,
        data={"user_id": principal.id, "reason": reason, "until": until.isoformat()},
        at=now,
    )
    session.flush()
    return until
