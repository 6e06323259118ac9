"""Matching and handover: earliest bed, holds, waiting queue, refusal, expiry, admission, transport."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from rq import Queue
from sqlalchemy import select

from dispatch import beds, holds, jobs, transfers
from dispatch.models import BedHold
from kernel.db import unit_of_work
from kernel.events import Event
from kernel.redisconn import get_redis_bytes
from tests.helpers import (
    PICKUP,
    make_hospital,
    new_request,
    now_iso,
    pool,
    run_workers,
    transfer,
)


def post_transfer(client, headers, patient, urgency="urgent", bed_type="icu", pickup=PICKUP):
    return client.post(
        "/api/v1/transfers",
        json={"patient_ref": patient, "bed_type": bed_type, "urgency": urgency, "pickup": pickup},
        headers=headers,
    )


def test_request_is_accepted_and_matched_by_a_real_worker(client, staff):
    res = post_transfer(client, staff["doc"], "p-1")
    assert res.status_code == 202 and res.json()["status"] == "requested"
    rid = res.json()["id"]
    assert Queue("dispatch", connection=get_redis_bytes()).count == 1  # enqueued after commit
    run_workers(1)
    got = client.get(f"/api/v1/transfers/{rid}", headers=staff["disp"]).json()
    assert got["status"] == "held" and got["hospital_id"] == staff["a"]
    assert got["hold_expires_at"] is not None
    assert [h["kind"] for h in got["history"]] == ["requested", "matching", "held"]
    assert got["candidates"][0]["hospital_id"] == staff["a"] and got["candidates"][0]["chosen"]
    assert pool(staff["a"], "icu").held == 1


def test_one_live_request_per_patient(client, staff):
    assert post_transfer(client, staff["doc"], "p-dup").status_code == 202
    res = post_transfer(client, staff["disp"], "p-dup")
    assert res.status_code == 409 and res.json()["error"] == "transfer_already_live"


def test_garbage_transfer_input_names_the_field(client, staff):
    cases = [
        ({"patient_ref": "x", "bed_type": "icu", "urgency": "soon", "pickup": PICKUP}, "urgency"),
        (
            {"patient_ref": "x", "bed_type": "spa", "urgency": "urgent", "pickup": PICKUP},
            "bed_type",
        ),
        (
            {
                "patient_ref": "x",
                "bed_type": "icu",
                "urgency": "urgent",
                "pickup": {"lat": 91, "lon": 0},
            },
            "pickup.lat",
        ),
        (
            {"patient_ref": "", "bed_type": "icu", "urgency": "urgent", "pickup": PICKUP},
            "patient_ref",
        ),
        ({"bed_type": "icu", "urgency": "urgent", "pickup": PICKUP}, "patient_ref"),
    ]
    for body, field in cases:
        res = client.post("/api/v1/transfers", json=body, headers=staff["doc"])
        assert res.status_code == 422, (body, res.text)
        assert res.json()["detail"][0]["field"] == field, res.json()


def test_earliest_time_to_bed_wins_fresh_before_stale(settings):
    settings.ambulance_speed_kmh = 30
    settings.bed_staleness_s = 3600
    now = datetime.now(UTC)
    # Near (1 km) but full, with a discharge in 60 minutes.
    near_full = make_hospital("Near full", lat=10.785, lon=106.7009, beds={"icu": (5, 5)})
    with unit_of_work() as s:
        beds.update_beds(
            s,
            hospital_id=near_full,
            counts=[beds.BedCounts("icu", 5, 5, 0, 1, now + timedelta(minutes=60))],
            as_of=now + timedelta(seconds=1),
            actor="t",
        )
    mid = make_hospital("Mid, free", lat=10.85, lon=106.7009, beds={"icu": (5, 0)})  # ~8 km
    stale_close = make_hospital(
        "Close, stale",
        lat=10.78,
        lon=106.7009,
        beds={"icu": (5, 0)},
        as_of=now - timedelta(hours=3),
    )
    rid = new_request("p-rank")
    assert jobs.match_request(rid) == "held"
    got = transfer(rid)
    assert got["hospital_id"] == mid
    # mid: 16 min by road, bed free now; near: 2 min away but the bed frees in 60 min;
    # close but stale: counts too old to trust, ranked last
    assert [c["hospital_id"] for c in got["candidates"]] == [mid, near_full, stale_close]
    near = next(c for c in got["candidates"] if c["hospital_id"] == near_full)
    assert near["bed_wait_min"] > 55 and not near["free_now"]


def test_no_bed_waits_alerts_and_gets_the_freed_bed(client, staff):
    first = new_request("p-first")
    assert jobs.match_request(first) == "held"
    second = new_request("p-second")
    assert jobs.match_request(second) == "waiting_for_bed"
    with unit_of_work() as s:
        alerts = s.scalars(select(Event).where(Event.subject_type == "alert")).all()
    assert [a.kind for a in alerts] == ["dispatch.no_bed"]
    # hospital A adds a bed: the waiting request is matched in the waiting pass
    body = {"total": 2, "occupied": 0, "out_of_service": 0, "as_of": now_iso()}
    assert (
        client.put(
            f"/api/v1/hospitals/{staff['a']}/beds/icu", json=body, headers=staff["staff_a"]
        ).status_code
        == 200
    )
    run_workers(1)
    assert transfer(second)["status"] == "held"
    p = pool(staff["a"], "icu")
    assert (p.total, p.held, p.available) == (2, 2, 0)


def test_accept_then_transport_then_admit_moves_the_bed_to_occupied(client, staff):
    rid = new_request("p-adm")
    jobs.match_request(rid)
    a = staff["staff_a"]
    res = client.post(f"/api/v1/transfers/{rid}/accept", headers=a)
    assert res.status_code == 200 and res.json()["status"] == "accepted"
    assert res.json()["hold_expires_at"] is None  # an accepted hold no longer expires
    res = client.post(
        "/api/v1/ambulances",
        json={"name": "115-Q1", "base_lat": 10.77, "base_lon": 106.70},
        headers=staff["disp"],
    )
    assert res.status_code == 201
    client.post(
        "/api/v1/ambulances",
        json={"name": "115-Thu-Duc", "base_lat": 10.85, "base_lon": 106.77},
        headers=staff["disp"],
    )
    res = client.post(f"/api/v1/transfers/{rid}/transport", headers=staff["disp"])
    assert res.status_code == 200 and res.json()["status"] == "in_transit"
    assert res.json()["ambulance"]["name"] == "115-Q1"  # the nearest free team
    res = client.post(f"/api/v1/transfers/{rid}/admit", headers=a)
    assert res.status_code == 200 and res.json()["status"] == "admitted"
    p = pool(staff["a"], "icu")
    assert (p.held, p.occupied, p.total) == (0, 1, 1)
    teams = client.get("/api/v1/ambulances", headers=staff["disp"]).json()
    assert all(t["status"] == "free" for t in teams)
    # admitted: the patient may be transferred again later
    assert post_transfer(client, staff["doc"], "p-adm").status_code == 202


def test_refusal_releases_and_rematches_elsewhere(client, staff):
    c = make_hospital("Bệnh viện Thủ Đức", lat=10.85, lon=106.77, beds={"icu": (2, 0)})
    rid = new_request("p-ref")
    jobs.match_request(rid)
    assert transfer(rid)["hospital_id"] == staff["a"]
    res = client.post(
        f"/api/v1/transfers/{rid}/refuse", json={"reason": "no ICU staff"}, headers=staff["staff_a"]
    )
    assert res.status_code == 200 and res.json()["status"] == "refused"
    assert pool(staff["a"], "icu").held == 0
    run_workers(1)
    got = transfer(rid)
    assert got["status"] == "held" and got["hospital_id"] == c
    assert staff["a"] not in [x["hospital_id"] for x in got["candidates"]]


def test_hold_expires_with_no_worker_running_and_is_matched_again(client, staff, settings):
    settings.hold_ttl_s = 1
    rid = new_request("p-exp")
    assert jobs.match_request(rid) == "held"
    Queue("dispatch", connection=get_redis_bytes()).empty()
    time.sleep(1.2)  # the 1 s hold runs out
    # No worker ran: any read releases the due hold, and never shows it as held.
    beds = client.get(f"/api/v1/hospitals/{staff['a']}/beds", headers=staff["disp"]).json()
    assert beds["pools"][0]["held"] == 0 and beds["pools"][0]["available"] == 1
    got = client.get(f"/api/v1/transfers/{rid}", headers=staff["disp"]).json()
    assert got["status"] == "requested" and got["hold_expires_at"] is None
    assert "hold_expired" in [h["kind"] for h in got["history"]]
    res = client.post(f"/api/v1/transfers/{rid}/accept", headers=staff["staff_a"])
    assert res.status_code == 403  # no longer addressed to A
    settings.hold_ttl_s = 900
    run_workers(1)  # the re-match was enqueued by whoever expired it
    assert transfer(rid)["status"] == "held"
    with unit_of_work() as s:
        holds = s.scalars(select(BedHold).where(BedHold.request_id == rid)).all()
    assert sorted(h.outcome for h in holds) == ["expired", "held"]


def test_expiry_by_the_maintenance_job_alone(staff, settings):
    settings.hold_ttl_s = 1
    rid = new_request("p-exp2")
    jobs.match_request(rid)
    time.sleep(1.1)  # the 1 s hold runs out
    assert jobs.maintain()["expired"] == 1
    assert pool(staff["a"], "icu").held == 0
    assert transfer(rid)["status"] == "requested"


def test_accept_after_expiry_is_refused(client, staff, settings):
    settings.hold_ttl_s = 1
    rid = new_request("p-late")
    jobs.match_request(rid)
    with unit_of_work() as s:
        hold = holds.live_hold(s, rid)
        assert hold is not None
        hold.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    res = client.post(f"/api/v1/transfers/{rid}/accept", headers=staff["staff_a"])
    assert res.status_code in (403, 409)
    assert pool(staff["a"], "icu").held == 0


def test_cancel_releases_the_hold_and_override_moves_it(client, staff):
    c = make_hospital("Bệnh viện Quận 7", lat=10.73, lon=106.72, beds={"icu": (1, 0)})
    rid = new_request("p-ovr")
    jobs.match_request(rid)
    res = client.post(
        f"/api/v1/transfers/{rid}/override", json={"hospital_id": c}, headers=staff["disp"]
    )
    assert res.status_code == 200 and res.json()["hospital_id"] == c
    assert pool(staff["a"], "icu").held == 0 and pool(c, "icu").held == 1
    res = client.post(
        f"/api/v1/transfers/{rid}/override", json={"hospital_id": staff["b"]}, headers=staff["disp"]
    )
    assert res.status_code == 409 and res.json()["error"] == "no_bed_available"
    assert pool(c, "icu").held == 1  # the failed override changed nothing
    res = client.post(
        f"/api/v1/transfers/{rid}/cancel", json={"reason": "died"}, headers=staff["disp"]
    )
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    assert pool(c, "icu").held == 0
    assert client.post(f"/api/v1/transfers/{rid}/cancel", headers=staff["disp"]).status_code == 409


def test_board_lists_by_urgency(client, staff):
    ids = {
        u: post_transfer(client, staff["doc"], f"p-{u}", urgency=u).json()["id"]
        for u in ("routine", "urgent", "emergency")
    }
    board = client.get("/api/v1/transfers", headers=staff["disp"]).json()
    assert [t["id"] for t in board] == [ids["emergency"], ids["urgent"], ids["routine"]]


def test_service_function_for_other_domains_enqueues_only_after_commit(staff):
    q = Queue("dispatch", connection=get_redis_bytes())
    try:
        with unit_of_work() as s:
            transfers.create_transfer_request(
                s,
                patient_ref="p-rb",
                bed_type="icu",
                urgency="urgent",
                pickup_lat=10.77,
                pickup_lon=106.7,
                requested_by="triage",
            )
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert q.count == 0
    with unit_of_work() as s:
        req = transfers.create_transfer_request(
            s,
            patient_ref="p-rb",
            bed_type="icu",
            urgency="urgent",
            pickup_lat=10.77,
            pickup_lon=106.7,
            requested_by="triage",
            note="SpO2 88%",
        )
    assert q.count == 1 and q.jobs[0].args == (req.id,)
