"""Demo patients on demo phone numbers, with signed assessments, so the console has history to show."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.accounts import Principal, Role, User
from triage.areas.csv_import import load_sample
from triage.models import PatientPhone
from triage.patients import create_patient
from triage.schemas import AssessmentIn, AssessmentVitalsIn
from triage.signing import sign_assessment

STABLE: dict[str, Any] = {
    "respiratory_rate": 16,
    "spo2": 98,
    "on_oxygen": False,
    "systolic_bp": 122,
    "diastolic_bp": 78,
    "pulse": 78,
    "consciousness": "alert",
    "temperature_c": 37.1,
}

# (phone, patient fields, assessments' vitals in order)
DEMO: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    (
        "0909000001",
        {
            "full_name": "Nguyễn Văn Hùng",
            "age_years": 45,
            "sex": "male",
            "ward_code": "26734",
            "vaccination_doses": 2,
        },
        [STABLE, {**STABLE, "temperature_c": 38.2, "pulse": 92}],
    ),
    (
        "0909000001",
        {
            "full_name": "Nguyễn Thị Mai",
            "age_years": 71,
            "sex": "female",
            "ward_code": "26734",
            "vaccination_doses": 3,
            "risk_factors": ["diabetes"],
        },
        [{**STABLE, "respiratory_rate": 18, "spo2": 97}],
    ),
    (
        "0909000002",
        {
            "full_name": "Trần Quốc Bảo",
            "age_years": 58,
            "sex": "male",
            "ward_code": "27013",
            "vaccination_doses": 0,
        },
        [STABLE, {**STABLE, "spo2": 97, "respiratory_rate": 19, "temperature_c": 38.4}],
    ),
]


def seed_demo(session: Session) -> list[str]:
    """Idempotent: numbers that already have patients are left alone."""
    doctor = session.scalar(
        select(User).where(User.role == Role.DOCTOR.value).order_by(User.username)
    )
    if doctor is None:
        return ["triage demo skipped: no doctor account to sign assessments"]
    signer = Principal(id=doctor.id, role=Role.DOCTOR, username=doctor.username)
    # The wards (with their approximate centres) before any transfer, so a demo patient with a
    # ward is picked up at its centre, not at an unknown point; the upsert is idempotent.
    load_sample(session)
    seeded: set[str] = set()
    for phone, fields, visits in DEMO:
        existing = session.scalar(select(PatientPhone.id).where(PatientPhone.phone == phone))
        if existing and phone not in seeded:
            continue
        seeded.add(phone)
        patient = create_patient(session, actor="demo", phones=[phone], **fields)
        for vitals in visits:
            body = AssessmentIn(vitals=AssessmentVitalsIn(**vitals), notes="demo", phone=phone)
            sign_assessment(session, signer, patient, body)
    if not seeded:
        return []
    return [f"triage demo patients on {', '.join(sorted(seeded))} (signed by {doctor.username})"]
