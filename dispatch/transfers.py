"""Transfer requests: opening one for a patient, reading it with its history, and the board's lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.enqueue import match_after_commit
from dispatch.geo import check_location
from dispatch.history import record
from dispatch.holds import live_hold
from dispatch.models import AmbulanceTeam, Hospital, TransferHistory, TransferRequest
from dispatch.vocab import LIVE, BedType, TransferStatus, Urgency, word
from kernel.db import new_id, utcnow
from kernel.errors import Conflict, InvalidInput, NotFound

# The board shows the requests that ended lately below the live ones.
ENDED_SHOWN_FOR = timedelta(hours=12)
ENDED_SHOWN_AT_MOST = 50


def _already_live(patient_ref: str, request_id: str | None = None) -> Conflict:
    return Conflict(
        f"patient {patient_ref} already has a live transfer request"
        + (f" {request_id}" if request_id else ""),
        code="transfer_already_live",
    )


# Where a pick-up point came from: a precise point (set by a doctor or dispatcher), the centre
# of the patient's ward (approximate), or unknown (the city default, shown as unknown).
PICKUP_SOURCES = ("precise", "ward_centre", "unknown")


def create_transfer_request(
    session: Session,
    *,
    patient_ref: str,
    bed_type: str,
    urgency: str,
    pickup_lat: float,
    pickup_lon: float,
    requested_by: str,
    note: str = "",
    pickup_source: str = "precise",
) -> TransferRequest:
    """Record a request for a bed and have it matched by a dispatch worker once this commits."""
    patient_ref = (patient_ref or "").strip()
    if not patient_ref or len(patient_ref) > 64:
        raise InvalidInput("patient_ref", "must be 1-64 characters")
    bed = word(BedType, bed_type, "bed_type")
    urgency_word = word(Urgency, urgency, "urgency")
    check_location(pickup_lat, pickup_lon, "pickup.")
    if pickup_source not in PICKUP_SOURCES:
        raise InvalidInput("pickup.source", "must be one of " + ", ".join(PICKUP_SOURCES))
    live = session.scalar(
        select(TransferRequest.id).where(TransferRequest.live_patient_ref == patient_ref)
    )
    if live:
        raise _already_live(patient_ref, live)
    now = utcnow()
    req = TransferRequest(
        id=new_id(),
        patient_ref=patient_ref,
        live_patient_ref=patient_ref,
        bed_type=bed,
        urgency=urgency_word,
        urgency_rank=urgency_word.rank,
        pickup_source=pickup_source,
        pickup_lat=pickup_lat,
        pickup_lon=pickup_lon,
        note=note,
        status=TransferStatus.REQUESTED,
        requested_by=requested_by,
        requested_at=now,
        status_at=now,
        candidates=[],
        excluded_hospital_ids=[],
    )
    session.add(req)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Two requests for one patient raced past the check: the unique column decides.
        raise _already_live(patient_ref) from None
    record(
        session,
        req,
        TransferStatus.REQUESTED,
        actor=requested_by,
        data={"note": note} if note else None,
    )
    match_after_commit(session, req.id)
    return req


def get_transfer(session: Session, request_id: str) -> TransferRequest:
    req = session.get(TransferRequest, request_id)
    if req is None:
        raise NotFound(f"no transfer request {request_id}", code="transfer_not_found")
    return req


def _history(session: Session, request_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(TransferHistory)
        .where(TransferHistory.request_id == request_id)
        .order_by(TransferHistory.id)
    )
    return [
        {"at": h.at, "kind": h.kind, "status": h.status, "actor": h.actor, "data": h.data}
        for h in rows
    ]


def transfer_view(
    session: Session, req: TransferRequest, *, history: bool = True
) -> dict[str, Any]:
    """The request as the board and the hospital page show it (with its steps unless told)."""
    hold = live_hold(session, req.id)
    hospital = session.get(Hospital, req.hospital_id) if req.hospital_id else None
    ambulance = session.get(AmbulanceTeam, req.ambulance_id) if req.ambulance_id else None
    view: dict[str, Any] = {
        "id": req.id,
        "patient_ref": req.patient_ref,
        "bed_type": req.bed_type,
        "urgency": req.urgency,
        "status": req.status,
        "pickup": {"lat": req.pickup_lat, "lon": req.pickup_lon, "source": req.pickup_source},
        "note": req.note,
        "hospital_id": req.hospital_id,
        "hospital_name": hospital.name if hospital else None,
        "hold_expires_at": hold.expires_at if hold and hold.accepted_at is None else None,
        "hold_accepted_at": hold.accepted_at if hold else None,
        "ambulance": {"id": ambulance.id, "name": ambulance.name} if ambulance else None,
        "candidates": req.candidates,
        "excluded_hospital_ids": req.excluded_hospital_ids,
        "requested_by": req.requested_by,
        "requested_at": req.requested_at,
        "status_at": req.status_at,
    }
    if history:
        view["history"] = _history(session, req.id)
    return view


def list_transfers(session: Session, *, hospital_id: str | None = None) -> list[TransferRequest]:
    """Live requests by urgency then waiting time, then the last ended ones."""
    stmt = select(TransferRequest)
    if hospital_id is not None:
        stmt = stmt.where(TransferRequest.hospital_id == hospital_id)
    live = session.scalars(
        stmt.where(TransferRequest.status.in_(LIVE)).order_by(
            TransferRequest.urgency_rank, TransferRequest.requested_at
        )
    ).all()
    since = utcnow() - ENDED_SHOWN_FOR
    ended = session.scalars(
        stmt.where(TransferRequest.status.not_in(LIVE), TransferRequest.status_at >= since)
        .order_by(TransferRequest.status_at.desc())
        .limit(ENDED_SHOWN_AT_MOST)
    ).all()
    return [*live, *ended]
