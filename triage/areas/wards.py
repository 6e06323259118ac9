"""Provinces, districts and wards: finding them, their populations and their vaccination figures."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound
from triage.areas.models import District, Province, Ward, WardVaccination


class WardNotFound(NotFound):
    code = "ward_not_found"


def get_ward(session: Session, ward_code: str) -> Ward:
    ward = session.get(Ward, ward_code)
    if ward is None:
        raise WardNotFound(f"no ward {ward_code}")
    return ward


def get_district(session: Session, district_code: str) -> District | None:
    return session.get(District, district_code)


def district_population(session: Session, district_code: str) -> int:
    """The district's official figure, else the sum of its wards."""
    d = session.get(District, district_code)
    if d is not None and d.population:
        return d.population
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Ward.population), 0)).where(
                Ward.district_code == district_code
            )
        )
        or 0
    )


def province_population(session: Session, province_code: str) -> int:
    """The province's official figure, else the sum of its districts."""
    p = session.get(Province, province_code)
    if p is not None and p.population:
        return p.population
    codes = session.scalars(select(District.code).where(District.province_code == province_code))
    return sum(district_population(session, c) for c in codes)


def set_vaccination(
    session: Session,
    *,
    ward_code: str,
    as_of: date,
    fully_vaccinated: int,
    high_risk_fully_vaccinated: int,
    source: str = "",
) -> WardVaccination:
    ward = get_ward(session, ward_code)
    if fully_vaccinated > ward.population:
        raise InvalidInput("fully_vaccinated", "must not exceed the ward's population")
    if high_risk_fully_vaccinated > ward.high_risk_population:
        raise InvalidInput(
            "high_risk_fully_vaccinated", "must not exceed the ward's high-risk population"
        )
    row = session.scalar(
        select(WardVaccination).where(
            WardVaccination.ward_code == ward_code, WardVaccination.as_of == as_of
        )
    )
    if row is None:
        row = WardVaccination(ward_code=ward_code, as_of=as_of)
        session.add(row)
    row.fully_vaccinated = fully_vaccinated
    row.high_risk_fully_vaccinated = high_risk_fully_vaccinated
    row.source = source
    row.imported_at = utcnow()
    session.flush()
    return row


def latest_vaccination(session: Session) -> dict[str, WardVaccination]:
    """Each ward's newest figure (by as_of)."""
    out: dict[str, WardVaccination] = {}
    for v in session.scalars(select(WardVaccination).order_by(WardVaccination.as_of)):
        out[v.ward_code] = v
    return out
