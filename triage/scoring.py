"""Phone triage rules: NEWS2, the Ministry of Health warning signs, severity class, disposition."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal

from kernel.errors import FieldRuleError

Consciousness = Literal["alert", "confusion", "voice", "pain", "unresponsive"]
Risk = Literal["low", "low-medium", "medium", "high"]
Severity = Literal["mild", "moderate", "severe", "critical"]
Action = Literal["home_care", "transfer"]
LevelOfCare = Literal["oxygen", "icu"]
Urgency = Literal["urgent", "emergency"]

CONSCIOUSNESS_LEVELS: Final[tuple[str, ...]] = (
    "alert",
    "confusion",
    "voice",
    "pain",
    "unresponsive",
)

NEWS2_VERSION: Final = "news2-rcp-2017"

# The order the NEWS2 chart lists its parameters; dicts keep it for display.
NEWS2_PARAMETERS: Final[tuple[str, ...]] = (
    "respiratory_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

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


class VitalsOutOfRange(FieldRuleError):
    """A reported value that cannot be right (or an unknown code); names the field and the rule."""

    code: ClassVar[str] = "vitals_out_of_range"


# ---------------------------------------------------------------------------
# Versioned rule sets and our settings


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
DEFAULT_RULE_SET_ID: Final = MOH_261_2022.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Every choice CLINICAL.md leaves to us, as a setting the app can override.

    Change `name` whenever a value changes: it is recorded in each assessment's rules_version.
    """

    name: str = "default/r1"

    # Who counts as an adult for the respiratory-rate warning sign: the decree's child bands
    # stop at 12, so 12 and over take the adult threshold.
    adult_from_age_years: float = 12.0
    # The decree gives no band under 1 year; WHO fast breathing (CLINICAL.md section 3) fills it.
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
    # CLINICAL.md names three risk factors; comorbidity is recorded but off by default.
    comorbidity_is_risk_factor: bool = False


DEFAULT_POLICY: Final = Policy()


# ---------------------------------------------------------------------------
# Symptom vocabulary


@dataclass(frozen=True, slots=True)
class Symptom:
    code: str
    en: str
    vi: str
    warning_sign: str | None = None


SYMPTOMS: Final[Mapping[str, Symptom]] = MappingProxyType(
    {
        s.code: s
        for s in (
            Symptom("fever", "Fever", "Sốt"),
            Symptom("cough", "Cough", "Ho"),
            Symptom("sore_throat", "Sore throat", "Đau họng"),
            Symptom("runny_nose", "Runny or blocked nose", "Chảy nước mũi, nghẹt mũi"),
            Symptom("loss_of_smell_or_taste", "Loss of smell or taste", "Mất khứu giác, vị giác"),
            Symptom("fatigue", "Tiredness", "Mệt mỏi"),
            Symptom("headache", "Headache", "Đau đầu"),
            Symptom("muscle_pain", "Muscle aches", "Đau mỏi cơ"),
            Symptom("diarrhoea", "Diarrhoea", "Tiêu chảy"),
            Symptom("vomiting", "Vomiting", "Nôn"),
            Symptom("shortness_of_breath", "Shortness of breath", "Khó thở", "shortness_of_breath"),
            Symptom(
                "severe_shortness_of_breath",
                "Severe shortness of breath",
                "Khó thở nặng",
                "shortness_of_breath",
            ),
            Symptom("grunting", "Grunting (child)", "Thở rên (trẻ em)", "shortness_of_breath"),
            Symptom(
                "chest_indrawing",
                "Chest indrawing (child)",
                "Rút lõm lồng ngực (trẻ em)",
                "shortness_of_breath",
            ),
            Symptom(
                "nasal_flaring",
                "Nasal flaring (child)",
                "Phập phồng cánh mũi (trẻ em)",
                "shortness_of_breath",
            ),
            Symptom(
                "persistent_chest_pain",
                "Persistent chest pain or tightness",
                "Đau tức ngực kéo dài",
                "chest_pain",
            ),
            Symptom(
                "cyanosis", "Blue lips or nails", "Tím môi, tím đầu móng tay, móng chân", "cyanosis"
            ),
            Symptom("cold_extremities", "Cold hands and feet", "Lạnh tay, chân", "cyanosis"),
            Symptom("cannot_drink", "Cannot drink", "Không uống được", "poor_feeding"),
            Symptom("poor_feeding", "Poor feeding or eating", "Bú kém, ăn kém", "poor_feeding"),
            Symptom(
                "mis_c_signs",
                "Signs of MIS-C (child)",
                "Dấu hiệu hội chứng viêm đa hệ thống (MIS-C) ở trẻ em",
                "mis_c",
            ),
            Symptom(
                "new_acute_illness",
                "A new acute illness (e.g. dengue)",
                "Mắc bệnh cấp tính khác (ví dụ sốt xuất huyết)",
                "new_acute_illness",
            ),
            Symptom(
                "worried",
                "Anything else that worries the patient or doctor",
                "Dấu hiệu khác khiến người bệnh hoặc bác sĩ lo lắng",
                "worried",
            ),
            # Findings a doctor on the line records; they define "critical" (our default).
            Symptom("invasive_ventilation", "Needs invasive ventilation", "Cần thở máy xâm nhập"),
            Symptom("shock", "Shock", "Sốc"),
            Symptom("organ_failure", "Organ failure", "Suy tạng"),
            Symptom("ards", "ARDS", "Hội chứng suy hô hấp cấp tiến triển (ARDS)"),
            Symptom("sepsis", "Sepsis", "Nhiễm khuẩn huyết"),
        )
    }
)


