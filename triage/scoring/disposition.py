"""Our default disposition: home care with a follow-up interval, or a transfer with its urgency.

The sources give the signs, not the table; the table is ours (docs/clinical-rules.md), every
threshold a Policy field, and a doctor may override the result with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from triage.scoring.news2 import News2
from triage.scoring.rules import DEFAULT_POLICY, Policy
from triage.scoring.vitals import Vitals
from triage.vocabulary import Action, Consciousness, LevelOfCare, News2Risk, Severity, Urgency


@dataclass(frozen=True, slots=True)
class Disposition:
    action: Action
    level_of_care: LevelOfCare | None
    tier: int | None
    urgency: Urgency | None
    follow_up_hours: float | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "level_of_care": self.level_of_care,
            "tier": self.tier,
            "urgency": self.urgency,
            "follow_up_hours": self.follow_up_hours,
            "reasons": list(self.reasons),
        }


def risk_factors(vitals: Vitals, policy: Policy = DEFAULT_POLICY) -> tuple[str, ...]:
    """Risk factors that shorten the home follow-up interval."""
    found: list[str] = []
    if vitals.age_years >= policy.risk_age_from:
        found.append(f"age {vitals.age_years:g} >= {policy.risk_age_from:g}")
    if vitals.pregnant:
        found.append("pregnant")
    if (
        vitals.vaccination_doses is not None
        and vitals.vaccination_doses < policy.unvaccinated_below_doses
    ):
        found.append(f"unvaccinated ({vitals.vaccination_doses} doses)")
    if policy.comorbidity_is_risk_factor and vitals.comorbidities:
        found.append("comorbidity: " + ", ".join(vitals.comorbidities))
    return tuple(found)


def _icu_reasons(
    v: Vitals, total: int | None, severity_class: Severity | None, policy: Policy
) -> list[str]:
    icu: list[str] = []
    if total is not None and total >= policy.icu_news2_from:
        icu.append(f"NEWS2 {total} >= {policy.icu_news2_from}")
    if v.spo2 is not None and v.spo2 < policy.icu_spo2_below:
        icu.append(f"SpO2 {v.spo2}% < {policy.icu_spo2_below}%")
    if policy.icu_if_altered_consciousness and v.consciousness not in (None, Consciousness.ALERT):
        icu.append(f"altered consciousness ({v.consciousness})")
    if v.systolic_bp is not None and v.systolic_bp < policy.icu_systolic_below:
        icu.append(f"systolic {v.systolic_bp} mmHg < {policy.icu_systolic_below}")
    if policy.icu_if_critical and severity_class == Severity.CRITICAL:
        icu.append("critical illness")
    return icu


def _home_care(v: Vitals, score: News2, total: int | None, policy: Policy) -> Disposition:
    """No reason to move the patient: the follow-up interval, from NEWS2 and the risk factors."""
    reasons = ["no warning sign"]
    if not score.applicable:
        reasons.append(
            f"NEWS2 not used under age {policy.news2_from_age_years:g}; standard interval"
        )
    elif total is None:
        reasons.append("NEWS2 not scored (no vitals); standard interval")
    else:
        reasons.append(f"NEWS2 {total} <= {policy.transfer_news2_from - 1}")
    at_risk = risk_factors(v, policy)
    reasons.extend(f"risk factor: {r}" for r in at_risk)

    if score.applicable and score.risk == News2Risk.LOW_MEDIUM:
        hours = policy.follow_up_hours_single_three
        reasons.append("a single NEWS2 parameter scores 3: hourly checks and a doctor reviews")
    elif total == 0 and (score.complete or not policy.long_follow_up_needs_complete_news2):
        hours = (
            policy.follow_up_hours_news2_zero_at_risk
            if at_risk
            else policy.follow_up_hours_news2_zero
        )
    else:
        if total == 0:
            reasons.append("NEWS2 incomplete (" + ", ".join(score.missing) + " missing)")
        hours = (
            policy.follow_up_hours_news2_low_at_risk
            if at_risk
            else policy.follow_up_hours_news2_low
        )
    return Disposition(Action.HOME_CARE, None, None, None, hours, tuple(reasons))


def disposition(
    vitals: Vitals,
    score: News2,
    signs: Mapping[str, Sequence[str]],
    severity_class: Severity | None,
    policy: Policy = DEFAULT_POLICY,
) -> Disposition:
    """ICU first, then an oxygen bed, else home care; a doctor may override it."""
    total = score.total if score.applicable else None
    icu = _icu_reasons(vitals, total, severity_class, policy)
    oxygen = [f"warning sign {code}: {'; '.join(why)}" for code, why in signs.items()]
    if total is not None and total >= policy.transfer_news2_from:
        oxygen.append(f"NEWS2 {total} >= {policy.transfer_news2_from}")
    if icu:
        return Disposition(
            Action.TRANSFER,
            LevelOfCare.ICU,
            policy.icu_tier,
            Urgency.EMERGENCY,
            None,
            tuple(icu + oxygen),
        )
    if oxygen:
        return Disposition(
            Action.TRANSFER,
            LevelOfCare.OXYGEN,
            policy.oxygen_tier,
            Urgency.URGENT,
            None,
            tuple(oxygen),
        )
    return _home_care(vitals, score, total, policy)
