"""Bad input is refused with a 4xx naming the field and the rule, and changes nothing.

The database (every row of every table) is read before and after a batch of refused
requests: text no field may carry (NUL bytes, lone surrogates, bytes that are not UTF-8)
in the path, the query, a JSON body and a form, counts sent as strings, floats or
booleans, an unknown time zone, numbers out of range, bed counts dated in the future, a
stale bed update, the wrong role and a forged webhook signature.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from hotline.tables import load_all
from kernel.db import Base, get_engine
from tests.helpers import (
    account_headers,
    arrive,
    make_hospital,
    new_patient,
    now_iso,
    seed_branches,
    signed_get,
)


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    load_all()
    engine = get_engine()
    existing = set(inspect(engine).get_table_names())
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in existing:
                rows = conn.execute(text(f"SELECT * FROM {table.name}")).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _fields(res: Any) -> list[str]:
    body = res.json()
    assert set(body) == {"error", "detail"}, body
    detail = body["detail"]
    return [d["field"] for d in detail] if isinstance(detail, list) else []


def test_refused_requests_change_nothing(client):
    seed_branches()
    admin = account_headers("admin", "admin")
    doctor = account_headers("doc", "doctor")
    hospital_id = make_hospital(beds={"icu": (10, 3)})
    staff = account_headers("staff", "hospital", hospital_id=hospital_id)
    patient = new_patient(client, doctor)
    assert arrive(client, "known-call").status_code == 200
    beds = f"/api/v1/hospitals/{hospital_id}/beds/icu"
    counts = {"total": 10, "occupied": 4, "as_of": now_iso()}

    before = snapshot()
    # (method, path, keyword arguments, expected status, field named in the answer or None)
    refused: list[tuple[str, str, dict[str, Any], int, str | None]] = [
        # Text no field may carry, anywhere.
        (
            "POST",
            "/api/v1/auth/token",
            {"data": {"username": "a\x00", "password": "x"}},
            422,
            "username",
        ),
        (
            "POST",
            "/api/v1/auth/token",
            {
                "content": b"username=%ED%A0%80&password=x",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            422,
            "username",
        ),
        ("GET", "/api/v1/triage/patients?name=%00", {"headers": doctor}, 422, "name"),
        ("GET", "/api/v1/triage/patients?name=%ED%A0%80", {"headers": doctor}, 422, "name"),
        (
            "POST",
            "/api/v1/triage/patients",
            {
                "content": b'{"full_name": "An\\ud800", "phones": ["0901234567"]}',
                "headers": {**doctor, "Content-Type": "application/json"},
            },
            422,
            "full_name",
        ),
        (
            "POST",
            "/api/v1/triage/patients",
            {"json": {"full_name": "An\x00", "phones": ["0901234567"]}, "headers": doctor},
            422,
            "full_name",
        ),
        (
            "PATCH",
            f"/api/v1/triage/patients/{patient['id']}",
            {"json": {"full_name": "B\x00"}, "headers": doctor},
            422,
            "full_name",
        ),
        ("GET", "/api/v1/stations?ward=%00", {"headers": admin}, 422, "ward"),
        ("POST", "/api/v1/telephony/calls/known%00call/hangup", {"json": {}}, 422, "path"),
        # Counts are whole numbers, not strings, floats or booleans.
        ("PUT", beds, {"json": {**counts, "total": "10"}, "headers": staff}, 422, "total"),
        ("PUT", beds, {"json": {**counts, "total": 10.0}, "headers": staff}, 422, "total"),
        ("PUT", beds, {"json": {**counts, "occupied": True}, "headers": staff}, 422, "occupied"),
        (
            "POST",
            "/api/v1/branches",
            {
                "json": {"digit": "7", "name": "B", "skill": "b", "max_queue": "50"},
                "headers": admin,
            },
            422,
            "max_queue",
        ),
        # Bed counts dated ahead of the server's clock beyond the allowance.
        ("PUT", beds, {"json": {**counts, "as_of": now_iso(600)}, "headers": staff}, 422, "as_of"),
        # A time zone the tz database does not know.
        (
            "POST",
            "/api/v1/branches",
            {
                "json": {"digit": "7", "name": "B", "skill": "b", "timezone": "Mars/Olympus"},
                "headers": admin,
            },
            422,
            "timezone",
        ),
        # Numbers out of range.
        (
            "GET",
            "/api/v1/branches/3/staffing?calls_per_hour=1e308&aht_s=300",
            {"headers": admin},
            422,
            "calls_per_hour",
        ),
        (
            "GET",
            "/api/v1/branches/3/staffing?calls_per_hour=100&aht_s=1e308",
            {"headers": admin},
            422,
            "aht_s",
        ),
        (
            "PUT",
            "/api/v1/areas/wards/00001/vaccination",
            {
                "json": {
                    "as_of": "2021-08-01",
                    "fully_vaccinated": 2**40,
                    "high_risk_fully_vaccinated": 1,
                },
                "headers": admin,
            },
            422,
            "fully_vaccinated",
        ),
        # A time is ISO-8601, not a bare number; an areas CSV has its header line.
        ("GET", "/api/v1/exports/ward-levels.csv?from=-3639", {"headers": admin}, 422, "from"),
        (
            "POST",
            "/api/v1/areas/import",
            {"content": b"[]", "headers": {**admin, "Content-Type": "text/csv"}},
            422,
            "csv",
        ),
        # The wrong role, and a webhook without a valid signature.
        ("PUT", beds, {"json": counts, "headers": doctor}, 403, None),
        (
            "POST",
            "/api/v1/telephony/calls",
            {"json": {"provider_call_id": "new", "caller": "0901", "digits": "3"}},
            401,
            None,
        ),
    ]
    for method, path, kwargs, status, field in refused:
        res = client.request(method, path, **kwargs)
        assert res.status_code == status, (method, path, res.status_code, res.text)
        if field is not None:
            assert field in _fields(res), (method, path, res.json())
        else:
            _fields(res)
    res = signed_get(client, "/api/v1/telephony/instructions?after=2147483648")
    assert res.status_code == 422 and "after" in _fields(res), res.text
    # An update older than the stored counts is refused as a conflict.
    stale = {**counts, "as_of": now_iso(-3600)}
    res = client.put(beds, json={**stale}, headers=staff)
    assert res.status_code == 409, res.text
    assert snapshot() == before
