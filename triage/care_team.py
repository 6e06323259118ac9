"""The care team: who may read a patient's assessments and timeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.accounts import Principal, Role
from kernel.errors import Forbidden
from triage import ports
from triage.models import Assessment, PatientPhone


class NotOnCareTeam(Forbidden):
    code = "not_on_care_team"


def on_care_team(session: Session, principal: Principal, patient_id: str) -> bool:
    """Supervisors always; a doctor who signed an assessment for the patient or answered a call
    from one of its numbers."""
    if principal.role in (Role.SUPERVISOR, Role.ADMIN):
        return True
    if principal.role is not Role.DOCTOR:
        return False
    signed = session.scalar(
        select(Assessment.id)
        .where(Assessment.patient_id == patient_id, Assessment.signed_by == principal.id)
        .limit(1)
    )
    if signed is not None:
        return True
    phones = list(
        session.scalars(select(PatientPhone.phone).where(PatientPhone.patient_id == patient_id))
    )
    return bool(phones) and ports.call_centre().answered_call_from(
        session, user_id=principal.id, phones=phones
    )


def require_care_team(session: Session, principal: Principal, patient_id: str) -> None:
    if not on_care_team(session, principal, patient_id):
        raise NotOnCareTeam(
            "only the signing doctor, supervisors and the patient's care team read assessments"
        )
