"""The dispatch board and the hospital's incoming list say who the patient is; a hospital sees
only the patients sent to it."""

from __future__ import annotations

from typing import Any

from dispatch import jobs
from tests.helpers import account_headers, login, make_hospital, new_patient, sign


def test_board_and_receiving_hospital_see_the_card_other_hospitals_do_not(
    client: Any, settings: Any
) -> None:
    only = make_hospital("Bệnh viện Dã chiến số 2", beds={"oxygen": (40, 30)})
    other = make_hospital("Bệnh viện Quận 8", lat=10.72, lon=106.63, beds={"icu": (4, 4)})
    doc = login(client, "dr_card")
    p = new_patient(client, doc, full_name="Trần Thị Bình", sex="female", age_years=58)
    # No systolic pressure measured: the card's NEWS2 is a lower bound.
    a = sign(client, doc, p["id"], vitals={"spo2": 93, "respiratory_rate": 24, "systolic_bp": None})
    rid = a["transfer"]["transfer_request_id"]
    assert jobs.match_request(rid) == "held"

    board = client.get("/api/v1/transfers", headers=account_headers("disp", "dispatcher"))
    assert board.status_code == 200
    (row,) = [t for t in board.json() if t["id"] == rid]
    card = row["patient"]
    assert card["full_name"] == "Trần Thị Bình"
    assert (card["age_years"], card["sex"], card["phones"]) == (58, "female", ["0901234567"])
    assert card["spo2"] == 93 and card["respiratory_rate"] == 24
    assert card["news2"]["at_least"] is True and "systolic_bp" in card["news2"]["missing"]
    assert "spo2" in card["warning_signs"]
    assert card["referring_doctor"]["username"] == "dr_card"

    mine = account_headers("clerk_only", "hospital", hospital_id=only)
    incoming = client.get(f"/api/v1/hospitals/{only}/transfers", headers=mine).json()
    assert [t["patient"]["full_name"] for t in incoming] == ["Trần Thị Bình"]
    assert client.get(f"/api/v1/transfers/{rid}", headers=mine).json()["patient"]["id"] == p["id"]

    theirs = account_headers("clerk_other", "hospital", hospital_id=other)
    assert client.get(f"/api/v1/hospitals/{other}/transfers", headers=theirs).json() == []
    assert client.get(f"/api/v1/hospitals/{only}/transfers", headers=theirs).status_code == 403
    refused = client.get(f"/api/v1/transfers/{rid}", headers=theirs)
    assert refused.status_code == 403 and "patient" not in refused.text


def test_a_request_typed_with_a_free_reference_has_no_card(client: Any) -> None:
    disp = account_headers("disp2", "dispatcher")
    res = client.post(
        "/api/v1/transfers",
        json={
            "patient_ref": "F0-Q1-0042",
            "bed_type": "icu",
            "urgency": "urgent",
            "pickup": {"lat": 10.77, "lon": 106.70},
        },
        headers=disp,
    )
    assert res.status_code == 202, res.text
    (row,) = client.get("/api/v1/transfers", headers=disp).json()
    assert row["patient_ref"] == "F0-Q1-0042" and row["patient"] is None
