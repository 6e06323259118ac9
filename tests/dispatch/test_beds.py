"""Bed counts: versioned updates, validation naming the field, nothing left by refusals, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from dispatch.beds import open_pools
from dispatch.hospitals import set_facility_status
from dispatch.models import BedPool, BedUpdate
from kernel.db import unit_of_work, utcnow
from kernel.events import Event
from tests.helpers import make_hospital, new_request, now_iso


def counts(total=10, occupied=4, oos=1, as_of=None, **kw):
    return {
        "total": total,
        "occupied": occupied,
        "out_of_service": oos,
        "as_of": as_of or now_iso(),
        **kw,
    }


def rows(model):
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_update_then_read_computes_available_and_keeps_who_sent_it(client, staff):
    a = staff["a"]
    res = client.put(f"/api/v1/hospitals/{a}/beds/oxygen", json=counts(), headers=staff["staff_a"])
    assert res.status_code == 200, res.text
    assert res.json()["available"] == 5
    beds = client.get(f"/api/v1/hospitals/{a}/beds", headers=staff["disp"]).json()
    oxygen = next(p for p in beds["pools"] if p["bed_type"] == "oxygen")
    assert (oxygen["total"], oxygen["occupied"], oxygen["out_of_service"]) == (10, 4, 1)
    assert oxygen["held"] == 0 and oxygen["available"] == 5 and oxygen["stale"] is False
    with unit_of_work() as s:
        update = s.scalars(select(BedUpdate).where(BedUpdate.bed_type == "oxygen")).one()
        assert update.sent_by == "user:staff_a"


def test_available_is_never_taken_from_input(client, staff):
    body = counts(available=99)
    res = client.put(
        f"/api/v1/hospitals/{staff['a']}/beds/icu", json=body, headers=staff["staff_a"]
    )
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "available"


def test_older_or_same_update_is_refused_and_never_overwrites(client, staff):
    a, h = staff["a"], staff["staff_a"]
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    newer = counts(total=20, occupied=10, oos=0, as_of=t0.isoformat())
    assert (
        client.put(f"/api/v1/hospitals/{a}/beds/oxygen", json=newer, headers=h).status_code == 200
    )
    before_updates, before_events = rows(BedUpdate), rows(Event)
    for as_of in (t0 - timedelta(minutes=1), t0):
        old = counts(total=5, occupied=5, oos=0, as_of=as_of.isoformat())
        res = client.put(f"/api/v1/hospitals/{a}/beds/oxygen", json=old, headers=h)
        assert res.status_code == 409 and res.json()["error"] == "stale_update", res.text
    # the same instant written with another zone is still the same instant
    same = counts(
        total=5, occupied=5, oos=0, as_of=t0.astimezone(timezone(timedelta(hours=7))).isoformat()
    )
    assert client.put(f"/api/v1/hospitals/{a}/beds/oxygen", json=same, headers=h).status_code == 409
    p = client.get(f"/api/v1/hospitals/{a}/beds", headers=h).json()["pools"]
    oxygen = next(x for x in p if x["bed_type"] == "oxygen")
    assert (oxygen["total"], oxygen["occupied"]) == (20, 10)
    assert rows(BedUpdate) == before_updates and rows(Event) == before_events


def test_impossible_counts_are_refused_naming_the_field_and_leave_nothing(client, staff):
    a, h = staff["a"], staff["staff_a"]
    pools, updates = rows(BedPool), rows(BedUpdate)
    cases = [
        (counts(total=-1, occupied=0, oos=0), "total"),
        (counts(total=5, occupied=6, oos=0), "occupied"),
        (counts(total=5, occupied=3, oos=3), "out_of_service"),
        (counts(as_of="yesterday"), "as_of"),
        (counts(as_of="2021-08-01T08:00:00"), "as_of"),  # no zone
        (counts(as_of=now_iso(3600)), "as_of"),  # in the future
        ({"total": "ten", "occupied": 1, "as_of": now_iso()}, "total"),
        ({"occupied": 1, "as_of": now_iso()}, "total"),
    ]
    for body, field in cases:
        res = client.put(f"/api/v1/hospitals/{a}/beds/oxygen", json=body, headers=h)
        assert res.status_code == 422, (body, res.text)
        assert field in [d["field"] for d in res.json()["detail"]], (body, res.json())
    res = client.put(f"/api/v1/hospitals/{a}/beds/spa", json=counts(), headers=h)
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "bed_type"
    res = client.put(
        f"/api/v1/hospitals/{a}/beds/oxygen",
        content=b"{not json",
        headers={**h, "Content-Type": "application/json"},
    )
    assert res.status_code == 422
    assert rows(BedPool) == pools and rows(BedUpdate) == updates


def test_bulk_update_is_all_or_nothing_and_names_the_pool(client, staff):
    a, h = staff["a"], staff["staff_a"]
    updates = rows(BedUpdate)
    body = {
        "as_of": now_iso(),
        "pools": [
            {"bed_type": "general", "total": 100, "occupied": 50},
            {"bed_type": "ventilator", "total": 4, "occupied": 5},
        ],
    }
    res = client.put(f"/api/v1/hospitals/{a}/beds", json=body, headers=h)
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "pools.1.occupied"
    assert rows(BedUpdate) == updates
    body["pools"][1]["occupied"] = 2
    res = client.put(f"/api/v1/hospitals/{a}/beds", json=body, headers=h)
    assert res.status_code == 200, res.text
    got = {p["bed_type"]: p["available"] for p in res.json()["pools"]}
    assert got["general"] == 50 and got["ventilator"] == 2


def test_stale_pool_is_flagged(client, staff, settings):
    settings.bed_staleness_s = 3600
    old = datetime.now(UTC) - timedelta(hours=2)
    h = make_hospital("Old counts", beds={"oxygen": (10, 0)}, as_of=old)
    beds = client.get(f"/api/v1/hospitals/{h}/beds", headers=staff["disp"]).json()["pools"]
    assert beds[0]["stale"] is True
    client.put(
        f"/api/v1/hospitals/{staff['a']}/beds/oxygen", json=counts(), headers=staff["staff_a"]
    )
    fresh = client.get(f"/api/v1/hospitals/{staff['a']}/beds", headers=staff["disp"]).json()
    assert next(p for p in fresh["pools"] if p["bed_type"] == "oxygen")["stale"] is False


def test_counts_cannot_squeeze_out_held_beds(client, staff):
    from dispatch import jobs

    rid = new_request("p-held")
    assert jobs.match_request(rid) == "held"
    res = client.put(
        f"/api/v1/hospitals/{staff['a']}/beds/icu",
        json=counts(total=1, occupied=1, oos=0),
        headers=staff["staff_a"],
    )
    assert res.status_code == 409 and res.json()["error"] == "beds_held"


def test_create_hospital_validation(client, staff):
    ok = {
        "name": "BV Quận 7",
        "tier": 2,
        "district": "Quận 7",
        "ward": "Tân Phong",
        "lat": 10.73,
        "lon": 106.72,
        "capabilities": ["oxygen"],
    }
    res = client.post("/api/v1/hospitals", json=ok, headers=staff["admin"])
    assert res.status_code == 201 and res.json()["id"]
    for field, bad in (("tier", 7), ("lat", 123.0), ("capabilities", ["spa"]), ("name", "")):
        res = client.post("/api/v1/hospitals", json={**ok, field: bad}, headers=staff["admin"])
        assert res.status_code == 422, (field, res.text)
        assert res.json()["detail"][0]["field"].startswith(field)
    assert client.post("/api/v1/hospitals", json=ok, headers=staff["disp"]).status_code == 403


def test_open_pools_are_the_pools_of_hospitals_not_closed_with_their_staleness(staff, settings):
    settings.bed_staleness_s = 3600
    old = make_hospital("Old counts", beds={"oxygen": (10, 4)}, as_of=utcnow() - timedelta(hours=2))
    closed = make_hospital("Closed", beds={"icu": (5, 0)})
    with unit_of_work() as s:
        set_facility_status(s, hospital_id=closed, status="closed", actor="t")
    with unit_of_work() as s:
        pools = {(p.hospital_id, p.bed_type): p for p in open_pools(s, now=utcnow())}
    assert set(pools) == {(staff["a"], "icu"), (staff["b"], "icu"), (old, "oxygen")}
    fresh, stale = pools[(staff["a"], "icu")], pools[(old, "oxygen")]
    assert (fresh.hospital_name, fresh.total, fresh.available, fresh.stale) == (
        "Bệnh viện Chợ Rẫy",
        1,
        1,
        False,
    )
    assert (stale.total, stale.occupied, stale.available, stale.stale) == (10, 4, 6, True)
