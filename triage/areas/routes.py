"""HTTP routes of areas: the epidemic level calculator, ward levels, areas, stations and the levels export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response

from kernel.accounts import Principal, Role
from kernel.db import utcnow
from kernel.deps import SessionDep, require_roles
from kernel.errors import InvalidInput
from kernel.input_guard import IsoDatetime
from triage.areas import csv_import, decision_218, units, wards
from triage.areas import levels as ward_levels
from triage.areas import reinforcement as advice
from triage.areas import stations as station_service
from triage.areas.models import MedicalStation
from triage.areas.policy import epidemic_policy
from triage.areas.schemas import (
    AreaImportOut,
    AssessIn,
    EpidemicResultOut,
    LevelsOut,
    ProvinceOut,
    RecomputeOut,
    ReinforcementOut,
    StationIn,
    StationOut,
    StationPatch,
    VaccinationIn,
    VaccinationOut,
    WardLevelOut,
    WardPickOut,
)

router = APIRouter(prefix="/api/v1", tags=["epidemic"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
# Areas and stations are kept by the health department's supervisors and the admins.
AreaKeeper = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]

_errors: dict[int | str, dict[str, Any]] = {
    403: {"description": "supervisor role required"},
    404: {"description": "ward or station not found"},
    422: {"description": "a field breaks a rule; detail names it"},
}


@router.post("/epidemic/assess", response_model=EpidemicResultOut, responses=_errors)
def assess(body: AssessIn, _: Supervisor) -> dict[str, Any]:
    """One ward's level from given indicators, with every step; nothing is stored."""
    try:
        inputs = decision_218.EpidemicInputs(**body.model_dump())
    except decision_218.EpidemicInputError as exc:
        raise InvalidInput(exc.field, exc.rule) from None
    return decision_218.assess(inputs, epidemic_policy()).to_dict()


@router.get("/epidemic/levels", response_model=LevelsOut, responses=_errors)
def levels(session: SessionDep, _: Supervisor) -> dict[str, Any]:
    """Every ward's latest level from live data, each with its inputs, sources and steps."""
    views = ward_levels.current_levels(session)
    return {"at": utcnow().isoformat(), "summary": ward_levels.level_summary(views), "wards": views}


@router.post("/epidemic/recompute", response_model=RecomputeOut, responses=_errors)
def recompute(session: SessionDep, _: Supervisor) -> dict[str, Any]:
    """Recompute every ward now (the scheduled job does the same)."""
    counts = ward_levels.recompute_levels(session)
    return {**counts, "summary": ward_levels.level_summary(ward_levels.current_levels(session))}


@router.get(
    "/epidemic/levels/{ward_code}/history", response_model=list[WardLevelOut], responses=_errors
)
def level_history(session: SessionDep, _: Supervisor, ward_code: str) -> list[dict[str, Any]]:
    """Every stored result of one ward, newest first: each change and what caused it."""
    ward = wards.get_ward(session, ward_code)
    district = wards.get_district(session, ward.district_code)
    rows = ward_levels.ward_level_rows(session, ward_code)
    return [ward_levels.level_view(r, ward, district) for r in rows]


# --------------------------------------------------------------------------- areas, stations


@router.get("/areas", response_model=list[ProvinceOut], responses=_errors)
def list_areas(session: SessionDep, _: AreaKeeper) -> list[dict[str, Any]]:
    return station_service.list_areas(session)


@router.post("/areas/import", response_model=AreaImportOut, responses=_errors)
def import_areas(
    session: SessionDep,
    _: AreaKeeper,
    csv_text: Annotated[str, Body(media_type="text/csv")],
) -> dict[str, int]:
    """Upsert areas from CSV (the columns of triage/data/hcmc_wards_sample.csv)."""
    return csv_import.import_areas(session, csv_import.read_areas_csv(csv_text))


@router.put(
    "/areas/wards/{ward_code}/vaccination", response_model=VaccinationOut, responses=_errors
)
def set_vaccination(
    session: SessionDep, _: AreaKeeper, ward_code: str, body: VaccinationIn
) -> VaccinationOut:
    row = wards.set_vaccination(session, ward_code=ward_code, **body.model_dump())
    return VaccinationOut(ward_code=row.ward_code, **body.model_dump())


@router.get("/areas/reinforcement", response_model=list[ReinforcementOut], responses=_errors)
def reinforcement(session: SessionDep, _: Supervisor) -> list[dict[str, Any]]:
    """Wards whose home-care load outgrows their stations, worst first, for the staff-transfer desk."""
    return advice.reinforcement_advice(session)


def valid_station(session: SessionDep, station_id: str) -> MedicalStation:
    return station_service.get_station(session, station_id)


@router.get("/stations", response_model=list[StationOut], responses=_errors)
def list_stations(
    session: SessionDep, _: AreaKeeper, ward: Annotated[str | None, Query(max_length=16)] = None
) -> list[MedicalStation]:
    return station_service.list_stations(session, ward)


@router.post("/stations", status_code=201, response_model=StationOut, responses=_errors)
def create_station(session: SessionDep, _: AreaKeeper, body: StationIn) -> MedicalStation:
    return station_service.create_station(session, **body.model_dump())


@router.patch("/stations/{station_id}", response_model=StationOut, responses=_errors)
def update_station(
    session: SessionDep,
    _: AreaKeeper,
    station: Annotated[MedicalStation, Depends(valid_station)],
    body: StationPatch,
) -> MedicalStation:
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(name, "must not be null")
    return station_service.update_station(session, station.id, **changes)


# --------------------------------------------------------------------------- export


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, the backend's clock.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get(
    "/exports/ward-levels.csv",
    # A CSV file, not JSON: there is no schema to declare, only the media type.
    response_model=None,
    response_class=Response,
    responses={**_errors, 200: {"content": {"text/csv": {}}, "description": "one row per result"}},
)
def export_levels(
    session: SessionDep,
    _: Supervisor,
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
) -> Response:
    """Ward level results in force during [from, to) (last 7 days by default), one row per result."""
    end_at = _aware(end) or utcnow()
    start_at = _aware(start) or end_at - timedelta(days=7)
    if start_at >= end_at:
        raise InvalidInput("from", "must be before to")
    body = ward_levels.levels_csv(session, start_at, end_at)
    name = f"ward-levels-{start_at:%Y%m%d}-{end_at:%Y%m%d}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --------------------------------------------------------------------------- ward picker

WardReader = Annotated[
    Principal, Depends(require_roles(Role.DOCTOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))
]


@router.get("/areas/wards", response_model=list[WardPickOut], responses=_errors)
def ward_picker(
    session: SessionDep,
    _: WardReader,
    q: Annotated[
        str | None, Query(max_length=64, description="words of the name; diacritics optional")
    ] = None,
    scheme: Annotated[
        Literal["2021", "2025"] | None,
        Query(description="2021: province/district/ward; 2025: province/commune since 1 July 2025"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    code: Annotated[
        str | None, Query(max_length=16, description="one unit by its id (e.g. 2025-26743)")
    ] = None,
) -> list[dict[str, Any]]:
    """Wards and communes of either scheme for the address picker (a choice, never a typed code),
    found by name with or without diacritics: "ben thanh" finds Bến Thành."""
    if code is not None:
        return units.by_id(session, code)
    return units.search(session, q, scheme, limit)
