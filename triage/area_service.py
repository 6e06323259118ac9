"""Areas and stations, the Decision 218 indicators from live data, and each ward's stored epidemic level."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import service as dispatch_service
from dispatch.models import BedPool, Hospital
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound
from kernel.settings import get_settings
from triage import epidemic
from triage.areas import (
    STATION_KINDS,
    STATION_OPERATORS,
    District,
    EpidemicLevel,
    MedicalStation,
    Province,
    Ward,
    WardVaccination,
)
from triage.models import Assessment, Patient

SAMPLE_CSV = Path(__file__).parent / "data" / "hcmc_wards_sample.csv"
# Days are counted on the city's calendar: "the last 7 days" means 7 local dates, today included.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WINDOW_DAYS = 7
OXYGEN_LEVELS = ("oxygen", "icu")
# Beds whose availability the ministry counts as ICU capacity (3c).
ICU_BED_TYPES = ("icu", "ventilator", "ecmo")


class WardNotFound(NotFound):
    code = "ward_not_found"


class StationNotFound(NotFound):
    code = "station_not_found"


# --------------------------------------------------------------------------- policy (settings)


@dataclass(frozen=True, slots=True)
class AreaPolicy:
    """Our defaults for what the decision and the city leave open; each overridable by settings."""

    # The city's target: at least one medical station per 10,000 residents.
    stations_per_10k_target: float = 1.0
    # Reinforcement advice: home patients one station doctor can follow (our default).
    home_patients_per_doctor: int = 50
    # 3b counts every fresh pool of these types as Covid beds; all types by default.
    covid_bed_types: tuple[str, ...] = (
        "general",
        "oxygen",
        "icu",
        "ventilator",
        "ecmo",
        "paediatric",
        "obstetric",
    )
    recompute_interval_s: float = 300.0


def _overrides(name: str) -> dict[str, Any]:
    settings = get_settings()
    value = (
        settings.epidemic_policy_overrides
        if name == "epidemic_policy_overrides"
        else settings.area_policy_overrides
    )
    return dict(value)


def epidemic_policy() -> epidemic.EpidemicPolicy:
    """triage.epidemic's policy with the settings' overrides (HOTLINE_EPIDEMIC_POLICY_OVERRIDES)."""
    known = {f.name for f in fields(epidemic.EpidemicPolicy)}
    given = _overrides("epidemic_policy_overrides")
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown epidemic policy fields: {', '.join(sorted(unknown))}")
    return epidemic.EpidemicPolicy(**given)


def area_policy() -> AreaPolicy:
    known = {f.name for f in fields(AreaPolicy)}
    given = {k: v for k, v in _overrides("area_policy_overrides").items() if k in known}
    if "covid_bed_types" in given:
        given["covid_bed_types"] = tuple(given["covid_bed_types"])
    return AreaPolicy(**given)


# --------------------------------------------------------------------------- areas and import


def _int(row: dict[str, str], name: str, line: int, *, required: bool = True) -> int | None:
    raw = (row.get(name) or "").strip().replace("_", "")
    if not raw:
        if required:
            raise InvalidInput(f"row {line}: {name}", "is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"row {line}: {name}", "must be a whole number") from None
    if value < 0:
        raise InvalidInput(f"row {line}: {name}", "must be 0 or more")
    return value


def read_areas_csv(text: str) -> list[dict[str, str]]:
    """Rows of an areas CSV; lines starting with # are comments (the sample labels its demo figures there)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [dict(r) for r in csv.DictReader(io.StringIO("\n".join(lines)))]


