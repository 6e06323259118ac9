"""Each ward's Decision 218 indicators from live data, and the counts each one came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db import utcnow
from triage.areas.beds import DistrictBeds, ProvinceIcuBeds, bed_figures
from triage.areas.decision_218 import EpidemicInputs, per_population
from triage.areas.figures import WINDOW_DAYS, WardFigures, Window, ward_figures
from triage.areas.models import District, MedicalStation, Ward, WardVaccination
from triage.areas.policy import area_policy
from triage.areas.stations import home_patient_capacity, stations_by_ward
from triage.areas.wards import district_population, latest_vaccination, province_population


@dataclass(frozen=True, slots=True)
class _WardData:
    """Everything one ward's indicators are computed from."""

    ward: Ward
    district: District
    figures: WardFigures
    vaccination: WardVaccination | None
    stations: list[MedicalStation]
    beds: DistrictBeds
    icu: ProvinceIcuBeds | None
    district_population: int
    province_population: int


def _inputs(d: _WardData) -> EpidemicInputs:
    ward, f, vac = d.ward, d.figures, d.vaccination
    # Rates are kept unrounded: a rounded 6.0002 deaths per 100,000 would hide a band edge.
    return EpidemicInputs(
        new_cases_7d_per_100k=per_population(f.new_cases_7d, ward.population),
        oxygen_cases_per_100k=per_population(sum(f.oxygen_daily) / WINDOW_DAYS, ward.population),
        deaths_7d_per_100k=per_population(f.deaths_7d, ward.population),
        # No imported figure yet reads as 0%: nobody looks safer for not reporting.
        vaccinated_share=vac.fully_vaccinated / ward.population if vac else 0.0,
        high_risk_vaccinated_share=(
            vac.high_risk_fully_vaccinated / ward.high_risk_population
            if vac and ward.high_risk_population
            else (1.0 if vac else 0.0)
        ),
        care_readiness_per_10k=per_population(
            home_patient_capacity(d.stations), ward.population, 10_000
        ),
        district_free_beds_per_100k=per_population(d.beds.free_beds, d.district_population),
        province_icu_beds_per_100k=(
            per_population(d.icu.icu_beds, d.province_population) if d.icu else None
        ),
    )


def _sources(d: _WardData, window: Window) -> dict[str, Any]:
    ward, f, vac = d.ward, d.figures, d.vaccination
    return {
        "ward": {"code": ward.code, "name": ward.name, "population": ward.population},
        "window": {"from": window.first.isoformat(), "to": window.today.isoformat()},
        "1a": {"new_cases_7d": f.new_cases_7d},
        "1b": {"oxygen_patients_per_day": f.oxygen_daily},
        "1c": {"deaths_7d": f.deaths_7d},
        "2a_2b": {
            "as_of": vac.as_of.isoformat() if vac else None,
            "fully_vaccinated": vac.fully_vaccinated if vac else None,
            "high_risk_fully_vaccinated": vac.high_risk_fully_vaccinated if vac else None,
            "high_risk_population": ward.high_risk_population,
        },
        "3a": {
            "stations": len(d.stations),
            "home_patient_capacity": home_patient_capacity(d.stations),
        },
        "3b": {
            "district": d.district.name,
            "district_population": d.district_population,
            "free_beds": d.beds.free_beds,
            "fresh_pools": d.beds.fresh_pools,
            "stale_pools_left_out": d.beds.stale_pools,
            "hospitals": sorted(d.beds.hospitals),
        },
        "3c": {
            "province": d.district.province_code,
            "province_population": d.province_population,
            "staffed_icu_beds": d.icu.icu_beds if d.icu else None,
        },
    }


def ward_inputs(
    session: Session, now: datetime | None = None
) -> dict[str, tuple[EpidemicInputs, dict[str, Any]]]:
    """Every ward's indicators, and the counts each came from."""
    now = now or utcnow()
    pol = area_policy()
    wards = list(session.scalars(select(Ward)))
    districts = {d.code: d for d in session.scalars(select(District))}
    figures = ward_figures(session, now)
    vaccination = latest_vaccination(session)
    stations = stations_by_ward(session)
    beds_by_district, icu_by_province = bed_figures(session, pol, now)
    district_pops = {c: district_population(session, c) for c in districts}
    province_pops = {
        c: province_population(session, c) for c in {d.province_code for d in districts.values()}
    }
    window = Window.ending(now)
    out = {}
    for ward in wards:
        district = districts[ward.district_code]
        data = _WardData(
            ward=ward,
            district=district,
            figures=figures[ward.code],
            vaccination=vaccination.get(ward.code),
            stations=stations.get(ward.code, []),
            beds=beds_by_district.get(district.code, DistrictBeds()),
            icu=icu_by_province.get(district.province_code),
            district_population=district_pops[district.code] or ward.population,
            province_population=province_pops[district.province_code] or ward.population,
        )
        out[ward.code] = (_inputs(data), _sources(data, window))
    return out
