"""NEWS2, warning signs, severity and disposition against the tables in docs/clinical-rules.md."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from tests.helpers import STABLE_VITALS
from triage.scoring.news2 import news2
from triage.scoring.result import score
from triage.scoring.rules import (
    DEFAULT_POLICY,
    MOH_261_2022,
    MOH_4377_2021,
    RULE_SETS,
    Policy,
    RuleSet,
)
from triage.scoring.severity import severity
from triage.scoring.vitals import SYMPTOMS, Vitals, VitalsOutOfRange
from triage.scoring.warning_signs import WARNING_SIGNS, rr_warning_threshold, warning_signs


def vitals(age: float = 40, **kw: Any) -> Vitals:
    return Vitals(age_years=age, **kw)


def normal(age: float = 40, **kw: Any) -> Vitals:
    return Vitals(age_years=age, **{**STABLE_VITALS, **kw})


# ---------------------------------------------------------------------------
# Rule sets


def test_rule_sets_are_versioned_and_selectable() -> None:
    assert RULE_SETS["moh-261-2022"] is MOH_261_2022
    assert RULE_SETS["moh-4377-2021"] is MOH_4377_2021
    assert MOH_261_2022.version == "news2-rcp-2017/r2+moh-261-2022/r1"
    assert MOH_4377_2021.version == "news2-rcp-2017/r2+moh-4377-2021/r1"
    assert MOH_261_2022.date == dt.date(2022, 1, 31)
    assert MOH_4377_2021.date == dt.date(2021, 9, 11)
    assert (MOH_261_2022.adult_rr_warning_from, MOH_261_2022.spo2_warning_at_or_below) == (20, 96)
    assert (MOH_4377_2021.adult_rr_warning_from, MOH_4377_2021.spo2_warning_at_or_below) == (
        21,
        95,
    )
    assert "261" in MOH_261_2022.source and "4377" in MOH_4377_2021.source


def test_rules_version_names_rule_set_and_policy() -> None:
    assert score(normal()).rules_version == "news2-rcp-2017/r2+moh-261-2022/r1+policy:default/r1"
    assert (
        score(normal(), MOH_4377_2021, Policy(name="hcmc/r2")).rules_version
        == "news2-rcp-2017/r2+moh-4377-2021/r1+policy:hcmc/r2"
    )
    revised = dataclasses.replace(MOH_261_2022, revision=2)
    assert isinstance(revised, RuleSet)
    assert revised.version == "news2-rcp-2017/r2+moh-261-2022/r2"


# ---------------------------------------------------------------------------
# NEWS2 components, every band edge on both sides


@pytest.mark.parametrize(
    ("rate", "points"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (80, 3)],
)
def test_news2_respiratory_rate(rate: int, points: int) -> None:
    assert news2(vitals(respiratory_rate=rate)).components["respiratory_rate"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
def test_news2_spo2_scale_1(spo2: int, points: int) -> None:
    assert news2(vitals(spo2=spo2)).components["spo2"] == points
    # Scale 1 does not depend on oxygen; the oxygen row scores separately.
    assert news2(vitals(spo2=spo2, on_oxygen=True)).components["spo2"] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (50, False, 3),
        (83, False, 3),
        (83, True, 3),
        (84, False, 2),
        (85, True, 2),
        (86, False, 1),
        (87, True, 1),
        (88, False, 0),
        (88, True, 0),
        (92, False, 0),
        (92, True, 0),
        # >= 93 on air: 0
        (93, False, 0),
        (97, False, 0),
        (100, False, 0),
        # on oxygen: 93-94 -> 1, 95-96 -> 2, >= 97 -> 3
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
        (100, True, 3),
        # Below 93 the oxygen status does not matter, so it need not be known.
        (83, None, 3),
        (85, None, 2),
        (87, None, 1),
        (92, None, 0),
    ],
)
def test_news2_spo2_scale_2(spo2: int, on_oxygen: bool | None, points: int) -> None:
    assert news2(vitals(spo2=spo2, on_oxygen=on_oxygen, spo2_scale=2)).components["spo2"] == points


@pytest.mark.parametrize("spo2", [93, 96, 100])
def test_news2_spo2_scale_2_not_scored_without_oxygen_status(spo2: int) -> None:
    result = news2(vitals(spo2=spo2, spo2_scale=2))
    assert result.components["spo2"] is None
    assert "spo2" in result.missing
    assert result.scale == 2


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2), (None, None)])
def test_news2_air_or_oxygen(on_oxygen: bool | None, points: int | None) -> None:
    assert news2(vitals(on_oxygen=on_oxygen)).components["air_or_oxygen"] == points


@pytest.mark.parametrize(
    ("systolic", "points"),
    [
        (40, 3),
        (90, 3),
        (91, 2),
        (100, 2),
        (101, 1),
        (110, 1),
        (111, 0),
        (219, 0),
        (220, 3),
        (300, 3),
    ],
)
def test_news2_systolic(systolic: int, points: int) -> None:
    assert news2(vitals(systolic_bp=systolic)).components["systolic_bp"] == points


@pytest.mark.parametrize(
    ("pulse", "points"),
    [
        (20, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (250, 3),
    ],
)
def test_news2_pulse(pulse: int, points: int) -> None:
    assert news2(vitals(pulse=pulse)).components["pulse"] == points


@pytest.mark.parametrize(
    ("level", "points"),
    [("alert", 0), ("confusion", 3), ("voice", 3), ("pain", 3), ("unresponsive", 3)],
)
def test_news2_consciousness(level: str, points: int) -> None:
    assert news2(vitals(consciousness=level)).components["consciousness"] == points


@pytest.mark.parametrize(
    ("temperature", "points"),
    [
        (30.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (45.0, 2),
        (37, 0),
        # More than one decimal: read as a one-decimal thermometer would, half up.
        (35.04, 3),
        (35.05, 1),
        (36.04, 1),
        (36.05, 0),
        (38.04, 0),
        (38.05, 1),
        (39.04, 1),
        (39.05, 2),
    ],
)
def test_news2_temperature(temperature: float, points: int) -> None:
    assert news2(vitals(temperature_c=temperature)).components["temperature"] == points


# ---------------------------------------------------------------------------
# NEWS2 total, risk band, missing values


@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({}, 0, "low"),
        ({"pulse": 95}, 1, "low"),
        ({"respiratory_rate": 21, "pulse": 111}, 4, "low"),
        # Any single parameter scoring 3 lifts a total under 5 to low-medium.
        ({"respiratory_rate": 25}, 3, "low-medium"),
        ({"consciousness": "confusion"}, 3, "low-medium"),
        ({"temperature_c": 35.0, "pulse": 95}, 4, "low-medium"),
        # From 5 the total decides, with or without a 3.
        ({"respiratory_rate": 21, "pulse": 111, "temperature_c": 38.5}, 5, "medium"),
        ({"respiratory_rate": 25, "spo2": 93}, 5, "medium"),
        ({"respiratory_rate": 25, "spo2": 92, "pulse": 95}, 6, "medium"),
        ({"respiratory_rate": 25, "spo2": 92, "on_oxygen": True}, 7, "high"),
        ({"respiratory_rate": 25, "spo2": 91, "pulse": 131, "systolic_bp": 90}, 12, "high"),
    ],
)
def test_news2_total_and_risk(changes: dict[str, Any], total: int, risk: str) -> None:
    result = news2(normal(**changes))
    assert result.complete
    assert result.total == total
    assert result.risk == risk


def test_news2_response_text_follows_the_band() -> None:
    assert "12 hours" in (news2(normal()).response or "")
    assert "4-6 hours" in (news2(normal(pulse=95)).response or "")
    assert "hourly" in (news2(normal(respiratory_rate=25)).response or "")
    assert "urgent" in (news2(normal(respiratory_rate=25, spo2=93)).response or "")
    high = news2(normal(respiratory_rate=25, spo2=92, on_oxygen=True)).response or ""
    assert "emergency" in high


def test_news2_response_code_names_the_band_for_the_pages() -> None:
    """The pages word the response from this code, never from the English sentence."""
    assert news2(normal()).response_code == "low_zero"
    assert news2(normal(pulse=95)).response_code == "low"
    assert news2(normal(respiratory_rate=25)).response_code == "low-medium"
    assert news2(normal(respiratory_rate=25, spo2=93)).response_code == "medium"
    assert news2(normal(respiratory_rate=25, spo2=92, on_oxygen=True)).response_code == "high"
    # A partial score proving no band, and a partial 0 that cannot be "low_zero".
    assert news2(vitals(spo2=95, temperature_c=39.5)).response_code == "unknown"
    assert news2(vitals(respiratory_rate=26, spo2=91, pulse=131)).response_code == "high"
    assert news2(vitals()).response_code is None
    assert news2(normal()).to_dict()["response_code"] == "low_zero"


def test_missing_values_are_not_scored() -> None:
    result = news2(vitals(spo2=95, temperature_c=39.5))
    assert result.components == {
        "respiratory_rate": None,
        "spo2": 1,
        "air_or_oxygen": None,
        "systolic_bp": None,
        "pulse": None,
        "consciousness": None,
        "temperature": 2,
    }
    assert result.total == 3
    # A partial 3 is "at least 3": no band is proven, and "low" is never reported.
    assert result.risk is None
    assert result.at_least
    assert "At least 3" in (result.response or "")
    assert not result.complete
    assert result.missing == (
        "respiratory_rate",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
    )


def test_nothing_reported_gives_no_total() -> None:
    result = news2(vitals())
    assert result.total is None
    assert result.risk is None
    assert result.response is None
    assert set(result.components.values()) == {None}
    assert result.to_dict()["total"] is None


@pytest.mark.parametrize(("age", "applicable"), [(15.9, False), (16, True), (80, True)])
def test_news2_applies_from_16(age: float, applicable: bool) -> None:
    assert news2(normal(age)).applicable is applicable


# ---------------------------------------------------------------------------
# Warning signs: respiratory rate by age group, both rule sets


@pytest.mark.parametrize(
    ("age", "rule_set", "threshold"),
    [
        (12, MOH_261_2022, 20),
        (40, MOH_261_2022, 20),
        (95, MOH_261_2022, 20),
        (12, MOH_4377_2021, 21),
        (40, MOH_4377_2021, 21),
        (11.99, MOH_261_2022, 30),
        (5, MOH_261_2022, 30),
        (11.99, MOH_4377_2021, 30),
        (5, MOH_4377_2021, 30),
        (4.99, MOH_261_2022, 40),
        (1, MOH_261_2022, 40),
        (4.99, MOH_4377_2021, 40),
        (1, MOH_4377_2021, 40),
        # Under 1 year: WHO fast breathing, 50 from two months, 60 below.
        (11 / 12, MOH_261_2022, 50),
        (2 / 12, MOH_261_2022, 50),
        (2 / 12, MOH_4377_2021, 50),
        (1.9 / 12, MOH_261_2022, 60),
        (0, MOH_261_2022, 60),
        (0, MOH_4377_2021, 60),
    ],
)
def test_rr_warning_by_age(age: float, rule_set: RuleSet, threshold: int) -> None:
    assert rr_warning_threshold(age, rule_set) == threshold
    below = vitals(age, respiratory_rate=threshold - 1)
    at = vitals(age, respiratory_rate=threshold)
    assert "respiratory_rate" not in warning_signs(below, rule_set)
    assert "respiratory_rate" in warning_signs(at, rule_set)


@pytest.mark.parametrize(
    ("rule_set", "spo2", "warns"),
    [
        (MOH_261_2022, 96, True),
        (MOH_261_2022, 97, False),
        (MOH_4377_2021, 95, True),
        (MOH_4377_2021, 96, False),
        (MOH_261_2022, 50, True),
        (MOH_4377_2021, 100, False),
    ],
)
def test_spo2_warning_by_rule_set(rule_set: RuleSet, spo2: int, warns: bool) -> None:
    assert ("spo2" in warning_signs(vitals(spo2=spo2), rule_set)) is warns


@pytest.mark.parametrize(
    ("changes", "sign", "warns"),
    [
        ({"pulse": 120}, "pulse", False),
        ({"pulse": 121}, "pulse", True),
        ({"pulse": 50}, "pulse", False),
        ({"pulse": 49}, "pulse", True),
        ({"systolic_bp": 90}, "blood_pressure", False),
        ({"systolic_bp": 89}, "blood_pressure", True),
        ({"systolic_bp": 120, "diastolic_bp": 60}, "blood_pressure", False),
        ({"systolic_bp": 120, "diastolic_bp": 59}, "blood_pressure", True),
        ({"diastolic_bp": 59}, "blood_pressure", True),
        ({"consciousness": "alert"}, "altered_consciousness", False),
        ({"consciousness": "confusion"}, "altered_consciousness", True),
        ({"consciousness": "voice"}, "altered_consciousness", True),
        ({"consciousness": "pain"}, "altered_consciousness", True),
        ({"consciousness": "unresponsive"}, "altered_consciousness", True),
    ],
)
def test_vital_warning_signs(changes: dict[str, Any], sign: str, warns: bool) -> None:
    assert (sign in warning_signs(vitals(**changes))) is warns


def test_pulse_and_bp_limits_can_spare_infants_by_policy() -> None:
    baby = vitals(0.5, pulse=140, systolic_bp=80, diastolic_bp=50)
    assert warning_signs(baby) == ("pulse", "blood_pressure")
    spared = Policy(pulse_and_bp_warning_from_age_years=12)
    assert warning_signs(baby, MOH_261_2022, spared) == ()
    assert warning_signs(vitals(12, pulse=140), MOH_261_2022, spared) == ("pulse",)


@pytest.mark.parametrize(
    ("symptom", "sign"),
    [
        ("shortness_of_breath", "shortness_of_breath"),
        ("severe_shortness_of_breath", "shortness_of_breath"),
        ("grunting", "shortness_of_breath"),
        ("chest_indrawing", "shortness_of_breath"),
        ("nasal_flaring", "shortness_of_breath"),
        ("persistent_chest_pain", "chest_pain"),
        ("cyanosis", "cyanosis"),
        ("cold_extremities", "cyanosis"),
        ("cannot_drink", "poor_feeding"),
        ("poor_feeding", "poor_feeding"),
        ("mis_c_signs", "mis_c"),
        ("new_acute_illness", "new_acute_illness"),
        ("worried", "worried"),
    ],
)
def test_reported_warning_signs(symptom: str, sign: str) -> None:
    assert warning_signs(normal(symptoms=[symptom])) == (sign,)


@pytest.mark.parametrize(
    "symptom",
    ["fever", "cough", "sore_throat", "runny_nose", "loss_of_smell_or_taste", "fatigue"],
)
def test_ordinary_symptoms_are_not_warning_signs(symptom: str) -> None:
    assert warning_signs(normal(symptoms=[symptom])) == ()


def test_warning_signs_come_in_decree_order_without_duplicates() -> None:
    v = vitals(
        respiratory_rate=30,
        spo2=90,
        pulse=130,
        consciousness="voice",
        symptoms=["worried", "cyanosis", "grunting", "shortness_of_breath"],
    )
    assert warning_signs(v) == (
        "shortness_of_breath",
        "respiratory_rate",
        "spo2",
        "pulse",
        "altered_consciousness",
        "cyanosis",
        "worried",
    )


def test_symptom_vocabulary_is_bilingual_and_maps_to_known_signs() -> None:
    for code, symptom in SYMPTOMS.items():
        assert symptom.code == code
        assert symptom.en and symptom.vi
        assert symptom.warning_sign is None or symptom.warning_sign in WARNING_SIGNS
    assert SYMPTOMS["shortness_of_breath"].vi == "Khó thở"


# ---------------------------------------------------------------------------
# Severity class


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"respiratory_rate": 19, "spo2": 97}, "mild"),
        ({"respiratory_rate": 20, "spo2": 97}, "moderate"),
        ({"respiratory_rate": 25, "spo2": 97}, "moderate"),
        ({"respiratory_rate": 26, "spo2": 97}, "severe"),
        ({"respiratory_rate": 16, "spo2": 96}, "moderate"),
        ({"respiratory_rate": 16, "spo2": 94}, "moderate"),
        ({"respiratory_rate": 16, "spo2": 93}, "severe"),
        ({"respiratory_rate": 22, "spo2": 95}, "moderate"),
        (
            {"respiratory_rate": 16, "spo2": 98, "symptoms": ["severe_shortness_of_breath"]},
            "severe",
        ),
        ({"respiratory_rate": 16, "spo2": 98, "symptoms": ["shortness_of_breath"]}, "mild"),
        # One of the two missing: decided on the other.
        ({"respiratory_rate": 16}, "mild"),
        ({"spo2": 97}, "mild"),
        ({"respiratory_rate": 20}, "moderate"),
        ({"spo2": 93}, "severe"),
        ({}, None),
        ({"symptoms": ["severe_shortness_of_breath"]}, "severe"),
    ],
)
def test_severity_edges(changes: dict[str, Any], expected: str | None) -> None:
    assert severity(vitals(**changes)) == expected


@pytest.mark.parametrize(
    "finding", ["invasive_ventilation", "shock", "organ_failure", "ards", "sepsis"]
)
def test_critical_findings(finding: str) -> None:
    assert severity(normal(symptoms=[finding])) == "critical"


def test_children_severity_ignores_adult_rr_limits() -> None:
    assert severity(vitals(8, respiratory_rate=28, spo2=98)) == "mild"
    assert severity(vitals(8, respiratory_rate=28, spo2=95)) == "moderate"
    assert severity(vitals(8, respiratory_rate=28)) is None
    assert severity(vitals(12, respiratory_rate=28, spo2=98)) == "severe"


@pytest.mark.parametrize(
    ("rr", "spo2", "expected"),
    [(22, 98, "mild"), (16, 95, "mild"), (22, 95, "moderate"), (26, 98, "severe")],
)
def test_severity_moderate_needing_both_is_a_setting(rr: int, spo2: int, expected: str) -> None:
    policy = Policy(moderate_reading="both")
    assert severity(vitals(respiratory_rate=rr, spo2=spo2), policy) == expected


# ---------------------------------------------------------------------------
# Disposition


def disposition_of(v: Vitals, policy: Policy = DEFAULT_POLICY) -> dict[str, Any]:
    result: dict[str, Any] = score(v, MOH_261_2022, policy).to_dict()["disposition"]
    return result


HOME_12 = {"action": "home_care", "level_of_care": None, "tier": None, "urgency": None}


@pytest.mark.parametrize(
    ("v", "hours"),
    [
        (normal(), 12),
        (normal(64.9), 12),
        (normal(65), 6),
        (normal(pregnant=True), 6),
        (normal(pregnant=False), 12),
        (normal(vaccination_doses=0), 6),
        (normal(vaccination_doses=1), 12),
        (normal(vaccination_doses=None), 12),
        # NEWS2 1-4: 6 h, 4 h with a risk factor.
        (normal(pulse=95), 6),
        (normal(temperature_c=39.1, pulse=111), 6),
        (normal(70, temperature_c=39.1, pulse=111), 4),
        (normal(pulse=95, pregnant=True), 4),
        (normal(pulse=95, vaccination_doses=0), 4),
        # A single 3 without a warning sign: hourly, as NEWS2 says.
        (normal(temperature_c=35.0), 1),
        (normal(systolic_bp=90, diastolic_bp=60), 1),
        # Partial NEWS2 of 0 does not earn the 12 h interval.
        (vitals(spo2=98, temperature_c=37), 6),
        (vitals(70, spo2=98, temperature_c=37), 4),
        # Nothing measured: standard interval.
        (vitals(), 6),
    ],
)
def test_home_care(v: Vitals, hours: float) -> None:
    result = disposition_of(v)
    assert {k: result[k] for k in HOME_12} == HOME_12
    assert result["follow_up_hours"] == hours
    assert result["reasons"]


def test_comorbidity_as_risk_factor_is_a_setting() -> None:
    v = normal(comorbidities=["diabetes"])
    assert disposition_of(v)["follow_up_hours"] == 12
    assert disposition_of(v, Policy(comorbidity_is_risk_factor=True))["follow_up_hours"] == 6


def test_partial_zero_may_earn_long_interval_by_setting() -> None:
    policy = Policy(long_follow_up_needs_complete_news2=False)
    assert disposition_of(vitals(spo2=98, temperature_c=37), policy)["follow_up_hours"] == 12


def test_follow_up_hours_are_settings() -> None:
    policy = Policy(follow_up_hours_news2_low=5, follow_up_hours_news2_zero=24)
    assert disposition_of(normal(pulse=95), policy)["follow_up_hours"] == 5
    assert disposition_of(normal(), policy)["follow_up_hours"] == 24


OXYGEN = {
    "action": "transfer",
    "level_of_care": "oxygen",
    "tier": 2,
    "urgency": "urgent",
    "follow_up_hours": None,
}
ICU = {
    "action": "transfer",
    "level_of_care": "icu",
    "tier": 3,
    "urgency": "emergency",
    "follow_up_hours": None,
}


@pytest.mark.parametrize(
    "v",
    [
        # Any warning sign.
        normal(respiratory_rate=20),
        normal(spo2=96),
        normal(spo2=90),
        normal(pulse=121),
        normal(systolic_bp=120, diastolic_bp=59),
        normal(symptoms=["worried"]),
        normal(symptoms=["persistent_chest_pain"]),
        normal(3, respiratory_rate=40),
        # NEWS2 5-6 without a warning sign.
        normal(temperature_c=39.1, pulse=111, respiratory_rate=11),
        normal(temperature_c=39.1, pulse=111, respiratory_rate=11, systolic_bp=101),
        # A partial total of 5 is already enough.
        vitals(temperature_c=39.1, pulse=111, respiratory_rate=11),
    ],
)
def test_transfer_to_oxygen(v: Vitals) -> None:
    result = disposition_of(v)
    assert {k: result[k] for k in OXYGEN} == OXYGEN
    assert result["reasons"]


@pytest.mark.parametrize(
    "v",
    [
        # NEWS2 >= 7 (RR 8 is low, not a warning sign).
        normal(respiratory_rate=8, temperature_c=39.1, pulse=111),
        normal(spo2=89),
        normal(consciousness="confusion"),
        normal(consciousness="unresponsive"),
        normal(systolic_bp=89, diastolic_bp=60),
        normal(symptoms=["shock"]),
    ],
)
def test_transfer_to_intensive_care(v: Vitals) -> None:
    result = disposition_of(v)
    assert {k: result[k] for k in ICU} == ICU
    assert result["reasons"]


def test_news2_6_is_not_intensive_care_and_7_is() -> None:
    six = normal(temperature_c=39.1, pulse=111, respiratory_rate=11, systolic_bp=101)
    seven = normal(temperature_c=39.1, pulse=111, respiratory_rate=8)
    assert score(six).news2.total == 6
    assert score(seven).news2.total == 7
    assert disposition_of(six)["level_of_care"] == "oxygen"
    assert disposition_of(seven)["level_of_care"] == "icu"


def test_icu_reasons_name_the_trigger() -> None:
    reasons = disposition_of(normal(spo2=89))["reasons"]
    assert reasons[0] == "SpO2 89% < 90%"
    assert any("warning sign spo2" in r for r in reasons)


def test_news2_does_not_drive_disposition_for_children() -> None:
    # Ordinary for a 6-month-old, yet NEWS2 would total 5 (RR 3, pulse 2).
    baby = vitals(0.5, respiratory_rate=45, pulse=115, temperature_c=37.0)
    assessment = score(baby)
    assert assessment.news2.total == 5
    assert not assessment.news2.applicable
    assert assessment.warning_signs == ()
    assert assessment.disposition.action == "home_care"
    assert assessment.disposition.follow_up_hours == 6
    adult_rules = Policy(news2_from_age_years=0)
    assert score(baby, MOH_261_2022, adult_rules).disposition.level_of_care == "oxygen"


def test_icu_triggers_are_settings() -> None:
    policy = Policy(icu_spo2_below=92, icu_tier=4)
    result = disposition_of(normal(spo2=91), policy)
    assert (result["level_of_care"], result["tier"]) == ("icu", 4)


def test_rule_set_changes_the_disposition() -> None:
    v = normal(respiratory_rate=20, spo2=96)
    assert score(v, MOH_261_2022).disposition.action == "transfer"
    assert score(v, MOH_4377_2021).warning_signs == ()
    assert score(v, MOH_4377_2021).disposition.action == "home_care"


# ---------------------------------------------------------------------------
# Output shape


def test_assessment_dict_shape() -> None:
    result = score(normal(pulse=95)).to_dict()
    assert set(result) == {"news2", "warning_signs", "severity", "disposition", "rules_version"}
    assert {"total", "risk", "components"} <= set(result["news2"])
    assert result["news2"]["components"] == {
        "respiratory_rate": 0,
        "spo2": 0,
        "air_or_oxygen": 0,
        "systolic_bp": 0,
        "pulse": 1,
        "consciousness": 0,
        "temperature": 0,
    }
    assert set(result["disposition"]) == {
        "action",
        "level_of_care",
        "tier",
        "urgency",
        "follow_up_hours",
        "reasons",
    }
    assert result["warning_signs"] == []
    assert result["severity"] == "mild"
    assert isinstance(result["disposition"]["reasons"], list)


# ---------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spo2", 49),
        ("spo2", 101),
        ("respiratory_rate", -1),
        ("respiratory_rate", 81),
        ("pulse", 19),
        ("pulse", 251),
        ("temperature_c", 29.9),
        ("temperature_c", 45.1),
        ("temperature_c", float("nan")),
        ("systolic_bp", 39),
        ("systolic_bp", 301),
        ("diastolic_bp", 19),
        ("diastolic_bp", 201),
        ("vaccination_doses", -1),
        ("respiratory_rate", 20.5),
        ("spo2", "97"),
        ("pulse", True),
        ("consciousness", "drowsy"),
        ("spo2_scale", 3),
        ("on_oxygen", "yes"),
        ("pregnant", 1),
        ("symptoms", ["cough", "sneezing"]),
        ("symptoms", "cough"),
    ],
)
def test_refuses_implausible_values(field: str, value: Any) -> None:
    with pytest.raises(VitalsOutOfRange) as caught:
        Vitals(age_years=40, **{field: value})
    assert caught.value.field == field
    assert caught.value.rule
    assert isinstance(caught.value, ValueError)
    assert caught.value.detail == [{"field": field, "rule": caught.value.rule}]
    assert caught.value.status_code == 422


@pytest.mark.parametrize("age", [-1, 130.5, float("inf")])
def test_refuses_implausible_age(age: float) -> None:
    with pytest.raises(VitalsOutOfRange) as caught:
        Vitals(age_years=age)
    assert caught.value.field == "age_years"


def test_range_rule_is_in_words() -> None:
    with pytest.raises(VitalsOutOfRange) as caught:
        Vitals(age_years=40, spo2=101)
    assert caught.value.rule == "must be between 50 and 100 %"
    assert caught.value.value == 101


def test_refuses_diastolic_not_below_systolic() -> None:
    with pytest.raises(VitalsOutOfRange) as caught:
        Vitals(age_years=40, systolic_bp=90, diastolic_bp=90)
    assert caught.value.field == "diastolic_bp"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spo2", 50),
        ("spo2", 100),
        ("respiratory_rate", 0),
        ("respiratory_rate", 80),
        ("pulse", 20),
        ("pulse", 250),
        ("temperature_c", 30),
        ("temperature_c", 45),
        ("systolic_bp", 40),
        ("systolic_bp", 300),
        ("diastolic_bp", 20),
        ("diastolic_bp", 200),
        ("age_years", 0),
        ("age_years", 130),
    ],
)
def test_accepts_range_edges(field: str, value: float) -> None:
    values: dict[str, Any] = {"age_years": 40, field: value}
    assert getattr(Vitals(**values), field) == value


def test_whole_floats_become_ints_and_symptoms_dedupe() -> None:
    v = Vitals(age_years=40, respiratory_rate=20.0, symptoms=["cough", "cough", "fever"])  # type: ignore[arg-type]
    assert v.respiratory_rate == 20 and isinstance(v.respiratory_rate, int)
    assert v.symptoms == ("cough", "fever")


@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        # One vital measured and normal: at least 0, risk unknown, never "low".
        ({"spo2": 98}, 0, None),
        ({"respiratory_rate": 16, "pulse": 80}, 0, None),
        ({"pulse": 95, "temperature_c": 38.5}, 2, None),
        # A single 3 proves at least low-medium.
        ({"respiratory_rate": 8}, 3, "low-medium"),
        # 5-6 proves at least medium; 7 is high whatever is missing.
        ({"respiratory_rate": 25, "spo2": 93}, 5, "medium"),
        ({"respiratory_rate": 25, "spo2": 92, "pulse": 95}, 6, "medium"),
        ({"respiratory_rate": 25, "spo2": 91, "pulse": 115}, 8, "high"),
    ],
)
def test_incomplete_news2_is_a_lower_bound(
    changes: dict[str, Any], total: int, risk: str | None
) -> None:
    result = news2(vitals(**changes))
    assert not result.complete and result.at_least
    assert result.total == total
    assert result.risk == risk
    assert result.to_dict()["at_least"] is True
    for name in result.missing:
        assert name in (result.response or "")


def test_a_complete_news2_is_not_a_lower_bound() -> None:
    result = news2(normal())
    assert result.complete and not result.at_least
    assert result.risk == "low" and result.total == 0
