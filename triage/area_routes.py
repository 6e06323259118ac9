"""HTTP routes of areas: the epidemic level calculator, ward levels, areas, stations and the levels export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from kernel.accounts import Principal, Role
from kernel.db import utcnow
from kernel.deps import SessionDep, require_roles
from kernel.errors import InvalidInput
from triage import area_jobs, area_service, epidemic
from triage.areas import MedicalStation

router = APIRouter(prefix="/api/v1", tags=["epidemic"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
# Areas and stations are kept by the health department's supervisors and the admins.
AreaKeeper = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]

_errors: dict[int | str, dict[str, Any]] = {
    403: {"description": "supervisor role required"},
    404: {"description": "ward or station not found"},
    422: {"description": "a field breaks a rule; detail names it"},
}


class AssessIn(BaseModel):
    """The decision's indicators, as POST /api/v1/epidemic/assess takes them."""

    model_config = ConfigDict(extra="forbid")

    new_cases_7d_per_100k: float
    oxygen_cases_per_100k: float
    deaths_7d_per_100k: float
    vaccinated_share: float
    high_risk_vaccinated_share: float
    care_readiness_per_10k: float
    district_free_beds_per_100k: float
    # null means not reported; the policy says how that counts (as not met, by default).
    province_icu_beds_per_100k: float | None


@router.post("/epidemic/assess", responses=_errors)
def assess(body: AssessIn, _: Supervisor) -> dict[str, Any]:
    """One ward's level from given indicators, with every step; nothing is stored."""
    try:
        inputs = epidemic.EpidemicInputs(**body.model_dump())
    except epidemic.EpidemicInputError as exc:
        raise InvalidInput(exc.field, exc.rule) from None
    return epidemic.assess(inputs, area_service.epidemic_policy()).to_dict()


@router.get("/epidemic/levels", responses=_errors)
def levels(session: SessionDep, _: Supervisor) -> dict[str, Any]:
    """Every ward's latest level from live data, each with its inputs, sources and steps."""
    # Whoever watches the levels keeps the periodic recompute armed (a no-op when it is).
    area_jobs.ensure_scheduled()
    wards = area_service.current_levels(session)
    return {
        "at": utcnow().isoformat(),
        "summary": area_service.level_summary(wards),
        "wards": wards,
    }


@router.post("/epidemic/recompute", responses=_errors)
def recompute(session: SessionDep, _: Supervisor) -> dict[str, Any]:
    """Recompute every ward now (the scheduled job does the same)."""
    counts = area_service.recompute_levels(session)
    area_jobs.ensure_scheduled()
    wards = area_service.current_levels(session)
    return {**counts, "summary": area_service.level_summary(wards)}


@router.get("/epidemic/levels/{ward_code}/history", responses=_errors)
def level_history(session: SessionDep, _: Supervisor, ward_code: str) -> list[dict[str, Any]]:
    """Every stored result of one ward, newest first: each change and what caused it."""
    ward = area_service.get_ward(session, ward_code)
    rows = area_service.ward_level_rows(session, ward_code)
    district = area_service.get_district(session, ward.district_code)
    return [area_service.level_view(r, ward, district) for r in rows]


# --------------------------------------------------------------------------- areas, stations


@router.get("/areas", responses=_errors)
def list_areas(session: SessionDep, _: AreaKeeper) -> list[dict[str, Any]]:
    return area_service.list_areas(session)


@router.post("/areas/import", responses=_errors)
def import_areas(
    session: SessionDep,
    _: AreaKeeper,
    csv_text: Annotated[str, Body(media_type="text/csv")],
) -> dict[str, int]:
    """Upsert areas from CSV (the columns of triage/data/hcmc_wards_sample.csv)."""
    return area_service.import_areas(session, area_service.read_areas_csv(csv_text))


class VaccinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date
    fully_vaccinated: int = Field(ge=0)
    high_risk_fully_vaccinated: int = Field(ge=0)
    source: str = Field(default="", max_length=128)


@router.put("/areas/wards/{ward_code}/vaccination", responses=_errors)
def set_vaccination(
    session: SessionDep, _: AreaKeeper, ward_code: str, body: VaccinationIn
) -> dict[str, Any]:
    row = area_service.set_vaccination(session, ward_code=ward_code, **body.model_dump())
    return {"ward_code": row.ward_code, **body.model_dump(mode="json")}


@router.get("/areas/reinforcement", responses=_errors)
def reinforcement(session: SessionDep, _: Supervisor) -> list[dict[str, Any]]:
    """Wards whose home-care load outgrows their stations, worst first, for the staff-transfer desk."""
    return area_service.reinforcement_advice(session)


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_code: str = Field(max_length=16)
    name: str = Field(min_length=1, max_length=200)
    kind: str = "fixed"
    operator: str = "public"
    doctors: int = Field(default=0, ge=0)
    nurses: int = Field(default=0, ge=0)
    volunteers: int = Field(default=0, ge=0)
    opens_at: str = "00:00"
    closes_at: str = "00:00"
    home_patient_capacity: int = Field(default=0, ge=0)
    active: bool = True


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_code: str | None = Field(default=None, max_length=16)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = None
    operator: str | None = None
    doctors: int | None = Field(default=None, ge=0)
    nurses: int | None = Field(default=None, ge=0)
    volunteers: int | None = Field(default=None, ge=0)
    opens_at: str | None = None
    closes_at: str | None = None
    home_patient_capacity: int | None = Field(default=None, ge=0)
    active: bool | None = None


def valid_station(session: SessionDep, station_id: str) -> MedicalStation:
    return area_service.get_station(session, station_id)


@router.get("/stations", responses=_errors)
def list_stations(
    session: SessionDep, _: AreaKeeper, ward: Annotated[str | None, Query(max_length=16)] = None
) -> list[dict[str, Any]]:
    return [area_service.station_view(s) for s in area_service.list_stations(session, ward)]


@router.post("/stations", status_code=201, responses=_errors)
def create_station(session: SessionDep, _: AreaKeeper, body: StationIn) -> dict[str, Any]:
    return area_service.station_view(area_service.create_station(session, **body.model_dump()))


@router.patch("/stations/{station_id}", responses=_errors)
def update_station(
    session: SessionDep,
    _: AreaKeeper,
    station: Annotated[MedicalStation, Depends(valid_station)],
    body: StationPatch,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(name, "must not be null")
    return area_service.station_view(area_service.update_station(session, station.id, **changes))


# --------------------------------------------------------------------------- export


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, the backend's clock.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get("/exports/ward-levels.csv", responses=_errors, response_class=Response)
def export_levels(
    session: SessionDep,
    _: Supervisor,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """Ward level results in force during [from, to) (last 7 days by default), one row per result."""
    end_at = _aware(end) or utcnow()
    start_at = _aware(start) or end_at - timedelta(days=7)
    if start_at >= end_at:
        raise InvalidInput("from", "must be before to")
    body = area_service.levels_csv(session, start_at, end_at)
    name = f"ward-levels-{start_at:%Y%m%d}-{end_at:%Y%m%d}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
