"""What a caller reports: the symptom vocabulary and the vitals, validated on construction."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final, Literal

from kernel.errors import FieldRuleError
from triage.vocabulary import Consciousness


class VitalsOutOfRange(FieldRuleError):
    """A reported value that cannot be right (or an unknown code); names the field and the rule."""

    code: ClassVar[str] = "vitals_out_of_range"


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


# (low, high, unit): values outside are refused, never clipped. Diastolic 20-200 and age
# 0-130 are ours; the rest are the examples of docs/clinical-rules.md.
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
        if self.consciousness is not None:
            if self.consciousness not in tuple(Consciousness):
                raise VitalsOutOfRange(
                    "consciousness",
                    self.consciousness,
                    "must be one of " + ", ".join(Consciousness),
                )
            set_(self, "consciousness", Consciousness(self.consciousness))
        if isinstance(self.symptoms, str):
            raise VitalsOutOfRange("symptoms", self.symptoms, "must be a list of symptom codes")
        for code in self.symptoms:
            if code not in SYMPTOMS:
                raise VitalsOutOfRange("symptoms", code, "unknown symptom code")
        set_(self, "symptoms", tuple(dict.fromkeys(self.symptoms)))
        if isinstance(self.comorbidities, str):
            raise VitalsOutOfRange("comorbidities", self.comorbidities, "must be a list")
        set_(self, "comorbidities", tuple(self.comorbidities))
