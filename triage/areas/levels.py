"""Each ward's epidemic level: computed from live indicators, stored with its explanation, exported."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.db import utcnow
from triage.areas.decision_218 import LEVELS, EpidemicInputs, assess
from triage.areas.indicators import ward_inputs
from triage.areas.models import District, EpidemicLevel, Ward
from triage.areas.policy import epidemic_policy


def recompute_levels(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Assess every ward; store a new result when its inputs or rules changed (idempotent)."""
    now = now or utcnow()
    pol = epidemic_policy()
    policy = asdict(pol)
    latest = latest_levels_by_ward(session)
    changed = unchanged = 0
    for code, (inputs, sources) in ward_inputs(session, now).items():
        result = assess(inputs, pol).to_dict()
        prev = latest.get(code)
        if (
            prev is not None
            and prev.inputs == result["inputs"]
            and prev.rules_version == result["rules_version"]
            and prev.policy == policy
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
                policy=policy,
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
    """Every stored result of one ward, newest first."""
    return list(
        session.scalars(
            select(EpidemicLevel)
            .where(EpidemicLevel.ward_code == ward_code)
            .order_by(EpidemicLevel.id.desc())
        )
    )


def level_view(row: EpidemicLevel, ward: Ward | None, district: District | None) -> dict[str, Any]:
    risk, colour = LEVELS[row.level]
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


def _ward_and_district(
    session: Session,
) -> dict[str, tuple[Ward, District | None]]:
    districts = {d.code: d for d in session.scalars(select(District))}
    return {w.code: (w, districts.get(w.district_code)) for w in session.scalars(select(Ward))}


def current_levels(session: Session) -> list[dict[str, Any]]:
    """Every ward's latest level with its explanation, by district then ward name."""
    places = _ward_and_district(session)
    views = [
        level_view(row, *places.get(code, (None, None)))
        for code, row in latest_levels_by_ward(session).items()
    ]
    views.sort(key=lambda v: (v["district_name"] or "", v["ward_name"] or ""))
    return views


def level_summary(levels: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many wards are at each level, "1" to "4"."""
    counts = {str(n): 0 for n in range(1, 5)}
    for v in levels:
        counts[str(v["level"])] += 1
    return counts


def level_history(session: Session, start: datetime, end: datetime) -> list[EpidemicLevel]:
    """Results in force during [start, end): computed inside it, or still current when it began."""
    return list(
        session.scalars(
            select(EpidemicLevel)
            .where(EpidemicLevel.checked_at >= start, EpidemicLevel.computed_at < end)
            .order_by(EpidemicLevel.ward_code, EpidemicLevel.id)
        )
    )


_INPUTS: Final = tuple(f.name for f in fields(EpidemicInputs))
LEVEL_CSV_COLUMNS: Final = (
    "ward_code",
    "ward_name",
    "district_name",
    "computed_at",
    "checked_at",
    "level",
    "infection_level",
    "capacity",
    "rules_version",
    *_INPUTS,
    "explanation",
)


def levels_csv(session: Session, start: datetime, end: datetime) -> str:
    """One row per result in force during [start, end), with its inputs and every step's words."""
    places = _ward_and_district(session)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(LEVEL_CSV_COLUMNS)
    for row in level_history(session, start, end):
        ward, district = places.get(row.ward_code, (None, None))
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
                *(row.inputs.get(name) for name in _INPUTS),
                " | ".join(str(s.get("explanation", "")) for s in row.steps),
            ]
        )
    return buf.getvalue()
