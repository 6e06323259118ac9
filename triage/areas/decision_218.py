"""Epidemic level of a commune or ward (Decision 218/QĐ-BYT), with every step that led to it.

Pure: the indicators in, the level and its explanation out; no database and no settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Final, Generic, Literal, TypedDict, TypeVar

from kernel.errors import FieldRuleError
from triage.vocabulary import Capacity

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
    1: {Capacity.HIGH: 1, Capacity.MEDIUM: 1, Capacity.LOW: 2},
    2: {Capacity.HIGH: 1, Capacity.MEDIUM: 2, Capacity.LOW: 3},
    3: {Capacity.HIGH: 2, Capacity.MEDIUM: 3, Capacity.LOW: 4},
    4: {Capacity.HIGH: 3, Capacity.MEDIUM: 4, Capacity.LOW: 4},
}

_CAPACITIES: Final = tuple(Capacity)  # lowest first


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


def _step(
    name: str, inputs: dict[str, float | int | str | None], result: int | str, explanation: str
) -> Step:
    return {"step": name, "inputs": inputs, "result": result, "explanation": explanation}


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
        return Capacity.HIGH
    if per_10k >= 200:
        return Capacity.MEDIUM
    return Capacity.LOW


def band_free_beds(per_100k: float) -> Capacity:
    """3b: > 30 high; 10-30 medium; < 10 low."""
    if per_100k > 30:
        return Capacity.HIGH
    if per_100k >= 10:
        return Capacity.MEDIUM
    return Capacity.LOW


B = TypeVar("B", int, Capacity)


@dataclass(frozen=True, slots=True)
class _Banded(Generic[B]):
    """One indicator put in the decision's band: the step that reads it and its explanation."""

    step: str
    field: str
    counts: str  # what the number counts, as the explanation says it
    bands: str  # the decision's bands in words
    band: Callable[[float], B]

    def apply(self, inputs: EpidemicInputs) -> tuple[B, Step]:
        value: float = getattr(inputs, self.field)
        result = self.band(value)
        text = f"{value:g} {self.counts} ({self.bands}) -> {result}"
        return result, _step(self.step, {self.field: value}, result, text)


_NEW_CASES: Final = _Banded(
    "1a new cases",
    "new_cases_7d_per_100k",
    "new cases per 100,000 in 7 days",
    "<90: 1; 90 to <450: 2; 450-600: 3; >600: 4",
    band_new_cases,
)
_OXYGEN_CASES: Final = _Banded(
    "1b oxygen cases",
    "oxygen_cases_per_100k",
    "oxygen-needing cases per 100,000",
    "<1: 1; 1 to <32: 2; 32-40: 3; >40: 4",
    band_oxygen_cases,
)
_CARE_READINESS: Final = _Banded(
    "3a care readiness",
    "care_readiness_per_10k",
    "people manageable at home per 10,000",
    ">500 high; 200-500 medium; <200 low",
    band_care_readiness,
)
_FREE_BEDS: Final = _Banded(
    "3b district free beds",
    "district_free_beds_per_100k",
    "free beds per 100,000 in the district",
    ">30 high; 10-30 medium; <10 low",
    band_free_beds,
)


def _infection(level_1a: int, level_1b: int, p: EpidemicPolicy) -> tuple[int, Step]:
    infection = max(level_1a, level_1b) if p.infection_combine == "max" else min(level_1a, level_1b)
    which = "higher" if p.infection_combine == "max" else "lower"
    return infection, _step(
        "infection level from 1a and 1b",
        {"1a": level_1a, "1b": level_1b, "combine": p.infection_combine},
        infection,
        f"the {which} of {level_1a} and {level_1b} -> {infection}",
    )


def _vaccination(infection: int, i: EpidemicInputs, p: EpidemicPolicy) -> tuple[int, Step]:
    missed = []
    if i.vaccinated_share < p.vaccinated_target:
        missed.append(f"2a {i.vaccinated_share:.1%} < {p.vaccinated_target:.0%}")
    if i.high_risk_vaccinated_share < p.high_risk_vaccinated_target:
        missed.append(
            f"2b {i.high_risk_vaccinated_share:.1%} < {p.high_risk_vaccinated_target:.0%}"
        )
    raised = min(4, infection + 1) if missed else infection
    if missed:
        text = "vaccination below target (" + "; ".join(missed) + f"): {infection} + 1 -> {raised}"
        text += " (max 4)" if infection == 4 else ""
    else:
        text = f"vaccination targets met: stays {infection}"
    inputs: dict[str, float | int | str | None] = {
        "vaccinated_share": i.vaccinated_share,
        "high_risk_vaccinated_share": i.high_risk_vaccinated_share,
    }
    return raised, _step("2a/2b vaccination", inputs, raised, text)


