"""Ward epidemic level against Decision 218/QĐ-BYT as docs/clinical-rules.md writes it down."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from triage.areas.decision_218 import (
    EpidemicInputError,
    EpidemicInputs,
    EpidemicPolicy,
    EpidemicResult,
    assess,
    per_population,
)

# Infection level 1, high capacity, every target met: level 1.
CALM: dict[str, Any] = {
    "new_cases_7d_per_100k": 0,
    "oxygen_cases_per_100k": 0,
    "deaths_7d_per_100k": 0,
    "vaccinated_share": 0.95,
    "high_risk_vaccinated_share": 0.98,
    "care_readiness_per_10k": 600,
    "district_free_beds_per_100k": 50,
    "province_icu_beds_per_100k": 5,
}

# Values that put each part at a chosen band, read from the table.
CASES_FOR_INFECTION = {1: 50, 2: 100, 3: 500, 4: 700}
READINESS_FOR_CAPACITY = {"high": 600, "medium": 300, "low": 100}


def ward(**changes: Any) -> EpidemicInputs:
    return EpidemicInputs(**{**CALM, **changes})


def step(result: EpidemicResult, name: str) -> Any:
    (found,) = [s for s in result.steps if s["step"] == name]
    return found["result"]


def test_calm_ward_is_level_1_green() -> None:
    result = assess(ward())
    assert (result.level, result.colour, result.risk) == (1, "green", "low")
    assert (result.infection_level, result.capacity) == (1, "high")
    assert result.rules_version == "qd-218-byt-2022/r1"


@pytest.mark.parametrize(
    ("cases", "level"),
    [
        (0, 1),
        (89.99, 1),
        (90, 2),
        (449.99, 2),
        (450, 3),
        (600, 3),
        (600.01, 4),
        (5000, 4),
    ],
)
def test_band_1a_new_cases(cases: float, level: int) -> None:
    result = assess(ward(new_cases_7d_per_100k=cases))
    assert step(result, "1a new cases") == level
    assert result.infection_level == level


@pytest.mark.parametrize(
    ("oxygen", "level"),
    [(0, 1), (0.99, 1), (1, 2), (31.99, 2), (32, 3), (40, 3), (40.01, 4), (200, 4)],
)
def test_band_1b_oxygen_cases(oxygen: float, level: int) -> None:
    result = assess(ward(oxygen_cases_per_100k=oxygen))
    assert step(result, "1b oxygen cases") == level
    assert result.infection_level == level


@pytest.mark.parametrize(
    ("readiness", "capacity"),
    [
        (1000, "high"),
        (500.01, "high"),
        (500, "medium"),
        (200, "medium"),
        (199.99, "low"),
        (0, "low"),
    ],
)
def test_band_3a_care_readiness(readiness: float, capacity: str) -> None:
    result = assess(ward(care_readiness_per_10k=readiness))
    assert step(result, "3a care readiness") == capacity
    assert result.capacity == capacity


@pytest.mark.parametrize(
    ("beds", "capacity"),
    [(100, "high"), (30.01, "high"), (30, "medium"), (10, "medium"), (9.99, "low"), (0, "low")],
)
def test_band_3b_district_free_beds(beds: float, capacity: str) -> None:
    result = assess(ward(district_free_beds_per_100k=beds))
    assert step(result, "3b district free beds") == capacity
    assert result.capacity == capacity


@pytest.mark.parametrize(
    ("cases", "oxygen", "infection"),
    [(50, 35, 3), (700, 0, 4), (100, 45, 4), (500, 5, 3), (0, 0, 1)],
)
def test_infection_level_is_the_higher_of_1a_and_1b(
    cases: float, oxygen: float, infection: int
) -> None:
    result = assess(ward(new_cases_7d_per_100k=cases, oxygen_cases_per_100k=oxygen))
    assert result.infection_level == infection


def test_combining_1a_and_1b_is_a_setting() -> None:
    inputs = ward(new_cases_7d_per_100k=50, oxygen_cases_per_100k=35)
    assert assess(inputs, EpidemicPolicy(infection_combine="min")).infection_level == 1


@pytest.mark.parametrize(
    ("readiness", "beds", "capacity"),
    [
        (600, 20, "medium"),
        (300, 50, "medium"),
        (600, 5, "low"),
        (100, 50, "low"),
        (300, 20, "medium"),
    ],
)
def test_capacity_is_the_lower_of_3a_and_3b(readiness: float, beds: float, capacity: str) -> None:
    result = assess(ward(care_readiness_per_10k=readiness, district_free_beds_per_100k=beds))
    assert result.capacity == capacity


@pytest.mark.parametrize(
    ("shares", "infection"),
    [
        ({"vaccinated_share": 0.75, "high_risk_vaccinated_share": 0.90}, 2),
        ({"vaccinated_share": 0.7499}, 3),
        ({"high_risk_vaccinated_share": 0.8999}, 3),
        # Missing both still rises by one only.
        ({"vaccinated_share": 0.5, "high_risk_vaccinated_share": 0.5}, 3),
        ({"vaccinated_share": 1, "high_risk_vaccinated_share": 1}, 2),
    ],
)
def test_vaccination_below_target_raises_infection_by_one(
    shares: dict[str, float], infection: int
) -> None:
    result = assess(ward(new_cases_7d_per_100k=100, **shares))
    assert result.infection_level == infection


def test_vaccination_rise_is_capped_at_4() -> None:
    result = assess(ward(new_cases_7d_per_100k=700, vaccinated_share=0.1))
    assert result.infection_level == 4
    assert "max 4" in result.steps[3]["explanation"]


@pytest.mark.parametrize(
    ("icu", "capacity"),
    [(4, "high"), (10, "high"), (3.99, "medium"), (0, "medium"), (None, "medium")],
)
def test_3c_not_met_lowers_capacity_one_step(icu: float | None, capacity: str) -> None:
    assert assess(ward(province_icu_beds_per_100k=icu)).capacity == capacity


@pytest.mark.parametrize(("readiness", "capacity"), [(600, "medium"), (300, "low"), (100, "low")])
def test_3c_step_down_from_each_capacity(readiness: float, capacity: str) -> None:
    inputs = ward(care_readiness_per_10k=readiness, province_icu_beds_per_100k=2)
    assert assess(inputs).capacity == capacity


def test_unreported_3c_can_be_ignored_by_setting() -> None:
    policy = EpidemicPolicy(missing_icu_lowers_capacity=False)
    assert assess(ward(province_icu_beds_per_100k=None), policy).capacity == "high"


@pytest.mark.parametrize(
    ("infection", "capacity", "level"),
    [
        (1, "high", 1),
        (1, "medium", 1),
        (1, "low", 2),
        (2, "high", 1),
        (2, "medium", 2),
        (2, "low", 3),
        (3, "high", 2),
        (3, "medium", 3),
        (3, "low", 4),
        (4, "high", 3),
        (4, "medium", 4),
        (4, "low", 4),
    ],
)
def test_level_table(infection: int, capacity: str, level: int) -> None:
    result = assess(
        ward(
            new_cases_7d_per_100k=CASES_FOR_INFECTION[infection],
            care_readiness_per_10k=READINESS_FOR_CAPACITY[capacity],
        )
    )
    assert (result.infection_level, result.capacity, result.level) == (infection, capacity, level)


@pytest.mark.parametrize(
    ("deaths", "infection", "level"),
    [(6, 1, 1), (6.01, 1, 2), (0, 3, 2), (6, 3, 2), (6.01, 3, 3), (6.01, 4, 4)],
)
def test_deaths_above_6_per_100k_add_one(deaths: float, infection: int, level: int) -> None:
    inputs = ward(
        deaths_7d_per_100k=deaths,
        new_cases_7d_per_100k=CASES_FOR_INFECTION[infection],
        care_readiness_per_10k=READINESS_FOR_CAPACITY["high" if infection < 4 else "medium"],
    )
    assert assess(inputs).level == level


@pytest.mark.parametrize(
    ("level", "colour", "risk"),
    [(1, "green", "low"), (2, "yellow", "medium"), (3, "orange", "high"), (4, "red", "very high")],
)
def test_colours(level: int, colour: str, risk: str) -> None:
    infection = {1: 1, 2: 2, 3: 3, 4: 4}[level]
    capacity = {1: "high", 2: "medium", 3: "medium", 4: "medium"}[level]
    result = assess(
        ward(
            new_cases_7d_per_100k=CASES_FOR_INFECTION[infection],
            care_readiness_per_10k=READINESS_FOR_CAPACITY[capacity],
        )
    )
    assert (result.level, result.colour, result.risk) == (level, colour, risk)


# ---------------------------------------------------------------------------
# The HCMC examples of February 2022


def test_hcmc_vaccination_below_target_lifts_a_ward_to_level_2() -> None:
    medium_capacity = {"care_readiness_per_10k": 300}
    assert assess(ward(**medium_capacity)).level == 1
    lifted = assess(ward(vaccinated_share=0.70, **medium_capacity))
    assert (lifted.infection_level, lifted.level) == (2, 2)


def test_hcmc_infection_2_with_medium_capacity_is_level_2() -> None:
    result = assess(ward(new_cases_7d_per_100k=150, care_readiness_per_10k=300))
    assert (result.infection_level, result.capacity, result.level) == (2, "medium", 2)


def test_hcmc_infection_3_with_high_capacity_is_level_2() -> None:
    result = assess(ward(oxygen_cases_per_100k=35))
    assert (result.infection_level, result.capacity, result.level) == (3, "high", 2)


@pytest.mark.parametrize(("population", "level"), [(16_666, 2), (10_000, 2), (16_667, 1)])
def test_hcmc_single_death_in_a_small_ward(population: int, level: int) -> None:
    deaths = 1 * 100_000 / population
    assert per_population(1, population) == pytest.approx(deaths)
    assert assess(ward(deaths_7d_per_100k=deaths)).level == level


# ---------------------------------------------------------------------------
# Explanation and refusals


def test_every_step_is_recorded_in_words() -> None:
    result = assess(ward(vaccinated_share=0.6, province_icu_beds_per_100k=None)).to_dict()
    assert [s["step"] for s in result["steps"]] == [
        "1a new cases",
        "1b oxygen cases",
        "infection level from 1a and 1b",
        "2a/2b vaccination",
        "3a care readiness",
        "3b district free beds",
        "capacity from 3a and 3b",
        "3c province ICU beds",
        "level table",
        "1c deaths",
        "level",
    ]
    for s in result["steps"]:
        assert set(s) == {"step", "inputs", "result", "explanation"}
        assert s["explanation"]
    assert "below target" in result["steps"][3]["explanation"]
    assert "not reported" in result["steps"][7]["explanation"]
    assert result["inputs"]["vaccinated_share"] == 0.6
    assert result["rules_version"] == "qd-218-byt-2022/r1"
    assert {"level", "colour", "risk", "infection_level", "capacity"} <= set(result)


def test_policy_targets_are_settings() -> None:
    strict = EpidemicPolicy(version="qd-218-byt-2022/r1-strict", vaccinated_target=0.97)
    result = assess(ward(), strict)
    assert result.infection_level == 2
    assert result.rules_version == "qd-218-byt-2022/r1-strict"
    assert assess(ward(deaths_7d_per_100k=3), EpidemicPolicy(deaths_limit_per_100k=2)).level == 2
    assert assess(ward(), EpidemicPolicy(icu_beds_target_per_100k=6)).capacity == "medium"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("new_cases_7d_per_100k", -1),
        ("oxygen_cases_per_100k", -0.1),
        ("deaths_7d_per_100k", -1),
        ("vaccinated_share", -0.1),
        ("vaccinated_share", 1.01),
        ("high_risk_vaccinated_share", 1.5),
        ("care_readiness_per_10k", float("nan")),
        ("district_free_beds_per_100k", float("inf")),
        ("province_icu_beds_per_100k", -2),
        ("new_cases_7d_per_100k", "12"),
        ("deaths_7d_per_100k", None),
        ("vaccinated_share", True),
    ],
)
def test_refuses_bad_inputs(field: str, value: Any) -> None:
    with pytest.raises(EpidemicInputError) as caught:
        ward(**{field: value})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert caught.value.detail == [{"field": field, "rule": caught.value.rule}]


def test_per_population_refuses_empty_ward() -> None:
    with pytest.raises(EpidemicInputError) as caught:
        per_population(1, 0)
    assert caught.value.field == "population"


def test_inputs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ward().vaccinated_share = 0.1  # type: ignore[misc]
