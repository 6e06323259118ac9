"""Shift booking: doctors book hours per branch they serve; supervisors see coverage against Erlang C need."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import doctors, erlang
from hotline.kpis import offered_calls
from hotline.models import Branch, Doctor, Shift
from hotline.routing.router import DEFAULT_HANDLE_TIME_S, router_for
from kernel import events
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

MAX_SHIFT = timedelta(hours=12)
FORECAST_DAYS = 7


def book(
    session: Session, doctor: Doctor, *, branch: Branch, starts_at: datetime, ends_at: datetime
) -> Shift:
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None:
            raise InvalidInput(field, "must carry a timezone offset (e.g. +07:00 or Z)")
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "must be after starts_at")
    if ends_at - starts_at > MAX_SHIFT:
        raise InvalidInput("ends_at", f"a shift lasts at most {MAX_SHIFT.seconds // 3600} hours")
    if ends_at <= utcnow():
        raise InvalidInput("ends_at", "must be in the future")
    if branch.digit not in doctors.doctor_branch_prefs(doctor):
        raise InvalidInput("branch", f"you do not serve branch {branch.digit}")
    # One doctor cannot be on two shifts at once, on any branch.
    clash = session.scalar(
        select(Shift.id).where(
            Shift.doctor_id == doctor.id, Shift.starts_at < ends_at, Shift.ends_at > starts_at
        )
    )
    if clash:
        raise Conflict("overlaps a shift you already booked", code="shift_overlap")
    shift = Shift(doctor_id=doctor.id, branch_id=branch.id, starts_at=starts_at, ends_at=ends_at)
    session.add(shift)
    session.flush()
    events.record(
        session,
        kind="shift.booked",
        subject_type="shift",
        subject_id=shift.id,
        actor=f"doctor:{doctor.id}",
        data={
            "branch": branch.digit,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return shift


def list_shifts(
    session: Session,
    *,
    doctor: Doctor | None = None,
    branch: Branch | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Shift]:
    query = select(Shift).order_by(Shift.starts_at)
    if doctor is not None:
        query = query.where(Shift.doctor_id == doctor.id)
    if branch is not None:
        query = query.where(Shift.branch_id == branch.id)
    if start is not None:
        query = query.where(Shift.ends_at > start)
    if end is not None:
        query = query.where(Shift.starts_at < end)
    return list(session.scalars(query).all())


def cancel(session: Session, doctor: Doctor, shift_id: str) -> None:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id!r}", code="shift_not_found")
    if shift.doctor_id != doctor.id:
        raise Forbidden("only the doctor who booked a shift can cancel it", code="not_your_shift")
    if shift.starts_at <= utcnow():
        # The hours already worked are history the coverage view relies on.
        raise Conflict("the shift has started; it can no longer be cancelled", code="shift_started")
    session.delete(shift)
    events.record(
        session,
        kind="shift.cancelled",
        subject_type="shift",
        subject_id=shift_id,
        actor=f"doctor:{doctor.id}",
    )


def hourly_forecast(session: Session, branch: Branch, day: date) -> list[float]:
    """Calls per hour for each local hour of `day`: the average of the previous 7 days."""
    tz = ZoneInfo(branch.timezone)
    first = datetime.combine(day - timedelta(days=FORECAST_DAYS), time(), tz)
    last = datetime.combine(day, time(), tz)
    counts = [0] * 24
    for call in offered_calls(session, branch, first, last):
        counts[call.created_at.astimezone(tz).hour] += 1
    return [c / FORECAST_DAYS for c in counts]


def coverage(
    session: Session,
    r: redis.Redis,
    branch: Branch,
    *,
    day: date,
    calls_per_hour: float | None = None,
    aht_s: float | None = None,
) -> dict[str, Any]:
    """Per local hour of `day`: doctors booked against the Erlang C need; gaps flagged."""
    tz = ZoneInfo(branch.timezone)
    handle = aht_s if aht_s is not None else router_for(r).handle_time(branch.digit)
    handle = handle or DEFAULT_HANDLE_TIME_S
    forecast = (
        [float(calls_per_hour)] * 24
        if calls_per_hour is not None
        else hourly_forecast(session, branch, day)
    )
    day_start = datetime.combine(day, time(), tz)
    shifts = list_shifts(session, branch=branch, start=day_start, end=day_start + timedelta(days=1))
    names = dict(
        session.execute(
            select(Doctor.id, Doctor.full_name).where(Doctor.id.in_({s.doctor_id for s in shifts}))
        ).all()
    )
    hours = []
    for h in range(24):
        h_start = day_start + timedelta(hours=h)
        h_end = h_start + timedelta(hours=1)
        # Doctor-hours booked: a doctor on for half the hour counts as half a doctor.
        staffed = 0.0
        doctors = []
        for s in shifts:
            overlap = (min(s.ends_at, h_end) - max(s.starts_at, h_start)).total_seconds()
            if overlap > 0:
                staffed += overlap / 3600
                doctors.append(names.get(s.doctor_id, s.doctor_id))
        advice = erlang.staffing(forecast[h], handle, branch.sl_target, branch.sl_threshold_s)
        hours.append(
            {
                "hour": h,
                "starts_at": h_start.isoformat(),
                "forecast_calls_per_hour": round(forecast[h], 2),
                "needed": advice.agents,
                "booked": round(staffed, 2),
                "doctors": sorted(set(doctors)),
                "gap": round(max(0.0, advice.agents - staffed), 2),
                "short": staffed + 1e-9 < advice.agents,
            }
        )
    return {
        "branch": branch.digit,
        "date": day.isoformat(),
        "timezone": branch.timezone,
        "aht_s": handle,
        "forecast": "calls_per_hour" if calls_per_hour is not None else "last_7_days",
        "sl_target": branch.sl_target,
        "sl_threshold_s": branch.sl_threshold_s,
        "hours": hours,
        "short_hours": sum(1 for h in hours if h["short"]),
    }
