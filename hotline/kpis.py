"""Call-centre KPIs per branch: historical figures from the calls and events tables, live ones from Redis.

Definitions, for the calls of one branch created in the half-open window [from, to):

- offered: calls callers placed that entered the queue, i.e. not rejected (closed branch,
  full queue) and not tasks the centre created itself (follow-ups, call-backs to abandoned
  callers). A caller who asked to be called back keeps their call, so it stays offered.
- answered: offered calls a doctor accepted (answered_at is set).
- abandoned: offered calls whose caller hung up before a doctor accepted (abandoned_at set).
- average speed of answer (ASA): mean of answered_at - queued_at over answered calls, in
  seconds (queued_at is the caller's place in the queue, kept across re-offers).
- service level: calls answered within the branch's sl_threshold_s, divided by
  (answered + abandoned). Every abandoned call counts in the denominator, whether the caller
  gave up before or after the threshold: the strict reading of "answered within the target /
  offered, abandoned counted", which never flatters a branch whose callers give up quickly.
  Calls still waiting (or pending a call-back) are left out until they resolve. None when
  nothing resolved in the window.
- abandonment rate: abandoned / offered (None when nothing was offered).
- occupancy: the time doctors serving the branch spent offered, on_call or wrap_up, divided
  by the time they were signed in (any state but offline), inside the window and up to now;
  rebuilt from the "doctor.presence" events (data.state) and the "call.offered" events
  (data.doctor_id; an offer is not a presence event). A doctor serving two branches counts
  towards both. None when no doctor was signed in.
- doctors online: doctors serving the branch whose state is not offline, now.

Live figures (now, from hotline.routing.router.Router.branch_figures): calls waiting, the longest
current wait, doctors available and online.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.models import Branch, Call, DoctorBranch
from hotline.routing.router import router_for
from kernel.db import utcnow
from kernel.events import Event

BUSY_STATES = frozenset({"offered", "on_call", "wrap_up"})
# An offer lives for the offer timeout (seconds); this look-back finds one open at `from`.
OFFER_LOOKBACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class WindowKpis:
    branch: str
    start: datetime
    end: datetime
    sl_threshold_s: int
    sl_target: float
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    abandoned_within_threshold: int
    average_speed_of_answer_s: float | None
    service_level: float | None
    abandonment_rate: float | None
    occupancy: float | None
    busy_s: float
    signed_in_s: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["from"] = out.pop("start").isoformat()
        out["to"] = out.pop("end").isoformat()
        return out


def offered_calls(session: Session, branch: Branch, start: datetime, end: datetime) -> list[Call]:
    return list(
        session.scalars(
            select(Call).where(
                Call.branch_id == branch.id,
                Call.created_at >= start,
                Call.created_at < end,
                Call.status != "rejected",
                Call.direction != "followup",
                # Call-back tasks for abandoned callers point at the call they came from.
                Call.origin_call_id.is_(None),
            )
        ).all()
    )


def window_kpis(
    session: Session,
    branch: Branch,
    *,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> WindowKpis:
    calls = offered_calls(session, branch, start, end)
    threshold = branch.sl_threshold_s
    answered = [c for c in calls if c.answered_at is not None]
    abandoned = [c for c in calls if c.answered_at is None and c.abandoned_at is not None]
    waits = [(c.answered_at - c.queued_at).total_seconds() for c in answered if c.answered_at]
    within = sum(1 for w in waits if w <= threshold)
    abandoned_early = sum(
        1
        for c in abandoned
        if c.abandoned_at and (c.abandoned_at - c.queued_at).total_seconds() <= threshold
    )
    resolved = len(answered) + len(abandoned)
    busy_s, signed_in_s = occupancy_seconds(
        session, branch, start=start, end=min(end, now or utcnow())
    )
    return WindowKpis(
        branch=branch.digit,
        start=start,
        end=end,
        sl_threshold_s=threshold,
        sl_target=branch.sl_target,
        offered=len(calls),
        answered=len(answered),
        answered_within_threshold=within,
        abandoned=len(abandoned),
        abandoned_within_threshold=abandoned_early,
        average_speed_of_answer_s=round(sum(waits) / len(waits), 3) if waits else None,
        service_level=round(within / resolved, 4) if resolved else None,
        abandonment_rate=round(len(abandoned) / len(calls), 4) if calls else None,
        occupancy=round(busy_s / signed_in_s, 4) if signed_in_s else None,
        busy_s=round(busy_s, 3),
        signed_in_s=round(signed_in_s, 3),
    )


def _transitions(
    session: Session, doctor_ids: set[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, int, str]]]:
    """Per doctor, (at, event id, state) changes: the last one before start, then those inside."""
    timeline: dict[str, list[tuple[datetime, int, str]]] = {d: [] for d in doctor_ids}
    if not doctor_ids:
        return timeline
    last_before = (
        select(func.max(Event.id))
        .where(
            Event.kind == "doctor.presence",
            Event.subject_id.in_(doctor_ids),
            Event.at < start,
        )
        .group_by(Event.subject_id)
    )
    presence = session.scalars(
        select(Event).where(
            Event.kind == "doctor.presence",
            Event.subject_id.in_(doctor_ids),
            (Event.id.in_(last_before)) | ((Event.at >= start) & (Event.at < end)),
        )
    ).all()
    for ev in presence:
        timeline[ev.subject_id].append((ev.at, ev.id, str(ev.data.get("state", "offline"))))
    # Offers carry the doctor in their data, which is not portable to filter on in SQL;
    # the window plus a short look-back keeps the scan small.
    offers = session.scalars(
        select(Event).where(
            Event.kind == "call.offered", Event.at >= start - OFFER_LOOKBACK, Event.at < end
        )
    ).all()
    for ev in offers:
        doc = ev.data.get("doctor_id")
        if doc in timeline:
            timeline[doc].append((ev.at, ev.id, "offered"))
    for rows in timeline.values():
        rows.sort()
    return timeline


def occupancy_seconds(
    session: Session, branch: Branch, *, start: datetime, end: datetime
) -> tuple[float, float]:
    """(busy seconds, signed-in seconds) summed over the doctors serving the branch."""
    if end <= start:
        return 0.0, 0.0
    doctor_ids = set(
        session.scalars(select(DoctorBranch.doctor_id).where(DoctorBranch.branch_id == branch.id))
    )
    busy = signed_in = 0.0
    for rows in _transitions(session, doctor_ids, start, end).values():
        state, since = "offline", start
        for at, _id, new_state in rows:
            at = max(at, start)
            span = (at - since).total_seconds()
            if state != "offline":
                signed_in += span
                if state in BUSY_STATES:
                    busy += span
            state, since = new_state, at
        span = (end - since).total_seconds()
        if state != "offline":
            signed_in += span
            if state in BUSY_STATES:
                busy += span
    return busy, signed_in


def live_figures(r: redis.Redis, digits: list[str]) -> dict[str, dict[str, Any]]:
    """Calls waiting, longest wait, doctors available and online, per branch, now."""
    return router_for(r).branch_figures(digits)


def branch_kpis(
    session: Session,
    r: redis.Redis,
    branch: Branch,
    *,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> dict[str, Any]:
    window = window_kpis(session, branch, start=start, end=end, now=now)
    live = live_figures(r, [branch.digit])[branch.digit]
    return {**window.to_dict(), "doctors_online": live["online"], "live": live}
