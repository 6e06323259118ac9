"""Ambulance teams: the roster, sending the nearest free team to a held bed, and freeing it again."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.geo import check_location, haversine_km
from dispatch.history import advance
from dispatch.models import AmbulanceTeam, TransferRequest
from dispatch.transfers import get_transfer
from dispatch.vocab import AmbulanceStatus, TransferStatus
from kernel import events
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput

# Transport goes once a bed is held for the patient, accepted by the hospital or not yet.
SENDABLE = (TransferStatus.HELD, TransferStatus.ACCEPTED)


def create_ambulance(
    session: Session, *, name: str, base_lat: float, base_lon: float, actor: str
) -> AmbulanceTeam:
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    check_location(base_lat, base_lon, "base_")
    if session.scalar(select(AmbulanceTeam.id).where(AmbulanceTeam.name == name.strip())):
        raise Conflict(f"ambulance team {name!r} exists", code="ambulance_exists")
    team = AmbulanceTeam(
        name=name.strip(), base_lat=base_lat, base_lon=base_lon, status=AmbulanceStatus.FREE
    )
    session.add(team)
    session.flush()
    events.record(
        session, kind="ambulance.created", subject_type="ambulance", subject_id=team.id, actor=actor
    )
    return team


def list_ambulances(session: Session) -> list[AmbulanceTeam]:
    return list(session.scalars(select(AmbulanceTeam).order_by(AmbulanceTeam.name)))


def _take_team(session: Session, team: AmbulanceTeam, req: TransferRequest) -> bool:
    """Send a team only if it is still free: one conditional UPDATE, so it goes to one request."""
    taken = session.execute(
        update(AmbulanceTeam)
        .where(AmbulanceTeam.id == team.id, AmbulanceTeam.status == AmbulanceStatus.FREE)
        .values(status=AmbulanceStatus.BUSY, request_id=req.id)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def assign_transport(
    session: Session, *, request_id: str, actor: str, ambulance_id: str | None = None
) -> TransferRequest:
    """Send an ambulance (the nearest free one unless named); the patient is then in transit."""
    req = get_transfer(session, request_id)
    if req.status not in SENDABLE:
        raise Conflict(
            f"request is {req.status}; transport goes once a bed is held", code="not_held"
        )
    teams = list(
        session.scalars(select(AmbulanceTeam).where(AmbulanceTeam.status == AmbulanceStatus.FREE))
    )
    if ambulance_id is not None:
        teams = [t for t in teams if t.id == ambulance_id]
    teams.sort(key=lambda t: haversine_km(req.pickup_lat, req.pickup_lon, t.base_lat, t.base_lon))
    for team in teams:
        if _take_team(session, team, req):
            req.ambulance_id = team.id
            data = {"ambulance_id": team.id, "ambulance": team.name}
            advance(session, req, TransferStatus.IN_TRANSIT, utcnow(), actor=actor, data=data)
            return req
    raise Conflict("no free ambulance team", code="no_free_ambulance")


def free_ambulance(session: Session, req: TransferRequest) -> None:
    """The team sent for this request is free again (the request ended or lost its bed)."""
    if req.ambulance_id:
        session.execute(
            update(AmbulanceTeam)
            .where(AmbulanceTeam.id == req.ambulance_id, AmbulanceTeam.request_id == req.id)
            .values(status=AmbulanceStatus.FREE, request_id=None)
            .execution_options(synchronize_session=False)
        )
