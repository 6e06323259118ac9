"""The supervisor dashboard: branches with sparklines, beds, transfers and ward levels, over HTTP and a websocket."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import beds as dispatch_beds
from dispatch.models import TransferHistory, TransferRequest
from dispatch.vocab import UNMATCHED
from hotline import kpis, schemas
from hotline.models import Branch, Call
from hotline.supervision_routes import Window
from kernel import ws_tickets
from kernel.accounts import Principal, Role
from kernel.db import SessionLocal, utcnow
from kernel.deps import RedisDep, SessionDep, principal_for_token, require_roles
from kernel.errors import InvalidInput
from kernel.redisconn import get_redis
from triage.areas import levels as ward_levels

router = APIRouter(tags=["dashboard"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
PUSH_INTERVAL_S = 3.0
SPARK_MINUTES = 60
KPI_WINDOW = timedelta(hours=1)
TIME_TO_BED_WINDOW = timedelta(hours=24)
MAX_EXPORT_DAYS = 92


# --------------------------------------------------------------------------- figures


def _waiting_series(
    session: Session, branches: list[Branch], now: datetime
) -> dict[str, list[int]]:
    """Calls waiting per branch at each of the last 60 minutes, rebuilt from the calls table."""
    start = now - timedelta(minutes=SPARK_MINUTES)
    calls = session.scalars(
        select(Call).where(
            Call.queued_at < now,
            Call.status != "rejected",
            # Nobody waits two days on a hotline: the bound keeps the scan to recent calls.
            Call.created_at >= now - timedelta(days=2),
        )
    ).all()
    points = [start + timedelta(minutes=i + 1) for i in range(SPARK_MINUTES)]
    series = {b.digit: [0] * SPARK_MINUTES for b in branches}
    digit_of = {b.id: b.digit for b in branches}
    for c in calls:
        digit = digit_of.get(c.branch_id)
        if digit is None:
            continue
        left = [t for t in (c.answered_at, c.abandoned_at, c.ended_at, c.completed_at) if t]
        until = min(left) if left else None
        for i, t in enumerate(points):
            if c.queued_at <= t and (until is None or until > t):
                series[digit][i] += 1
    return series


def branch_cards(session: Session, r: Any, now: datetime) -> list[dict[str, Any]]:
    branches = list(
        session.scalars(select(Branch).where(Branch.active.is_(True)).order_by(Branch.digit))
    )
    live = kpis.live_figures(r, [b.digit for b in branches])
    series = _waiting_series(session, branches, now)
    cards = []
    for b in branches:
        window = kpis.window_kpis(session, b, start=now - KPI_WINDOW, end=now, now=now)
        cards.append(
            {
                "digit": b.digit,
                "name": b.name,
                "name_vi": b.name_vi,
                "sl_target": b.sl_target,
                "sl_threshold_s": b.sl_threshold_s,
                "waiting": live[b.digit]["waiting"],
                "longest_wait_s": live[b.digit]["longest_wait_s"],
                "doctors_online": live[b.digit]["online"],
                "doctors_available": live[b.digit]["available"],
                "asa_s": window.average_speed_of_answer_s,
                "abandonment_rate": window.abandonment_rate,
                "service_level": window.service_level,
                "offered_last_hour": window.offered,
                "waiting_series": series[b.digit],
            }
        )
    return cards


def beds_by_district(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Free beds by district and bed type (hospitals not closed); stale pools count apart, never as free."""
    cells: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"available": 0, "total": 0, "pools": 0, "stale_pools": 0, "oldest_as_of": None}
    )
    for pool in dispatch_beds.open_pools(session, now=now):
        cell = cells[(pool.district or "?", pool.bed_type)]
        cell["pools"] += 1
        cell["total"] += pool.total
        if pool.stale:
            cell["stale_pools"] += 1
        else:
            cell["available"] += pool.available
        if pool.as_of and (cell["oldest_as_of"] is None or pool.as_of < cell["oldest_as_of"]):
            cell["oldest_as_of"] = pool.as_of
    out = []
    for (district, bed_type), cell in sorted(cells.items()):
        oldest = cell.pop("oldest_as_of")
        out.append(
            {
                "district": district,
                "bed_type": bed_type,
                **cell,
                "stale": cell["stale_pools"] > 0,
                "oldest_as_of": oldest.isoformat() if oldest else None,
            }
        )
    return out


