"""Request and response bodies of the triage API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from triage.vocabulary import (
    Action,
    Consciousness,
    FollowUpState,
    IsolationPlace,
    LevelOfCare,
    News2Risk,
    Outcome,
    Severity,
    TransferState,
    Urgency,
)

Sex = Literal["male", "female", "other"]

# --------------------------------------------------------------------------- scoring


class VitalsIn(BaseModel):
    """What the caller reports; every field but age may be left out (then it is not scored)."""

    model_config = ConfigDict(extra="forbid")

    age: StrictFloat = Field(description="years; fractions allowed for infants (2/12 = two months)")
    respiratory_rate: StrictInt | None = None
    spo2: StrictInt | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1
    systolic_bp: StrictInt | None = None
    diastolic_bp: StrictInt | None = None
    pulse: StrictInt | None = None
    consciousness: Consciousness | None = None
    temperature_c: StrictFloat | None = None
    symptoms: list[str] = []


class News2Out(BaseModel):
    """A NEWS2 from the parameters reported: a partial total is a lower bound (see `missing`)."""

    total: int | None
    risk: News2Risk | None
    components: dict[str, int | None]
    complete: bool
    missing: list[str]
    scale: Literal[1, 2]
    # False below the policy's NEWS2 age: shown, not used for the disposition.
    applicable: bool
    # True when parameters are missing: the total reads "at least N" and risk is only what the
    # known parameters prove (never "low").
    at_least: bool = False
    response: str | None


class DispositionOut(BaseModel):
    action: Action
    level_of_care: LevelOfCare | None
    tier: int | None
    urgency: Urgency | None
    follow_up_hours: float | None
    reasons: list[str]


class ScoresOut(BaseModel):
    news2: News2Out
    warning_signs: list[str]
    severity: Severity | None
    disposition: DispositionOut
    # What produced the scores, e.g. "news2-rcp-2017/r2+moh-261-2022/r1+policy:default/r1".
    rules_version: str


# --------------------------------------------------------------------------- patients


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=128)
    phones: list[str] = Field(default=[], max_length=5)
    date_of_birth: date | None = None
    age_years: StrictFloat | None = Field(default=None, ge=0, le=130)
    sex: Sex | None = None
    ward_code: str | None = Field(default=None, max_length=16)
    street: str | None = Field(default=None, max_length=200)
    risk_factors: list[str] = []
    pregnant: bool = False
    vaccination_doses: StrictInt | None = Field(default=None, ge=0, le=10)
    positive_test_on: date | None = None
    isolation_place: IsolationPlace = IsolationPlace.HOME
    care_tier: StrictInt | None = Field(default=None, ge=1, le=9)
    lat: StrictFloat | None = Field(default=None, ge=-90, le=90)
    lon: StrictFloat | None = Field(default=None, ge=-180, le=180)


class PatientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, min_length=1, max_length=128)
    add_phones: list[str] = []
    date_of_birth: date | None = None
    age_years: StrictFloat | None = Field(default=None, ge=0, le=130)
    sex: Sex | None = None
    ward_code: str | None = Field(default=None, max_length=16)
    street: str | None = Field(default=None, max_length=200)
    risk_factors: list[str] | None = None
    pregnant: bool | None = None
    vaccination_doses: StrictInt | None = Field(default=None, ge=0, le=10)
    positive_test_on: date | None = None
    isolation_place: IsolationPlace | None = None
    care_tier: StrictInt | None = Field(default=None, ge=1, le=9)
    outcome: Outcome | None = None
    outcome_on: date | None = None
    lat: StrictFloat | None = Field(default=None, ge=-90, le=90)
    lon: StrictFloat | None = Field(default=None, ge=-180, le=180)


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    full_name: str
    phones: list[str]
    date_of_birth: date | None
    age_years: float | None
    sex: str | None
    ward_code: str | None
    street: str | None = None
    risk_factors: list[str]
    pregnant: bool
    vaccination_doses: int | None
    positive_test_on: date | None
    isolation_place: IsolationPlace
    care_tier: int | None
    outcome: Outcome | None
    outcome_on: date | None
    lat: float | None
    lon: float | None

    @field_validator("phones", mode="before")
    @classmethod
    def _numbers(cls, phones: list[Any]) -> list[Any]:
        # The record holds phone rows; the API shows their numbers.
        return [p if isinstance(p, str) else p.phone for p in phones]


# --------------------------------------------------------------------------- assessments


class AssessmentVitalsIn(VitalsIn):
    # At signing the age may come from the patient record.
    age: StrictFloat | None = None  # type: ignore[assignment]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    level_of_care: LevelOfCare | None = None
    follow_up_hours: StrictFloat | None = Field(default=None, gt=0, le=72)


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vitals: AssessmentVitalsIn
    # Left out: the doctor accepts the recommendation as it stands.
    decision: DecisionIn | None = None
    override_reason: str | None = None
    notes: str = ""
    call_id: str | None = Field(default=None, max_length=64)
    amends_id: str | None = None
    phone: str | None = Field(default=None, max_length=32)


class FollowUpOut(BaseModel):
    id: str
    assessment_id: str
    state: FollowUpState
    due_at: datetime
    escalate_at: datetime
    interval_hours: float
    reason: str
    # The reason as a code and its numbers, for a page to word in its language: home_care
    # {hours}, news2_rose {from, to, hours} or spo2_fell {from, to, limit, hours}.
    reason_code: str | None = None
    reason_params: dict[str, float] = {}
    phone: str | None
    dispatched_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None


class PickupOut(BaseModel):
    lat: float
    lon: float
    # precise, ward_centre or unknown (the city default, never passed off as the patient's place).
    source: str | None = None


class TransferStepOut(BaseModel):
    """One step of the request at dispatch (requested, held, accepted, refused, admitted...),
    with the hospital it concerned, for the caller's timeline."""

    at: datetime
    kind: str
    status: str
    hospital_id: str | None
    hospital_name: str | None


