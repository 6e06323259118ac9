"""Shift booking by doctors and hourly coverage against the Erlang C need."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hotline.models import Branch, Call
from kernel.db import unit_of_work, utcnow
from tests.helpers import auth, make_user, seed_branches, token_for

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = (utcnow().astimezone(HCM) + timedelta(days=3)).date()


def at(hour: float, day: date = DAY) -> str:
    return (datetime(day.year, day.month, day.day, tzinfo=HCM) + timedelta(hours=hour)).isoformat()


@pytest.fixture
def people(client):
    seed_branches()
    make_user("dr_a", "doctor", branches={"3": 1})
    make_user("dr_c", "doctor", branches={"3": 1, "4": 1})
    make_user("sup", "supervisor")
    return {u: auth(token_for(client, u)) for u in ("dr_a", "dr_c", "sup")}


def book(client, headers, branch, start, end):
    return client.post(
        "/api/v1/shifts",
        json={"branch": branch, "starts_at": start, "ends_at": end},
        headers=headers,
    )


def test_doctor_books_lists_and_cancels_own_shifts(client, people):
    res = book(client, people["dr_a"], "3", at(8), at(12))
    assert res.status_code == 201, res.text
    shift = res.json()
    assert shift["branch"] == "3"
    book(client, people["dr_c"], "4", at(8), at(10))
    window = {"from": at(0), "to": at(24)}
    mine = client.get("/api/v1/shifts", params=window, headers=people["dr_a"]).json()
    assert [s["id"] for s in mine] == [shift["id"]]
    everyone = client.get("/api/v1/shifts", params=window, headers=people["sup"]).json()
    assert len(everyone) == 2
    only_4 = client.get("/api/v1/shifts", params={**window, "branch": "4"}, headers=people["sup"])
    assert [s["branch"] for s in only_4.json()] == ["4"]
    # someone else's shift cannot be cancelled; one's own can
    res = client.delete(f"/api/v1/shifts/{shift['id']}", headers=people["dr_c"])
    assert res.status_code == 403
    assert client.delete(f"/api/v1/shifts/{shift['id']}", headers=people["dr_a"]).status_code == 204
    assert client.get("/api/v1/shifts", params=window, headers=people["dr_a"]).json() == []
    assert client.delete(f"/api/v1/shifts/{shift['id']}", headers=people["dr_a"]).status_code == 404


def test_overlapping_shifts_are_refused_on_any_branch(client, people):
    assert book(client, people["dr_c"], "3", at(8), at(12)).status_code == 201
    res = book(client, people["dr_c"], "4", at(11), at(13))
    assert res.status_code == 409 and res.json()["error"] == "shift_overlap"
    assert book(client, people["dr_c"], "4", at(12), at(13)).status_code == 201


@pytest.mark.parametrize(
    ("branch", "start", "end", "field"),
    [
        ("4", at(8), at(9), "branch"),  # dr_a does not serve branch 4
        ("7", at(8), at(9), "branch"),  # no such branch
        ("3", at(9), at(8), "ends_at"),
        ("3", at(8), at(21), "ends_at"),  # longer than 12 hours
        ("3", "2026-01-01T08:00:00", at(9), "starts_at"),  # no offset
        ("3", at(8, date(2020, 1, 1)), at(9, date(2020, 1, 1)), "ends_at"),  # the past
    ],
)
def test_bad_bookings_name_the_field(client, people, branch, start, end, field):
    res = book(client, people["dr_a"], branch, start, end)
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["field"] == field


def test_supervisors_cannot_book_and_doctors_cannot_see_coverage(client, people):
    assert book(client, people["sup"], "3", at(8), at(9)).status_code == 403
    res = client.get("/api/v1/branches/3/coverage", headers=people["dr_a"])
    assert res.status_code == 403


def test_coverage_flags_hours_short_of_the_erlang_need(client, people):
    book(client, people["dr_a"], "3", at(8), at(12))
    book(client, people["dr_c"], "3", at(10), at(10.5))
    res = client.get(
        "/api/v1/branches/3/coverage",
        params={"date": DAY.isoformat(), "calls_per_hour": 10, "aht_s": 180},
        headers=people["sup"],
    )
    assert res.status_code == 200, res.text
    hours = {h["hour"]: h for h in res.json()["hours"]}
    # 10 calls/h at 180 s is 0.5 erlang; 80% within 20 s needs 2 doctors.
    assert all(h["needed"] == 2 for h in hours.values())
    assert hours[7]["booked"] == 0 and hours[7]["short"] and hours[7]["gap"] == 2
    assert hours[9]["booked"] == 1 and hours[9]["short"] and hours[9]["gap"] == 1
    assert hours[10]["booked"] == 1.5 and hours[10]["short"]  # half an hour of dr_c
    assert len(hours[10]["doctors"]) == 2
    assert res.json()["short_hours"] == 24


def test_coverage_forecast_is_last_weeks_average_for_the_hour(client, people):
    with unit_of_work() as s:
        b3 = s.scalar(select(Branch).where(Branch.digit == "3"))
        start = datetime(DAY.year, DAY.month, DAY.day, 9, 15, tzinfo=HCM)
        # 280 calls at 09:15 over the last 7 days -> 40/h forecast for 09:00, needing 4.
        for n in range(280):
            when = start - timedelta(days=1 + n % 7)
            s.add(
                Call(
                    provider_call_id=f"hist-{n}",
                    caller="0911111111",
                    branch_id=b3.id,
                    status="completed",
                    queued_at=when,
                    created_at=when,
                )
            )
        # 8 days back falls outside the forecast.
        old = start - timedelta(days=8)
        s.add(
            Call(
                provider_call_id="old",
                caller="0911111111",
                branch_id=b3.id,
                status="completed",
                queued_at=old,
                created_at=old,
            )
        )
    for h in range(9, 11):
        book(client, people["dr_a" if h == 9 else "dr_c"], "3", at(h), at(h + 1))
    res = client.get(
        "/api/v1/branches/3/coverage",
        params={"date": DAY.isoformat(), "aht_s": 180},
        headers=people["sup"],
    )
    body = res.json()
    assert body["forecast"] == "last_7_days"
    hours = {h["hour"]: h for h in body["hours"]}
    assert hours[9]["forecast_calls_per_hour"] == 40
    assert hours[9]["needed"] == 4 and hours[9]["short"]
    assert hours[10]["forecast_calls_per_hour"] == 0
    assert hours[10]["needed"] == 1 and not hours[10]["short"]  # one doctor keeps the line open


def test_coverage_bad_input(client, people):
    res = client.get("/api/v1/branches/3/coverage", params={"date": "soon"}, headers=people["sup"])
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "date"
    res = client.get(
        "/api/v1/branches/3/coverage", params={"calls_per_hour": -3}, headers=people["sup"]
    )
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "calls_per_hour"
