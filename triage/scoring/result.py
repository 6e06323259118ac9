"""A phone assessment scored at once: NEWS2, warning signs, severity, disposition and the rule version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triage.scoring.disposition import Disposition, disposition
from triage.scoring.news2 import News2, news2
from triage.scoring.rules import DEFAULT_POLICY, MOH_261_2022, Policy, RuleSet, rules_version
from triage.scoring.severity import severity
from triage.scoring.vitals import Vitals
from triage.scoring.warning_signs import warning_sign_reasons
from triage.vocabulary import Severity


@dataclass(frozen=True, slots=True)
class Scores:
    news2: News2
    warning_signs: tuple[str, ...]
    severity: Severity | None
    disposition: Disposition
    rules_version: str
    vitals: Vitals = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "news2": self.news2.to_dict(),
            "warning_signs": list(self.warning_signs),
            "severity": self.severity,
            "disposition": self.disposition.to_dict(),
            "rules_version": self.rules_version,
        }


def score(
    vitals: Vitals, rule_set: RuleSet = MOH_261_2022, policy: Policy = DEFAULT_POLICY
) -> Scores:
    news = news2(vitals, policy)
    signs = warning_sign_reasons(vitals, rule_set, policy)
    severity_class = severity(vitals, policy)
    return Scores(
        news2=news,
        warning_signs=tuple(signs),
        severity=severity_class,
        disposition=disposition(vitals, news, signs, severity_class, policy),
        rules_version=rules_version(rule_set, policy),
        vitals=vitals,
    )