class TransferOut(BaseModel):
    id: str
    assessment_id: str
    bed_type: LevelOfCare
    urgency: Urgency
    pickup: PickupOut
    state: TransferState
    transfer_request_id: str | None
    # Dispatch's status of the request, read live; None while dispatch has not taken it.
    dispatch_status: str | None
    created_at: datetime
    requested_at: datetime | None
    # The hospital now holding or taking the patient (None while there is none), and the steps.
    hospital_id: str | None = None
    hospital_name: str | None = None
    steps: list[TransferStepOut] = []


class AssessmentOut(BaseModel):
    id: str
    patient_id: str
    amends_id: str | None
    amended_by_id: str | None
    call_id: str | None
    age_years: float
    # The signed record's JSON as stored: the vitals as reported, scores and decisions.
    vitals: dict[str, Any]
    symptoms: list[str]
    scores: dict[str, Any]
    recommendation: dict[str, Any]
    decision: dict[str, Any]
    overridden: bool
    override_reason: str | None
    notes: str
    rules_version: str
    signed_by: str
    signed_at: datetime
    content_hash: str
    hash_valid: bool
    follow_up: FollowUpOut | None
    transfer: TransferOut | None


# --------------------------------------------------------------------------- timeline


class AssessmentItem(AssessmentOut):
    kind: Literal["assessment"]
    at: datetime


class FollowUpItem(FollowUpOut):
    kind: Literal["follow_up"]
    at: datetime


class TransferItem(TransferOut):
    kind: Literal["transfer"]
    at: datetime


class TrendPoint(BaseModel):
    at: datetime
    news2: int | None
    spo2: int | None
    assessment_id: str


class TimelineOut(BaseModel):
    patient_id: str
    items: list[
        Annotated[AssessmentItem | FollowUpItem | TransferItem, Field(discriminator="kind")]
    ]
    # NEWS2 and SpO2 of each assessment no later one amends.
    trend: list[TrendPoint]
