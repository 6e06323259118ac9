"""A patient card links to the timeline exactly for the readers the timeline route lets in."""

from __future__ import annotations

from typing import Any

from dispatch import jobs
from tests.helpers import (
    account_headers,
    answered_call_from,
    login,
    make_hospital,
    new_patient,
    sign,
)

TIMELINE = "/api/v1/triage/patients/{}/timeline"


def held_transfer(client: Any) -> tuple[str, str, str]:
    """A patient sent to (held at) a hospital: (patient id, hospital id, request id)."""
    hid = make_hospital("Bệnh viện Dã chiến số 9", beds={"icu": (10, 5)})
    doc = login(client, "dr_card")
    p = new_patient(client, doc)
    rid = sign(client, doc, p["id"], vitals={"spo2": 88})["transfer"]["transfer_request_id"]
    assert jobs.match_request(rid) == "held"
    return p["id"], hid, rid


def card_link(client: Any, headers: dict[str, str], url: str) -> bool:
    got = client.get(url, headers=headers)
    assert got.status_code == 200, got.text
    (row,) = got.json()
    return bool(row["patient"]["can_read_timeline"])


def test_the_link_shows_exactly_when_the_timeline_opens(client: Any) -> None:
    pid, hid, rid = held_transfer(client)
    other = make_hospital("Bệnh viện khác", beds={"icu": (10, 9)})
    readers = {
        "clerk": account_headers("clerk", "hospital", hospital_id=hid),
        "supervisor": account_headers("sup", "supervisor"),
        "dispatcher": account_headers("disp", "dispatcher"),
        "doctor, no call": account_headers("dr_other", "doctor"),
    }
    expected = {"clerk": True, "supervisor": True, "dispatcher": False, "doctor, no call": False}
    for who, headers in readers.items():
        url = f"/api/v1/hospitals/{hid}/transfers" if who == "clerk" else "/api/v1/transfers"
        link = card_link(client, headers, url)
        status = client.get(TIMELINE.format(pid), headers=headers).status_code
        assert link is expected[who], who
        assert status == (200 if expected[who] else 403), who
    # The same card on the single-request route says the same.
    clerk = readers["clerk"]
    assert client.get(f"/api/v1/transfers/{rid}", headers=clerk).json()["patient"][
        "can_read_timeline"
    ]
    # Another hospital's staff: no access to the record, and its page never lists the request.
    outsider = account_headers("clerk_other", "hospital", hospital_id=other)
    assert client.get(TIMELINE.format(pid), headers=outsider).status_code == 403
    assert client.get(f"/api/v1/hospitals/{other}/transfers", headers=outsider).json() == []
    # A doctor who answered the patient's call is on the care team: link and timeline both.
    answered_call_from("dr_other")
    assert card_link(client, readers["doctor, no call"], "/api/v1/transfers")
    assert client.get(TIMELINE.format(pid), headers=readers["doctor, no call"]).status_code == 200


def test_the_timeline_refuses_garbage_ids_and_unknown_patients(client: Any) -> None:
    sup = account_headers("sup", "supervisor")
    assert client.get(TIMELINE.format("no-such-patient"), headers=sup).status_code == 404
    disp = account_headers("disp", "dispatcher")
    # A role that never reads records learns nothing about which ids exist.
    assert client.get(TIMELINE.format("no-such-patient"), headers=disp).status_code == 403
