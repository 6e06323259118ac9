"""What a reader is shown: an assessment with its follow-up and transfer, and a patient's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.accounts import Principal
from triage import followups
from triage.assessments import amendment_of, assessments_of, content_hash, read_assessments
from triage.care_team import require_care_team
from triage.models import Assessment, FollowUp, Patient, Transfer
from triage.transfers import transfer_view

_RECORD_FIELDS = (
    "id",
    "patient_id",
    "amends_id",
    "call_id",
    "age_years",
    "vitals",
    "symptoms",
    "scores",
    "recommendation",
    "decision",
    "overridden",
    "override_reason",
    "notes",
    "rules_version",
    "signed_by",
    "signed_at",
    "content_hash",
)


def assessment_view(session: Session, a: Assessment) -> dict[str, Any]:
    """The record, whether its hash still holds, what amended it, and the follow-up or transfer
    it led to."""
    fu = session.scalar(select(FollowUp).where(FollowUp.assessment_id == a.id))
    tr = session.scalar(select(Transfer).where(Transfer.assessment_id == a.id))
    return {
        **{c: getattr(a, c) for c in _RECORD_FIELDS},
        "amended_by_id": amendment_of(session, a.id),
        "hash_valid": content_hash(a) == a.content_hash,
        "follow_up": followups.view(fu) if fu else None,
        "transfer": transfer_view(session, tr) if tr else None,
    }


def timeline(session: Session, principal: Principal, patient: Patient) -> dict[str, Any]:
    """Assessments, follow-ups and transfers in time order, with the NEWS2/SpO2 trend."""
    require_care_team(session, principal, patient.id)
    assessments = assessments_of(session, patient.id)
    read_assessments(session, principal, assessments)
    items: list[dict[str, Any]] = []
    for a in assessments:
        items.append({"kind": "assessment", "at": a.signed_at, **assessment_view(session, a)})
    for fu in session.scalars(select(FollowUp).where(FollowUp.patient_id == patient.id)):
        items.append({"kind": "follow_up", "at": fu.due_at, **followups.view(fu)})
    for tr in session.scalars(select(Transfer).where(Transfer.patient_id == patient.id)):
        items.append({"kind": "transfer", "at": tr.created_at, **transfer_view(session, tr)})
    items.sort(key=lambda i: i["at"])
    superseded = {a.amends_id for a in assessments if a.amends_id}
    trend = [
        {"at": a.signed_at, "news2": a.news2_total, "spo2": a.spo2, "assessment_id": a.id}
        for a in assessments
        if a.id not in superseded
    ]
    return {"patient_id": patient.id, "items": items, "trend": trend}
