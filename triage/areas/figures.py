"""The counts behind a ward's indicators, from triage's own patients and their assessments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db import utcnow
from triage.areas.models import Ward
from triage.models import Assessment, Patient
from triage.vocabulary import IsolationPlace, LevelOfCare, Outcome

# Days are counted on the city's calendar: "the last 7 days" means 7 local dates, today included.
LOCAL_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
WINDOW_DAYS: Final = 7

# (signed at, level of care decided or None) of one patient, oldest first.
DecisionHistory = list[tuple[datetime, str | None]]


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


@dataclass(frozen=True, slots=True)
class Window:
    """This week (WINDOW_DAYS local dates up to today) and the week before it."""

    now: datetime
    days: tuple[date, ...]

    @classmethod
    def ending(cls, now: datetime) -> Window:
        first = local_today(now) - timedelta(days=WINDOW_DAYS - 1)
        return cls(now, tuple(first + timedelta(days=i) for i in range(WINDOW_DAYS)))

    @property
    def first(self) -> date:
        return self.days[0]

    @property
    def today(self) -> date:
        return self.days[-1]

    @property
    def previous_first(self) -> date:
        return self.first - timedelta(days=WINDOW_DAYS)

    def within(self, day: date | None) -> bool:
        return day is not None and self.first <= day <= self.today

    def end_of(self, day: date) -> datetime:
        """The end of a local day, or now for today."""
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL_TZ)
        return min(midnight, self.now)


@dataclass
class WardFigures:
    """The counts behind one ward's indicators: what a level traces back to."""

    new_cases_7d: int = 0
    deaths_7d: int = 0
    oxygen_daily: list[int] = field(default_factory=lambda: [0] * WINDOW_DAYS)
    home_patients: int = 0
    home_new_7d: int = 0
    home_new_prev_7d: int = 0


def _decision_histories(
    session: Session, patient_ids: Sequence[str], now: datetime
) -> dict[str, DecisionHistory]:
    histories: dict[str, DecisionHistory] = defaultdict(list)
    for i in range(0, len(patient_ids), 500):
        rows = session.execute(
            select(Assessment.patient_id, Assessment.signed_at, Assessment.decision)
            .where(Assessment.patient_id.in_(patient_ids[i : i + 500]), Assessment.signed_at <= now)
            .order_by(Assessment.signed_at, Assessment.id)
        )
        for pid, signed_at, decision in rows:
            histories[pid].append((signed_at, (decision or {}).get("level_of_care")))
    return histories


def _on_oxygen(p: Patient, history: DecisionHistory, until: datetime) -> bool:
    """The latest assessment by then says oxygen or above, or the patient is in hospital now (the
    record keeps no admission date, so a hospital stay counts from registration)."""
    latest = None
    for signed_at, level in history:
        if signed_at <= until:
            latest = level
    in_hospital = p.created_at <= until and p.isolation_place == IsolationPlace.HOSPITAL
    return latest in tuple(LevelOfCare) or in_hospital


def _count(f: WardFigures, p: Patient, history: DecisionHistory, w: Window) -> None:
    pos = p.positive_test_on
    if w.within(pos):
        f.new_cases_7d += 1
    if p.outcome == Outcome.DIED and w.within(p.outcome_on):
        f.deaths_7d += 1
    if p.outcome is None and p.isolation_place == IsolationPlace.HOME:
        f.home_patients += 1
        if w.within(pos):
            f.home_new_7d += 1
        elif pos is not None and w.previous_first <= pos < w.first:
            f.home_new_prev_7d += 1
    for i, day in enumerate(w.days):
        if p.outcome is not None and p.outcome_on is not None and p.outcome_on < day:
            continue
        if _on_oxygen(p, history, w.end_of(day)):
            f.oxygen_daily[i] += 1


def ward_figures(session: Session, now: datetime | None = None) -> dict[str, WardFigures]:
    """Per ward, from patients and their assessments: cases, deaths, oxygen-level patients per day."""
    w = Window.ending(now or utcnow())
    figures = {code: WardFigures() for code in session.scalars(select(Ward.code))}
    # Patients that can count in any indicator: still in care, or whose outcome is recent.
    patients = session.scalars(
        select(Patient).where(
            Patient.ward_code.in_(list(figures)),
            (Patient.outcome.is_(None)) | (Patient.outcome_on >= w.previous_first),
        )
    ).all()
    histories = _decision_histories(session, [p.id for p in patients], w.now)
    for p in patients:
        _count(figures[p.ward_code or ""], p, histories.get(p.id, []), w)
    return figures
