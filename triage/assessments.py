"""Signed assessments: the immutable record, what its signature covers, and finding and reading them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel import events
from kernel.accounts import Principal
from kernel.errors import NotFound
from triage.models import Assessment


class AssessmentNotFound(NotFound):
    code = "assessment_not_found"


def canonical_record(a: Assessment) -> dict[str, Any]:
    """What the signature covers: every clinical field, in a stable form."""
    return {
        "id": a.id,
        "patient_id": a.patient_id,
        "amends_id": a.amends_id,
        "call_id": a.call_id,
        "age_years": a.age_years,
        "vitals": a.vitals,
        "symptoms": a.symptoms,
        "scores": a.scores,
        "recommendation": a.recommendation,
        "decision": a.decision,
        "override_reason": a.override_reason,
        "notes": a.notes,
        "rules_version": a.rules_version,
        "signed_by": a.signed_by,
        "signed_at": a.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def content_hash(a: Assessment) -> str:
    blob = json.dumps(
        canonical_record(a), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def get_assessment(session: Session, assessment_id: str) -> Assessment:
    a = session.get(Assessment, assessment_id)
    if a is None:
        raise AssessmentNotFound(f"no assessment {assessment_id}")
    return a


def latest_assessment(session: Session, patient_id: str) -> Assessment | None:
    return session.scalar(
        select(Assessment)
        .where(Assessment.patient_id == patient_id)
        .order_by(Assessment.signed_at.desc(), Assessment.id)
        .limit(1)
    )


def amendment_of(session: Session, assessment_id: str) -> str | None:
    """The id of the record that amends this one (at most one does)."""
    return session.scalar(select(Assessment.id).where(Assessment.amends_id == assessment_id))


def assessments_of(session: Session, patient_id: str) -> list[Assessment]:
    """A patient's assessments, oldest first."""
    return list(
        session.scalars(
            select(Assessment)
            .where(Assessment.patient_id == patient_id)
            .order_by(Assessment.signed_at, Assessment.id)
        )
    )


def read_assessments(session: Session, principal: Principal, assessments: list[Assessment]) -> None:
    """The audit trail of reads: one event per record shown."""
    for a in assessments:
        events.record(
            session,
            kind="assessment.read",
            subject_type="assessment",
            subject_id=a.id,
            actor=principal.actor,
            data={"patient_id": a.patient_id},
        )
