"""Triage tables: patients and their phone numbers, signed assessments, follow-ups, transfers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kernel.db import ID, Base, new_id, one_of, utcnow
from kernel.errors import Conflict
from triage.areas import models as area_models  # noqa: F401  (loading triage.models loads every triage table)
from triage.vocabulary import (
    FollowUpState,
    IsolationPlace,
    LevelOfCare,
    Outcome,
    Severity,
    TransferState,
    Urgency,
)


class Patient(Base):
    __tablename__ = "triage_patients"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    full_name: Mapped[str] = mapped_column(String(128), index=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    # Callers often know an age but not a birth date; kept as said, with when it was said.
    age_years: Mapped[float | None] = mapped_column(Float)
    sex: Mapped[str | None] = mapped_column(String(8))
    ward_code: Mapped[str | None] = mapped_column(String(16), index=True)
    # House number and street; the ward is ward_code, chosen from the area list.
    street: Mapped[str | None] = mapped_column(String(200))
    risk_factors: Mapped[list[str]] = mapped_column(JSON, default=list)
    pregnant: Mapped[bool] = mapped_column(Boolean, default=False)
    vaccination_doses: Mapped[int | None] = mapped_column(Integer)
    positive_test_on: Mapped[date | None] = mapped_column(Date)
    isolation_place: Mapped[str] = mapped_column(String(16), default=IsolationPlace.HOME)
    care_tier: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_on: Mapped[date | None] = mapped_column(Date)
    # Pickup point for a transfer; unset falls back to the ward centroid, then the city default.
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[PatientPhone]] = relationship(
        back_populates="patient", lazy="selectin", cascade="all, delete-orphan"
    )

    __table_args__ = (one_of("outcome", Outcome), one_of("isolation_place", IsolationPlace))


class PatientPhone(Base):
    """A number a patient is reached on; one number may serve a whole household."""

    __tablename__ = "triage_patient_phones"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("triage_patients.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)

    patient: Mapped[Patient] = relationship(back_populates="phones", lazy="raise")

    __table_args__ = (UniqueConstraint("patient_id", "phone", name="uq_triage_patient_phones"),)


class ImmutableRecord(Conflict):
    code = "assessment_immutable"


class Assessment(Base):
    """A signed, immutable assessment; a correction is a new row whose amends_id points here."""

    __tablename__ = "triage_assessments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("triage_patients.id"))
    # Unique: a record is amended at most once, so the chain stays a line, not a tree.
    amends_id: Mapped[str | None] = mapped_column(ForeignKey("triage_assessments.id"), unique=True)
    # Hotline's call id, kept as a plain string: triage does not depend on hotline.
    call_id: Mapped[str | None] = mapped_column(String(64))
    age_years: Mapped[float] = mapped_column(Float)
    vitals: Mapped[dict[str, Any]] = mapped_column(JSON)
    symptoms: Mapped[list[str]] = mapped_column(JSON, default=list)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Copies of two scores for trends and routing without parsing JSON.
    news2_total: Mapped[int | None] = mapped_column(Integer)
    spo2: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str | None] = mapped_column(String(16))
    recommendation: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    rules_version: Mapped[str] = mapped_column(String(128))
    signed_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_triage_assessments_patient_signed", "patient_id", "signed_at"),
        one_of("severity", Severity),
    )


def _refuse_change(_mapper: Any, _conn: Any, target: Assessment) -> None:
    raise ImmutableRecord(
        f"assessment {target.id} is signed and cannot change; sign an amendment instead"
    )


event.listen(Assessment, "before_update", _refuse_change)
event.listen(Assessment, "before_delete", _refuse_change)


class FollowUp(Base):
    """A check-in call a home patient is owed; its state moves forward only, by guarded UPDATEs."""

    __tablename__ = "triage_followups"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("triage_patients.id"), index=True)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("triage_assessments.id"), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    interval_hours: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(255), default="")
    due_at: Mapped[datetime] = mapped_column(index=True)
    escalate_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=FollowUpState.SCHEDULED, index=True)
    task_ref: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_assessment_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (one_of("state", FollowUpState),)


class Transfer(Base):
    """The link from a transfer decision to dispatch's transfer request (kept apart: signed rows never change)."""

    __tablename__ = "triage_transfers"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("triage_assessments.id"), unique=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("triage_patients.id"), index=True)
    # The bed type dispatch is asked for: the decision's level of care.
    bed_type: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    pickup_lat: Mapped[float] = mapped_column(Float)
    pickup_lon: Mapped[float] = mapped_column(Float)
    # Where the point came from: precise, ward_centre or unknown (see triage.transfers).
    pickup_source: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=TransferState.QUEUED)
    # Dispatch's transfer request id, a plain string: no FK across domains.
    transfer_request_id: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_at: Mapped[datetime | None]

    __table_args__ = (
        one_of("bed_type", LevelOfCare),
        one_of("urgency", Urgency),
        one_of("state", TransferState),
    )
