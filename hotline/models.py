"""Call-centre tables: branches, doctors, calls, offers and the gateway instructions log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.vocab import (
    CallDirection,
    CallStatus,
    GatewayAction,
    OfferOutcome,
    Presence,
    RejectReason,
)
from kernel.db import ID, Base, new_id, one_of, utcnow


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digit: Mapped[str] = mapped_column(String(4), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_vi: Mapped[str] = mapped_column(String(128), default="")
    skill: Mapped[str] = mapped_column(String(32))
    sl_target: Mapped[float] = mapped_column(Float, default=0.8)
    sl_threshold_s: Mapped[int] = mapped_column(Integer, default=20)
    max_queue: Mapped[int] = mapped_column(Integer, default=200)
    # Local opening hours as "HH:MM"; equal values mean open around the clock.
    opens_at: Mapped[str] = mapped_column(String(5), default="00:00")
    closes_at: Mapped[str] = mapped_column(String(5), default="00:00")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The language its voice prompts are spoken in (a file under hotline/voice/prompts/).
    language: Mapped[str] = mapped_column(String(8), default="vi")

    __table_args__ = (
        CheckConstraint("sl_target > 0 AND sl_target <= 1", name="sl_target_fraction"),
        CheckConstraint("max_queue > 0", name="max_queue_positive"),
    )


class Doctor(Base):
    __tablename__ = "doctors"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), unique=True)
    full_name: Mapped[str] = mapped_column(String(128))
    organisation: Mapped[str] = mapped_column(String(128), default="")
    licence_number: Mapped[str] = mapped_column(String(64), default="")
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    presence_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Mirrors the Redis routing version so a late write never overwrites a newer one.
    presence_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where the voice line rings the doctor: a browser client identity if set, else the phone.
    phone: Mapped[str | None] = mapped_column(String(32))
    client_identity: Mapped[str | None] = mapped_column(String(64))

    branches: Mapped[list[DoctorBranch]] = relationship(
        back_populates="doctor", lazy="selectin", cascade="all, delete-orphan"
    )

    __table_args__ = (one_of("presence", Presence),)


class DoctorBranch(Base):
    __tablename__ = "doctor_branches"

    doctor_id: Mapped[str] = mapped_column(ForeignKey("doctors.id"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    # 1 = the doctor's first choice; lower levels are offered calls first.
    preference: Mapped[int] = mapped_column(Integer, default=1)

    doctor: Mapped[Doctor] = relationship(back_populates="branches", lazy="raise")
    branch: Mapped[Branch] = relationship(lazy="joined")

    __table_args__ = (CheckConstraint("preference BETWEEN 1 AND 9", name="preference_range"),)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # Inbound calls carry the gateway's id; call-backs and follow-ups get a synthetic one.
    provider_call_id: Mapped[str] = mapped_column(String(128), unique=True)
    caller: Mapped[str] = mapped_column(String(32), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    priority: Mapped[int] = mapped_column(Integer, default=4)
    priority_reason: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    # The doctor the call is with now (offered, connected, wrap-up): routing state.
    doctor_id: Mapped[str | None] = mapped_column(ForeignKey("doctors.id"))
    # Who answered it: a fact, written once whatever order routing writes arrive in.
    answered_by: Mapped[str | None] = mapped_column(ForeignKey("doctors.id"))
    # The call's place in the queue; kept across re-offers and call-back requests.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
    callback_requested_at: Mapped[datetime | None]
    origin_call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"))
    task_ref: Mapped[str | None] = mapped_column(String(64))
    disposition: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    routing_version: Mapped[int] = mapped_column(Integer, default=0)

    branch: Mapped[Branch] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_calls_branch_created", "branch_id", "created_at"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority_range"),
        one_of("status", CallStatus),
        one_of("direction", CallDirection),
        one_of("reject_reason", RejectReason),
    )


class Offer(Base):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    doctor_id: Mapped[str] = mapped_column(ForeignKey("doctors.id"), index=True)
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    resolved_at: Mapped[datetime | None]

    __table_args__ = (one_of("outcome", OfferOutcome),)


class HangupBeforeCall(Base):
    """A caller who hung up before the gateway's call webhook reached us.

    Webhooks can arrive out of order; when the call's own webhook comes later, it is
    recorded as abandoned, never queued.
    """

    __tablename__ = "hangups_before_call"

    provider_call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hung_up_at: Mapped[datetime] = mapped_column(default=utcnow)


class GatewayInstruction(Base):
    """What the backend told the telephony gateway to do; the default outbound driver's log."""

    __tablename__ = "gateway_instructions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_call_id: Mapped[str] = mapped_column(String(128), index=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (one_of("action", GatewayAction),)


class Shift(Base):
    __tablename__ = "shifts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    doctor_id: Mapped[str] = mapped_column(ForeignKey("doctors.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        UniqueConstraint("doctor_id", "starts_at", name="uq_shifts_doctor_start"),
    )
