"""HTTP routes for supervision and the console's extras: KPIs, staffing, shifts, coverage, caller history."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from hotline import branches, doctors, erlang, kpis, schemas, shifts
from hotline.models import Branch, Call, Doctor, Shift
from hotline.routes import CurrentDoctor, ValidCall
from hotline.routing.router import router_for
from kernel.accounts import Principal, Role
from kernel.db import utcnow
from kernel.deps import RedisDep, SessionDep, require_roles
from kernel.errors import Forbidden, InvalidInput
from kernel.input_guard import IsoDatetime
from kernel.settings import get_settings

router = APIRouter(prefix="/api/v1")

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
DoctorOrSupervisor = Annotated[Principal, Depends(require_roles(Role.DOCTOR, Role.SUPERVISOR))]
DEFAULT_WINDOW = timedelta(hours=24)
HISTORY_LIMIT = 20


def valid_branch(session: SessionDep, digit: str) -> Branch:
    return branches.branch_by_digit(session, digit)


ValidBranch = Annotated[Branch, Depends(valid_branch)]


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, the backend's clock.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def window(
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
) -> tuple[datetime, datetime]:
    """[from, to): the last 24 hours unless given; ISO-8601, UTC when no offset is given."""
    end_at = _aware(end) or utcnow()
    start_at = _aware(start) or end_at - DEFAULT_WINDOW
    if start_at >= end_at:
        raise InvalidInput("from", "must be before to")
    return start_at, end_at


Window = Annotated[tuple[datetime, datetime], Depends(window)]


# --------------------------------------------------------------------------- KPIs, staffing

# Bounds on the calculator's inputs: far beyond any hotline, short of overflowing the maths.
MAX_CALLS_PER_HOUR = 100_000
MAX_SECONDS = 86_400


@router.get("/branches/{digit}/kpis", response_model=schemas.BranchKpisOut, tags=["supervision"])
def branch_kpis(
    session: SessionDep, r: RedisDep, _p: Supervisor, branch: ValidBranch, span: Window
) -> dict[str, Any]:
    start, end = span
    return kpis.branch_kpis(session, r, branch, start=start, end=end)


@router.get(
    "/branches/{digit}/staffing",
    response_model=schemas.StaffingOut,
    tags=["supervision"],
    responses={422: {"description": "an input that cannot be right; names the field"}},
)
def branch_staffing(
    _p: Supervisor,
    branch: ValidBranch,
    calls_per_hour: Annotated[float, Query(ge=0, le=MAX_CALLS_PER_HOUR)],
    aht_s: Annotated[float, Query(gt=0, le=MAX_SECONDS)],
    target: Annotated[float | None, Query(gt=0, le=1)] = None,
    threshold_s: Annotated[float | None, Query(gt=0, le=MAX_SECONDS)] = None,
) -> dict[str, Any]:
    goal = branch.sl_target if target is None else target
    within = branch.sl_threshold_s if threshold_s is None else threshold_s
    try:
        advice = erlang.staffing(calls_per_hour, aht_s, goal, within)
    except erlang.StaffingInputError as exc:
        raise InvalidInput(exc.field, exc.rule) from None
    return {
        "branch": branch.digit,
        "calls_per_hour": calls_per_hour,
        "aht_s": aht_s,
        "target": goal,
        "threshold_s": within,
        "doctors_needed": advice.agents,
        "service_level": round(advice.service_level, 4),
        "asa_s": round(advice.asa_s, 2),
        "occupancy": round(advice.occupancy, 4),
        "traffic_erlangs": round(advice.traffic_erlangs, 3),
    }


# --------------------------------------------------------------------------- shifts


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    branch: str = Field(pattern=r"^[0-9]{1,4}$", description="the branch digit")
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class ShiftOut(BaseModel):
    id: str
    doctor_id: str
    branch: str
    starts_at: datetime
    ends_at: datetime


def shift_out(shift: Shift, digits: dict[int, str]) -> ShiftOut:
    return ShiftOut(
        id=shift.id,
        doctor_id=shift.doctor_id,
        branch=digits.get(shift.branch_id, ""),
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
    )


def _branch_digits(session: SessionDep) -> dict[int, str]:
    return dict(session.execute(select(Branch.id, Branch.digit)).all())


@router.post("/shifts", response_model=ShiftOut, status_code=201, tags=["shifts"])
def book_shift(session: SessionDep, doctor: CurrentDoctor, body: ShiftIn) -> ShiftOut:
    try:
        branch = branches.branch_by_digit(session, body.branch)
    except branches.UnknownBranch:
        raise InvalidInput("branch", f"no open branch has digit {body.branch!r}") from None
    shift = shifts.book(
        session, doctor, branch=branch, starts_at=body.starts_at, ends_at=body.ends_at
    )
    return shift_out(shift, {branch.id: branch.digit})


@router.get("/shifts", response_model=list[ShiftOut], tags=["shifts"])
def list_shifts(
    session: SessionDep,
    principal: DoctorOrSupervisor,
    span: Window,
    branch: Annotated[str | None, Query(pattern=r"^[0-9]{1,4}$")] = None,
) -> list[ShiftOut]:
    """A doctor sees their own shifts; a supervisor sees everyone's."""
    start, end = span
    doctor = (
        doctors.doctor_for_user(session, principal.id) if principal.role is Role.DOCTOR else None
    )
    on = branches.branch_by_digit(session, branch) if branch else None
    rows = shifts.list_shifts(session, doctor=doctor, branch=on, start=start, end=end)
    digits = _branch_digits(session)
    return [shift_out(s, digits) for s in rows]


