"""Request and response bodies of the dispatch API (the public contract hospital systems rely on)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from dispatch.vocab import (
    AmbulanceStatus,
    BedType,
    Capability,
    FacilityStatus,
    TransferStatus,
    Urgency,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HospitalIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    tier: StrictInt = Field(ge=1, le=3)
    district: str = Field(default="", max_length=100)
    ward: str = Field(default="", max_length=100)
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)
    # Checked by the rules (a 422 naming the field), as are the bed types below.
    capabilities: list[str] = Field(default_factory=list)
    status: FacilityStatus = FacilityStatus.OPEN
    contacts: str = Field(default="", max_length=300)


class HospitalStatusIn(Strict):
    status: FacilityStatus
    reason: str = Field(default="", max_length=300)
    until: AwareDatetime | None = None


class HospitalOut(BaseModel):
    id: str
    name: str
    tier: int
    district: str
    ward: str
    lat: float
    lon: float
    capabilities: list[Capability]
    status: FacilityStatus
    status_reason: str
    status_until: datetime | None
    contacts: str


class IdOut(BaseModel):
    id: str


class BedCountsIn(Strict):
    total: StrictInt = Field(ge=0, le=100_000)
    occupied: StrictInt = Field(ge=0, le=100_000)
    out_of_service: StrictInt = Field(default=0, ge=0, le=100_000)
    as_of: AwareDatetime
    expected_discharges: StrictInt = Field(default=0, ge=0, le=100_000)
    next_discharge_at: AwareDatetime | None = None


class BulkPoolIn(Strict):
    bed_type: str
    total: StrictInt = Field(ge=0, le=100_000)
    occupied: StrictInt = Field(ge=0, le=100_000)
    out_of_service: StrictInt = Field(default=0, ge=0, le=100_000)
    expected_discharges: StrictInt = Field(default=0, ge=0, le=100_000)
    next_discharge_at: AwareDatetime | None = None


class BulkBedsIn(Strict):
    as_of: AwareDatetime
    pools: list[BulkPoolIn] = Field(min_length=1, max_length=20)


class PoolOut(BaseModel):
    bed_type: BedType
    total: int
    occupied: int
    out_of_service: int
    held: int
    available: int
    expected_discharges: int
    next_discharge_at: datetime | None
    as_of: datetime | None
    stale: bool
    updated_by: str | None


class HospitalBedsOut(BaseModel):
    hospital_id: str
    hospital_name: str
    pools: list[PoolOut]


class Pickup(Strict):
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)
    # precise (a point someone set), ward_centre (approximate) or unknown; a point typed on the
    # board is precise. None only on requests recorded before sources were.
    source: Literal["precise", "ward_centre", "unknown"] | None = None


class TransferIn(Strict):
    patient_ref: str = Field(min_length=1, max_length=64)
    bed_type: str = Field(min_length=1, max_length=32)
    urgency: Urgency
    pickup: Pickup
    note: str = Field(default="", max_length=2000)


class TransferCreated(BaseModel):
    id: str
    status: TransferStatus


class AmbulanceRef(BaseModel):
    id: str
    name: str


class TransferStepOut(BaseModel):
    at: datetime
    kind: str
    status: TransferStatus
    actor: str | None
    data: dict[str, Any]


class CardAddress(BaseModel):
    street: str | None = None
    ward_code: str | None = None
    ward_name: str | None = None
    district_name: str | None = None
    province_name: str | None = None
    # "2021" (province, district, ward) or "2025" (province, commune/ward: no district).
    scheme: str | None = None


class CardNews2(BaseModel):
    total: int | None
    # True when parameters were missing: the total is "at least N" (see `missing`).
    at_least: bool
    missing: list[str]


class CardDoctor(BaseModel):
    id: str
    username: str
    display_name: str | None


class PatientCardOut(BaseModel):
    """Who the patient is and what the referring doctor found, from the latest signed assessment."""

    id: str
    # True when the reader may open the patient's timeline (the link shows only then).
    can_read_timeline: bool = False
    full_name: str
    age_years: float | None
    sex: str | None
    phones: list[str]
    address: CardAddress | None
    news2: CardNews2 | None
    spo2: int | None
    respiratory_rate: int | None
    # Ministry of Health warning-sign codes; the pages word them.
    warning_signs: list[str]
    severity: str | None
    assessed_at: datetime | None
    referring_doctor: CardDoctor | None


class TransferOut(BaseModel):
    id: str
    patient_ref: str
    bed_type: BedType
    urgency: Urgency
    status: TransferStatus
    pickup: Pickup
    note: str
    hospital_id: str | None
    hospital_name: str | None
    hold_expires_at: datetime | None
    hold_accepted_at: datetime | None
    ambulance: AmbulanceRef | None
    # The ranked hospitals as stored when the request was last matched (see matching.Candidate).
    candidates: list[dict[str, Any]]
    excluded_hospital_ids: list[str]
    requested_by: str
    requested_at: datetime
    status_at: datetime
    history: list[TransferStepOut] | None = None
    # Who the patient is (name, age, phone, address, latest vitals, referring doctor); None when
    # the patient is not known to triage (a request typed on the board with a free reference).
    patient: PatientCardOut | None = None


class ReasonIn(Strict):
    reason: str = Field(default="", max_length=500)


class OverrideIn(Strict):
    hospital_id: str = Field(min_length=1, max_length=32)


class TransportIn(Strict):
    ambulance_id: str | None = Field(default=None, max_length=32)


class AmbulanceIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    base_lat: StrictFloat = Field(ge=-90, le=90)
    base_lon: StrictFloat = Field(ge=-180, le=180)


class AmbulanceOut(BaseModel):
    id: str
    name: str
    base_lat: float
    base_lon: float
    status: AmbulanceStatus
    request_id: str | None
