"""Request and response bodies of the triage API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Consciousness = Literal["alert", "confusion", "voice", "pain", "unresponsive"]


class VitalsIn(BaseModel):
    """What the caller reports; every field but age may be left out (then it is not scored)."""

    model_config = ConfigDict(extra="forbid")

    age: float = Field(description="years; fractions allowed for infants (2/12 = two months)")
    respiratory_rate: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    pulse: int | None = None
    consciousness: Consciousness | None = None
    temperature_c: float | None = None
    symptoms: list[str] = []


class AssessmentVitalsIn(VitalsIn):
    # At signing the age may come from the patient record.
    age: float | None = None  # type: ignore[assignment]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["home_care", "transfer"]
    level_of_care: Literal["oxygen", "icu"] | None = None
    follow_up_hours: float | None = Field(default=None, gt=0, le=72)


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


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=128)
    phones: list[str] = Field(default=[], max_length=5)
    date_of_birth: date | None = None
    age_years: float | None = Field(default=None, ge=0, le=130)
    sex: Literal["male", "female", "other"] | None = None
    ward_code: str | None = Field(default=None, max_length=16)
    risk_factors: list[str] = []
    pregnant: bool = False
    vaccination_doses: int | None = Field(default=None, ge=0, le=10)
    positive_test_on: date | None = None
    isolation_place: Literal["home", "concentrated", "hospital"] = "home"
    care_tier: int | None = Field(default=None, ge=1, le=9)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class PatientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, min_length=1, max_length=128)
    add_phones: list[str] = []
    date_of_birth: date | None = None
    age_years: float | None = Field(default=None, ge=0, le=130)
    sex: Literal["male", "female", "other"] | None = None
    ward_code: str | None = Field(default=None, max_length=16)
    risk_factors: list[str] | None = None
    pregnant: bool | None = None
    vaccination_doses: int | None = Field(default=None, ge=0, le=10)
    positive_test_on: date | None = None
    isolation_place: Literal["home", "concentrated", "hospital"] | None = None
    care_tier: int | None = Field(default=None, ge=1, le=9)
    outcome: Literal["recovered", "died", "transferred"] | None = None
    outcome_on: date | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    full_name: str
    phones: list[str]
    date_of_birth: date | None
    age_years: float | None
    sex: str | None
    ward_code: str | None
    risk_factors: list[str]
    pregnant: bool
    vaccination_doses: int | None
    positive_test_on: date | None
    isolation_place: str
    care_tier: int | None
    outcome: str | None
    outcome_on: date | None
    lat: float | None
    lon: float | None


class AssessmentOut(BaseModel):
    id: str
    patient_id: str
    amends_id: str | None
    amended_by_id: str | None
    call_id: str | None
    age_years: float
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
    follow_up: dict[str, Any] | None
    transfer: dict[str, Any] | None
