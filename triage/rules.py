"""The triage rules in force: the rule set and policy the settings select, and scoring with them."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from kernel.errors import DomainError, InvalidInput
from kernel.settings import get_settings
from triage.scoring.result import score
from triage.scoring.rules import DEFAULT_POLICY, RULE_SETS, Policy, RuleSet
from triage.scoring.vitals import Vitals, VitalsOutOfRange


@functools.lru_cache(maxsize=8)
def _policy(overrides_json: str) -> Policy:
    overrides = json.loads(overrides_json)
    if not overrides:
        return DEFAULT_POLICY
    if "name" not in overrides:
        # The name goes into every rules_version; a silent change would make old records lie.
        raise ValueError("HOTLINE_TRIAGE_POLICY_OVERRIDES must give a new policy name")
    fields = {f.name for f in dataclasses.fields(Policy)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    for key in ("severe_symptoms", "critical_symptoms"):
        if key in overrides:
            overrides[key] = frozenset(overrides[key])
    return Policy(**overrides)


def policy() -> Policy:
    """Our policy with HOTLINE_TRIAGE_POLICY_OVERRIDES applied."""
    return _policy(json.dumps(get_settings().triage_policy_overrides, sort_keys=True))


def rule_set() -> RuleSet:
    """The Ministry of Health rule set HOTLINE_TRIAGE_RULE_SET names."""
    name = get_settings().triage_rule_set
    try:
        return RULE_SETS[name]
    except KeyError:
        raise DomainError(
            f"HOTLINE_TRIAGE_RULE_SET={name!r} is not one of {', '.join(RULE_SETS)}",
            code="rule_set_unknown",
            status_code=500,
        ) from None


# The scoring's field names where the API's differ.
_API_FIELDS = {"age_years": "age"}


def vitals_from(reported: dict[str, Any], *, age: float, **patient: Any) -> Vitals:
    """Vitals from what the API was given; an implausible value becomes a 422 naming the API's field."""
    fields = {k: v for k, v in reported.items() if k != "age"}
    try:
        return Vitals(age_years=age, **fields, **patient)
    except VitalsOutOfRange as exc:
        raise InvalidInput(_API_FIELDS.get(exc.field, exc.field), exc.rule) from None


def live_score(reported: dict[str, Any]) -> dict[str, Any]:
    """The live score of the console and of other tools: nothing is stored."""
    return score(vitals_from(reported, age=reported["age"]), rule_set(), policy()).to_dict()