@router.delete("/shifts/{shift_id}", status_code=204, tags=["shifts"])
def cancel_shift(session: SessionDep, doctor: CurrentDoctor, shift_id: str) -> None:
    shifts.cancel(session, doctor, shift_id)


@router.get(
    "/branches/{digit}/coverage",
    response_model=schemas.CoverageOut,
    tags=["shifts", "supervision"],
)
def branch_coverage(
    session: SessionDep,
    r: RedisDep,
    _p: Supervisor,
    branch: ValidBranch,
    day: Annotated[date | None, Query(alias="date")] = None,
    calls_per_hour: Annotated[float | None, Query(ge=0, le=MAX_CALLS_PER_HOUR)] = None,
    aht_s: Annotated[float | None, Query(gt=0, le=MAX_SECONDS)] = None,
) -> dict[str, Any]:
    """Per local hour: doctors booked vs the Erlang C need; the forecast defaults to the last 7 days."""
    from zoneinfo import ZoneInfo

    on = day or utcnow().astimezone(ZoneInfo(branch.timezone)).date()
    try:
        return shifts.coverage(
            session, r, branch, day=on, calls_per_hour=calls_per_hour, aht_s=aht_s
        )
    except erlang.StaffingInputError as exc:
        raise InvalidInput(exc.field, exc.rule) from None


# --------------------------------------------------------------------------- overview


@router.get("/supervisor/overview", response_model=schemas.OverviewOut, tags=["supervision"])
def supervisor_overview(session: SessionDep, r: RedisDep, _p: Supervisor) -> dict[str, Any]:
    """Every branch's live figures and waiting calls, and every doctor with their state."""
    branches = list(
        session.scalars(select(Branch).where(Branch.active.is_(True)).order_by(Branch.digit))
    )
    figures = kpis.live_figures(r, [b.digit for b in branches])
    waiting = session.scalars(
        select(Call)
        .where(Call.status.in_(("queued", "offered", "callback_pending")))
        .order_by(Call.priority, Call.queued_at)
    ).all()
    now = clock.time()
    calls_by_branch: dict[str, list[dict[str, Any]]] = {b.digit: [] for b in branches}
    for c in waiting:
        calls_by_branch.setdefault(c.branch.digit, []).append(
            {
                "call_id": c.id,
                "caller": c.caller,
                "status": c.status,
                "priority": c.priority,
                "priority_reason": c.priority_reason,
                "waited_s": round(now - c.queued_at.timestamp(), 1),
            }
        )
    routing = router_for(r)
    roster = []
    for d in session.scalars(select(Doctor).order_by(Doctor.full_name)).all():
        live = routing.doctor_state(d.id)
        roster.append(
            {
                "id": d.id,
                "full_name": d.full_name,
                "organisation": d.organisation,
                "branches": doctors.doctor_branch_prefs(d),
                "state": live.get("st") or d.presence,
                "since": d.presence_at.isoformat(),
                "call_id": live.get("call") or None,
            }
        )
    return {
        "at": utcnow().isoformat(),
        "branches": [
            {
                "digit": b.digit,
                "name": b.name,
                "name_vi": b.name_vi,
                "sl_target": b.sl_target,
                "sl_threshold_s": b.sl_threshold_s,
                **figures[b.digit],
                "calls": calls_by_branch[b.digit],
            }
            for b in branches
        ],
        "doctors": roster,
    }


# --------------------------------------------------------------------------- console extras


@router.get("/calls/{call_id}/history", response_model=schemas.CallerHistoryOut, tags=["calls"])
def caller_history(
    session: SessionDep, principal: DoctorOrSupervisor, call: ValidCall
) -> dict[str, Any]:
    """Earlier calls from this call's number, newest first (until triage adds patients)."""
    if principal.role is Role.DOCTOR:
        doctor = doctors.doctor_for_user(session, principal.id)
        if doctor.id not in (call.doctor_id, call.answered_by):
            raise Forbidden(
                "only the doctor on the call and supervisors see it", code="not_your_call"
            )
    earlier = session.scalars(
        select(Call)
        .where(Call.caller == call.caller, Call.id != call.id, Call.created_at <= call.created_at)
        .order_by(Call.created_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    names = dict(
        session.execute(
            select(Doctor.id, Doctor.full_name).where(
                Doctor.id.in_({c.doctor_id for c in earlier if c.doctor_id})
            )
        ).all()
    )
    return {
        "caller": call.caller,
        "calls": [
            {
                "call_id": c.id,
                "branch": c.branch.digit,
                "direction": c.direction,
                "status": c.status,
                "created_at": c.created_at.isoformat(),
                "answered_at": c.answered_at.isoformat() if c.answered_at else None,
                "disposition": c.disposition,
                "notes": c.notes,
                "doctor": names.get(c.doctor_id) if c.doctor_id else None,
            }
            for c in earlier
        ],
    }


@router.get("/doctors/me/timers", response_model=schemas.TimersOut, tags=["doctors"])
def my_timers(r: RedisDep, doctor: CurrentDoctor) -> dict[str, Any]:
    """The console's countdowns: offer and wrap-up lengths, and what is left of a wrap-up now."""
    s = get_settings()
    ends_ms = router_for(r).wrap_up_ends_ms(doctor.id)
    remaining = max(0.0, ends_ms / 1000 - clock.time()) if ends_ms else None
    return {
        "offer_timeout_s": s.offer_timeout_s,
        "wrapup_s": s.wrapup_s,
        "heartbeat_timeout_s": s.heartbeat_timeout_s,
        "wrapup_remaining_s": round(remaining, 1) if remaining is not None else None,
    }
