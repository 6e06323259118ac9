"""The versioned Ministry of Health rule sets, and our policy for everything the sources leave open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

# "/r2": an incomplete NEWS2 is a lower bound and never reports "low" (docs/clinical-rules.md).
NEWS2_VERSION: Final = "news2-rcp-2017/r2"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """The warning-sign thresholds of one Ministry of Health decision."""

    id: str
    name: str
    source: str
    date: dt.date
    adult_rr_warning_from: int
    spo2_warning_at_or_below: int
    rr_warning_from_age_1_to_5: int = 40
    rr_warning_from_age_5_to_12: int = 30
    pulse_warning_above: int = 120
    pulse_warning_below: int = 50
    systolic_warning_below: int = 90
    diastolic_warning_below: int = 60
    # Bumped when our reading of the same decision changes, so old assessments stay traceable.
    revision: int = 1

    @property
    def version(self) -> str:
        return f"{NEWS2_VERSION}+{self.id}/r{self.revision}"


MOH_261_2022: Final = RuleSet(
    id="moh-261-2022",
    name="Decision 261/QĐ-BYT: home care of F0",
    source="Vietnam Ministry of Health, Decision 261/QĐ-BYT",
    date=dt.date(2022, 1, 31),
    adult_rr_warning_from=20,
    spo2_warning_at_or_below=96,
)

MOH_4377_2021: Final = RuleSet(
    id="moh-4377-2021",
    name="Decision 4377/QĐ-BYT: home care of F0",
    source="Vietnam Ministry of Health, Decision 4377/QĐ-BYT",
    date=dt.date(2021, 9, 11),
    adult_rr_warning_from=21,
    spo2_warning_at_or_below=95,
)

RULE_SETS: Final[Mapping[str, RuleSet]] = MappingProxyType(
    {rs.id: rs for rs in (MOH_261_2022, MOH_4377_2021)}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Every choice the sources leave to us, as a setting the app can override.

    Change `name` whenever a value changes: it is recorded in each assessment's rules_version.
    """

    name: str = "default/r1"

    # Who counts as an adult for the respiratory-rate warning sign: the decree's child bands
    # stop at 12, so 12 and over take the adult threshold.
    adult_from_age_years: float = 12.0
    # The decree gives no band under 1 year; WHO's fast breathing for infants fills it.
    infant_rr_warning_under_2_months: int = 60
    infant_rr_warning_2_to_11_months: int = 50
    # NEWS2 is validated from 16 years (RCP); below that it is shown but does not drive the
    # disposition, because normal infant rates and pulses would score as deterioration.
    news2_from_age_years: float = 16.0
    # The decree's pulse (>120, <50) and blood-pressure (90/60) limits carry no age; taken
    # literally they flag healthy infants. Default 0 keeps the literal reading; raise to exempt.
    pulse_and_bp_warning_from_age_years: float = 0.0

    # Severity class (HCMC training citing 4689/QĐ-BYT).
    moderate_reading: Literal["either", "both"] = "either"
    mild_rr_below: int = 20
    mild_spo2_above: int = 96
    severe_rr_above: int = 25
    severe_spo2_below: int = 94
    severe_symptoms: frozenset[str] = frozenset({"severe_shortness_of_breath"})
    critical_symptoms: frozenset[str] = frozenset(
        {"invasive_ventilation", "shock", "organ_failure", "ards", "sepsis"}
    )

    # Disposition.
    transfer_news2_from: int = 5
    icu_news2_from: int = 7
    icu_spo2_below: int = 90
    icu_systolic_below: int = 90
    icu_if_altered_consciousness: bool = True
    icu_if_critical: bool = True
    oxygen_tier: int = 2
    icu_tier: int = 3
    follow_up_hours_news2_zero: float = 12.0
    follow_up_hours_news2_zero_at_risk: float = 6.0
    follow_up_hours_news2_low: float = 6.0
    follow_up_hours_news2_low_at_risk: float = 4.0
    # NEWS2 says a single parameter scoring 3 needs hourly observation and a doctor's review.
    follow_up_hours_single_three: float = 1.0
    # A partial NEWS2 of 0 may hide a missing abnormal value, so it earns the shorter interval.
    long_follow_up_needs_complete_news2: bool = True
    risk_age_from: float = 65.0
    unvaccinated_below_doses: int = 1
    # The disposition rules name three risk factors; comorbidity is recorded but off by default.
    comorbidity_is_risk_factor: bool = False


DEFAULT_POLICY: Final = Policy()


def rules_version(rule_set: RuleSet, policy: Policy = DEFAULT_POLICY) -> str:
    """E.g. "news2-rcp-2017/r2+moh-261-2022/r1+policy:default/r1": what produced an assessment."""
    return f"{rule_set.version}+policy:{policy.name}"
