"""The caller risk routing asks for: what the patients behind a phone number say about priority."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from triage.assessments import latest_assessment
from triage.models import Patient
from triage.patients import patient_age, patients_on
from triage.rules import policy
from triage.scoring.rules import Policy
from triage.vocabulary import Severity


@dataclass(frozen=True)
class CallerRisk:
    """What routing may know about the patients behind a phone number."""

    severe: bool  # latest assessment severe or critical
    high_risk: bool  # risk factors (comorbidity, pregnancy, unvaccinated elderly...)
    age: int | None  # the oldest patient on the number


def _high_risk(p: Patient, pol: Policy) -> bool:
    return bool(
        p.risk_factors
        or p.pregnant
        or (p.vaccination_doses is not None and p.vaccination_doses < pol.unvaccinated_below_doses)
    )


def caller_risk(session: Session, phone: str) -> CallerRisk | None:
    """None while no patient is registered on the number; patients with an outcome are left out."""
    patients = patients_on(session, phone)
    if not patients:
        return None
    pol = policy()
    severe = high_risk = False
    ages: list[float] = []
    for p in patients:
        latest = latest_assessment(session, p.id)
        if latest is not None and latest.severity in (Severity.SEVERE, Severity.CRITICAL):
            severe = True
        age = patient_age(p)
        if age is not None:
            ages.append(age)
        high_risk = high_risk or _high_risk(p, pol)
    return CallerRisk(severe=severe, high_risk=high_risk, age=int(max(ages)) if ages else None)
