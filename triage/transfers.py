"""The hand-off to dispatch: a transfer decision becomes a transfer request, retried until dispatch has it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import transfers as dispatch_transfers
from dispatch.models import TransferRequest
from kernel import events
from kernel.db import utcnow
from kernel.errors import NotFound
from kernel.settings import get_settings
from triage.areas.models import Ward
from triage.models import Assessment, Patient, Transfer
from triage.vocabulary import LevelOfCare, TransferState, Urgency

log = logging.getLogger(__name__)


def pickup_point(session: Session, patient: Patient) -> tuple[float, float, str]:
    """(lat, lon, source): the patient's precise point, else the ward's centre (imported with the
    areas, else the settings' centroid), else the city default marked unknown, never silently."""
    s = get_settings()
    if patient.lat is not None and patient.lon is not None:
        return patient.lat, patient.lon, "precise"
    ward = session.get(Ward, patient.ward_code) if patient.ward_code else None
    if ward is not None and ward.centre_lat is not None and ward.centre_lon is not None:
        return ward.centre_lat, ward.centre_lon, "ward_centre"
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


def transfer_view(session: Session, tr: Transfer) -> dict[str, Any]:
    """The transfer with dispatch's status of its request, read live through dispatch."""
    req = _dispatch_request(session, tr.transfer_request_id)
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
    }
