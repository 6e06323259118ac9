"""Hospitals: their record, tier, capabilities, and the status that says whether they take patients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.enqueue import waiting_pass_after_commit
from dispatch.geo import check_location
from dispatch.models import BedPool, Hospital
from dispatch.vocab import TAKING_PATIENTS, Capability, FacilityStatus, word
from kernel import events
from kernel.errors import InvalidInput, NotFound


def _capabilities(given: list[str] | None) -> list[str]:
    caps = sorted(set(given or []))
    known = set(Capability)
    for cap in caps:
        if cap not in known:
            raise InvalidInput("capabilities", f"must be among {', '.join(Capability)}")
    return caps


def create_hospital(
    session: Session,
    *,
    name: str,
    tier: int,
    lat: float,
    lon: float,
    district: str = "",
    ward: str = "",
    capabilities: list[str] | None = None,
    status: str = FacilityStatus.OPEN,
    contacts: str = "",
    actor: str,
) -> Hospital:
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    if tier not in (1, 2, 3):
        raise InvalidInput("tier", "must be 1, 2 or 3")
    check_location(lat, lon)
    caps = _capabilities(capabilities)
    hospital = Hospital(
        name=name.strip(),
        tier=tier,
        district=district,
        ward=ward,
        lat=lat,
        lon=lon,
        capabilities=caps,
        status=word(FacilityStatus, status, "status"),
        contacts=contacts,
    )
    session.add(hospital)
    session.flush()
    events.record(
        session,
        kind="hospital.created",
        subject_type="hospital",
        subject_id=hospital.id,
        actor=actor,
        data={"name": hospital.name, "tier": tier},
    )
    return hospital


def load_hospitals(session: Session, ids: set[str]) -> list[Hospital]:
    """Load these hospitals at once: while the caller holds the list, get_hospital finds them
    in the session without a query (the session keeps only objects someone refers to)."""
    return list(session.scalars(select(Hospital).where(Hospital.id.in_(sorted(ids)))))


def get_hospital(session: Session, hospital_id: str) -> Hospital:
    hospital = session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(f"no hospital {hospital_id}", code="hospital_not_found")
    return hospital


def set_facility_status(
    session: Session,
    *,
    hospital_id: str,
    status: str,
    reason: str = "",
    until: datetime | None = None,
    actor: str,
) -> Hospital:
    """Open, advisory, full or closed; a hospital that takes patients again is offered the waiting."""
    status = word(FacilityStatus, status, "status")
    hospital = get_hospital(session, hospital_id)
    hospital.status, hospital.status_reason, hospital.status_until = status, reason, until
    events.record(
        session,
        kind="hospital.status",
        subject_type="hospital",
        subject_id=hospital_id,
        actor=actor,
        data={"status": status, "reason": reason},
    )
    if status in TAKING_PATIENTS:
        for bed_type in session.scalars(
            select(BedPool.bed_type).where(BedPool.hospital_id == hospital_id)
        ):
            waiting_pass_after_commit(session, bed_type)
    return hospital