def transfer_figures(session: Session, now: datetime) -> dict[str, Any]:
    """Requests still needing a bed, and request-to-held / request-to-admitted times of the last day."""
    waiting = session.scalars(
        select(TransferRequest)
        .where(TransferRequest.status.in_(UNMATCHED))
        .order_by(TransferRequest.urgency_rank, TransferRequest.requested_at)
    ).all()
    since = now - TIME_TO_BED_WINDOW
    recent = session.execute(
        select(TransferRequest.id, TransferRequest.requested_at, TransferHistory)
        .join(TransferHistory, TransferHistory.request_id == TransferRequest.id)
        .where(
            TransferRequest.requested_at >= since,
            TransferHistory.status.in_(("held", "admitted")),
        )
        .order_by(TransferHistory.id)
    ).all()
    first: dict[tuple[str, str], float] = {}
    for rid, requested_at, h in recent:
        first.setdefault((rid, h.status), (h.at - requested_at).total_seconds())
    held = [s for (_, st), s in first.items() if st == "held"]
    admitted = [s for (_, st), s in first.items() if st == "admitted"]
    return {
        "waiting": len(waiting),
        "waiting_by_bed_type": {
            t: sum(1 for w in waiting if w.bed_type == t)
            for t in sorted({w.bed_type for w in waiting})
        },
        "oldest_waiting_s": round((now - waiting[0].requested_at).total_seconds(), 1)
        if waiting
        else None,
        "longest_waiting": [
            {
                "id": w.id,
                "bed_type": w.bed_type,
                "urgency": w.urgency,
                "status": w.status,
                "waited_s": round((now - w.requested_at).total_seconds(), 1),
            }
            for w in sorted(waiting, key=lambda w: w.requested_at)[:5]
        ],
        "time_to_hold_median_s": round(statistics.median(held), 1) if held else None,
        "time_to_bed_median_s": round(statistics.median(admitted), 1) if admitted else None,
        "held_last_24h": len(held),
        "admitted_last_24h": len(admitted),
    }


def dashboard(session: Session, r: Any) -> dict[str, Any]:
    now = utcnow()
    wards = ward_levels.current_levels(session)
    return {
        "at": now.isoformat(),
        "branches": branch_cards(session, r, now),
        "beds": beds_by_district(session, now),
        "transfers": transfer_figures(session, now),
        "wards": wards,
        "ward_summary": ward_levels.level_summary(wards),
    }


@router.get("/api/v1/dashboard", response_model=schemas.DashboardOut)
def get_dashboard(session: SessionDep, r: RedisDep, _: Supervisor) -> dict[str, Any]:
    """Everything the supervisor's dashboard shows, now."""
    return dashboard(session, r)


# --------------------------------------------------------------------------- websocket


def _is_supervisor(token: str) -> bool:
    session = SessionLocal()
    try:
        p = principal_for_token(session, token)
        return p is not None and p.role in (Role.SUPERVISOR, Role.ADMIN)
    finally:
        session.close()


def _snapshot() -> str:
    session = SessionLocal()
    try:
        return json.dumps({"type": "dashboard", **dashboard(session, get_redis())}, default=str)
    finally:
        session.close()


@router.websocket("/ws/dashboard")
async def dashboard_ws(ws: WebSocket, ticket: str = "") -> None:
    """Pushes the dashboard every few seconds; refused (4401) without a supervisor's ticket
    (POST /api/v1/ws-tickets: the token itself never rides in the URL)."""
    token = await asyncio.to_thread(ws_tickets.redeem, ticket) if ticket else None
    if not token or not await asyncio.to_thread(_is_supervisor, token):
        await ws.close(code=4401)
        return
    await ws.accept()

    async def push() -> None:
        while True:
            await ws.send_text(await asyncio.to_thread(_snapshot))
            await asyncio.sleep(PUSH_INTERVAL_S)

    task = asyncio.create_task(push())
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --------------------------------------------------------------------------- export

KPI_CSV_COLUMNS = (
    "branch",
    "from",
    "to",
    "offered",
    "answered",
    "answered_within_threshold",
    "abandoned",
    "average_speed_of_answer_s",
    "service_level",
    "sl_target",
    "abandonment_rate",
    "occupancy",
)


@router.get("/api/v1/exports/kpis.csv", response_class=Response)
def export_kpis(
    session: SessionDep,
    _: Supervisor,
    span: Window,
    bucket: Annotated[str, Query(pattern="^(hour|day)$")] = "day",
) -> Response:
    """Each branch's KPIs per day (or hour) of [from, to), the last 24 hours by default."""
    start, end = span
    step = timedelta(days=1) if bucket == "day" else timedelta(hours=1)
    if (end - start) / step > MAX_EXPORT_DAYS * (24 if bucket == "hour" else 1):
        raise InvalidInput("from", f"range too long: at most {MAX_EXPORT_DAYS} days")
    branches = list(session.scalars(select(Branch).order_by(Branch.digit)))
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(KPI_CSV_COLUMNS)
    for b in branches:
        at = start
        while at < end:
            stop = min(at + step, end)
            k = kpis.window_kpis(session, b, start=at, end=stop).to_dict()
            out.writerow([b.digit, *(k[c] for c in KPI_CSV_COLUMNS[1:])])
            at = stop
    name = f"kpis-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