# ---------------------------------------------------------------------------
# Input

# (low, high, unit): values outside are refused, never clipped. Diastolic 20-200 and age
# 0-130 are ours; the rest are CLINICAL.md's examples.
PLAUSIBLE_RANGES: Final[Mapping[str, tuple[float, float, str]]] = MappingProxyType(
    {
        "age_years": (0, 130, "years"),
        "respiratory_rate": (0, 80, "breaths/min"),
        "spo2": (50, 100, "%"),
        "systolic_bp": (40, 300, "mmHg"),
        "diastolic_bp": (20, 200, "mmHg"),
        "pulse": (20, 250, "beats/min"),
        "temperature_c": (30, 45, "°C"),
        "vaccination_doses": (0, 10, "doses"),
    }
)


def _number(name: str, value: object, *, whole: bool) -> float | int:
    low, high, unit = PLAUSIBLE_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VitalsOutOfRange(name, value, "must be a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise VitalsOutOfRange(name, value, f"must be between {low:g} and {high:g} {unit}")
    if whole:
        if value != int(value):
            raise VitalsOutOfRange(name, value, "must be a whole number")
        return int(value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Vitals:
    """What the caller reports. Anything left None is not scored; it never counts as normal.

    Construction validates: an implausible value raises VitalsOutOfRange naming the field.
    Counts (rates, SpO2, blood pressure, doses) must be whole numbers; 20.0 is accepted as 20.
    """

    age_years: float
    respiratory_rate: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    pulse: int | None = None
    consciousness: Consciousness | None = None
    temperature_c: float | None = None
    symptoms: Sequence[str] = ()
    pregnant: bool | None = None
    vaccination_doses: int | None = None
    comorbidities: Sequence[str] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "age_years", _number("age_years", self.age_years, whole=False))
        for name in (
            "respiratory_rate",
            "spo2",
            "systolic_bp",
            "diastolic_bp",
            "pulse",
            "vaccination_doses",
        ):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _number(name, value, whole=True))
        if self.temperature_c is not None:
            _number("temperature_c", self.temperature_c, whole=False)
        if (
            self.systolic_bp is not None
            and self.diastolic_bp is not None
            and self.diastolic_bp >= self.systolic_bp
        ):
            # Usually the two numbers swapped on the phone; ask again rather than guess.
            raise VitalsOutOfRange(
                "diastolic_bp", self.diastolic_bp, "must be lower than systolic_bp"
            )
        if self.spo2_scale not in (1, 2):
            raise VitalsOutOfRange("spo2_scale", self.spo2_scale, "must be 1 or 2")
        for name in ("on_oxygen", "pregnant"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise VitalsOutOfRange(name, value, "must be true, false or null")
        if self.consciousness is not None and self.consciousness not in CONSCIOUSNESS_LEVELS:
            raise VitalsOutOfRange(
                "consciousness",
                self.consciousness,
                "must be one of " + ", ".join(CONSCIOUSNESS_LEVELS),
            )
        if isinstance(self.symptoms, str):
            raise VitalsOutOfRange("symptoms", self.symptoms, "must be a list of symptom codes")
        for code in self.symptoms:
            if code not in SYMPTOMS:
                raise VitalsOutOfRange("symptoms", code, "unknown symptom code")
        set_(self, "symptoms", tuple(dict.fromkeys(self.symptoms)))
        if isinstance(self.comorbidities, str):
            raise VitalsOutOfRange("comorbidities", self.comorbidities, "must be a list")
        set_(self, "comorbidities", tuple(self.comorbidities))


# ---------------------------------------------------------------------------
# NEWS2


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


def news2_consciousness(consciousness: str) -> int:
    return 0 if consciousness == "alert" else 3


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


_RESPONSES: Final[Mapping[tuple[str, bool], str]] = MappingProxyType(
    {
        ("low", True): "Low: continue monitoring, reassess every 12 hours.",
        ("low", False): "Low: reassess every 4-6 hours.",
        ("low-medium", False): "Low-medium: observe hourly; a doctor reviews.",
        ("medium", False): "Medium: urgent response.",
        ("high", False): "High: emergency assessment; consider transfer to higher-level care.",
    }
)


@dataclass(frozen=True, slots=True)
class News2:
    """A NEWS2 score from whatever parameters were reported.

    The total is the sum of the scored components: a missing parameter is left out (None in
    components, named in `missing`, `complete` False), so a partial total is a lower bound and
    its risk band can only understate. total and risk are None only when nothing was scored.
    `applicable` is False below the policy's NEWS2 age; the score is then shown but not used.
    """

    components: Mapping[str, int | None]
    total: int | None
    risk: Risk | None
    response: str | None
    complete: bool
    missing: tuple[str, ...]
    scale: Literal[1, 2]
    applicable: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "risk": self.risk,
            "components": dict(self.components),
            "complete": self.complete,
            "missing": list(self.missing),
            "scale": self.scale,
            "applicable": self.applicable,
            "response": self.response,
        }


