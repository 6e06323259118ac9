"""POST /api/v1/triage/score over HTTP: band edges per parameter, both rule sets, errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import STABLE_VITALS, auth, login, make_user, token_for

URL = "/api/v1/triage/score"
NORMAL: dict[str, Any] = {"age": 40, **STABLE_VITALS}


@pytest.fixture
def doc(client: Any) -> dict[str, str]:
    return login(client, "doc")


def post(client: Any, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    res = client.post(URL, json={**NORMAL, **kw}, headers=headers)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


@pytest.mark.parametrize(
    ("field", "value", "component", "points"),
    [
        ("respiratory_rate", 8, "respiratory_rate", 3),
        ("respiratory_rate", 9, "respiratory_rate", 1),
        ("respiratory_rate", 11, "respiratory_rate", 1),
        ("respiratory_rate", 12, "respiratory_rate", 0),
        ("respiratory_rate", 20, "respiratory_rate", 0),
        ("respiratory_rate", 21, "respiratory_rate", 2),
        ("respiratory_rate", 24, "respiratory_rate", 2),
        ("respiratory_rate", 25, "respiratory_rate", 3),
        ("spo2", 91, "spo2", 3),
        ("spo2", 92, "spo2", 2),
        ("spo2", 93, "spo2", 2),
        ("spo2", 94, "spo2", 1),
        ("spo2", 95, "spo2", 1),
        ("spo2", 96, "spo2", 0),
        ("systolic_bp", 90, "systolic_bp", 3),
        ("systolic_bp", 91, "systolic_bp", 2),
        ("systolic_bp", 100, "systolic_bp", 2),
        ("systolic_bp", 101, "systolic_bp", 1),
        ("systolic_bp", 110, "systolic_bp", 1),
        ("systolic_bp", 111, "systolic_bp", 0),
        ("systolic_bp", 219, "systolic_bp", 0),
        ("systolic_bp", 220, "systolic_bp", 3),
        ("pulse", 40, "pulse", 3),
        ("pulse", 41, "pulse", 1),
        ("pulse", 50, "pulse", 1),
        ("pulse", 51, "pulse", 0),
        ("pulse", 90, "pulse", 0),
        ("pulse", 91, "pulse", 1),
        ("pulse", 110, "pulse", 1),
        ("pulse", 111, "pulse", 2),
        ("pulse", 130, "pulse", 2),
        ("pulse", 131, "pulse", 3),
        ("temperature_c", 35.0, "temperature", 3),
        ("temperature_c", 35.1, "temperature", 1),
        ("temperature_c", 36.0, "temperature", 1),
        ("temperature_c", 36.1, "temperature", 0),
        ("temperature_c", 38.0, "temperature", 0),
        ("temperature_c", 38.1, "temperature", 1),
        ("temperature_c", 39.0, "temperature", 1),
        ("temperature_c", 39.1, "temperature", 2),
        ("consciousness", "alert", "consciousness", 0),
        ("consciousness", "confusion", "consciousness", 3),
        ("consciousness", "unresponsive", "consciousness", 3),
        ("on_oxygen", True, "air_or_oxygen", 2),
        ("on_oxygen", False, "air_or_oxygen", 0),
    ],
)
def test_news2_band_edges_over_http(
    client: Any, doc: dict[str, str], field: str, value: Any, component: str, points: int
) -> None:
    body = post(client, doc, **{field: value})
    assert body["news2"]["components"][component] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (83, False, 3),
        (84, False, 2),
        (85, False, 2),
        (86, False, 1),
        (87, False, 1),
        (88, False, 0),
        (92, False, 0),
        (93, False, 0),
        (100, False, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
    ],
)
def test_spo2_scale_2_over_http(
    client: Any, doc: dict[str, str], spo2: int, on_oxygen: bool, points: int
) -> None:
    body = post(client, doc, spo2=spo2, on_oxygen=on_oxygen, spo2_scale=2)
    assert body["news2"]["components"]["spo2"] == points
    assert body["news2"]["scale"] == 2


def test_response_matches_the_contract(client: Any, doc: dict[str, str]) -> None:
    body = post(client, doc, symptoms=["cough"])
    assert body["news2"]["total"] == 0 and body["news2"]["risk"] == "low"
    assert set(body["news2"]["components"]) >= {"respiratory_rate", "spo2", "pulse"}
    assert body["warning_signs"] == []
    assert body["severity"] == "mild"
    d = body["disposition"]
    assert d["action"] == "home_care" and d["follow_up_hours"] == 12
    assert {"level_of_care", "urgency"} <= set(d)
    assert body["rules_version"] == "news2-rcp-2017/r2+moh-261-2022/r1+policy:default/r1"


def test_missing_values_are_not_scored(client: Any, doc: dict[str, str]) -> None:
    res = client.post(URL, json={"age": 30}, headers=doc)
    assert res.status_code == 200
    body = res.json()
    assert body["news2"]["total"] is None and body["news2"]["risk"] is None
    assert all(v is None for v in body["news2"]["components"].values())
    assert body["news2"]["at_least"] is False


def test_one_normal_vital_is_at_least_0_never_low(client: Any, doc: dict[str, str]) -> None:
    res = client.post(URL, json={"age": 30, "spo2": 98}, headers=doc)
    assert res.status_code == 200
    n = res.json()["news2"]
    assert (n["total"], n["risk"], n["at_least"], n["complete"]) == (0, None, True, False)
    assert "respiratory_rate" in n["missing"]


def test_risk_bands(client: Any, doc: dict[str, str]) -> None:
    # Single parameter 3 -> low-medium; 5 -> medium; 7 -> high.
    assert post(client, doc, respiratory_rate=8)["news2"]["risk"] == "low-medium"
    medium = post(client, doc, respiratory_rate=22, pulse=115, temperature_c=38.5)
    assert medium["news2"]["total"] == 5 and medium["news2"]["risk"] == "medium"
    high = post(client, doc, respiratory_rate=25, spo2=93, pulse=115)
    assert high["news2"]["total"] == 7 and high["news2"]["risk"] == "high"
    assert high["disposition"]["level_of_care"] == "icu"


@pytest.mark.parametrize(
    ("rule_set", "age", "rr", "fires"),
    [
        ("moh-261-2022", 40, 19, False),
        ("moh-261-2022", 40, 20, True),
        ("moh-4377-2021", 40, 20, False),
        ("moh-4377-2021", 40, 21, True),
        ("moh-261-2022", 12, 20, True),
        ("moh-261-2022", 11, 29, False),
        ("moh-261-2022", 11, 30, True),
        ("moh-261-2022", 5, 30, True),
        ("moh-261-2022", 4, 39, False),
        ("moh-261-2022", 4, 40, True),
        ("moh-261-2022", 1, 40, True),
        ("moh-4377-2021", 4, 40, True),
    ],
)
def test_rr_warning_by_age_and_rule_set(
    client: Any, doc: dict[str, str], settings: Any, rule_set: str, age: int, rr: int, fires: bool
) -> None:
    settings.triage_rule_set = rule_set
    res = client.post(URL, json={"age": age, "respiratory_rate": rr}, headers=doc)
    body = res.json()
    assert ("respiratory_rate" in body["warning_signs"]) is fires
    assert rule_set in body["rules_version"]


@pytest.mark.parametrize(
    ("rule_set", "spo2", "fires"),
    [
        ("moh-261-2022", 96, True),
        ("moh-261-2022", 97, False),
        ("moh-4377-2021", 95, True),
        ("moh-4377-2021", 96, False),
    ],
)
def test_spo2_warning_by_rule_set(
    client: Any, doc: dict[str, str], settings: Any, rule_set: str, spo2: int, fires: bool
) -> None:
    settings.triage_rule_set = rule_set
    body = post(client, doc, spo2=spo2)
    assert ("spo2" in body["warning_signs"]) is fires
    assert (body["disposition"]["action"] == "transfer") is fires


def test_policy_override_by_setting_is_named(
    client: Any, doc: dict[str, str], settings: Any
) -> None:
    settings.triage_policy_overrides = {"name": "hcmc/r2", "follow_up_hours_news2_zero": 8.0}
    body = post(client, doc)
    assert body["disposition"]["follow_up_hours"] == 8.0
    assert body["rules_version"].endswith("policy:hcmc/r2")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"spo2": 49}, "spo2"),
        ({"spo2": 101}, "spo2"),
        ({"respiratory_rate": 81}, "respiratory_rate"),
        ({"pulse": 19}, "pulse"),
        ({"temperature_c": 45.5}, "temperature_c"),
        ({"systolic_bp": 301}, "systolic_bp"),
        ({"age": 131}, "age"),
        ({"systolic_bp": 80, "diastolic_bp": 90}, "diastolic_bp"),
        ({"symptoms": ["sneezing_fits"]}, "symptoms"),
        ({"spo2": "high"}, "spo2"),
        ({"consciousness": "drowsy"}, "consciousness"),
        ({"spo2_scale": 3}, "spo2_scale"),
        ({"spo2": 95.5}, "spo2"),
    ],
)
def test_bad_input_names_the_field(
    client: Any, doc: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    res = client.post(URL, json={**NORMAL, **payload}, headers=doc)
    assert res.status_code == 422, res.text
    fields = [d["field"] for d in res.json()["detail"]]
    assert field in fields
    assert all(d["rule"] for d in res.json()["detail"])


def test_age_is_required(client: Any, doc: dict[str, str]) -> None:
    res = client.post(URL, json={"spo2": 97}, headers=doc)
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "age"


def test_roles(client: Any) -> None:
    make_user("sup", "supervisor")
    make_user("disp", "dispatcher")
    assert client.post(URL, json=NORMAL).status_code == 401
    ok = client.post(URL, json=NORMAL, headers=auth(token_for(client, "sup")))
    assert ok.status_code == 200
    no = client.post(URL, json=NORMAL, headers=auth(token_for(client, "disp")))
    assert no.status_code == 403
