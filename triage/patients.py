"""Patients: their phone numbers, their age as of today, and creating, changing and finding them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel import events
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound
from triage.models import Patient, PatientPhone


class PatientNotFound(NotFound):
    code = "patient_not_found"


_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


def normalise_phone(phone: str, field: str = "phone") -> str:
    cleaned = re.sub(r"[\s().-]", "", phone)
    if not _PHONE.match(cleaned):
        raise InvalidInput(field, "must be 6-15 digits, optionally starting with +")
    return cleaned


def patient_age(patient: Patient, today: date | None = None) -> float | None:
    """Years from the birth date (months as a fraction under one year), else the age as said."""
    today = today or utcnow().date()
    if patient.date_of_birth is not None:
        dob = patient.date_of_birth
        years = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
        if years >= 1:
            return float(years)
        months = (today.year - dob.year) * 12 + today.month - dob.month - (today.day < dob.day)
        return max(months, 0) / 12
    return patient.age_years


def phones_of(patient: Patient) -> list[str]:
    return [p.phone for p in patient.phones]


def create_patient(session: Session, *, actor: str, **fields: Any) -> Patient:
    phones = [normalise_phone(p, "phones") for p in fields.pop("phones", [])]
    patient = Patient(created_by=actor, **fields)
    patient.phones = [PatientPhone(phone=p) for p in dict.fromkeys(phones)]
    session.add(patient)
    session.flush()
    events.record(
        session,
        kind="patient.created",
        subject_type="patient",
        subject_id=patient.id,
        actor=actor,
        data={"phones": phones, "ward_code": patient.ward_code},
    )
    return patient


def update_patient(session: Session, patient: Patient, *, actor: str, **fields: Any) -> Patient:
    add_phones = [normalise_phone(p, "add_phones") for p in fields.pop("add_phones", [])]
    if fields.get("outcome") and not (fields.get("outcome_on") or patient.outcome_on):
        fields["outcome_on"] = utcnow().date()
    for key, value in fields.items():
        setattr(patient, key, value)
    known = set(phones_of(patient))
    for phone in add_phones:
        if phone not in known:
            patient.phones.append(PatientPhone(phone=phone))
            known.add(phone)
    session.flush()
    changed = sorted(fields) + (["phones"] if add_phones else [])
    events.record(
        session,
        kind="patient.outcome" if "outcome" in fields else "patient.updated",
        subject_type="patient",
        subject_id=patient.id,
        actor=actor,
        data={"fields": changed, "outcome": patient.outcome},
    )
    return patient


def get_patient(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"no patient {patient_id}")
    return patient


def search_patients(
    session: Session, *, phone: str | None = None, name: str | None = None, limit: int = 20
) -> list[Patient]:
    stmt = select(Patient)
    if phone:
        stmt = stmt.where(
            Patient.id.in_(
                select(PatientPhone.patient_id).where(PatientPhone.phone == normalise_phone(phone))
            )
        )
    if name:
        stmt = stmt.where(func.lower(Patient.full_name).contains(name.strip().lower()))
    if not phone and not name:
        raise InvalidInput("phone", "give a phone number or a name to search")
    return list(session.scalars(stmt.order_by(Patient.full_name).limit(limit)))


def patients_on(session: Session, phone: str) -> list[Patient]:
    """The patients still in care (no outcome) reached on a number."""
    return list(
        session.scalars(
            select(Patient).where(
                Patient.outcome.is_(None),
                Patient.id.in_(select(PatientPhone.patient_id).where(PatientPhone.phone == phone)),
            )
        )
    )
