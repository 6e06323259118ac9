"""Erlang C staffing advice through the API: the worked example and clear refusals."""

from __future__ import annotations

import pytest

from tests.helpers import auth, make_user, seed_branches, token_for


@pytest.fixture
def sup(client):
    seed_branches()
    make_user("sup", "supervisor")
    return auth(token_for(client, "sup"))


def staffing(client, headers, **params):
    return client.get("/api/v1/branches/3/staffing", params=params, headers=headers)


def test_worked_example_100_calls_per_30_min(client, sup):
    # 100 calls in 30 min = 200/h at 180 s: 13 agents give 79.6%, 14 give 88.8%.
    res = staffing(client, sup, calls_per_hour=200, aht_s=180, target=0.85, threshold_s=20)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["doctors_needed"] == 14
    assert body["service_level"] == pytest.approx(0.888, abs=1e-3)
    assert body["asa_s"] == pytest.approx(7.8, abs=0.05)
    assert body["occupancy"] == pytest.approx(10 / 14, abs=1e-4)
    assert body["traffic_erlangs"] == pytest.approx(10)


def test_target_and_threshold_default_to_the_branch(client, sup):
    # Branch 3 asks 80% within 20 s: 13 agents reach 79.6%, so 14.
    body = staffing(client, sup, calls_per_hour=200, aht_s=180).json()
    assert body["target"] == 0.8 and body["threshold_s"] == 20
    assert body["doctors_needed"] == 14


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"calls_per_hour": -1, "aht_s": 180}, "calls_per_hour"),
        ({"calls_per_hour": "lots", "aht_s": 180}, "calls_per_hour"),
        ({"aht_s": 180}, "calls_per_hour"),
        ({"calls_per_hour": 10, "aht_s": 0}, "aht_s"),
        ({"calls_per_hour": 10, "aht_s": "nan"}, "aht_s"),
        ({"calls_per_hour": 10, "aht_s": 180, "target": 1}, "target"),
        ({"calls_per_hour": 10, "aht_s": 180, "target": 0}, "target"),
        ({"calls_per_hour": 10, "aht_s": 180, "threshold_s": -5}, "threshold_s"),
    ],
)
def test_bad_input_names_the_field(client, sup, params, field):
    res = staffing(client, sup, **params)
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["field"] == field


def test_only_supervisors(client, sup):
    make_user("dr_a", "doctor", branches={"3": 1})
    res = staffing(client, auth(token_for(client, "dr_a")), calls_per_hour=10, aht_s=180)
    assert res.status_code == 403