def _capacity(capacity_3a: Capacity, capacity_3b: Capacity) -> tuple[Capacity, Step]:
    capacity = min(capacity_3a, capacity_3b, key=_CAPACITIES.index)
    return capacity, _step(
        "capacity from 3a and 3b",
        {"3a": capacity_3a, "3b": capacity_3b},
        capacity,
        f"the lower of {capacity_3a} and {capacity_3b} -> {capacity}",
    )


def _icu_beds(capacity: Capacity, i: EpidemicInputs, p: EpidemicPolicy) -> tuple[Capacity, Step]:
    icu = i.province_icu_beds_per_100k
    if icu is None:
        lower = p.missing_icu_lowers_capacity
        text = "3c not reported, " + ("counted as not met" if lower else "ignored")
    else:
        lower = icu < p.icu_beds_target_per_100k
        target = f"{p.icu_beds_target_per_100k:g}"
        text = f"3c {icu:g} ICU beds per 100,000 in the province " + (
            f"< {target}: not met" if lower else f">= {target}: met"
        )
    if lower:
        lowered = _CAPACITIES[max(_CAPACITIES.index(capacity) - 1, 0)]
        text += f"; {capacity} one step lower -> {lowered}"
    else:
        lowered = capacity
        text += f"; stays {capacity}"
    return lowered, _step(
        "3c province ICU beds", {"province_icu_beds_per_100k": icu}, lowered, text
    )


def _level_table(infection: int, capacity: Capacity) -> tuple[int, Step]:
    level = LEVEL_TABLE[infection][capacity]
    return level, _step(
        "level table",
        {"infection_level": infection, "capacity": capacity},
        level,
        f"infection level {infection} with {capacity} capacity -> level {level}",
    )


def _deaths(level: int, i: EpidemicInputs, p: EpidemicPolicy) -> tuple[int, Step]:
    deaths, limit = i.deaths_7d_per_100k, p.deaths_limit_per_100k
    if deaths > limit:
        raised = min(4, level + 1)
        text = f"{deaths:g} deaths per 100,000 in 7 days > {limit:g}: {level} + 1 -> {raised}"
        text += " (max 4)" if level == 4 else ""
    else:
        raised = level
        text = f"{deaths:g} deaths per 100,000 in 7 days <= {limit:g}: stays {level}"
    return raised, _step("1c deaths", {"deaths_7d_per_100k": deaths}, raised, text)


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
    """The decision's three steps: infection level, response capacity, then the level."""
    level_1a, new_cases = _NEW_CASES.apply(inputs)
    level_1b, oxygen_cases = _OXYGEN_CASES.apply(inputs)
    combined, infection_step = _infection(level_1a, level_1b, policy)
    infection, vaccination_step = _vaccination(combined, inputs, policy)

    capacity_3a, care_readiness = _CARE_READINESS.apply(inputs)
    capacity_3b, free_beds = _FREE_BEDS.apply(inputs)
    lower_of, capacity_step = _capacity(capacity_3a, capacity_3b)
    capacity, icu_step = _icu_beds(lower_of, inputs, policy)

    from_table, table_step = _level_table(infection, capacity)
    level, deaths_step = _deaths(from_table, inputs, policy)
    risk, colour = LEVELS[level]
    level_step = _step("level", {"level": level}, level, f"level {level}: {risk} risk ({colour})")
    return EpidemicResult(
        level=level,
        risk=risk,
        colour=colour,
        infection_level=infection,
        capacity=capacity,
        steps=(
            new_cases,
            oxygen_cases,
            infection_step,
            vaccination_step,
            care_readiness,
            free_beds,
            capacity_step,
            icu_step,
            table_step,
            deaths_step,
            level_step,
        ),
        rules_version=policy.version,
        inputs=inputs,
    )
