"""NEWS2 (Royal College of Physicians, 2017): each parameter's band, the total and its risk band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

from triage.scoring.rules import DEFAULT_POLICY, Policy
from triage.scoring.vitals import Vitals
from triage.vocabulary import Consciousness, News2Risk


def news2_respiratory_rate(rate: int) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def news2_spo2_scale_1(spo2: int) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def news2_spo2_scale_2(spo2: int, on_oxygen: bool | None) -> int | None:
    """Scale 2 score; None when the score depends on oxygen and oxygen is not known."""
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92:
        return 0
    if on_oxygen is None:
        return None
    if not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def news2_air_or_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def news2_systolic_bp(systolic: int) -> int:
    if systolic <= 90:
        return 3
    if systolic <= 100:
        return 2
    if systolic <= 110:
        return 1
    if systolic <= 219:
        return 0
    return 3


def news2_pulse(pulse: int) -> int:
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def news2_consciousness(consciousness: Consciousness) -> int:
    return 0 if consciousness == Consciousness.ALERT else 3


def temperature_tenths(temperature_c: float) -> int:
    """Temperature in tenths of a degree, rounded half up as a one-decimal thermometer shows it.

    The NEWS2 bands are written to one decimal (35.0 / 35.1); 35.04 reads 35.0 and 35.05 reads
    35.1. repr() keeps the decimal the caller typed, so 36.05 is not taken as 36.04999...
    """
    return int(Decimal(repr(float(temperature_c))).quantize(Decimal("0.1"), ROUND_HALF_UP) * 10)


def news2_temperature(temperature_c: float) -> int:
    tenths = temperature_tenths(temperature_c)
    if tenths <= 350:
        return 3
    if tenths <= 360:
        return 1
    if tenths <= 380:
        return 0
    if tenths <= 390:
        return 1
    return 2


# (risk band, total is 0) -> the response NEWS2 asks for.
_RESPONSES: Final[Mapping[tuple[News2Risk, bool], str]] = MappingProxyType(
    {
        (News2Risk.LOW, True): "Low: continue monitoring, reassess every 12 hours.",
        (News2Risk.LOW, False): "Low: reassess every 4-6 hours.",
        (News2Risk.LOW_MEDIUM, False): "Low-medium: observe hourly; a doctor reviews.",
        (News2Risk.MEDIUM, False): "Medium: urgent response.",
        (News2Risk.HIGH, False): (
            "High: emergency assessment; consider transfer to higher-level care."
        ),
    }
)


@dataclass(frozen=True, slots=True)
class News2:
    """A NEWS2 score from whatever parameters were reported.

    The total is the sum of the scored components: a missing parameter is left out (None in
    components, named in `missing`, `complete` False), so a partial total is a lower bound
    (`at_least` True: "at least N"). An incomplete score only carries the risk band its known
    parameters already prove (high from 7, medium from 5, low-medium from a single 3) and never
    "low": risk is None when nothing higher is proven. total is None only when nothing was
    scored. `applicable` is False below the policy's NEWS2 age; the score is shown, not used.
    """

    components: Mapping[str, int | None]
    total: int | None
    risk: News2Risk | None
    response: str | None
    complete: bool
    missing: tuple[str, ...]
    scale: Literal[1, 2]
    applicable: bool
    at_least: bool = False

    @property
    def response_code(self) -> str | None:
        """The response as a code a page words in its own language (the sentence is English):
        the risk band, "low_zero" for a complete 0, "unknown" when a partial score proves no
        band, None when nothing was scored."""
        if self.total is None:
            return None
        if self.risk is None:
            return "unknown"
        if self.risk == News2Risk.LOW and self.total == 0 and self.complete:
            return "low_zero"
        return str(self.risk)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "risk": self.risk,
            "components": dict(self.components),
            "complete": self.complete,
            "missing": list(self.missing),
            "scale": self.scale,
            "applicable": self.applicable,
            "at_least": self.at_least,
            "response": self.response,
            "response_code": self.response_code,
        }


def news2_risk(total: int, components: Sequence[int]) -> News2Risk:
    if total >= 7:
        return News2Risk.HIGH
    if total >= 5:
        return News2Risk.MEDIUM
    if any(c == 3 for c in components):
        return News2Risk.LOW_MEDIUM
    return News2Risk.LOW


def proven_risk(total: int, components: Sequence[int]) -> News2Risk | None:
    """The band a partial total already proves; None where only "low" would follow.

    Missing parameters can only add points, so high, medium and low-medium stand once the known
    parameters reach them; "low" cannot be proven while anything is missing.
    """
    risk = news2_risk(total, components)
    return None if risk == News2Risk.LOW else risk


def _partial_response(risk: News2Risk | None, total: int, missing: Sequence[str]) -> str:
    what = ", ".join(missing)
    if risk is None:
        return f"At least {total}; not scored: {what}. Risk unknown until these are measured."
    return f"At least {total}; not scored: {what}. " + _RESPONSES[(risk, False)]


def news2(vitals: Vitals, policy: Policy = DEFAULT_POLICY) -> News2:
    v = vitals
    spo2: int | None = None
    if v.spo2 is not None:
        spo2 = (
            news2_spo2_scale_1(v.spo2)
            if v.spo2_scale == 1
            else news2_spo2_scale_2(v.spo2, v.on_oxygen)
        )
    components: dict[str, int | None] = {
        "respiratory_rate": (
            None if v.respiratory_rate is None else news2_respiratory_rate(v.respiratory_rate)
        ),
        "spo2": spo2,
        "air_or_oxygen": None if v.on_oxygen is None else news2_air_or_oxygen(v.on_oxygen),
        "systolic_bp": None if v.systolic_bp is None else news2_systolic_bp(v.systolic_bp),
        "pulse": None if v.pulse is None else news2_pulse(v.pulse),
        "consciousness": None if v.consciousness is None else news2_consciousness(v.consciousness),
        "temperature": None if v.temperature_c is None else news2_temperature(v.temperature_c),
    }
    scored = [c for c in components.values() if c is not None]
    missing = tuple(name for name, c in components.items() if c is None)
    total = sum(scored) if scored else None
    complete = not missing
    risk: News2Risk | None
    response: str | None
    if total is None:
        risk, response = None, None
    elif complete:
        risk = news2_risk(total, scored)
        response = _RESPONSES[(risk, risk == News2Risk.LOW and total == 0)]
    else:
        risk = proven_risk(total, scored)
        response = _partial_response(risk, total, missing)
    return News2(
        components=MappingProxyType(components),
        total=total,
        risk=risk,
        response=response,
        complete=complete,
        missing=missing,
        scale=v.spo2_scale,
        applicable=v.age_years >= policy.news2_from_age_years,
        at_least=total is not None and not complete,
    )