def news2_risk(total: int, components: Sequence[int]) -> Risk:
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any(c == 3 for c in components):
        return "low-medium"
    return "low"


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
    risk = None if total is None else news2_risk(total, scored)
    response = None if risk is None else _RESPONSES[(risk, risk == "low" and total == 0)]
    return News2(
        components=MappingProxyType(components),
        total=total,
        risk=risk,
        response=response,
        complete=not missing,
        missing=missing,
        scale=v.spo2_scale,
        applicable=v.age_years >= policy.news2_from_age_years,
    )


# ---------------------------------------------------------------------------
# Ministry of Health warning signs


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


def _warning_signs(vitals: Vitals, rule_set: RuleSet, policy: Policy) -> dict[str, list[str]]:
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
    if v.consciousness is not None and v.consciousness != "alert":
        add("altered_consciousness", f"consciousness: {v.consciousness}")
    return {code: found[code] for code in WARNING_SIGNS if code in found}


def warning_signs(
    vitals: Vitals, rule_set: RuleSet = MOH_261_2022, policy: Policy = DEFAULT_POLICY
) -> tuple[str, ...]:
    return tuple(_warning_signs(vitals, rule_set, policy))


# ---------------------------------------------------------------------------
# Severity class


def severity(vitals: Vitals, policy: Policy = DEFAULT_POLICY) -> Severity | None:
    """HCMC severity class; None when neither RR nor SpO2 is known and no symptom decides.

    The class's RR limits are adult values, so below policy.adult_from_age_years the
    respiratory rate is left out (children's rates are judged by the warning signs instead).
    When one of RR and SpO2 is missing, the class is decided on the other.
    """
    codes = set(vitals.symptoms)
    if codes & policy.critical_symptoms:
        return "critical"
    rr = vitals.respiratory_rate if vitals.age_years >= policy.adult_from_age_years else None
    spo2 = vitals.spo2
    if (
        codes & policy.severe_symptoms
        or (rr is not None and rr > policy.severe_rr_above)
        or (spo2 is not None and spo2 < policy.severe_spo2_below)
    ):
        return "severe"
    if rr is None and spo2 is None:
        return None
    rr_moderate = rr is not None and rr >= policy.mild_rr_below
    spo2_moderate = spo2 is not None and spo2 <= policy.mild_spo2_above
    moderate = (
        rr_moderate or spo2_moderate
        if policy.moderate_reading == "either"
        else rr_moderate and spo2_moderate
    )
    return "moderate" if moderate else "mild"


