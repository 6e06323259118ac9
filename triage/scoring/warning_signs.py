"""The Ministry of Health's warning signs for F0 at home (Decisions 261/QĐ-BYT and 4377/QĐ-BYT).

Any one sign means emergency care or transfer.
"""

from __future__ import annotations

from typing import Final

from triage.scoring.rules import DEFAULT_POLICY, MOH_261_2022, Policy, RuleSet
from triage.scoring.vitals import SYMPTOMS, Vitals
from triage.vocabulary import Consciousness

# Decision 261/QĐ-BYT numbers its warning signs 1-11; codes are listed in that order.
WARNING_SIGNS: Final[tuple[str, ...]] = (
    "shortness_of_breath",
    "respiratory_rate",
    "spo2",
    "pulse",
    "blood_pressure",
    "chest_pain",
    "altered_consciousness",
    "cyanosis",
    "poor_feeding",
    "mis_c",
    "new_acute_illness",
    "worried",
)


def rr_warning_threshold(
    age_years: float, rule_set: RuleSet = MOH_261_2022, policy: Policy = DEFAULT_POLICY
) -> int:
    """Respiratory rate at or above which the warning sign fires for this age."""
    if age_years >= policy.adult_from_age_years:
        return rule_set.adult_rr_warning_from
    if age_years >= 5:
        return rule_set.rr_warning_from_age_5_to_12
    if age_years >= 1:
        return rule_set.rr_warning_from_age_1_to_5
    # Rounded so that an age given as 2/12 years counts as two months despite float error.
    if round(age_years * 12, 6) < 2:
        return policy.infant_rr_warning_under_2_months
    return policy.infant_rr_warning_2_to_11_months


def warning_sign_reasons(vitals: Vitals, rule_set: RuleSet, policy: Policy) -> dict[str, list[str]]:
    """Warning-sign code -> why it fired, in the decree's order."""
    found: dict[str, list[str]] = {}

    def add(code: str, why: str) -> None:
        found.setdefault(code, []).append(why)

    for code in vitals.symptoms:
        sign = SYMPTOMS[code].warning_sign
        if sign is not None:
            add(sign, f"reported: {SYMPTOMS[code].en.lower()}")
    v = vitals
    if v.respiratory_rate is not None:
        threshold = rr_warning_threshold(v.age_years, rule_set, policy)
        if v.respiratory_rate >= threshold:
            add(
                "respiratory_rate",
                f"respiratory rate {v.respiratory_rate}/min >= {threshold} "
                f"at age {v.age_years:g} ({rule_set.id})",
            )
    if v.spo2 is not None and v.spo2 <= rule_set.spo2_warning_at_or_below:
        add("spo2", f"SpO2 {v.spo2}% <= {rule_set.spo2_warning_at_or_below}% ({rule_set.id})")
    adult_limits = v.age_years >= policy.pulse_and_bp_warning_from_age_years
    if (
        adult_limits
        and v.pulse is not None
        and (v.pulse > rule_set.pulse_warning_above or v.pulse < rule_set.pulse_warning_below)
    ):
        add(
            "pulse",
            f"pulse {v.pulse}/min outside {rule_set.pulse_warning_below}-"
            f"{rule_set.pulse_warning_above}",
        )
    # "Below 90/60" read as either number below its limit: a low diastolic alone can mean shock.
    if (
        adult_limits
        and v.systolic_bp is not None
        and v.systolic_bp < rule_set.systolic_warning_below
    ):
        add(
            "blood_pressure",
            f"systolic {v.systolic_bp} mmHg < {rule_set.systolic_warning_below}",
        )
    if (
        adult_limits
        and v.diastolic_bp is not None
        and v.diastolic_bp < rule_set.diastolic_warning_below
    ):
        add(
            "blood_pressure",
            f"diastolic {v.diastolic_bp} mmHg < {rule_set.diastolic_warning_below}",
        )
    if v.consciousness is not None and v.consciousness != Consciousness.ALERT:
        add("altered_consciousness", f"consciousness: {v.consciousness}")
    return {code: found[code] for code in WARNING_SIGNS if code in found}


def warning_signs(
    vitals: Vitals, rule_set: RuleSet = MOH_261_2022, policy: Policy = DEFAULT_POLICY
) -> tuple[str, ...]:
    return tuple(warning_sign_reasons(vitals, rule_set, policy))
