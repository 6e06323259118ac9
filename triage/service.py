"""Triage rules the other packages call: what is known about a caller's patients."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class CallerRisk:
    """What routing may know about the patients behind a phone number."""

    severe: bool  # latest assessment severe or critical
    high_risk: bool  # risk factors (comorbidity, pregnancy, unvaccinated elderly...)
    age: int | None  # the oldest patient on the number


def caller_risk(session: Session, phone: str) -> CallerRisk | None:
    """None while no patient is registered on the number."""
    # Patients arrive with the triage records; until then every caller is unknown.
    return None
