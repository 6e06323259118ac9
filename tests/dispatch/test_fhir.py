"""FHIR R4B bed capacity: a hospital system reports its beds and reads hospitals and capacity back.

Requests are built with the `fhir.resources` models a hospital system would use, and broken ones by
hand; every refusal must be an OperationOutcome with a 4xx and must leave the pools as they were.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.measurereport import MeasureReport
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import func, select

from dispatch.fhir import codes
from dispatch.models import BedUpdate
from kernel.accounts import create_api_key
from kernel.db import unit_of_work
from tests.helpers import account_headers, make_hospital, pool

FHIR = {"Content-Type": "application/fhir+json"}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def api_key(hospital_id: str) -> dict[str, str]:
    """Headers of a hospital system posting FHIR with its key (the key's id rides along for asserts)."""
    with unit_of_work() as s:
        key, plain = create_api_key(s, hospital_id=hospital_id, name="his")
        key_id = key.id
    return {"X-Api-Key": plain, **FHIR, "X-Test-Key-Id": key_id}


def coded(code: str) -> dict[str, Any]:
    return {"coding": [{"system": codes.SYSTEM, "code": code}]}


def report(
    hospital_id: str | None,
    as_of: datetime,
    pools: dict[str, tuple[int, int, int]],
) -> MeasureReport:
    """A capacity report as a hospital system builds it: a group per bed type, a population per count."""
    groups = [
        {
            "code": coded(codes.BED_TYPE_CONCEPTS[bed_type].code),  # type: ignore[index]
            "population": [
                {"code": coded(code), "count": n}
                for code, n in zip(("total", "occupied", "out-of-service"), counts, strict=True)
            ],
        }
        for bed_type, counts in pools.items()
    ]
    return MeasureReport.model_validate(
        {
            "status": "complete",
            "type": "summary",
            "measure": codes.MEASURE,
            **({"subject": {"reference": f"Location/{hospital_id}"}} if hospital_id else {}),
            "period": {"start": as_of, "end": as_of},
            "group": groups,
        }
    )


def body(resource: Any) -> bytes:
    return resource.model_dump_json(exclude_none=True).encode()


def post(client: Any, headers: dict[str, str], content: bytes | str) -> Any:
    return client.post("/fhir/MeasureReport", content=content, headers=headers)


def assert_outcome(res: Any, status: int, expression: str | None = None) -> OperationOutcome:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/fhir+json")
    oo = OperationOutcome.model_validate_json(res.content)
    assert oo.issue[0].severity == "error" and oo.issue[0].diagnostics
    if expression is not None:
        assert oo.issue[0].expression == [expression], oo.issue[0]
    return oo


def figures(hospital_id: str, bed_type: str) -> tuple[int, int, int, datetime | None]:
    p = pool(hospital_id, bed_type)
    as_of = p.as_of.replace(tzinfo=UTC) if p.as_of and p.as_of.tzinfo is None else p.as_of
    return p.total, p.occupied, p.out_of_service, as_of


def updates() -> int:
    with unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(BedUpdate)) or 0)


@pytest.fixture
def two() -> dict[str, Any]:
    a = make_hospital(
        "Bệnh viện Chợ Rẫy", lat=10.7579, lon=106.6596, beds={"icu": (5, 1)}, as_of=T0
    )
    b = make_hospital(
        "Bệnh viện Nhân dân 115", lat=10.7756, lon=106.6676, beds={"icu": (2, 0)}, as_of=T0
    )
    return {"a": a, "b": b, "key_a": api_key(a), "key_b": api_key(b)}


def test_a_hospital_system_reports_its_beds_and_gets_the_capacity_back(client, two):
    a = two["a"]
    t = T0 + timedelta(minutes=10)
    res = post(client, two["key_a"], body(report(a, t, {"icu": (8, 3, 1), "oxygen": (40, 12, 0)})))
    assert res.status_code == 201, res.text
    assert res.headers["content-type"].startswith("application/fhir+json")
    back = MeasureReport.model_validate_json(res.content)
    assert back.subject.reference == f"Location/{a}"
    icu = next(g for g in back.group if g.code.coding[0].code == "numICUBeds")
    counts = {p.code.coding[0].code: p.count for p in icu.population}
    assert counts == {"total": 8, "occupied": 3, "out-of-service": 1, "held": 0, "available": 4}
    assert figures(a, "icu") == (8, 3, 1, t)
    assert figures(a, "oxygen")[:3] == (40, 12, 0)
    with unit_of_work() as s:
        sent = s.scalars(select(BedUpdate.sent_by).where(BedUpdate.as_of == t)).all()
    assert sent == [f"apikey:{two['key_a']['X-Test-Key-Id']}"] * 2


