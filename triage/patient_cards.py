"""Triage's side of dispatch's patient card: who the patient is and what the referring doctor found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import patient_cards
from kernel.accounts import Principal, User
from triage.areas import units
from triage.care_team import may_read_timeline
from triage.models import Assessment, Patient


def register() -> None:
    """Called by the composition root: the dispatch board and the hospital page show the card."""
    patient_cards.register(lookup)


def _address(session: Session, p: Patient) -> dict[str, Any] | None:
    street = p.street
    if not p.ward_code and not street:
        return None
    where = units.place(session, p.ward_code)
    return {
        "street": street,
        "ward_code": p.ward_code,
        "ward_name": where.name if where else None,
        "district_name": where.district_name if where else None,
        "province_name": where.province_name if where else None,
        "scheme": where.scheme if where else None,
    }


def _news2(a: Assessment) -> dict[str, Any]:
    n = a.scores.get("news2", {})
    total = n.get("total")
    missing = list(n.get("missing", []))
    # Records signed before the lower-bound rule have no at_least: a missing parameter says it.
    return {"total": total, "at_least": total is not None and bool(missing), "missing": missing}


def lookup(
    session: Session, refs: Sequence[str], reader: Principal
) -> Mapping[str, dict[str, Any]]:
    patients = {p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(refs)))}
    if not patients:
        return {}
    latest: dict[str, Assessment] = {}
    for signed in session.scalars(
        select(Assessment)
        .where(Assessment.patient_id.in_(list(patients)))
        .order_by(Assessment.signed_at.desc())
    ):
        latest.setdefault(signed.patient_id, signed)
    doctors = {
        u.id: u
        for u in session.scalars(
            select(User).where(User.id.in_({a.signed_by for a in latest.values()}))
        )
    }
    out: dict[str, dict[str, Any]] = {}
    for pid, p in patients.items():
        a: Assessment | None = latest.get(pid)
        doctor = doctors.get(a.signed_by) if a else None
        out[pid] = {
            "id": p.id,
            # Whether this reader may open the patient's timeline (the route's own rule).
            "can_read_timeline": may_read_timeline(session, reader, p.id),
            "full_name": p.full_name,
            "age_years": p.age_years,
            "sex": p.sex,
            "phones": [ph.phone for ph in p.phones],
            "address": _address(session, p),
            "news2": _news2(a) if a else None,
            "spo2": a.vitals.get("spo2") if a else None,
            "respiratory_rate": a.vitals.get("respiratory_rate") if a else None,
            "warning_signs": list(a.scores.get("warning_signs", [])) if a else [],
            "severity": a.severity if a else None,
            "assessed_at": a.signed_at if a else None,
            "referring_doctor": (
                {"id": doctor.id, "username": doctor.username, "display_name": doctor.display_name}
                if doctor
                else None
            ),
        }
    return out
