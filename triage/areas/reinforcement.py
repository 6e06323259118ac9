"""Reinforcement advice: wards whose home-care load outgrows what their stations can absorb."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.areas.figures import ward_figures
from triage.areas.models import District, Ward
from triage.areas.policy import area_policy
from triage.areas.stations import home_patient_capacity, stations_by_ward


def reinforcement_advice(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Wards whose home-care load is rising past what their stations can absorb, worst first.

    Projected load = patients at home now + this week's new home patients again (the pace of
    the last 7 days carried one week forward, recoveries ignored: the advice errs towards
    sending help). A ward is listed when its load is growing (more new home patients than the
    week before) and the projection exceeds its stations' capacity, or the load already does.
    """
    pol = area_policy()
    figures = ward_figures(session, now)
    stations = stations_by_ward(session)
    wards = {w.code: w for w in session.scalars(select(Ward))}
    districts = {d.code: d for d in session.scalars(select(District))}
    advice: list[dict[str, Any]] = []
    for code, f in figures.items():
        capacity = home_patient_capacity(stations.get(code, []))
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