def import_areas(session: Session, rows: Sequence[dict[str, str]]) -> dict[str, int]:
    """Upsert provinces, districts, wards (and vaccination figures when the row has them)."""
    counts = {"provinces": 0, "districts": 0, "wards": 0, "vaccinations": 0}
    for n, row in enumerate(rows, start=1):
        for name in ("province_code", "district_code", "ward_code", "ward_name"):
            if not (row.get(name) or "").strip():
                raise InvalidInput(f"row {n}: {name}", "is required")
        pcode, dcode, wcode = (
            row[k].strip() for k in ("province_code", "district_code", "ward_code")
        )
        province = session.get(Province, pcode)
        if province is None:
            province = Province(code=pcode, name=(row.get("province_name") or pcode).strip())
            session.add(province)
            counts["provinces"] += 1
        province_pop = _int(row, "province_population", n, required=False)
        if province_pop:
            province.population = province_pop
        district = session.get(District, dcode)
        if district is None:
            district = District(code=dcode, province_code=pcode, name=dcode)
            session.add(district)
            counts["districts"] += 1
        district.name = (row.get("district_name") or district.name).strip()
        district_pop = _int(row, "district_population", n, required=False)
        if district_pop:
            district.population = district_pop
        population = _int(row, "population", n) or 0
        if population <= 0:
            raise InvalidInput(f"row {n}: population", "must be greater than 0")
        high_risk = _int(row, "high_risk_population", n, required=False) or 0
        if high_risk > population:
            raise InvalidInput(f"row {n}: high_risk_population", "must not exceed population")
        ward = session.get(Ward, wcode)
        if ward is None:
            ward = Ward(
                code=wcode, district_code=dcode, name=row["ward_name"].strip(), population=1
            )
            session.add(ward)
            counts["wards"] += 1
        ward.district_code = dcode
        ward.name = row["ward_name"].strip()
        ward.population = population
        ward.high_risk_population = high_risk
        ward.demo_figures = (row.get("demo_figures") or "").strip().lower() in ("yes", "true", "1")
        session.flush()
        if (row.get("vaccination_as_of") or "").strip():
            try:
                as_of = date.fromisoformat(row["vaccination_as_of"].strip())
            except ValueError:
                raise InvalidInput(f"row {n}: vaccination_as_of", "must be YYYY-MM-DD") from None
            set_vaccination(
                session,
                ward_code=wcode,
                as_of=as_of,
                fully_vaccinated=_int(row, "fully_vaccinated", n) or 0,
                high_risk_fully_vaccinated=_int(row, "high_risk_fully_vaccinated", n) or 0,
                source="csv import",
            )
            counts["vaccinations"] += 1
    session.flush()
    return counts


def set_vaccination(
    session: Session,
    *,
    ward_code: str,
    as_of: date,
    fully_vaccinated: int,
    high_risk_fully_vaccinated: int,
    source: str = "",
) -> WardVaccination:
    ward = get_ward(session, ward_code)
    if fully_vaccinated > ward.population:
        raise InvalidInput("fully_vaccinated", "must not exceed the ward's population")
    if high_risk_fully_vaccinated > ward.high_risk_population:
        raise InvalidInput(
            "high_risk_fully_vaccinated", "must not exceed the ward's high-risk population"
        )
    row = session.scalar(
        select(WardVaccination).where(
            WardVaccination.ward_code == ward_code, WardVaccination.as_of == as_of
        )
    )
    if row is None:
        row = WardVaccination(ward_code=ward_code, as_of=as_of)
        session.add(row)
    row.fully_vaccinated = fully_vaccinated
    row.high_risk_fully_vaccinated = high_risk_fully_vaccinated
    row.source = source
    row.imported_at = utcnow()
    session.flush()
    return row


def get_ward(session: Session, ward_code: str) -> Ward:
    ward = session.get(Ward, ward_code)
    if ward is None:
        raise WardNotFound(f"no ward {ward_code}")
    return ward


def list_areas(session: Session) -> list[dict[str, Any]]:
    """Provinces with their districts and wards, and each ward's station target flag."""
    pol = area_policy()
    stations = _stations_by_ward(session)
    districts = defaultdict(list)
    for d in session.scalars(select(District).order_by(District.name)):
        districts[d.province_code].append(d)
    wards = defaultdict(list)
    for w in session.scalars(select(Ward).order_by(Ward.name)):
        wards[w.district_code].append(w)
    out = []
    for p in session.scalars(select(Province).order_by(Province.name)):
        out.append(
            {
                "code": p.code,
                "name": p.name,
                "population": province_population(session, p.code),
                "districts": [
                    {
                        "code": d.code,
                        "name": d.name,
                        "population": district_population(session, d.code),
                        "wards": [
                            ward_view(w, stations.get(w.code, []), pol) for w in wards[d.code]
                        ],
                    }
                    for d in districts[p.code]
                ],
            }
        )
    return out


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
        "home_patient_capacity": sum(s.home_patient_capacity for s in stations),
    }


def get_district(session: Session, district_code: str) -> District | None:
    return session.get(District, district_code)


def district_population(session: Session, district_code: str) -> int:
    d = session.get(District, district_code)
    if d is not None and d.population:
        return d.population
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Ward.population), 0)).where(
                Ward.district_code == district_code
            )
        )
        or 0
    )


