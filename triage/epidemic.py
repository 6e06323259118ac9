"""Epidemic level of a commune or ward (Decision 218/QĐ-BYT), with every step that led to it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Final, Literal, TypedDict

from kernel.errors import FieldRuleError

Capacity = Literal["high", "medium", "low"]

RULES_VERSION: Final = "qd-218-byt-2022/r1"

# Level -> (risk in words, colour name), as the decision names them.
LEVELS: Final[dict[int, tuple[str, str]]] = {
    1: ("low", "green"),
    2: ("medium", "yellow"),
    3: ("high", "orange"),
    4: ("very high", "red"),
}

# The decision's table: infection level -> capacity -> epidemic level.
LEVEL_TABLE: Final[dict[int, dict[Capacity, int]]] = {
    1: {"high": 1, "medium": 1, "low": 2},
    2: {"high": 1, "medium": 2, "low": 3},
    3: {"high": 2, "medium": 3, "low": 4},
    4: {"high": 3, "medium": 4, "low": 4},
}

_LOWER: Final[dict[Capacity, Capacity]] = {"high": "medium", "medium": "low", "low": "low"}
_RANK: Final[dict[Capacity, int]] = {"low": 0, "medium": 1, "high": 2}


class EpidemicInputError(FieldRuleError):
    """An indicator that cannot be right; names the field and the rule."""

    code: ClassVar[str] = "invalid_epidemic_input"


def per_population(count: float, population: float, per: float = 100_000) -> float:
    """A count as a rate: per_population(1, 16_666) is 6.0002 deaths per 100,000."""
    if population <= 0:
        raise EpidemicInputError("population", population, "must be greater than 0")
    return count * per / population


@dataclass(frozen=True, slots=True, kw_only=True)
class EpidemicInputs:
    """The decision's indicators for one ward; 3b and 3c are district / province figures.

    province_icu_beds_per_100k may be None (not reported); the policy says what that means.
    """

    new_cases_7d_per_100k: float  # 1a
    oxygen_cases_per_100k: float  # 1b, 7-day average
    deaths_7d_per_100k: float  # 1c
    vaccinated_share: float  # 2a, 0-1
    high_risk_vaccinated_share: float  # 2b, 0-1
    care_readiness_per_10k: float  # 3a
    district_free_beds_per_100k: float  # 3b
    province_icu_beds_per_100k: float | None = None  # 3c

    _SHARES: ClassVar[tuple[str, ...]] = ("vaccinated_share", "high_risk_vaccinated_share")

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None and name == "province_icu_beds_per_100k":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EpidemicInputError(name, value, "must be a number")
            if not math.isfinite(value) or value < 0:
                raise EpidemicInputError(name, value, "must be 0 or more")
            if name in self._SHARES and value > 1:
                raise EpidemicInputError(name, value, "must be a share between 0 and 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class EpidemicPolicy:
    """Our readings where the decision is silent, and its targets, as overridable settings."""

    version: str = RULES_VERSION
    # The decision gives bands for 1a and 1b but not how they combine; the higher one wins.
    infection_combine: Literal["max", "min"] = "max"
    # An unreported 3c is treated as not met: nobody should look safer for not reporting.
    missing_icu_lowers_capacity: bool = True
    vaccinated_target: float = 0.75
    high_risk_vaccinated_target: float = 0.90
    deaths_limit_per_100k: float = 6.0
    icu_beds_target_per_100k: float = 4.0


DEFAULT_EPIDEMIC_POLICY: Final = EpidemicPolicy()


class Step(TypedDict):
    step: str
    inputs: dict[str, float | int | str | None]
    result: int | str | bool
    explanation: str


def band_new_cases(per_100k: float) -> int:
    """1a: < 90 -> 1; 90 to < 450 -> 2; 450 to 600 -> 3; > 600 -> 4."""
    if per_100k < 90:
        return 1
    if per_100k < 450:
        return 2
    if per_100k <= 600:
        return 3
    return 4


def band_oxygen_cases(per_100k: float) -> int:
    """1b: < 1 -> 1; 1 to < 32 -> 2; 32 to 40 -> 3; > 40 -> 4."""
    if per_100k < 1:
        return 1
    if per_100k < 32:
        return 2
    if per_100k <= 40:
        return 3
    return 4


def band_care_readiness(per_10k: float) -> Capacity:
    """3a: > 500 high; 200-500 medium; < 200 low."""
    if per_10k > 500:
        return "high"
    if per_10k >= 200:
        return "medium"
    return "low"


def band_free_beds(per_100k: float) -> Capacity:
    """3b: > 30 high; 10-30 medium; < 10 low."""
    if per_100k > 30:
        return "high"
    if per_100k >= 10:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class EpidemicResult:
    level: int
    risk: str
    colour: str
    infection_level: int
    capacity: Capacity
    steps: tuple[Step, ...]
    rules_version: str
    inputs: EpidemicInputs

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "risk": self.risk,
            "colour": self.colour,
            "infection_level": self.infection_level,
            "capacity": self.capacity,
            "steps": [dict(s) for s in self.steps],
            "rules_version": self.rules_version,
            "inputs": asdict(self.inputs),
        }


def assess(
    inputs: EpidemicInputs, policy: EpidemicPolicy = DEFAULT_EPIDEMIC_POLICY
) -> EpidemicResult:
    i, p = inputs, policy
    steps: list[Step] = []

    # Step 1: infection level.
    level_1a = band_new_cases(i.new_cases_7d_per_100k)
    steps.append(
        {
            "step": "1a new cases",
            "inputs": {"new_cases_7d_per_100k": i.new_cases_7d_per_100k},
            "result": level_1a,
            "explanation": f"{i.new_cases_7d_per_100k:g} new cases per 100,000 in 7 days "
            f"(<90: 1; 90 to <450: 2; 450-600: 3; >600: 4) -> {level_1a}",
        }
    )
    level_1b = band_oxygen_cases(i.oxygen_cases_per_100k)
    steps.append(
        {
            "step": "1b oxygen cases",
            "inputs": {"oxygen_cases_per_100k": i.oxygen_cases_per_100k},
            "result": level_1b,
            "explanation": f"{i.oxygen_cases_per_100k:g} oxygen-needing cases per 100,000 "
            f"(<1: 1; 1 to <32: 2; 32-40: 3; >40: 4) -> {level_1b}",
        }
    )
    combine = max if p.infection_combine == "max" else min
    infection = combine(level_1a, level_1b)
    steps.append(
        {
            "step": "infection level from 1a and 1b",
            "inputs": {"1a": level_1a, "1b": level_1b, "combine": p.infection_combine},
            "result": infection,
            "explanation": f"the {'higher' if p.infection_combine == 'max' else 'lower'} "
            f"of {level_1a} and {level_1b} -> {infection}",
        }
    )
    missed = []
    if i.vaccinated_share < p.vaccinated_target:
        missed.append(f"2a {i.vaccinated_share:.1%} < {p.vaccinated_target:.0%}")
    if i.high_risk_vaccinated_share < p.high_risk_vaccinated_target:
        missed.append(
            f"2b {i.high_risk_vaccinated_share:.1%} < {p.high_risk_vaccinated_target:.0%}"
        )
    before = infection
    if missed:
        infection = min(4, infection + 1)
        vaccination_text = (
            "vaccination below target (" + "; ".join(missed) + f"): {before} + 1 -> {infection}"
        )
    else:
        vaccination_text = f"vaccination targets met: stays {infection}"
    steps.append(
        {
            "step": "2a/2b vaccination",
            "inputs": {
                "vaccinated_share": i.vaccinated_share,
                "high_risk_vaccinated_share": i.high_risk_vaccinated_share,
            },
            "result": infection,
            "explanation": vaccination_text + (" (max 4)" if missed and before == 4 else ""),
        }
    )

    # Step 2: response capacity.
    capacity_3a = band_care_readiness(i.care_readiness_per_10k)
    steps.append(
        {
            "step": "3a care readiness",
            "inputs": {"care_readiness_per_10k": i.care_readiness_per_10k},
            "result": capacity_3a,
            "explanation": f"{i.care_readiness_per_10k:g} people manageable at home per 10,000 "
            f"(>500 high; 200-500 medium; <200 low) -> {capacity_3a}",
        }
    )
    capacity_3b = band_free_beds(i.district_free_beds_per_100k)
    steps.append(
        {
            "step": "3b district free beds",
            "inputs": {"district_free_beds_per_100k": i.district_free_beds_per_100k},
            "result": capacity_3b,
            "explanation": f"{i.district_free_beds_per_100k:g} free beds per 100,000 in the "
            f"district (>30 high; 10-30 medium; <10 low) -> {capacity_3b}",
        }
    )
    capacity: Capacity = min(capacity_3a, capacity_3b, key=_RANK.__getitem__)
    steps.append(
        {
            "step": "capacity from 3a and 3b",
            "inputs": {"3a": capacity_3a, "3b": capacity_3b},
            "result": capacity,
            "explanation": f"the lower of {capacity_3a} and {capacity_3b} -> {capacity}",
        }
    )
    icu = i.province_icu_beds_per_100k
    if icu is None:
        lower = p.missing_icu_lowers_capacity
        icu_text = "3c not reported, " + ("counted as not met" if lower else "ignored")
    else:
        lower = icu < p.icu_beds_target_per_100k
        icu_text = f"3c {icu:g} ICU beds per 100,000 in the province " + (
            f"< {p.icu_beds_target_per_100k:g}: not met"
            if lower
            else f">= {p.icu_beds_target_per_100k:g}: met"
        )
    before_capacity = capacity
    if lower:
        capacity = _LOWER[capacity]
        icu_text += f"; {before_capacity} one step lower -> {capacity}"
    else:
        icu_text += f"; stays {capacity}"
    steps.append(
        {
            "step": "3c province ICU beds",
            "inputs": {"province_icu_beds_per_100k": icu},
            "result": capacity,
            "explanation": icu_text,
        }
    )

    # Step 3: level from the table, then deaths.
    level = LEVEL_TABLE[infection][capacity]
    steps.append(
        {
            "step": "level table",
            "inputs": {"infection_level": infection, "capacity": capacity},
            "result": level,
            "explanation": f"infection level {infection} with {capacity} capacity -> level {level}",
        }
    )
    deaths = i.deaths_7d_per_100k
    if deaths > p.deaths_limit_per_100k:
        before_level = level
        level = min(4, level + 1)
        deaths_text = (
            f"{deaths:g} deaths per 100,000 in 7 days > {p.deaths_limit_per_100k:g}: "
            f"{before_level} + 1 -> {level}" + (" (max 4)" if before_level == 4 else "")
        )
    else:
        deaths_text = (
            f"{deaths:g} deaths per 100,000 in 7 days <= {p.deaths_limit_per_100k:g}: stays {level}"
        )
    steps.append(
        {
            "step": "1c deaths",
            "inputs": {"deaths_7d_per_100k": deaths},
            "result": level,
            "explanation": deaths_text,
        }
    )
    risk, colour = LEVELS[level]
    steps.append(
        {
            "step": "level",
            "inputs": {"level": level},
            "result": level,
            "explanation": f"level {level}: {risk} risk ({colour})",
        }
    )
    return EpidemicResult(
        level=level,
        risk=risk,
        colour=colour,
        infection_level=infection,
        capacity=capacity,
        steps=tuple(steps),
        rules_version=p.version,
        inputs=i,
    )
