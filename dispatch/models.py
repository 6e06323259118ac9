"""Tables of dispatch: hospitals, bed pools and their updates, transfer requests, holds, ambulances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.vocab import (
    AmbulanceStatus,
    BedType,
    FacilityStatus,
    HoldOutcome,
    TransferStatus,
    Urgency,
)
from kernel.db import ID, Base, new_id, one_of, utcnow


class Hospital(Base):
    __tablename__ = "hospitals"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(100), default="")
    ward: Mapped[str] = mapped_column(String(100), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=FacilityStatus.OPEN)
    status_reason: Mapped[str] = mapped_column(String(300), default="")
    status_until: Mapped[datetime | None]
    contacts: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("tier IN (1, 2, 3)", name="tier_level"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="location"),
        one_of("status", FacilityStatus),
        # Matching reads the hospitals inside a box around the pick-up point.
        Index("ix_hospitals_location", "lat", "lon"),
    )


class BedPool(Base):
    """One hospital's beds of one type; `held` counts live holds and only moves by conditional updates."""

    __tablename__ = "bed_pools"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    hospital_id: Mapped[str] = mapped_column(ForeignKey("hospitals.id", ondelete="CASCADE"))
    bed_type: Mapped[str] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer, default=0)
    occupied: Mapped[int] = mapped_column(Integer, default=0)
    out_of_service: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    expected_discharges: Mapped[int] = mapped_column(Integer, default=0)
    next_discharge_at: Mapped[datetime | None]
    as_of: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("hospital_id", "bed_type", name="uq_bed_pools_hospital_type"),
        # The database itself refuses an over-booked or negative pool, whatever the code does.
        CheckConstraint(
            "total >= 0 AND occupied >= 0 AND out_of_service >= 0 AND held >= 0 "
            "AND expected_discharges >= 0",
            name="non_negative",
        ),
        CheckConstraint("occupied + out_of_service + held <= total", name="within_total"),
        one_of("bed_type", BedType),
        Index("ix_bed_pools_type", "bed_type"),
    )

    @hybrid_property
    def available(self) -> int:
        # One formula for a loaded pool and for SQL (a batch's RETURNING, dispatch/beds.py).
        return self.total - self.occupied - self.out_of_service - self.held


class BedUpdate(Base):
    """Every accepted bed count, with who sent it; refused updates leave no row."""

    __tablename__ = "bed_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("bed_pools.id", ondelete="CASCADE"))
    hospital_id: Mapped[str] = mapped_column(ID)
    bed_type: Mapped[str] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer)
    occupied: Mapped[int] = mapped_column(Integer)
    out_of_service: Mapped[int] = mapped_column(Integer)
    expected_discharges: Mapped[int] = mapped_column(Integer, default=0)
    next_discharge_at: Mapped[datetime | None]
    as_of: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_bed_updates_pool", "pool_id", "as_of"),
        one_of("bed_type", BedType),
    )


class TransferRequest(Base):
    __tablename__ = "transfer_requests"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    patient_ref: Mapped[str] = mapped_column(String(64))
    # Set to patient_ref while the request is live and NULL once it ends: a unique
    # column that allows many NULLs gives "one live request per patient" on every backend.
    live_patient_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    bed_type: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))
    urgency_rank: Mapped[int] = mapped_column(Integer)
    pickup_lat: Mapped[float] = mapped_column(Float)
    pickup_lon: Mapped[float] = mapped_column(Float)
    # precise, ward_centre or unknown; None on requests from before it was recorded.
    pickup_source: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=TransferStatus.REQUESTED)
    hospital_id: Mapped[str | None] = mapped_column(ForeignKey("hospitals.id"))
    ambulance_id: Mapped[str | None] = mapped_column(ID)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    excluded_hospital_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the status last changed: the sweep finds requests stuck in requested/matching.
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Every ORM update of a request is conditional on this (UPDATE ... WHERE version = :seen),
    # so two workers or a worker and an operator can never both move the same request.
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_transfer_requests_status", "status", "bed_type", "urgency_rank", "requested_at"),
        one_of("status", TransferStatus),
        one_of("bed_type", BedType),
        one_of("urgency", Urgency),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TransferHistory(Base):
    __tablename__ = "transfer_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("transfer_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_transfer_history_request", "request_id", "id"),
        one_of("status", TransferStatus),
    )


class BedHold(Base):
    """One bed promised to one request; `live_patient_ref` makes a second live hold impossible."""

    __tablename__ = "bed_holds"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    request_id: Mapped[str] = mapped_column(ForeignKey("transfer_requests.id", ondelete="CASCADE"))
    patient_ref: Mapped[str] = mapped_column(String(64))
    live_patient_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("bed_pools.id"))
    hospital_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default=HoldOutcome.HELD)
    held_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_bed_holds_due", "released_at", "accepted_at", "expires_at"),
        Index("ix_bed_holds_request", "request_id"),
        one_of("outcome", HoldOutcome),
    )


class AmbulanceTeam(Base):
    __tablename__ = "ambulance_teams"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_lat: Mapped[float] = mapped_column(Float)
    base_lon: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(8), default=AmbulanceStatus.FREE)
    request_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (one_of("status", AmbulanceStatus),)
