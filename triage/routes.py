"""HTTP routes of triage: scoring, patients, assessments and follow-ups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from kernel.accounts import Principal, Role
from kernel.deps import SessionDep, require_roles
from triage import schemas, service
from triage.models import Patient

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
    return service.get_patient(session, patient_id)


PatientDep = Annotated[Patient, Depends(valid_patient)]


def _patient_out(p: Patient) -> dict[str, Any]:
    out = schemas.PatientOut.model_validate(
        {
            **{c: getattr(p, c) for c in schemas.PatientOut.model_fields if c != "phones"},
            "phones": [ph.phone for ph in p.phones],
        }
    )
    return out.model_dump(mode="json")


@router.post("/triage/score", responses=_errors)
def score(body: schemas.VitalsIn, _: Clinician) -> dict[str, Any]:
    """Live scoring: NEWS2, warning signs, severity and the default disposition; nothing is stored."""
    return service.score(body.model_dump(exclude_unset=True) | {"age": body.age})


@router.get("/triage/patients", responses=_errors)
def search_patients(
    session: SessionDep,
    _: Clinician,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    return [_patient_out(p) for p in service.search_patients(session, phone=phone, name=name)]


@router.post("/triage/patients", status_code=201, responses=_errors)
def create_patient(body: schemas.PatientIn, session: SessionDep, who: Clinician) -> dict[str, Any]:
    return _patient_out(service.create_patient(session, actor=who.actor, **body.model_dump()))


@router.get("/triage/patients/{patient_id}", responses=_errors)
def get_patient(patient: PatientDep, _: Clinician) -> dict[str, Any]:
    return _patient_out(patient)


@router.patch("/triage/patients/{patient_id}", responses=_errors)
def update_patient(
    body: schemas.PatientPatch, patient: PatientDep, session: SessionDep, who: Clinician
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return _patient_out(service.update_patient(session, patient, actor=who.actor, **fields))


@router.get("/triage/patients/{patient_id}/timeline", responses=_errors)
def timeline(patient: PatientDep, session: SessionDep, who: Clinician) -> dict[str, Any]:
    return service.timeline(session, who, patient)


@router.post("/triage/patients/{patient_id}/assessments", status_code=201, responses=_errors)
def sign_assessment(
    body: schemas.AssessmentIn, patient: PatientDep, session: SessionDep, who: Doctor
) -> dict[str, Any]:
    """Score, sign and act on an assessment. There is no route to change or delete one."""
    a = service.sign_assessment(session, who, patient, body.model_dump(exclude_unset=True))
    view = service.assessment_view(session, a)
    return schemas.AssessmentOut.model_validate(view).model_dump(mode="json")


@router.get("/triage/assessments/{assessment_id}", responses=_errors)
def read_assessment(assessment_id: str, session: SessionDep, who: Clinician) -> dict[str, Any]:
    a = service.get_assessment(session, assessment_id)
    service.require_care_team(session, who, a.patient_id)
    service.read_assessments(session, who, [a])
    view = service.assessment_view(session, a)
    return schemas.AssessmentOut.model_validate(view).model_dump(mode="json")