# ---------------------------------------------------------------------------
# Disposition


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


def disposition(
    vitals: Vitals,
    score: News2,
    signs: Mapping[str, Sequence[str]],
    severity_class: Severity | None,
    policy: Policy = DEFAULT_POLICY,
) -> Disposition:
    """Our default disposition table (CLINICAL.md section 2); a doctor may override it."""
    v = vitals
    total = score.total if score.applicable else None

    icu: list[str] = []
    if total is not None and total >= policy.icu_news2_from:
        icu.append(f"NEWS2 {total} >= {policy.icu_news2_from}")
    if v.spo2 is not None and v.spo2 < policy.icu_spo2_below:
        icu.append(f"SpO2 {v.spo2}% < {policy.icu_spo2_below}%")
    if policy.icu_if_altered_consciousness and v.consciousness not in (None, "alert"):
        icu.append(f"altered consciousness ({v.consciousness})")
    if v.systolic_bp is not None and v.systolic_bp < policy.icu_systolic_below:
        icu.append(f"systolic {v.systolic_bp} mmHg < {policy.icu_systolic_below}")
    if policy.icu_if_critical and severity_class == "critical":
        icu.append("critical illness")

    oxygen = [f"warning sign {code}: {'; '.join(why)}" for code, why in signs.items()]
    if total is not None and total >= policy.transfer_news2_from:
        oxygen.append(f"NEWS2 {total} >= {policy.transfer_news2_from}")

    if icu:
        return Disposition(
            "transfer", "icu", policy.icu_tier, "emergency", None, tuple(icu + oxygen)
        )
    if oxygen:
        return Disposition("transfer", "oxygen", policy.oxygen_tier, "urgent", None, tuple(oxygen))

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

    if score.applicable and score.risk == "low-medium":
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
    return Disposition("home_care", None, None, None, hours, tuple(reasons))


# ---------------------------------------------------------------------------
# Everything at once


@dataclass(frozen=True, slots=True)
class Assessment:
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


def rules_version(rule_set: RuleSet, policy: Policy = DEFAULT_POLICY) -> str:
    """E.g. "news2-rcp-2017+moh-261-2022/r1+policy:default/r1": what produced an assessment."""
    return f"{rule_set.version}+policy:{policy.name}"


def score(
    vitals: Vitals, rule_set: RuleSet = MOH_261_2022, policy: Policy = DEFAULT_POLICY
) -> Assessment:
    news = news2(vitals, policy)
    signs = _warning_signs(vitals, rule_set, policy)
    severity_class = severity(vitals, policy)
    return Assessment(
        news2=news,
        warning_signs=tuple(signs),
        severity=severity_class,
        disposition=disposition(vitals, news, signs, severity_class, policy),
        rules_version=rules_version(rule_set, policy),
        vitals=vitals,
    )
