"""Request and response bodies of the areas API: the level calculator, levels, areas, stations."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from triage.vocabulary import Capacity, StationKind, StationOperator

# --------------------------------------------------------------------------- epidemic levels


# The largest count a database integer column holds.
MAX_COUNT = 2**31 - 1


class AssessIn(BaseModel):
    """The decision's indicators, as POST /api/v1/epidemic/assess takes them."""

    model_config = ConfigDict(extra="forbid")

    new_cases_7d_per_100k: StrictFloat
    oxygen_cases_per_100k: StrictFloat
    deaths_7d_per_100k: StrictFloat
    vaccinated_share: StrictFloat
    high_risk_vaccinated_share: StrictFloat
    care_readiness_per_10k: StrictFloat
    district_free_beds_per_100k: StrictFloat
    # null means not reported; the policy says how that counts (as not met, by default).
    province_icu_beds_per_100k: StrictFloat | None


class StepOut(BaseModel):
    step: str
    inputs: dict[str, float | int | str | None]
    result: int | str | bool
    explanation: str


class EpidemicResultOut(BaseModel):
    level: int
    risk: str
    colour: str
    infection_level: int
    capacity: Capacity
    steps: list[StepOut]
    rules_version: str
    inputs: AssessIn


class WardLevelOut(BaseModel):
    """One stored level of one ward, with everything that explains it."""

    id: int
    ward_code: str
    ward_name: str | None
    district_code: str | None
    district_name: str | None
    population: int | None
    demo_figures: bool | None
    level: int
    risk: str
    colour: str
    infection_level: int
    capacity: str
    computed_at: str
    checked_at: str
    rules_version: str
    inputs: dict[str, Any]
    sources: dict[str, Any]
    steps: list[dict[str, Any]]
    policy: dict[str, Any]


class LevelsOut(BaseModel):
    at: str
    # Wards per level, "1" to "4".
    summary: dict[str, int]
    wards: list[WardLevelOut]


class RecomputeOut(BaseModel):
    changed: int
    unchanged: int
    summary: dict[str, int]


# --------------------------------------------------------------------------- areas


class WardOut(BaseModel):
    code: str
    name: str
    district_code: str
    population: int
    high_risk_population: int
    demo_figures: bool
    stations: int
    stations_per_10k: float
    below_station_target: bool
    home_patient_capacity: int


class DistrictOut(BaseModel):
    code: str
    name: str
    population: int
    wards: list[WardOut]


class ProvinceOut(BaseModel):
    code: str
    name: str
    population: int
    districts: list[DistrictOut]


class AreaImportOut(BaseModel):
    """What an import created (updates of existing rows are not counted)."""

    provinces: int
    districts: int
    wards: int
    vaccinations: int


class VaccinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date
    fully_vaccinated: StrictInt = Field(ge=0, le=MAX_COUNT)
    high_risk_fully_vaccinated: StrictInt = Field(ge=0, le=MAX_COUNT)
    source: str = Field(default="", max_length=128)


class VaccinationOut(VaccinationIn):
    model_config = ConfigDict(extra="ignore")

    ward_code: str


class ReinforcementOut(BaseModel):
    rank: int
    ward_code: str
    ward_name: str
    district_name: str
    home_patients: int
    new_home_patients_7d: int
    new_home_patients_prev_7d: int
    projected_home_patients: int
    station_capacity: int
    stations: int
    shortfall: int
    extra_doctors_needed: int


# --------------------------------------------------------------------------- stations


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_code: str = Field(max_length=16)
    name: str = Field(min_length=1, max_length=200)
    # Kind and operator are checked by the service, which names the vocabulary in its error.
    kind: str = StationKind.FIXED
    operator: str = StationOperator.PUBLIC
    doctors: StrictInt = Field(default=0, ge=0, le=MAX_COUNT)
    nurses: StrictInt = Field(default=0, ge=0, le=MAX_COUNT)
    volunteers: StrictInt = Field(default=0, ge=0, le=MAX_COUNT)
    opens_at: str = "00:00"
    closes_at: str = "00:00"
    home_patient_capacity: StrictInt = Field(default=0, ge=0, le=MAX_COUNT)
    active: bool = True


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_code: str | None = Field(default=None, max_length=16)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = None
    operator: str | None = None
    doctors: StrictInt | None = Field(default=None, ge=0, le=MAX_COUNT)
    nurses: StrictInt | None = Field(default=None, ge=0, le=MAX_COUNT)
    volunteers: StrictInt | None = Field(default=None, ge=0, le=MAX_COUNT)
    opens_at: str | None = None
    closes_at: str | None = None
    home_patient_capacity: StrictInt | None = Field(default=None, ge=0, le=MAX_COUNT)
    active: bool | None = None


class StationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    ward_code: str
    name: str
    kind: str
    operator: str
    doctors: int
    nurses: int
    volunteers: int
    opens_at: str
    closes_at: str
    home_patient_capacity: int
    active: bool


class WardPickOut(BaseModel):
    """One choice of the address picker: a unit of either scheme, with where it sits."""

    # The area id a patient record keeps: the bare code for 2021, "2025-<code>" for 2025.
    code: str
    scheme: Literal["2021", "2025"]
    official_code: str
    name: str
    # 2021 only; a 2025 unit sits directly under its province.
    district_name: str | None
    province_name: str
    has_centre: bool
    centre_approximate: bool


class UnitImportOut(BaseModel):
    scheme: Literal["2021", "2025"]
    units: int
    created: int
