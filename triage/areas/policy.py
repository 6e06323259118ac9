"""The area rules in force: Decision 218's policy and the area policy, with the settings' overrides."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kernel.settings import get_settings
from triage.areas.decision_218 import EpidemicPolicy


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


def epidemic_policy() -> EpidemicPolicy:
    """Decision 218's policy with HOTLINE_EPIDEMIC_POLICY_OVERRIDES; an unknown field is refused."""
    known = {f.name for f in fields(EpidemicPolicy)}
    given = dict(get_settings().epidemic_policy_overrides)
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown epidemic policy fields: {', '.join(sorted(unknown))}")
    return EpidemicPolicy(**given)


def area_policy() -> AreaPolicy:
    """The area policy with HOTLINE_AREA_POLICY_OVERRIDES (unknown fields are ignored)."""
    known = {f.name for f in fields(AreaPolicy)}
    given = {k: v for k, v in get_settings().area_policy_overrides.items() if k in known}
    if "covid_bed_types" in given:
        given["covid_bed_types"] = tuple(given["covid_bed_types"])
    return AreaPolicy(**given)
