"""Demo areas: HCMC wards with demo populations and vaccination figures, and their medical stations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.areas.csv_import import load_sample
from triage.areas.levels import recompute_levels
from triage.areas.models import MedicalStation, Ward
from triage.areas.stations import create_station
from triage.vocabulary import StationKind, StationOperator

# Stations per ward: a fixed station in every ward, a mobile one in every second ward, a
# private clinic in every fifth and a military one in a few, with staff and capacities that
# leave some wards below the 1-per-10,000 target and some with low care readiness.
_KINDS = (
    (
        StationKind.FIXED,
        StationOperator.PUBLIC,
        "Trạm y tế phường {ward}",
        3,
        5,
        8,
        500,
        "07:00",
        "21:00",
    ),
    (
        StationKind.MOBILE,
        StationOperator.PUBLIC,
        "Trạm y tế lưu động {ward}",
        1,
        3,
        6,
        300,
        "00:00",
        "00:00",
    ),
    (
        StationKind.MOBILE,
        StationOperator.PRIVATE_CLINIC,
        "Phòng khám tư nhân {ward}",
        1,
        2,
        2,
        150,
        "08:00",
        "20:00",
    ),
    (
        StationKind.MOBILE,
        StationOperator.MILITARY,
        "Trạm y tế quân dân y {ward}",
        2,
        3,
        4,
        350,
        "00:00",
        "00:00",
    ),
)


def seed_demo(session: Session) -> list[str]:
    """Idempotent: areas are upserted, stations are added to wards that have none."""
    counts = load_sample(session)
    added = 0
    wards = list(session.scalars(select(Ward).order_by(Ward.code)))
    for i, ward in enumerate(wards):
        if session.scalar(select(MedicalStation.id).where(MedicalStation.ward_code == ward.code)):
            continue
        chosen = [_KINDS[0]]
        if i % 2 == 0:
            chosen.append(_KINDS[1])
        if i % 5 == 0:
            chosen.append(_KINDS[2])
        if i % 7 == 3:
            chosen.append(_KINDS[3])
        for kind, operator, name, doctors, nurses, volunteers, cap, opens, closes in chosen:
            create_station(
                session,
                ward_code=ward.code,
                name=name.format(ward=ward.name),
                kind=kind,
                operator=operator,
                doctors=doctors,
                nurses=nurses,
                volunteers=volunteers,
                home_patient_capacity=cap,
                opens_at=opens,
                closes_at=closes,
            )
            added += 1
    levels = recompute_levels(session)
    return [
        f"areas: {len(wards)} HCMC wards (DEMO population figures), {counts['vaccinations']} "
        f"vaccination figures, {added} medical stations added, "
        f"{levels['changed']} ward levels computed"
    ]
