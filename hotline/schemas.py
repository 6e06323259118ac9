"""Request and response bodies of the call-centre API."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from hotline.vocab import CallDirection, CallStatus, GatewayAction, Presence, ReceiptStatus
from triage.areas.schemas import WardLevelOut

PHONE_PATTERN = r"^\+?[0-9]{3,20}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IncomingCall(Strict):
    provider_call_id: str = Field(min_length=1, max_length=128, pattern=r"^[\w.:@/+-]+$")
    caller: str = Field(pattern=PHONE_PATTERN, description="E.164 or national digits")
    digits: str = Field(pattern=r"^[0-9]{1,4}$", description="the branch the caller picked")


class CallReceiptOut(BaseModel):
    call_id: str
    status: ReceiptStatus
    position: int | None
    expected_wait_s: int | None
    reason: str | None = None


class HangupOut(BaseModel):
    call_id: str | None = Field(description="none when the hang-up came before its call")
    status: str


class PresenceIn(Strict):
    state: Literal["available", "away", "offline"]


class PresenceOut(BaseModel):
    state: str
    previous: str | None = None


class CompleteIn(Strict):
    disposition: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    notes: str = Field(default="", max_length=4000)


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    provider_call_id: str
    caller: str
    branch: str
    direction: str
    priority: int
    priority_reason: str
    status: str
    reject_reason: str | None
    doctor_id: str | None
    answered_by: str | None
    queued_at: datetime
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    completed_at: datetime | None
    abandoned_at: datetime | None
    callback_requested_at: datetime | None
    disposition: str | None
    notes: str | None


class BranchIn(Strict):
    digit: str = Field(pattern=r"^[0-9]{1,4}$")
    name: str = Field(min_length=1, max_length=128)
    name_vi: str = Field(default="", max_length=128)
    skill: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    sl_target: StrictFloat = Field(default=0.8, gt=0, le=1)
    sl_threshold_s: StrictInt = Field(default=20, gt=0, le=3600)
    max_queue: StrictInt = Field(default=200, gt=0, le=100000)
    opens_at: str = Field(default="00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    closes_at: str = Field(default="00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh", max_length=64, description="a tz database name"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if v not in _tz_names():
            raise ValueError("must be a time zone of the tz database, e.g. Asia/Ho_Chi_Minh")
        return v


@functools.cache
def _tz_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class BranchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    digit: str
    name: str
    name_vi: str
    skill: str
    sl_target: float
    sl_threshold_s: int
    max_queue: int
    opens_at: str
    closes_at: str
    timezone: str
    active: bool


class DoctorIn(Strict):
    user_id: str = Field(min_length=1, max_length=32)
    full_name: str = Field(min_length=1, max_length=128)
    organisation: str = Field(default="", max_length=128)
    licence_number: str = Field(default="", max_length=64)
    branches: dict[str, StrictInt] = Field(
        description="branch digit -> preference level (1 = first choice)", min_length=1
    )


class DoctorOut(BaseModel):
    id: str
    user_id: str
    full_name: str
    organisation: str
    licence_number: str
    presence: str
    branches: dict[str, int]


class OfferOut(BaseModel):
    offer_id: str
    call_id: str
    branch: str
    caller: str
    expires_in_s: float


class ConsoleStateOut(BaseModel):
    doctor: DoctorOut
    state: str
    offer: OfferOut | None
    call: CallOut | None


# --------------------------------------------------------------------------- health


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str = Field(description='"ok", or "down: <error kind>"')
    redis: str = Field(description='"ok", or "down: <error kind>"')


# --------------------------------------------------------------------------- gateway feed


class GatewayInstructionOut(BaseModel):
    id: int
    provider_call_id: str
    call_id: str
    action: GatewayAction
    params: dict[str, Any]
    created_at: datetime


# --------------------------------------------------------------------------- queues and supervision


class LiveFiguresOut(BaseModel):
    waiting: int = Field(description="callers waiting (on hold or for a call-back)")
    longest_wait_s: float
    available: int = Field(description="doctors free to take a call now")
    online: int = Field(description="doctors signed in and taking calls")


class WaitingCallOut(BaseModel):
    call_id: str
    caller: str
    status: CallStatus
    priority: int
    priority_reason: str
    waited_s: float


class BranchQueueOut(LiveFiguresOut):
    branch: str
    calls: list[WaitingCallOut]


class BranchKpisOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    branch: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    sl_threshold_s: int
    sl_target: float
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    abandoned_within_threshold: int
    average_speed_of_answer_s: float | None
    service_level: float | None
    abandonment_rate: float | None
    occupancy: float | None
    busy_s: float
    signed_in_s: float
    doctors_online: int
    live: LiveFiguresOut


class StaffingOut(BaseModel):
    branch: str
    calls_per_hour: float
    aht_s: float
    target: float
    threshold_s: float
    doctors_needed: int
    service_level: float
    asa_s: float
    occupancy: float
    traffic_erlangs: float


class CoverageHourOut(BaseModel):
    hour: int
    starts_at: datetime
    forecast_calls_per_hour: float
    needed: int
    booked: float
    doctors: list[str]
    gap: float
    short: bool


class CoverageOut(BaseModel):
    branch: str
    date: date
    timezone: str
    aht_s: float
    forecast: Literal["calls_per_hour", "last_7_days"]
    sl_target: float
    sl_threshold_s: int
    hours: list[CoverageHourOut]
    short_hours: int


class OverviewBranchOut(LiveFiguresOut):
    digit: str
    name: str
    name_vi: str
    sl_target: float
    sl_threshold_s: int
    calls: list[WaitingCallOut]


class OverviewDoctorOut(BaseModel):
    id: str
    full_name: str
    organisation: str
    branches: dict[str, int]
    state: Presence
    since: datetime
    call_id: str | None


class OverviewOut(BaseModel):
    at: datetime
    branches: list[OverviewBranchOut]
    doctors: list[OverviewDoctorOut]


# --------------------------------------------------------------------------- console extras


class EarlierCallOut(BaseModel):
    call_id: str
    branch: str
    direction: CallDirection
    status: CallStatus
    created_at: datetime
    answered_at: datetime | None
    disposition: str | None
    notes: str | None
    doctor: str | None


class CallerHistoryOut(BaseModel):
    caller: str
    calls: list[EarlierCallOut]


class TimersOut(BaseModel):
    offer_timeout_s: float
    wrapup_s: float
    heartbeat_timeout_s: float
    wrapup_remaining_s: float | None


# --------------------------------------------------------------------------- dashboard


class BranchCardOut(BaseModel):
    digit: str
    name: str
    name_vi: str
    sl_target: float
    sl_threshold_s: int
    waiting: int
    longest_wait_s: float
    doctors_online: int
    doctors_available: int
    asa_s: float | None
    abandonment_rate: float | None
    service_level: float | None
    offered_last_hour: int
    waiting_series: list[int] = Field(description="calls waiting at each of the last 60 minutes")


class DistrictBedsOut(BaseModel):
    district: str
    bed_type: str
    available: int = Field(description="free beds in fresh pools; stale pools count as none")
    total: int
    pools: int
    stale_pools: int
    stale: bool
    oldest_as_of: datetime | None


class WaitingTransferOut(BaseModel):
    id: str
    bed_type: str
    urgency: str
    status: str
    waited_s: float


class TransferFiguresOut(BaseModel):
    waiting: int
    waiting_by_bed_type: dict[str, int]
    oldest_waiting_s: float | None
    longest_waiting: list[WaitingTransferOut]
    time_to_hold_median_s: float | None
    time_to_bed_median_s: float | None
    held_last_24h: int
    admitted_last_24h: int


class DashboardOut(BaseModel):
    at: datetime
    branches: list[BranchCardOut]
    beds: list[DistrictBedsOut]
    transfers: TransferFiguresOut
    wards: list[WardLevelOut]
    ward_summary: dict[str, int] = Field(description='wards at each level, "1" to "4"')