def test_the_subject_may_be_left_out_by_a_hospital_and_strata_carry_the_bed_types(client, two):
    a, t = two["a"], T0 + timedelta(minutes=5)
    stratified = MeasureReport.model_validate(
        {
            "status": "complete",
            "type": "summary",
            "measure": codes.MEASURE,
            # No period end: the report's date is the time of the counts.
            "period": {"start": t - timedelta(hours=1)},
            "date": t,
            "group": [
                {
                    "stratifier": [
                        {
                            "stratum": [
                                {
                                    "value": coded("numICUBeds"),
                                    "population": [
                                        {"code": coded("total"), "count": 6},
                                        {"code": coded("occupied"), "count": 6},
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ],
        }
    )
    res = post(client, two["key_a"], body(stratified))
    assert res.status_code == 201, res.text
    assert figures(a, "icu") == (6, 6, 0, t)


def test_an_older_or_same_period_is_refused_409_and_changes_nothing(client, two):
    a = two["a"]
    before = updates()
    res = post(client, two["key_a"], body(report(a, T0, {"icu": (9, 0, 0)})))
    assert_outcome(res, 409, "MeasureReport.period.end")
    res = post(client, two["key_a"], body(report(a, T0 - timedelta(days=1), {"icu": (9, 0, 0)})))
    assert_outcome(res, 409, "MeasureReport.period.end")
    assert figures(a, "icu") == (5, 1, 0, T0)
    assert updates() == before


def test_impossible_counts_are_refused_422_naming_the_element_and_nothing_is_written(client, two):
    a = two["a"]
    before = updates()
    t = T0 + timedelta(minutes=1)
    # The first group is fine; the second is impossible: neither is stored.
    bad = report(a, t, {"oxygen": (10, 2, 0), "icu": (4, 5, 0)})
    res = post(client, two["key_a"], body(bad))
    assert_outcome(res, 422, "MeasureReport.group[1].population[1].count")
    bad = report(a, t, {"icu": (4, 3, 2)})
    assert_outcome(
        post(client, two["key_a"], body(bad)), 422, "MeasureReport.group[0].population[2].count"
    )
    assert figures(a, "icu") == (5, 1, 0, T0)
    assert updates() == before


def test_a_hospital_key_cannot_write_or_read_another_hospitals_beds(client, two):
    a, b = two["a"], two["b"]
    before = updates()
    res = post(client, two["key_b"], body(report(a, T0 + timedelta(minutes=1), {"icu": (0, 0, 0)})))
    assert_outcome(res, 403)
    assert figures(a, "icu") == (5, 1, 0, T0) and updates() == before
    key_b = {"X-Api-Key": two["key_b"]["X-Api-Key"]}
    assert_outcome(
        client.get("/fhir/MeasureReport", params={"subject": f"Location/{a}"}, headers=key_b), 403
    )
    assert_outcome(client.get(f"/fhir/Location/{a}", headers=key_b), 403)
    # Its own, yes; and a search of hospitals shows it only itself.
    own = client.get("/fhir/MeasureReport", params={"subject": f"Location/{b}"}, headers=key_b)
    assert own.status_code == 200
    found = Bundle.model_validate_json(client.get("/fhir/Location", headers=key_b).content)
    assert [e.resource.id for e in found.entry] == [b]


def test_no_credentials_and_a_wrong_key_get_an_outcome_401(client, two):
    res = post(client, FHIR, body(report(two["a"], T0 + timedelta(minutes=1), {"icu": (5, 0, 0)})))
    assert_outcome(res, 401)
    assert_outcome(post(client, {"X-Api-Key": "hk_nope_nope", **FHIR}, b"{}"), 401)
    assert_outcome(client.get("/fhir/Location", headers={"X-Api-Key": "hk_x_y"}), 401)


def _valid(hospital_id: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(
        body(report(hospital_id, T0 + timedelta(minutes=3), {"icu": (7, 2, 0)}))
    )
    return raw


def _broken(hospital_id: str) -> list[tuple[str, Any, int]]:
    """Hand-written broken reports: (what, body, status)."""
    v = _valid(hospital_id)
    wrong_type = {**v, "resourceType": "Patient"}
    string_count = copy.deepcopy(v)
    string_count["group"][0]["population"][0]["count"] = "7"
    float_count = copy.deepcopy(v)
    float_count["group"][0]["population"][0]["count"] = 7.0
    negative = copy.deepcopy(v)
    negative["group"][0]["population"][1]["count"] = -1
    no_total = copy.deepcopy(v)
    del no_total["group"][0]["population"][0]
    unknown_code = copy.deepcopy(v)
    unknown_code["group"][0]["code"] = coded("numBananas")
    other_system = copy.deepcopy(v)
    other_system["group"][0]["code"]["coding"][0]["system"] = "http://example.org"
    date_only = {**v, "period": {"end": "2021-08-01"}}
    no_period = {k: x for k, x in v.items() if k != "period"}
    no_time = {**v, "period": {"start": v["period"]["start"]}}
    future = {**v, "period": {"end": (datetime.now(UTC) + timedelta(days=1)).isoformat()}}
    not_location = {**v, "subject": {"reference": "Patient/1"}}
    unknown_element = {**v, "beds": 3}
    huge = {**v, "text": {"status": "generated", "div": "<div>" + "x" * 1_048_576 + "</div>"}}
    return [
        ("wrong resourceType", json.dumps(wrong_type), 400),
        ("count as a string", json.dumps(string_count), 400),
        ("count as a decimal", json.dumps(float_count), 400),
        ("negative count", json.dumps(negative), 422),
        ("no total", json.dumps(no_total), 422),
        ("unknown code", json.dumps(unknown_code), 422),
        ("code of another system", json.dumps(other_system), 422),
        ("a date, no time", json.dumps(date_only), 422),
        ("no period", json.dumps(no_period), 400),
        ("no period end and no date", json.dumps(no_time), 422),
        ("in the future", json.dumps(future), 422),
        ("subject not a Location", json.dumps(not_location), 422),
        ("unknown element", json.dumps(unknown_element), 400),
        ("status pending", json.dumps({**v, "status": "pending"}), 422),
        ("no groups", json.dumps({**v, "group": []}), 422),
        ("1 MB body", json.dumps(huge), 413),
        ("not JSON", "resourceType=MeasureReport", 400),
        ("a JSON list", json.dumps([v]), 400),
        ("JSON null", "null", 400),
        ("empty", "", 400),
        (
            "XML",
            '<MeasureReport xmlns="http://hl7.org/fhir"><status value="complete"/></MeasureReport>',
            400,
        ),
    ]


def test_every_broken_report_gets_an_outcome_4xx_and_changes_nothing(client, two):
    a = two["a"]
    before = updates()
    for what, content, status in _broken(a):
        res = post(client, two["key_a"], content)
        assert res.status_code == status, f"{what}: {res.status_code} {res.text[:300]}"
        assert_outcome(res, status)
    assert figures(a, "icu") == (5, 1, 0, T0)
    assert updates() == before


def test_xml_and_other_media_types_are_refused_415(client, two):
    xml = '<MeasureReport xmlns="http://hl7.org/fhir"><status value="complete"/></MeasureReport>'
    for media in ("application/fhir+xml", "application/xml", "text/plain", ""):
        headers = {"X-Api-Key": two["key_a"]["X-Api-Key"], "Content-Type": media}
        assert_outcome(post(client, headers, xml), 415)


def test_a_declared_huge_body_is_refused_before_reading(client, two):
    res = post(client, two["key_a"], b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert_outcome(res, 413)


def test_whatever_replaces_any_element_the_answer_is_4xx_or_accepted_never_500(client, two):
    a = two["a"]
    valid = _valid(a)
    weird: list[Any] = [None, "x", "", -1, 0, 1.5, True, [], {}, [None], {"a": 1}, "9" * 40]

    def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [at] if at else []
        if isinstance(node, dict):
            for k, v in node.items():
                out += paths(v, (*at, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += paths(v, (*at, i))
        return out

    accepted = 0
    for path in paths(valid):
        for value in weird:
            mutated = copy.deepcopy(valid)
            target = mutated
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
            res = post(client, two["key_a"], json.dumps(mutated))
            assert res.status_code in (201, 400, 401, 403, 404, 409, 413, 415, 422), (
                path,
                value,
                res.text,
            )
            if res.status_code == 201:
                accepted += 1
            else:
                OperationOutcome.model_validate_json(res.content)
    assert accepted >= 1  # the first harmless change was stored; its twins are now stale


def test_json_route_and_fhir_report_share_one_ordering(client, two):
    a = two["a"]
    key = two["key_a"]
    json_headers = {"X-Api-Key": key["X-Api-Key"]}
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    res = client.put(
        f"/api/v1/hospitals/{a}/beds/icu",
        json={"total": 6, "occupied": 2, "out_of_service": 0, "as_of": t2.isoformat()},
        headers=json_headers,
    )
    assert res.status_code == 200, res.text
    assert_outcome(post(client, key, body(report(a, t1, {"icu": (9, 0, 0)}))), 409)
    assert post(client, key, body(report(a, t3, {"icu": (7, 1, 0)}))).status_code == 201
    res = client.put(
        f"/api/v1/hospitals/{a}/beds/icu",
        json={"total": 6, "occupied": 2, "out_of_service": 0, "as_of": t2.isoformat()},
        headers=json_headers,
    )
    assert res.status_code == 409
    assert figures(a, "icu") == (7, 1, 0, t3)


def test_an_admin_must_name_the_hospital(client, two):
    admin = {**account_headers("root", "admin"), **FHIR}
    assert_outcome(
        post(client, admin, body(report(None, T0 + timedelta(minutes=1), {"icu": (5, 0, 0)}))),
        422,
        "MeasureReport.subject",
    )
    res = post(client, admin, body(report("nope", T0 + timedelta(minutes=1), {"icu": (5, 0, 0)})))
    assert_outcome(res, 404)
    res = post(client, admin, body(report(two["b"], T0 + timedelta(minutes=1), {"icu": (5, 0, 0)})))
    assert res.status_code == 201


def test_locations_near_a_point_come_nearest_first_with_their_status(client, two):
    disp = account_headers("disp", "dispatcher")
    res = client.put(
        f"/api/v1/hospitals/{two['b']}/status",
        json={"status": "full", "reason": "hết giường ICU"},
        headers=disp,
    )
    assert res.status_code == 200, res.text
    near_b = "10.7760|106.6670|2|km"
    found = Bundle.model_validate_json(
        client.get("/fhir/Location", params={"near": near_b}, headers=disp).content
    )
    assert [e.resource.id for e in found.entry] == [two["b"]]
    wide = Bundle.model_validate_json(
        client.get(
            "/fhir/Location", params={"near": "10.7760|106.6670|50|km"}, headers=disp
        ).content
    )
    assert [e.resource.id for e in wide.entry] == [two["b"], two["a"]]
    loc = Location.model_validate_json(
        client.get(f"/fhir/Location/{two['b']}", headers=disp).content
    )
    assert loc.operationalStatus.code == "full" and "hết giường ICU" in loc.description
    assert float(loc.position.latitude) == pytest.approx(10.7756)
    assert_outcome(
        client.get("/fhir/Location", params={"near": "north|of|here"}, headers=disp), 400
    )
    assert_outcome(client.get("/fhir/Location/nope", headers=disp), 404)


def test_metadata_and_code_system_are_public_and_the_page_speaks_vietnamese_first(client):
    cap = CapabilityStatement.model_validate_json(client.get("/fhir/metadata").content)
    served = {r.type for r in cap.rest[0].resource}
    assert {"MeasureReport", "Location"} <= served
    cs = CodeSystem.model_validate_json(
        client.get(f"/fhir/CodeSystem/{codes.CODE_SYSTEM_ID}").content
    )
    assert cs.url == codes.SYSTEM
    assert {c.code for c in cs.concept} >= {
        "numICUBeds",
        "numVent",
        "numO2Beds",
        "total",
        "occupied",
    }
    page = client.get(f"/fhir/CodeSystem/{codes.CODE_SYSTEM_ID}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert text.index("Giường hồi sức tích cực") < text.index("Intensive care beds")
    assert "numO2Beds" in text and "Giường có thở oxy" in text


def test_unknown_fhir_paths_answer_with_an_outcome(client):
    assert_outcome(client.get("/fhir/Patient/1"), 404)
    assert_outcome(client.delete("/fhir/MeasureReport"), 405)
