"""Medical stations, fixed and mobile, and each ward's station coverage against the city's target."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.errors import InvalidInput, NotFound
from triage.areas.models import District, MedicalStation, Province, Ward
from triage.areas.policy import AreaPolicy, area_policy
from triage.areas.wards import district_population, get_ward, province_population
from triage.vocabulary import StationKind, StationOperator


class StationNotFound(NotFound):
    code = "station_not_found"


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_station(fields_: dict[str, Any]) -> None:
    if "kind" in fields_ and fields_["kind"] not in tuple(StationKind):
        raise InvalidInput("kind", f"must be one of {', '.join(StationKind)}")
    if "operator" in fields_ and fields_["operator"] not in tuple(StationOperator):
        raise InvalidInput("operator", f"must be one of {', '.join(StationOperator)}")
    for name in ("doctors", "nurses", "volunteers", "home_patient_capacity"):
        if name in fields_ and (fields_[name] is None or fields_[name] < 0):
            raise InvalidInput(name, "must be 0 or more")
    for name in ("opens_at", "closes_at"):
        if name in fields_ and not _HHMM.match(str(fields_[name])):
            raise InvalidInput(name, "must be HH:MM")


def create_station(session: Session, *, ward_code: str, **fields_: Any) -> MedicalStation:
    get_ward(session, ward_code)
    _check_station(fields_)
    station = MedicalStation(ward_code=ward_code, **fields_)
    session.add(station)
    session.flush()
    return station


def update_station(session: Session, station_id: str, **fields_: Any) -> MedicalStation:
    station = get_station(session, station_id)
    _check_station(fields_)
    if "ward_code" in fields_:
        get_ward(session, fields_["ward_code"])
    for k, v in fields_.items():
        setattr(station, k, v)
    session.flush()
    return station


def get_station(session: Session, station_id: str) -> MedicalStation:
    station = session.get(MedicalStation, station_id)
    if station is None:
        raise StationNotFound(f"no station {station_id}")
    return station


def list_stations(session: Session, ward_code: str | None = None) -> list[MedicalStation]:
    stmt = select(MedicalStation).order_by(MedicalStation.ward_code, MedicalStation.name)
    if ward_code:
        stmt = stmt.where(MedicalStation.ward_code == ward_code)
    return list(session.scalars(stmt))


def stations_by_ward(session: Session) -> dict[str, list[MedicalStation]]:
    """The active stations of every ward that has one."""
    out: dict[str, list[MedicalStation]] = defaultdict(list)
    for s in session.scalars(select(MedicalStation).where(MedicalStation.active.is_(True))):
        out[s.ward_code].append(s)
    return out


def home_patient_capacity(stations: list[MedicalStation]) -> int:
    return sum(s.home_patient_capacity for s in stations)


def ward_view(ward: Ward, stations: list[MedicalStation], pol: AreaPolicy) -> dict[str, Any]:
    per_10k = len(stations) * 10_000 / ward.population
    return {
        "code": ward.code,
        "name": ward.name,
        "district_code": ward.district_code,
        "population": ward.population,
        "high_risk_population": ward.high_risk_population,
        "demo_figures": ward.demo_figures,
        "stations": len(stations),
        "stations_per_10k": round(per_10k, 3),
        "below_station_target": per_10k < pol.stations_per_10k_target,
        "home_patient_capacity": home_patient_capacity(stations),
    }


def list_areas(session: Session) -> list[dict[str, Any]]:
    """Provinces with their districts and wards, and each ward's station coverage."""
    pol = area_policy()
    stations = stations_by_ward(session)
    districts = defaultdict(list)
    for d in session.scalars(select(District).order_by(District.name)):
        districts[d.province_code].append(d)
    wards = defaultdict(list)
    for w in session.scalars(select(Ward).order_by(Ward.name)):
        wards[w.district_code].append(w)
    return [
        {
            "code": p.code,
            "name": p.name,
            "population": province_population(session, p.code),
            "districts": [
                {
                    "code": d.code,
                    "name": d.name,
                    "population": district_population(session, d.code),
                    "wards": [ward_view(w, stations.get(w.code, []), pol) for w in wards[d.code]],
                }
                for d in districts[p.code]
            ],
        }
        for p in session.scalars(select(Province).order_by(Province.name))
    ]