def province_population(session: Session, province_code: str) -> int:
    p = session.get(Province, province_code)
    if p is not None and p.population:
        return p.population
    codes = session.scalars(select(District.code).where(District.province_code == province_code))
    return sum(district_population(session, c) for c in codes)


# --------------------------------------------------------------------------- stations


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_station(fields_: dict[str, Any]) -> None:
    if "kind" in fields_ and fields_["kind"] not in STATION_KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(STATION_KINDS)}")
    if "operator" in fields_ and fields_["operator"] not in STATION_OPERATORS:
        raise InvalidInput("operator", f"must be one of {', '.join(STATION_OPERATORS)}")
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


def station_view(s: MedicalStation) -> dict[str, Any]:
    return {
        "id": s.id,
        "ward_code": s.ward_code,
        "name": s.name,
        "kind": s.kind,
        "operator": s.operator,
        "doctors": s.doctors,
        "nurses": s.nurses,
        "volunteers": s.volunteers,
        "opens_at": s.opens_at,
        "closes_at": s.closes_at,
        "home_patient_capacity": s.home_patient_capacity,
        "active": s.active,
    }


def _stations_by_ward(session: Session) -> dict[str, list[MedicalStation]]:
    out: dict[str, list[MedicalStation]] = defaultdict(list)
    for s in session.scalars(select(MedicalStation).where(MedicalStation.active.is_(True))):
        out[s.ward_code].append(s)
    return out


# --------------------------------------------------------------------------- live indicators


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


def _end_of_local_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL_TZ)


@dataclass
class WardFigures:
    """The counts behind one ward's indicators: what a level traces back to."""

    ward_code: str
    population: int
    high_risk_population: int
    new_cases_7d: int = 0
    deaths_7d: int = 0
    oxygen_daily: list[int] | None = None
    home_patients: int = 0
    home_new_7d: int = 0
    home_new_prev_7d: int = 0


def ward_figures(session: Session, now: datetime | None = None) -> dict[str, WardFigures]:
    """Per ward, from patients and their assessments: cases, deaths, oxygen-level patients per day."""
    now = now or utcnow()
    today = local_today(now)
    first_day = today - timedelta(days=WINDOW_DAYS - 1)
    prev_first = first_day - timedelta(days=WINDOW_DAYS)
    days = [first_day + timedelta(days=i) for i in range(WINDOW_DAYS)]
    figures = {
        w.code: WardFigures(w.code, w.population, w.high_risk_population, oxygen_daily=[0] * 7)
        for w in session.scalars(select(Ward))
    }
    # Patients that can count in any indicator: still in care, or whose outcome is recent.
    patients = session.scalars(
        select(Patient).where(
            Patient.ward_code.in_(list(figures)),
            (Patient.outcome.is_(None)) | (Patient.outcome_on >= prev_first),
        )
    ).all()
    ids = [p.id for p in patients]
    decisions: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows = session.execute(
            select(Assessment.patient_id, Assessment.signed_at, Assessment.decision)
            .where(Assessment.patient_id.in_(chunk), Assessment.signed_at <= now)
            .order_by(Assessment.signed_at, Assessment.id)
        )
        for pid, signed_at, decision in rows:
            level = (decision or {}).get("level_of_care")
            decisions[pid].append((signed_at, level))
    for p in patients:
        f = figures[p.ward_code or ""]
        pos = p.positive_test_on
        if pos is not None and first_day <= pos <= today:
            f.new_cases_7d += 1
        if p.outcome == "died" and p.outcome_on is not None and first_day <= p.outcome_on <= today:
            f.deaths_7d += 1
        if p.outcome is None and p.isolation_place == "home":
            f.home_patients += 1
            if pos is not None and first_day <= pos <= today:
                f.home_new_7d += 1
            elif pos is not None and prev_first <= pos < first_day:
                f.home_new_prev_7d += 1
        history = decisions.get(p.id, [])
        assert f.oxygen_daily is not None
        for i, day in enumerate(days):
            if p.outcome is not None and p.outcome_on is not None and p.outcome_on < day:
                continue
            end = min(_end_of_local_day(day), now)
            latest = None
            for signed_at, level in history:
                if signed_at <= end:
                    latest = level
            registered = p.created_at <= end
            # The assessment says oxygen or above, or the patient is in hospital now (the
            # record keeps no admission date, so a hospital stay counts from registration).
            if latest in OXYGEN_LEVELS or (registered and p.isolation_place == "hospital"):
                f.oxygen_daily[i] += 1
    return figures


