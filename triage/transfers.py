"""The hand-off to dispatch: a transfer decision becomes a transfer request, retried until dispatch has it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import transfers as dispatch_transfers
from dispatch.models import Hospital, TransferHistory, TransferRequest
from kernel import events
from kernel.db import utcnow
from kernel.errors import NotFound
from kernel.settings import get_settings
from triage.areas import units
from triage.models import Assessment, Patient, Transfer
from triage.vocabulary import LevelOfCare, TransferState, Urgency

log = logging.getLogger(__name__)


def pickup_point(session: Session, patient: Patient) -> tuple[float, float, str]:
    """(lat, lon, source): the patient's precise point, else the centre of their ward or commune
    (either scheme, an estimate; else the settings' centroid), else the city default marked
    unknown, never silently."""
    s = get_settings()
    if patient.lat is not None and patient.lon is not None:
        return patient.lat, patient.lon, "precise"
    where = units.place(session, patient.ward_code)
    if where is not None and where.centre is not None:
        return where.centre[0], where.centre[1], "ward_centre"
    centroid = s.triage_ward_centroids.get(patient.ward_code or "")
    if centroid:
        return float(centroid[0]), float(centroid[1]), "ward_centre"
    return s.triage_default_lat, s.triage_default_lon, "unknown"


def open_transfer(
    session: Session, *, patient: Patient, assessment: Assessment, actor: str
) -> Transfer:
    """Record the transfer decision and hand it to dispatch in the same transaction when it can."""
    decision = assessment.decision
    icu = decision["level_of_care"] == LevelOfCare.ICU
    lat, lon, source = pickup_point(session, patient)
    tr = Transfer(
        assessment_id=assessment.id,
        patient_id=patient.id,
        bed_type=LevelOfCare.ICU if icu else LevelOfCare.OXYGEN,
        urgency=decision["urgency"] or Urgency.URGENT,
        pickup_lat=lat,
        pickup_lon=lon,
        pickup_source=source,
        requested_by=actor,
    )
    # A patient has at most one live request in dispatch: a later transfer decision (or a
    # correction) joins the one dispatch already works on instead of being refused.
    earlier = session.scalar(
        select(Transfer)
        .where(Transfer.patient_id == patient.id, Transfer.transfer_request_id.is_not(None))
        .order_by(Transfer.created_at.desc())
        .limit(1)
    )
    if earlier is not None and _request_is_live(session, earlier.transfer_request_id):
        tr.transfer_request_id, tr.state, tr.requested_at = (
            earlier.transfer_request_id,
            TransferState.REQUESTED,
            earlier.requested_at,
        )
    session.add(tr)
    session.flush()
    if tr.state != TransferState.REQUESTED:
        request_transfer(session, tr, note=_transfer_note(assessment))
    return tr


def _transfer_note(a: Assessment) -> str:
    n = a.scores.get("news2", {}).get("total")
    signs = ", ".join(a.scores.get("warning_signs", [])) or "none"
    return f"NEWS2 {n}; severity {a.severity}; warning signs: {signs}; assessment {a.id}"


def _queued(session: Session, tr: Transfer, why: str) -> None:
    events.record(
        session,
        kind="transfer.queued",
        subject_type="triage_transfer",
        subject_id=tr.id,
        actor="triage",
        data={"why": why},
    )


def request_transfer(session: Session, tr: Transfer, *, note: str = "") -> bool:
    """Ask dispatch for the transfer; a failure leaves it queued for the sweep to retry."""
    try:
        with session.begin_nested():
            req = dispatch_transfers.create_transfer_request(
                session,
                patient_ref=tr.patient_id,
                bed_type=tr.bed_type,
                urgency=tr.urgency,
                pickup_lat=tr.pickup_lat,
                pickup_lon=tr.pickup_lon,
                pickup_source=tr.pickup_source or "unknown",
                requested_by=tr.requested_by,
                note=note,
            )
    except Exception as exc:  # the decision stands; dispatch is retried, not the doctor
        log.exception("transfer request for %s failed", tr.id)
        _queued(session, tr, f"{type(exc).__name__}: {exc}"[:200])
        return False
    tr.transfer_request_id = str(req.id)
    tr.state = TransferState.REQUESTED
    tr.requested_at = utcnow()
    events.record(
        session,
        kind="transfer.requested",
        subject_type="triage_transfer",
        subject_id=tr.id,
        actor=tr.requested_by,
        data={
            "transfer_request_id": tr.transfer_request_id,
            "bed_type": tr.bed_type,
            "urgency": tr.urgency,
            "patient_id": tr.patient_id,
        },
    )
    return True


def queued_transfers(session: Session, limit: int = 50) -> list[str]:
    """Transfers dispatch has not taken yet, for the sweep to retry."""
    return list(
        session.scalars(
            select(Transfer.id).where(Transfer.state == TransferState.QUEUED).limit(limit)
        )
    )


def _dispatch_request(session: Session, request_id: str | None) -> TransferRequest | None:
    if not request_id:
        return None
    try:
        return dispatch_transfers.get_transfer(session, request_id)
    except NotFound:
        return None


def _request_is_live(session: Session, request_id: str | None) -> bool:
    req = _dispatch_request(session, request_id)
    return req is not None and req.live_patient_ref is not None


# The steps of a request the doctor's timeline shows (not the matcher's passes in between).
_TIMELINE_STEPS = frozenset(
    {
        "requested",
        "held",
        "overridden",
        "waiting_for_bed",
        "refused",
        "hold_expired",
        "accepted",
        "in_transit",
        "admitted",
        "cancelled",
    }
)


def _steps(session: Session, req: TransferRequest) -> list[dict[str, Any]]:
    """The request's steps, each with the hospital it concerned (the one that held, accepted,
    refused, let a hold lapse or admitted) by id and name, for the caller's timeline."""
    rows = session.scalars(
        select(TransferHistory)
        .where(TransferHistory.request_id == req.id)
        .order_by(TransferHistory.id)
    ).all()
    names: dict[str, str | None] = {}

    def name(hospital_id: str | None) -> str | None:
        if hospital_id and hospital_id not in names:
            hospital = session.get(Hospital, hospital_id)
            names[hospital_id] = hospital.name if hospital else None
        return names.get(hospital_id) if hospital_id else None

    steps = []
    for h in rows:
        if h.kind not in _TIMELINE_STEPS:
            continue
        data = h.data or {}
        hospital_id = (
            data.get("hospital_id") or data.get("refused_by") or data.get("hospital_id_was")
        )
        steps.append(
            {
                "at": h.at,
                "kind": h.kind,
                "status": h.status,
                "hospital_id": hospital_id,
                "hospital_name": name(hospital_id),
            }
        )
    return steps


def transfer_view(session: Session, tr: Transfer) -> dict[str, Any]:
    """The transfer with dispatch's status of its request, read live through dispatch: its
    hospital (by name, for the doctor) and its steps so far."""
    req = _dispatch_request(session, tr.transfer_request_id)
    hospital = session.get(Hospital, req.hospital_id) if req and req.hospital_id else None
    return {
        "id": tr.id,
        "assessment_id": tr.assessment_id,
        "bed_type": tr.bed_type,
        "urgency": tr.urgency,
        "pickup": {"lat": tr.pickup_lat, "lon": tr.pickup_lon, "source": tr.pickup_source},
        "state": tr.state,
        "transfer_request_id": tr.transfer_request_id,
        "dispatch_status": None if req is None else req.status,
        "created_at": tr.created_at,
        "requested_at": tr.requested_at,
        "hospital_id": hospital.id if hospital else None,
        "hospital_name": hospital.name if hospital else None,
        "steps": [] if req is None else _steps(session, req),
    }
