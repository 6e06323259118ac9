"""The supervisor dashboard: branch figures and sparklines, beds, transfers, ward levels, websocket, KPI export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from hotline.models import Branch, Call
from kernel.db import unit_of_work, utcnow
from tests.helpers import (
    arrive,
    auth,
    make_user,
    new_request,
    seed_branches,
    token_for,
    ws_ticket,
)


@pytest.fixture
def sup(client: Any) -> str:
    seed_branches()
    make_user("sup", "supervisor")
    return token_for(client, "sup")


def _call(n: int, queued_at: datetime, *, answered_after_s: float | None = None) -> None:
    with unit_of_work() as s:
        branch = s.scalar(select(Branch).where(Branch.digit == "3"))
        assert branch is not None
        s.add(
            Call(
                provider_call_id=f"dash-{n}",
                caller=f"09100000{n:02d}",
                branch_id=branch.id,
                status="completed" if answered_after_s is not None else "queued",
                queued_at=queued_at,
                created_at=queued_at,
                answered_at=queued_at + timedelta(seconds=answered_after_s)
                if answered_after_s is not None
                else None,
            )
        )


def test_branch_cards_with_live_figures_and_sparkline(client: Any, sup: str) -> None:
    now = utcnow()
    # Waited from 30 to 20 minutes ago, then answered: a bump in the middle of the series.
    _call(1, now - timedelta(minutes=30), answered_after_s=600)
    assert arrive(client, "live-1").status_code == 200  # waiting now, in Redis and the table
    body = client.get("/api/v1/dashboard", headers=auth(sup)).json()
    b3 = next(b for b in body["branches"] if b["digit"] == "3")
    assert b3["waiting"] == 1
    assert b3["doctors_online"] == 0
    series = b3["waiting_series"]
    assert len(series) == 60
    assert series[-1] == 1  # the live call
    assert series[35] == 1 and series[45] == 0  # the answered call waited 30 -> 20 min ago
    assert b3["asa_s"] == 600.0
    assert b3["service_level"] == 0.0
    assert {"abandonment_rate", "longest_wait_s", "sl_target"} <= set(b3)


def test_beds_by_district_mark_stale_pools(client: Any, sup: str) -> None:
    from dispatch import beds as dispatch_beds
    from dispatch import hospitals

    with unit_of_work() as s:
        fresh = hospitals.create_hospital(
            s, name="BV A", tier=3, lat=10.75, lon=106.66, district="Quận 5", actor="t"
        )
        old = hospitals.create_hospital(
            s, name="BV B", tier=2, lat=10.75, lon=106.66, district="Quận 5", actor="t"
        )
        dispatch_beds.update_beds(
            s,
            hospital_id=fresh.id,
            counts=[dispatch_beds.BedCounts("oxygen", 50, 20, 5)],
            as_of=utcnow() - timedelta(minutes=5),
            actor="t",
        )
        dispatch_beds.update_beds(
            s,
            hospital_id=old.id,
            counts=[dispatch_beds.BedCounts("oxygen", 30, 0, 0)],
            as_of=utcnow() - timedelta(days=2),
            actor="t",
        )
    beds = client.get("/api/v1/dashboard", headers=auth(sup)).json()["beds"]
    (cell,) = [b for b in beds if b["district"] == "Quận 5" and b["bed_type"] == "oxygen"]
    # The stale hospital's 30 empty beds are not offered as free.
    assert cell["available"] == 25
    assert cell["total"] == 80
    assert cell["stale"] is True and cell["stale_pools"] == 1


def test_transfers_waiting_and_time_to_bed(client: Any, sup: str) -> None:
    new_request("p-1", bed_type="icu", urgency="emergency")
    tr = client.get("/api/v1/dashboard", headers=auth(sup)).json()["transfers"]
    assert tr["waiting"] == 1
    assert tr["waiting_by_bed_type"] == {"icu": 1}
    assert tr["longest_waiting"][0]["urgency"] == "emergency"
    assert tr["time_to_bed_median_s"] is None


def test_ward_levels_are_on_the_dashboard(client: Any, sup: str) -> None:
    from triage.areas import demo as area_demo

    with unit_of_work() as s:
        lines = area_demo.seed_demo(s)
    assert "DEMO" in lines[0]
    body = client.get("/api/v1/dashboard", headers=auth(sup)).json()
    assert len(body["wards"]) == 37
    assert sum(body["ward_summary"].values()) == 37
    ward = body["wards"][0]
    assert ward["demo_figures"] is True and ward["steps"]
    # Seeding again adds nothing.
    with unit_of_work() as s:
        area_demo.seed_demo(s)
    assert len(client.get("/api/v1/dashboard", headers=auth(sup)).json()["wards"]) == 37


def test_dashboard_websocket_pushes_and_refuses_non_supervisors(client: Any, sup: str) -> None:
    with client.websocket_connect(f"/ws/dashboard?ticket={ws_ticket(client, sup)}") as ws:
        msg = json.loads(ws.receive_text())
        assert msg["type"] == "dashboard"
        assert [b["digit"] for b in msg["branches"]] == ["3", "4"]
    make_user("doc", "doctor")
    doc = token_for(client, "doc")
    for path in (
        "/ws/dashboard",
        "/ws/dashboard?ticket=junk",
        f"/ws/dashboard?token={sup}",  # a token in the URL is not accepted any more
        f"/ws/dashboard?ticket={ws_ticket(client, doc)}",
    ):
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(path) as ws:
            ws.receive_text()


def test_dashboard_and_exports_need_a_supervisor(client: Any, sup: str) -> None:
    make_user("doc", "doctor")
    doc = token_for(client, "doc")
    assert client.get("/api/v1/dashboard", headers=auth(doc)).status_code == 403
    assert client.get("/api/v1/exports/kpis.csv", headers=auth(doc)).status_code == 403
    assert client.get("/api/v1/dashboard").status_code == 401


def test_kpi_csv_export_per_day(client: Any, sup: str) -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    _call(1, day + timedelta(hours=1), answered_after_s=10)
    _call(2, day + timedelta(days=1, hours=2), answered_after_s=40)
    res = client.get(
        "/api/v1/exports/kpis.csv",
        params={"from": day.isoformat(), "to": (day + timedelta(days=2)).isoformat()},
        headers=auth(sup),
    )
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/csv")
    rows = [r for r in csv.DictReader(io.StringIO(res.text)) if r["branch"] == "3"]
    assert [(r["offered"], r["average_speed_of_answer_s"]) for r in rows] == [
        ("1", "10.0"),
        ("1", "40.0"),
    ]
    assert rows[0]["service_level"] == "1.0" and rows[1]["service_level"] == "0.0"
    bad = client.get(
        "/api/v1/exports/kpis.csv",
        params={"from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"},
        headers=auth(sup),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "from"