def _pools_of_open_hospitals(session: Session) -> list[tuple[BedPool, Hospital]]:
    rows = session.execute(
        select(BedPool, Hospital).join(Hospital, Hospital.id == BedPool.hospital_id)
    )
    return [(p, h) for p, h in rows if h.status != "closed"]


def _key(name: str) -> str:
    # Hospitals and areas are typed by different people: "Quận 5" and "quận 5 " are one district.
    return " ".join(name.split()).casefold()


def bed_figures(
    session: Session, pol: AreaPolicy, now: datetime | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Free Covid beds per district (fresh pools only) and staffed ICU beds per province."""
    now = now or utcnow()
    district_by_name = {_key(d.name): d for d in session.scalars(select(District))}
    by_district: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"free_beds": 0, "fresh_pools": 0, "stale_pools": 0, "hospitals": set()}
    )
    by_province: dict[str, dict[str, Any]] = defaultdict(lambda: {"icu_beds": 0, "pools": 0})
    for pool, hospital in _pools_of_open_hospitals(session):
        district = district_by_name.get(_key(hospital.district))
        if district is None:
            continue
        if pool.bed_type in ICU_BED_TYPES:
            # Staffed beds: those in service, reported or not lately (capacity, not availability).
            prov = by_province[district.province_code]
            prov["icu_beds"] += max(pool.total - pool.out_of_service, 0)
            prov["pools"] += 1
        if pool.bed_type not in pol.covid_bed_types:
            continue
        fig = by_district[district.code]
        if dispatch_service.is_stale(pool, now):
            # A stale count may be long gone: it is not promised to anyone as free.
            fig["stale_pools"] += 1
            continue
        fig["fresh_pools"] += 1
        fig["free_beds"] += max(pool.available, 0)
        fig["hospitals"].add(hospital.name)
    for fig in by_district.values():
        fig["hospitals"] = sorted(fig["hospitals"])
    return dict(by_district), dict(by_province)


def latest_vaccination(session: Session) -> dict[str, WardVaccination]:
    out: dict[str, WardVaccination] = {}
    for v in session.scalars(select(WardVaccination).order_by(WardVaccination.as_of)):
        out[v.ward_code] = v
    return out


def ward_inputs(
    session: Session, now: datetime | None = None
) -> dict[str, tuple[epidemic.EpidemicInputs, dict[str, Any]]]:
    """Every ward's indicators, and the counts each came from."""
    now = now or utcnow()
    pol = area_policy()
    wards = {w.code: w for w in session.scalars(select(Ward))}
    districts = {d.code: d for d in session.scalars(select(District))}
    figures = ward_figures(session, now)
    vaccination = latest_vaccination(session)
    stations = _stations_by_ward(session)
    beds_by_district, icu_by_province = bed_figures(session, pol, now)
    district_pops = {c: district_population(session, c) for c in districts}
    province_pops = {
        c: province_population(session, c) for c in {d.province_code for d in districts.values()}
    }
    out = {}
    for code, ward in wards.items():
        f = figures[code]
        district = districts[ward.district_code]
        vac = vaccination.get(code)
        capacity = sum(s.home_patient_capacity for s in stations.get(code, []))
        beds = beds_by_district.get(
            district.code, {"free_beds": 0, "fresh_pools": 0, "stale_pools": 0, "hospitals": []}
        )
        icu = icu_by_province.get(district.province_code)
        d_pop = district_pops[district.code] or ward.population
        p_pop = province_pops[district.province_code] or ward.population
        oxygen_daily = f.oxygen_daily or [0] * WINDOW_DAYS
        # Rates are kept unrounded: a rounded 6.0002 deaths per 100,000 would hide a band edge.
        inputs = epidemic.EpidemicInputs(
            new_cases_7d_per_100k=epidemic.per_population(f.new_cases_7d, ward.population),
            oxygen_cases_per_100k=epidemic.per_population(
                sum(oxygen_daily) / WINDOW_DAYS, ward.population
            ),
            deaths_7d_per_100k=epidemic.per_population(f.deaths_7d, ward.population),
            # No imported figure yet reads as 0%: nobody looks safer for not reporting.
            vaccinated_share=vac.fully_vaccinated / ward.population if vac else 0.0,
            high_risk_vaccinated_share=(
                vac.high_risk_fully_vaccinated / ward.high_risk_population
                if vac and ward.high_risk_population
                else (1.0 if vac else 0.0)
            ),
            care_readiness_per_10k=epidemic.per_population(capacity, ward.population, 10_000),
            district_free_beds_per_100k=epidemic.per_population(beds["free_beds"], d_pop),
            province_icu_beds_per_100k=(
                epidemic.per_population(icu["icu_beds"], p_pop) if icu else None
            ),
        )
        sources = {
            "ward": {"code": code, "name": ward.name, "population": ward.population},
            "window": {
                "from": (local_today(now) - timedelta(days=WINDOW_DAYS - 1)).isoformat(),
                "to": local_today(now).isoformat(),
            },
            "1a": {"new_cases_7d": f.new_cases_7d},
            "1b": {"oxygen_patients_per_day": oxygen_daily},
            "1c": {"deaths_7d": f.deaths_7d},
            "2a_2b": {
                "as_of": vac.as_of.isoformat() if vac else None,
                "fully_vaccinated": vac.fully_vaccinated if vac else None,
                "high_risk_fully_vaccinated": vac.high_risk_fully_vaccinated if vac else None,
                "high_risk_population": ward.high_risk_population,
            },
            "3a": {
                "stations": len(stations.get(code, [])),
                "home_patient_capacity": capacity,
            },
            "3b": {
                "district": district.name,
                "district_population": d_pop,
                "free_beds": beds["free_beds"],
                "fresh_pools": beds["fresh_pools"],
                "stale_pools_left_out": beds["stale_pools"],
                "hospitals": beds["hospitals"],
            },
            "3c": {
                "province": district.province_code,
                "province_population": p_pop,
                "staffed_icu_beds": icu["icu_beds"] if icu else None,
            },
        }
        out[code] = (inputs, sources)
    return out


# --------------------------------------------------------------------------- levels


def _policy_dict(p: epidemic.EpidemicPolicy) -> dict[str, Any]:
    return asdict(p)


def recompute_levels(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Assess every ward; store a new result when its inputs or rules changed (idempotent)."""
    now = now or utcnow()
    pol = epidemic_policy()
    latest = latest_levels_by_ward(session)
    changed = unchanged = 0
    for code, (inputs, sources) in ward_inputs(session, now).items():
        result = epidemic.assess(inputs, pol).to_dict()
        prev = latest.get(code)
        if (
            prev is not None
            and prev.inputs == result["inputs"]
            and prev.rules_version == result["rules_version"]
            and prev.policy == _policy_dict(pol)
        ):
            prev.checked_at = now
            # The counts behind unchanged rates (a new window) still deserve the latest trace.
            prev.sources = sources
            unchanged += 1
            continue
        session.add(
            EpidemicLevel(
                ward_code=code,
                computed_at=now,
                checked_at=now,
                level=result["level"],
                infection_level=result["infection_level"],
                capacity=result["capacity"],
                inputs=result["inputs"],
                sources=sources,
                steps=result["steps"],
                rules_version=result["rules_version"],
                policy=_policy_dict(pol),
            )
        )
        changed += 1
    session.flush()
    return {"changed": changed, "unchanged": unchanged}


def latest_levels_by_ward(session: Session) -> dict[str, EpidemicLevel]:
    newest = select(func.max(EpidemicLevel.id)).group_by(EpidemicLevel.ward_code)
    rows = session.scalars(select(EpidemicLevel).where(EpidemicLevel.id.in_(newest)))
    return {r.ward_code: r for r in rows}


def ward_level_rows(session: Session, ward_code: str) -> list[EpidemicLevel]:
    return list(
        session.scalars(
            select(EpidemicLevel)
            .where(EpidemicLevel.ward_code == ward_code)
            .order_by(EpidemicLevel.id.desc())
        )
    )


def level_view(row: EpidemicLevel, ward: Ward | None, district: District | None) -> dict[str, Any]:
    risk, colour = epidemic.LEVELS[row.level]
    return {
        "id": row.id,
        "ward_code": row.ward_code,
        "ward_name": ward.name if ward else None,
        "district_code": district.code if district else None,
        "district_name": district.name if district else None,
        "population": ward.population if ward else None,
        "demo_figures": ward.demo_figures if ward else None,
        "level": row.level,
        "risk": risk,
        "colour": colour,
        "infection_level": row.infection_level,
        "capacity": row.capacity,
        "computed_at": row.computed_at.isoformat(),
        "checked_at": row.checked_at.isoformat(),
        "rules_version": row.rules_version,
        "inputs": row.inputs,
        "sources": row.sources,
        "steps": row.steps,
        "policy": row.policy,
    }


def current_levels(session: Session) -> list[dict[str, Any]]:
    """Every ward's latest level with its explanation, by district then ward name."""
    wards = {w.code: w for w in session.scalars(select(Ward))}
    districts = {d.code: d for d in session.scalars(select(District))}
    views = []
    for code, row in latest_levels_by_ward(session).items():
        ward = wards.get(code)
        views.append(level_view(row, ward, districts.get(ward.district_code) if ward else None))
    views.sort(key=lambda v: (v["district_name"] or "", v["ward_name"] or ""))
    return views


def level_summary(levels: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = {str(n): 0 for n in range(1, 5)}
    for v in levels:
        counts[str(v["level"])] += 1
    return counts


def level_history(session: Session, start: datetime, end: datetime) -> list[EpidemicLevel]:
    """Results in force during [start, end): computed inside it, or still current when it began."""
    rows = list(
        session.scalars(
            select(EpidemicLevel)
            .where(EpidemicLevel.checked_at >= start, EpidemicLevel.computed_at < end)
            .order_by(EpidemicLevel.ward_code, EpidemicLevel.id)
        )
    )
    return rows


LEVEL_CSV_COLUMNS = (
    "ward_code",
    "ward_name",
    "district_name",
    "computed_at",
    "checked_at",
    "level",
    "infection_level",
    "capacity",
    "rules_version",
    *(f.name for f in fields(epidemic.EpidemicInputs)),
    "explanation",
)


def levels_csv(session: Session, start: datetime, end: datetime) -> str:
    wards = {w.code: w for w in session.scalars(select(Ward))}
    districts = {d.code: d for d in session.scalars(select(District))}
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(LEVEL_CSV_COLUMNS)
    for row in level_history(session, start, end):
        ward = wards.get(row.ward_code)
        district = districts.get(ward.district_code) if ward else None
        out.writerow(
            [
                row.ward_code,
                ward.name if ward else "",
                district.name if district else "",
                row.computed_at.isoformat(),
                row.checked_at.isoformat(),
                row.level,
                row.infection_level,
                row.capacity,
                row.rules_version,
                *(row.inputs.get(f.name) for f in fields(epidemic.EpidemicInputs)),
                " | ".join(str(s.get("explanation", "")) for s in row.steps),
            ]
        )
    return buf.getvalue()


# --------------------------------------------------------------------------- care readiness advice


def reinforcement_advice(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Wards whose home-care load is rising past what their stations can absorb, worst first.

    Projected load = patients at home now + this week's new home patients again (the pace of
    the last 7 days carried one week forward, recoveries ignored: the advice errs towards
    sending help). A ward is listed when its load is growing (more new home patients than the
    week before) and the projection exceeds its stations' capacity, or the load already does.
    """
    pol = area_policy()
    figures = ward_figures(session, now)
    stations = _stations_by_ward(session)
    wards = {w.code: w for w in session.scalars(select(Ward))}
    districts = {d.code: d for d in session.scalars(select(District))}
    advice: list[dict[str, Any]] = []
    for code, f in figures.items():
        capacity = sum(s.home_patient_capacity for s in stations.get(code, []))
        growing = f.home_new_7d > f.home_new_prev_7d
        projected = f.home_patients + f.home_new_7d
        if not ((growing and projected > capacity) or f.home_patients > capacity):
            continue
        shortfall = projected - capacity
        ward = wards[code]
        advice.append(
            {
                "ward_code": code,
                "ward_name": ward.name,
                "district_name": districts[ward.district_code].name,
                "home_patients": f.home_patients,
                "new_home_patients_7d": f.home_new_7d,
                "new_home_patients_prev_7d": f.home_new_prev_7d,
                "projected_home_patients": projected,
                "station_capacity": capacity,
                "stations": len(stations.get(code, [])),
                "shortfall": shortfall,
                "extra_doctors_needed": math.ceil(max(shortfall, 0) / pol.home_patients_per_doctor),
            }
        )
    advice.sort(key=lambda a: (-a["shortfall"], -a["new_home_patients_7d"], a["ward_code"]))
    for rank, a in enumerate(advice, start=1):
        a["rank"] = rank
    return advice


def load_sample(session: Session) -> dict[str, int]:
    return import_areas(session, read_areas_csv(SAMPLE_CSV.read_text(encoding="utf-8")))
