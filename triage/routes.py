"""HTTP routes of triage: scoring, patients, assessments and the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator

from kernel.accounts import Principal, Role
from kernel.deps import SessionDep, require_roles
from triage import patients, rules, schemas, signing
from triage.assessments import get_assessment, read_assessments
from triage.care_team import TIMELINE_ROLES, break_the_glass, on_care_team, require_care_team
from triage.models import Patient
from triage.timeline import assessment_view
from triage.timeline import timeline as patient_timeline

router = APIRouter(prefix="/api/v1", tags=["triage"])

Clinician = Annotated[Principal, Depends(require_roles(Role.DOCTOR, Role.SUPERVISOR))]
Doctor = Annotated[Principal, Depends(require_roles(Role.DOCTOR))]

_errors: dict[int | str, dict[str, Any]] = {
    403: {"description": "role or care team required"},
    404: {"description": "patient or assessment not found"},
    422: {"description": "a field breaks a rule; detail names it"},
}


def valid_patient(patient_id: str, session: SessionDep, _: Clinician) -> Patient:
    # Who is asking is checked before whether the patient exists, so an anonymous
    # caller learns nothing about which patient ids are real.
    return patients.get_patient(session, patient_id)


PatientDep = Annotated[Patient, Depends(valid_patient)]


def team_patient(patient: PatientDep, session: SessionDep, who: Clinician) -> Patient:
    # A dependency, so the care team is checked before the body is: a stranger to the
    # patient gets 403 whatever they send, never a 422 that reads their body.
    require_care_team(session, who, patient.id)
    return patient


TeamPatient = Annotated[Patient, Depends(team_patient)]
TimelineReader = Annotated[Principal, Depends(require_roles(*TIMELINE_ROLES))]


def timeline_patient(patient_id: str, session: SessionDep, _: TimelineReader) -> Patient:
    return patients.get_patient(session, patient_id)


@router.post("/triage/score", response_model=schemas.ScoresOut, responses=_errors)
def score(body: schemas.VitalsIn, _: Clinician) -> dict[str, Any]:
    """Live scoring: NEWS2, warning signs, severity and the default disposition; nothing is stored."""
    return rules.live_score(body.model_dump(exclude_unset=True) | {"age": body.age})


@router.get("/triage/patients", response_model=list[schemas.PatientOut], responses=_errors)
def search_patients(
    session: SessionDep,
    who: Clinician,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> list[Patient]:
    """Doctors find only the patients whose record they may read (triage/care_team.py)."""
    found = patients.search_patients(session, phone=phone, name=name)
    return [p for p in found if on_care_team(session, who, p.id)]


@router.post(
    "/triage/patients", status_code=201, response_model=schemas.PatientOut, responses=_errors
)
def create_patient(body: schemas.PatientIn, session: SessionDep, who: Clinician) -> Patient:
    return patients.create_patient(session, actor=who.actor, **body.model_dump())


@router.get("/triage/patients/{patient_id}", response_model=schemas.PatientOut, responses=_errors)
def get_patient(patient: TeamPatient) -> Patient:
    return patient


@router.patch("/triage/patients/{patient_id}", response_model=schemas.PatientOut, responses=_errors)
def update_patient(
    body: schemas.PatientPatch, patient: TeamPatient, session: SessionDep, who: Clinician
) -> Patient:
    fields = body.model_dump(exclude_unset=True)
    return patients.update_patient(session, patient, actor=who.actor, **fields)


@router.get(
    "/triage/patients/{patient_id}/timeline",
    response_model=schemas.TimelineOut,
    responses=_errors,
)
def timeline(
    patient: Annotated[Patient, Depends(timeline_patient)],
    session: SessionDep,
    who: TimelineReader,
) -> dict[str, Any]:
    """Doctors on the care team, supervisors, and the staff of a hospital the patient's transfer
    is held at or sent to (triage/care_team.py); anyone else gets 403."""
    return patient_timeline(session, who, patient)


@router.post(
    "/triage/patients/{patient_id}/assessments",
    status_code=201,
    response_model=schemas.AssessmentOut,
    responses=_errors,
)
def sign_assessment(
    body: schemas.AssessmentIn, patient: TeamPatient, session: SessionDep, who: Doctor
) -> dict[str, Any]:
    """Score, sign and act on an assessment. There is no route to change or delete one.
    Only a doctor on the patient's care team signs one (triage/care_team.py)."""
    a = signing.sign_assessment(session, who, patient, body)
    return assessment_view(session, a)


@router.get(
    "/triage/assessments/{assessment_id}", response_model=schemas.AssessmentOut, responses=_errors
)
def read_assessment(assessment_id: str, session: SessionDep, who: Clinician) -> dict[str, Any]:
    a = get_assessment(session, assessment_id)
    require_care_team(session, who, a.patient_id)
    read_assessments(session, who, [a])
    return assessment_view(session, a)


# --------------------------------------------------------------------------- break the glass


class BreakGlassIn(BaseModel):
    reason: str = Field(
        min_length=10, max_length=500, description="why this record is needed now, for the audit"
    )

    @field_validator("reason")
    @classmethod
    def _printable(cls, v: str) -> str:
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in v) or not v.strip():
            raise ValueError("must be printable text")
        return v.strip()


class BreakGlassOut(BaseModel):
    patient_id: str
    reason: str
    until: datetime


@router.post(
    "/triage/patients/{patient_id}/break-glass",
    status_code=201,
    response_model=BreakGlassOut,
    responses=_errors,
)
def break_glass(
    body: BreakGlassIn, patient: PatientDep, session: SessionDep, who: Doctor
) -> BreakGlassOut:
    """Open a patient's record without a call or follow-up: audited, with a reason, for a while."""
    until = break_the_glass(session, who, patient, body.reason)
    return BreakGlassOut(patient_id=patient.id, reason=body.reason, until=until)
