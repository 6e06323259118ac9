"""Hospital staff and hospital API keys act only for their own hospital: the 403s."""

from __future__ import annotations

from dispatch import jobs
from tests.helpers import PICKUP, now_iso


def api_key(client, admin, hospital_id):
    res = client.post(
        "/api/v1/api-keys", json={"hospital_id": hospital_id, "name": "HIS"}, headers=admin
    )
    assert res.status_code == 201, res.text
    return {"X-API-Key": res.json()["api_key"]}


def held_at_a(client, staff, patient="p-scope"):
    res = client.post(
        "/api/v1/transfers",
        json={"patient_ref": patient, "bed_type": "icu", "urgency": "urgent", "pickup": PICKUP},
        headers=staff["doc"],
    )
    assert res.status_code == 202, res.text
    rid = res.json()["id"]
    assert jobs.match_request(rid) == "held"
    return rid


def test_staff_of_b_cannot_touch_a(client, staff):
    a, b_staff = staff["a"], staff["staff_b"]
    rid = held_at_a(client, staff)
    body = {"total": 9, "occupied": 0, "out_of_service": 0, "as_of": now_iso()}
    assert (
        client.put(f"/api/v1/hospitals/{a}/beds/icu", json=body, headers=b_staff).status_code == 403
    )
    bulk = {"as_of": now_iso(), "pools": [{"bed_type": "icu", "total": 9, "occupied": 0}]}
    assert client.put(f"/api/v1/hospitals/{a}/beds", json=bulk, headers=b_staff).status_code == 403
    assert client.get(f"/api/v1/hospitals/{a}/beds", headers=b_staff).status_code == 403
    assert client.get(f"/api/v1/hospitals/{a}/transfers", headers=b_staff).status_code == 403
    assert client.get(f"/api/v1/transfers/{rid}", headers=b_staff).status_code == 403
    for step in ("accept", "refuse", "admit"):
        res = client.post(f"/api/v1/transfers/{rid}/{step}", headers=b_staff)
        assert res.status_code == 403, (step, res.text)
    assert client.get("/api/v1/transfers", headers=b_staff).status_code == 403
    assert client.post(f"/api/v1/transfers/{rid}/cancel", headers=b_staff).status_code == 403
    # A's own staff can
    assert client.get(f"/api/v1/transfers/{rid}", headers=staff["staff_a"]).status_code == 200
    incoming = client.get(f"/api/v1/hospitals/{a}/transfers", headers=staff["staff_a"]).json()
    assert [t["id"] for t in incoming] == [rid]
    # and the listing of hospitals shows a hospital only itself
    listed = client.get("/api/v1/hospitals", headers=b_staff).json()
    assert [h["id"] for h in listed] == [staff["b"]]


def test_api_key_of_b_cannot_touch_a_but_writes_b(client, staff):
    a, b = staff["a"], staff["b"]
    key_b = api_key(client, staff["admin"], b)
    rid = held_at_a(client, staff)
    body = {"total": 3, "occupied": 1, "out_of_service": 0, "as_of": now_iso()}
    assert (
        client.put(f"/api/v1/hospitals/{a}/beds/icu", json=body, headers=key_b).status_code == 403
    )
    assert client.get(f"/api/v1/hospitals/{a}/transfers", headers=key_b).status_code == 403
    assert client.post(f"/api/v1/transfers/{rid}/accept", headers=key_b).status_code == 403
    res = client.put(f"/api/v1/hospitals/{b}/beds/icu", json=body, headers=key_b)
    assert res.status_code == 200, res.text
    assert res.json()["updated_by"].startswith("apikey:")
    # the receiving hospital's key signs for it
    key_a = api_key(client, staff["admin"], a)
    assert client.post(f"/api/v1/transfers/{rid}/accept", headers=key_a).status_code == 200


def test_roles(client, staff):
    t = {"patient_ref": "p-r", "bed_type": "icu", "urgency": "routine", "pickup": PICKUP}
    assert client.post("/api/v1/transfers", json=t, headers=staff["staff_a"]).status_code == 403
    assert client.post("/api/v1/transfers", json=t).status_code == 401
    body = {"total": 3, "occupied": 1, "out_of_service": 0, "as_of": now_iso()}
    res = client.put(f"/api/v1/hospitals/{staff['a']}/beds/icu", json=body, headers=staff["disp"])
    assert res.status_code == 403
    bad_key = {"X-API-Key": "hk_nothing_here"}
    assert client.get(f"/api/v1/hospitals/{staff['a']}/beds", headers=bad_key).status_code == 401
