"""The Covid-19 severity class the HCMC Department of Health taught from 4689/QĐ-BYT."""

from __future__ import annotations

from triage.scoring.rules import DEFAULT_POLICY, Policy
from triage.scoring.vitals import Vitals
from triage.vocabulary import Severity


def severity(vitals: Vitals, policy: Policy = DEFAULT_POLICY) -> Severity | None:
    """HCMC severity class; None when neither RR nor SpO2 is known and no symptom decides.

    The class's RR limits are adult values, so below policy.adult_from_age_years the
    respiratory rate is left out (children's rates are judged by the warning signs instead).
    When one of RR and SpO2 is missing, the class is decided on the other.
    """
    codes = set(vitals.symptoms)
    if codes & policy.critical_symptoms:
        return Severity.CRITICAL
    rr = vitals.respiratory_rate if vitals.age_years >= policy.adult_from_age_years else None
    spo2 = vitals.spo2
    if (
        codes & policy.severe_symptoms
        or (rr is not None and rr > policy.severe_rr_above)
        or (spo2 is not None and spo2 < policy.severe_spo2_below)
    ):
        return Severity.SEVERE
    if rr is None and spo2 is None:
        return None
    rr_moderate = rr is not None and rr >= policy.mild_rr_below
    spo2_moderate = spo2 is not None and spo2 <= policy.mild_spo2_above
    moderate = (
        rr_moderate or spo2_moderate
        if policy.moderate_reading == "either"
        else rr_moderate and spo2_moderate
    )
    return Severity.MODERATE if moderate else Severity.MILD
