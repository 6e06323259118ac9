"""Tables of areas: provinces, districts, wards, their vaccination figures, medical stations and epidemic levels."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import ID, Base, new_id, one_of, utcnow
from triage.vocabulary import Capacity, StationKind, StationOperator


class Province(Base):
    __tablename__ = "area_provinces"

    # Codes are the statistics office's administrative codes (strings: they keep leading zeros).
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # Optional official figure; unset means the sum of the province's wards.
    population: Mapped[int | None] = mapped_column(Integer)


class District(Base):
    __tablename__ = "area_districts"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("area_provinces.code"), index=True)
    # Spelt as dispatch spells a hospital's district ("Quận 5", "Thủ Đức"): that is the join.
    name: Mapped[str] = mapped_column(String(128))
    population: Mapped[int | None] = mapped_column(Integer)


class Ward(Base):
    __tablename__ = "area_wards"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("area_districts.code"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    population: Mapped[int] = mapped_column(Integer)
    high_risk_population: Mapped[int] = mapped_column(Integer, default=0)
    # True when the population figures are invented for a demo, so no screen passes them off as real.
    demo_figures: Mapped[bool] = mapped_column(Boolean, default=False)
    # The ward's centre, where a transfer picks up a patient with no precise point (approximate).
    centre_lat: Mapped[float | None] = mapped_column(Float)
    centre_lon: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint("population > 0", name="population_positive"),
        CheckConstraint(
            "high_risk_population >= 0 AND high_risk_population <= population",
            name="high_risk_within",
        ),
    )


class WardVaccination(Base):
    """Imported coverage of one ward as of a date; the newest as_of is the one used."""

    __tablename__ = "area_vaccinations"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    ward_code: Mapped[str] = mapped_column(ForeignKey("area_wards.code", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date)
    fully_vaccinated: Mapped[int] = mapped_column(Integer)
    high_risk_fully_vaccinated: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(128), default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("ward_code", "as_of", name="uq_area_vaccinations_ward_as_of"),
        CheckConstraint(
            "fully_vaccinated >= 0 AND high_risk_fully_vaccinated >= 0", name="non_negative"
        ),
    )


class MedicalStation(Base):
    """A fixed or mobile station caring for home patients of one ward."""

    __tablename__ = "medical_stations"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    ward_code: Mapped[str] = mapped_column(ForeignKey("area_wards.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(16))
    doctors: Mapped[int] = mapped_column(Integer, default=0)
    nurses: Mapped[int] = mapped_column(Integer, default=0)
    volunteers: Mapped[int] = mapped_column(Integer, default=0)
    opens_at: Mapped[str] = mapped_column(String(5), default="00:00")
    closes_at: Mapped[str] = mapped_column(String(5), default="00:00")
    home_patient_capacity: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        one_of("kind", StationKind),
        one_of("operator", StationOperator),
        CheckConstraint(
            "doctors >= 0 AND nurses >= 0 AND volunteers >= 0 AND home_patient_capacity >= 0",
            name="non_negative",
        ),
    )


class EpidemicLevel(Base):
    """One computed level of one ward, with everything needed to explain it later.

    A new row is written only when the inputs or the rules change; an unchanged recompute moves
    checked_at, so the history is the list of changes and still shows the level was current.
    """

    __tablename__ = "epidemic_levels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ward_code: Mapped[str] = mapped_column(ForeignKey("area_wards.code", ondelete="CASCADE"))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[int] = mapped_column(Integer)
    infection_level: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[str] = mapped_column(String(8))
    # The indicators as given to the rules (EpidemicInputs).
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The counts and denominators the indicators came from: the trace back to live data.
    sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rules_version: Mapped[str] = mapped_column(String(64))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
        one_of("capacity", Capacity),
        Index("ix_epidemic_levels_ward", "ward_code", "id"),
        Index("ix_epidemic_levels_computed", "computed_at"),
    )


class AreaUnit(Base):
    """One official administrative unit a patient's address can name, in one of two schemes.

    "2021": province -> district -> ward, the units of the 2021 epidemic (our demo list: the
    package below ships only the current units). "2025": province -> commune/ward, the units in
    force since 1 July 2025, loaded from the `vietnam-provinces` package. The same official code
    can mean different places in the two schemes, so the id carries the scheme: a 2021 unit's id
    is its bare code (the ids patients and wards already use), a 2025 unit's id is "2025-<code>".
    """

    __tablename__ = "area_units"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(4))
    code: Mapped[str] = mapped_column(String(16))
    # The Vietnamese name as published, with its type ("Phường Tân Định", "Xã Bình Chánh").
    name: Mapped[str] = mapped_column(String(128))
    # Name, district and province without diacritics, lower case (d for đ): what the picker searches.
    folded: Mapped[str] = mapped_column(String(256), index=True)
    province_code: Mapped[str] = mapped_column(String(16))
    province_name: Mapped[str] = mapped_column(String(128))
    # 2021 only: the district between province and ward; 2025 has none.
    district_code: Mapped[str | None] = mapped_column(String(16))
    district_name: Mapped[str | None] = mapped_column(String(128))
    centre_lat: Mapped[float | None] = mapped_column(Float)
    centre_lon: Mapped[float | None] = mapped_column(Float)
    # True when the centre is an estimate (every centre we ship is), so a page says so.
    centre_approximate: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the unit came from: "vietnam-provinces <version>" or "demo list".
    source: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        UniqueConstraint("scheme", "code", name="uq_area_units_scheme_code"),
        CheckConstraint("scheme IN ('2021', '2025')", name="scheme_known"),
        CheckConstraint(
            "(centre_lat IS NULL) = (centre_lon IS NULL)", name="centre_both_or_neither"
        ),
    )
