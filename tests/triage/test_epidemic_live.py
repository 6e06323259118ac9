"""Ward epidemic levels from live data, their trace back to the data, and the calculator endpoint."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from kernel.db import unit_of_work, utcnow
from tests.helpers import auth, make_user, token_for
from triage.areas import csv_import, decision_218, levels, stations
from triage.areas.figures import local_today
from triage.areas.models import EpidemicLevel

# Two wards in one district; round populations make the rates easy to check by hand.
AREAS = """# test areas (demo figures)
province_code,province_name,district_code,district_name,district_population,ward_code,ward_name,population,high_risk_population,fully_vaccinated,high_risk_fully_vaccinated,vaccination_as_of,demo_figures
79,Thành phố Hồ Chí Minh,774,Quận 5,100000,W1,Phường 1,10000,1000,9000,950,2022-02-10,yes
79,Thành phố Hồ Chí Minh,774,Quận 5,100000,W2,Phường 2,16666,2000,15000,1900,2022-02-10,yes
"""

CALM: dict[str, Any] = {
    "new_cases_7d_per_100k": 0.0,
    "oxygen_cases_per_100k": 0.0,
    "deaths_7d_per_100k": 0.0,
    "vaccinated_share": 0.9,
    "high_risk_vaccinated_share": 0.95,
    "care_readiness_per_10k": 600.0,
    "district_free_beds_per_100k": 50.0,
    "province_icu_beds_per_100k": 10.0,
}


def _setup_calm_city() -> None:
    """Areas, vaccination met, stations for > 500 per 10,000, 50 free beds and 20 ICU beds."""
    from dispatch import beds, hospitals

    with unit_of_work() as s:
        csv_import.import_areas(s, csv_import.read_areas_csv(AREAS))
        for ward, pop in (("W1", 10000), ("W2", 16666)):
            stations.create_station(
                s,
                ward_code=ward,
                name=f"Trạm {ward}",
                kind="fixed",
                operator="public",
                doctors=3,
                home_patient_capacity=pop * 6 // 100,
            )
        h = hospitals.create_hospital(
            s, name="BV Q5", tier=3, lat=10.75, lon=106.66, district="Quận 5", actor="t"
        )
        beds.update_beds(
            s,
            hospital_id=h.id,
            counts=[
                beds.BedCounts("oxygen", 80, 30, 0),
                beds.BedCounts("icu", 20, 20, 0),
            ],
            as_of=utcnow() - timedelta(minutes=1),
            actor="t",
        )


def _add_patients(ward: str, n: int, **fields: Any) -> list[str]:
    from triage.models import Patient

    ids = []
    with unit_of_work() as s:
        for i in range(n):
            p = Patient(full_name=f"BN {ward} {i}", ward_code=ward, **fields)
            s.add(p)
            s.flush()
            ids.append(p.id)
    return ids


def _recompute() -> dict[str, int]:
    with unit_of_work() as s:
        return levels.recompute_levels(s)


def _levels(client: Any, token: str) -> dict[str, dict[str, Any]]:
    res = client.get("/api/v1/epidemic/levels", headers=auth(token))
    assert res.status_code == 200, res.text
    return {w["ward_code"]: w for w in res.json()["wards"]}


@pytest.fixture
def sup(client: Any) -> str:
    make_user("sup", "supervisor")
    return token_for(client, "sup")


# --------------------------------------------------------------------------- live levels


def test_calm_city_is_level_1_everywhere(client: Any, sup: str) -> None:
    _setup_calm_city()
    res = client.post("/api/v1/epidemic/recompute", headers=auth(sup))
    assert res.status_code == 200, res.text
    assert res.json()["changed"] == 2
    levels = _levels(client, sup)
    assert {w["level"] for w in levels.values()} == {1}
    w1 = levels["W1"]
    assert w1["inputs"]["care_readiness_per_10k"] == 600.0
    # 80 - 30 free oxygen beds (the full ICU has none) in a district of 100,000.
    assert w1["inputs"]["district_free_beds_per_100k"] == 50.0
    # 20 staffed ICU beds in a province of 100,000 (the district's figure, no province one).
    assert w1["inputs"]["province_icu_beds_per_100k"] == 20.0
    assert w1["sources"]["3c"]["staffed_icu_beds"] == 20
    assert w1["rules_version"] == decision_218.RULES_VERSION
    assert [s["step"] for s in w1["steps"]][-1] == "level"


def test_levels_recompute_when_inputs_change_and_trace_back(client: Any, sup: str) -> None:
    _setup_calm_city()
    _recompute()
    assert _levels(client, sup)["W1"]["level"] == 1

    # 50 new cases in a ward of 10,000 is 500 per 100,000: infection level 3, high capacity -> 2.
    today = local_today()
    _add_patients("W1", 50, positive_test_on=today - timedelta(days=3))
    assert _recompute() == {"changed": 1, "unchanged": 1}
    w1 = _levels(client, sup)["W1"]
    assert (w1["infection_level"], w1["capacity"], w1["level"]) == (3, "high", 2)
    # The trace: the stored rate is the stored count over the stored population.
    assert w1["sources"]["1a"]["new_cases_7d"] == 50
    assert w1["sources"]["ward"]["population"] == 10000
    assert w1["inputs"]["new_cases_7d_per_100k"] == pytest.approx(
        decision_218.per_population(50, 10000)
    )
    assert "500 new cases per 100,000" in w1["steps"][0]["explanation"]

    # Nothing changed: running again stores nothing new.
    assert _recompute() == {"changed": 0, "unchanged": 2}
    hist = client.get("/api/v1/epidemic/levels/W1/history", headers=auth(sup)).json()
    assert [h["level"] for h in hist] == [2, 1]

    # Cases older than 7 days leave the window: the level falls back.
    from triage.models import Patient

    with unit_of_work() as s:
        for p in s.scalars(select(Patient)):
            p.positive_test_on = today - timedelta(days=7)
    _recompute()
    assert _levels(client, sup)["W1"]["level"] == 1


def test_oxygen_patients_are_a_7_day_average(client: Any, sup: str) -> None:
    _setup_calm_city()
    # 4 hospital patients on every day of the window: 4 per 10,000 = 40 per 100,000 -> band 3.
    ids = _add_patients("W1", 4, isolation_place="hospital")
    from triage.models import Patient

    with unit_of_work() as s:
        for pid in ids:
            s.get(Patient, pid).created_at = utcnow() - timedelta(days=10)  # type: ignore[union-attr]
    _recompute()
    w1 = _levels(client, sup)["W1"]
    assert w1["sources"]["1b"]["oxygen_patients_per_day"] == [4] * 7
    assert w1["inputs"]["oxygen_cases_per_100k"] == 40.0
    assert w1["infection_level"] == 3


def test_a_single_death_in_a_ward_under_16667_lifts_the_level(client: Any, sup: str) -> None:
    """The HCMC example: one death among 16,666 people is > 6 per 100,000, +1."""
    _setup_calm_city()
    _add_patients("W2", 1, outcome="died", outcome_on=local_today())
    _recompute()
    levels = _levels(client, sup)
    assert levels["W2"]["level"] == 2
    assert levels["W2"]["sources"]["1c"]["deaths_7d"] == 1
    assert levels["W1"]["level"] == 1


def test_stale_bed_counts_are_not_free_beds(client: Any, sup: str, settings: Any) -> None:
    _setup_calm_city()
    settings.bed_staleness_s = 0
    _recompute()
    w1 = _levels(client, sup)["W1"]
    assert w1["inputs"]["district_free_beds_per_100k"] == 0.0
    assert w1["sources"]["3b"]["stale_pools_left_out"] == 2
    assert w1["capacity"] == "low"


def test_missing_vaccination_figures_count_as_not_met(client: Any, sup: str) -> None:
    from triage.areas.models import WardVaccination

    _setup_calm_city()
    with unit_of_work() as s:
        s.execute(delete(WardVaccination))
    _recompute()
    w1 = _levels(client, sup)["W1"]
    assert w1["inputs"]["vaccinated_share"] == 0.0
    assert w1["infection_level"] == 2


def test_stations_target_and_reinforcement_advice(client: Any, sup: str) -> None:
    _setup_calm_city()
    areas = client.get("/api/v1/areas", headers=auth(sup)).json()
    wards = {w["code"]: w for w in areas[0]["districts"][0]["wards"]}
    # One station for 16,666 people is below one per 10,000; one for 10,000 meets it.
    assert wards["W2"]["below_station_target"] is True
    assert wards["W1"]["below_station_target"] is False
    today = local_today()
    # W1: 600 places; 400 at home, 300 of them new this week against 100 the week before.
    _add_patients("W1", 300, positive_test_on=today - timedelta(days=2))
    _add_patients("W1", 100, positive_test_on=today - timedelta(days=9))
    # W2: load high but flat and within capacity.
    _add_patients("W2", 50, positive_test_on=today - timedelta(days=2))
    _add_patients("W2", 50, positive_test_on=today - timedelta(days=9))
    advice = client.get("/api/v1/areas/reinforcement", headers=auth(sup)).json()
    assert [a["ward_code"] for a in advice] == ["W1"]
    assert advice[0]["projected_home_patients"] == 700
    assert advice[0]["shortfall"] == 100
    assert advice[0]["extra_doctors_needed"] == 2


def test_ward_levels_csv_export(client: Any, sup: str) -> None:
    _setup_calm_city()
    _recompute()
    res = client.get("/api/v1/exports/ward-levels.csv", headers=auth(sup))
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert {r["ward_code"] for r in rows} == {"W1", "W2"}
    assert rows[0]["level"] == "1" and rows[0]["rules_version"] == decision_218.RULES_VERSION
    old = client.get(
        "/api/v1/exports/ward-levels.csv?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
        headers=auth(sup),
    )
    assert list(csv.DictReader(io.StringIO(old.text))) == []
    bad = client.get(
        "/api/v1/exports/ward-levels.csv?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
        headers=auth(sup),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "from"


def test_recompute_job_is_idempotent() -> None:
    from triage.areas import jobs as area_jobs

    _setup_calm_city()
    assert area_jobs.recompute_levels()["changed"] == 2
    assert area_jobs.recompute_levels() == {"changed": 0, "unchanged": 2}
    with unit_of_work() as s:
        assert s.scalar(select(func.count(EpidemicLevel.id))) == 2


def test_import_refuses_a_bad_row(client: Any, sup: str) -> None:
    bad = AREAS.replace("W1,Phường 1,10000,1000", "W1,Phường 1,10000,20000")
    res = client.post(
        "/api/v1/areas/import",
        content=bad.encode(),
        headers={**auth(sup), "Content-Type": "text/csv"},
    )
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "row 1: high_risk_population"


def test_station_crud_and_validation(client: Any, sup: str) -> None:
    _setup_calm_city()
    body = {"ward_code": "W1", "name": "Trạm lưu động 1", "kind": "mobile", "operator": "military"}
    res = client.post("/api/v1/stations", json={**body, "doctors": 2}, headers=auth(sup))
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    res = client.patch(
        f"/api/v1/stations/{sid}", json={"home_patient_capacity": 250}, headers=auth(sup)
    )
    assert res.json()["home_patient_capacity"] == 250
    res = client.post("/api/v1/stations", json={**body, "kind": "boat"}, headers=auth(sup))
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "kind"
    res = client.post("/api/v1/stations", json={**body, "ward_code": "nope"}, headers=auth(sup))
    assert res.status_code == 404
    assert len(client.get("/api/v1/stations?ward=W1", headers=auth(sup)).json()) == 2


# --------------------------------------------------------------------------- the calculator endpoint


def _assess(client: Any, token: str, **changes: Any) -> Any:
    return client.post("/api/v1/epidemic/assess", json={**CALM, **changes}, headers=auth(token))


@pytest.mark.parametrize(
    ("changes", "infection", "capacity", "level"),
    [
        ({}, 1, "high", 1),
        # 1a edges
        ({"new_cases_7d_per_100k": 89.99}, 1, "high", 1),
        ({"new_cases_7d_per_100k": 90}, 2, "high", 1),
        ({"new_cases_7d_per_100k": 449.99}, 2, "high", 1),
        ({"new_cases_7d_per_100k": 450}, 3, "high", 2),
        ({"new_cases_7d_per_100k": 600}, 3, "high", 2),
        ({"new_cases_7d_per_100k": 600.01}, 4, "high", 3),
        # 1b edges
        ({"oxygen_cases_per_100k": 0.99}, 1, "high", 1),
        ({"oxygen_cases_per_100k": 1}, 2, "high", 1),
        ({"oxygen_cases_per_100k": 31.99}, 2, "high", 1),
        ({"oxygen_cases_per_100k": 32}, 3, "high", 2),
        ({"oxygen_cases_per_100k": 40}, 3, "high", 2),
        ({"oxygen_cases_per_100k": 40.01}, 4, "high", 3),
        # 2a / 2b targets
        ({"vaccinated_share": 0.75}, 1, "high", 1),
        ({"vaccinated_share": 0.7499}, 2, "high", 1),
        ({"high_risk_vaccinated_share": 0.9}, 1, "high", 1),
        ({"high_risk_vaccinated_share": 0.8999, "care_readiness_per_10k": 300}, 2, "medium", 2),
        # 3a edges
        ({"care_readiness_per_10k": 500.01}, 1, "high", 1),
        ({"care_readiness_per_10k": 500}, 1, "medium", 1),
        ({"care_readiness_per_10k": 200}, 1, "medium", 1),
        ({"care_readiness_per_10k": 199.99}, 1, "low", 2),
        # 3b edges
        ({"district_free_beds_per_100k": 30.01}, 1, "high", 1),
        ({"district_free_beds_per_100k": 30}, 1, "medium", 1),
        ({"district_free_beds_per_100k": 10}, 1, "medium", 1),
        ({"district_free_beds_per_100k": 9.99}, 1, "low", 2),
        # 3c target, and unreported 3c counted as not met
        ({"province_icu_beds_per_100k": 4}, 1, "high", 1),
        ({"province_icu_beds_per_100k": 3.99}, 1, "medium", 1),
        ({"province_icu_beds_per_100k": None}, 1, "medium", 1),
        ({"province_icu_beds_per_100k": 3.99, "care_readiness_per_10k": 300}, 1, "low", 2),
        # 1c limit
        ({"deaths_7d_per_100k": 6}, 1, "high", 1),
        ({"deaths_7d_per_100k": 6.01}, 1, "high", 2),
        (
            {"deaths_7d_per_100k": 7, "new_cases_7d_per_100k": 700, "care_readiness_per_10k": 0},
            4,
            "low",
            4,
        ),
    ],
)
def test_band_edges_through_the_endpoint(
    client: Any, sup: str, changes: dict[str, Any], infection: int, capacity: str, level: int
) -> None:
    res = _assess(client, sup, **changes)
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["infection_level"], body["capacity"], body["level"]) == (
        infection,
        capacity,
        level,
    )
    assert body["rules_version"] == decision_218.RULES_VERSION
    assert body["steps"] and all("explanation" in s for s in body["steps"])


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        # Infection 1, but vaccination below target: +1 -> 2; with medium capacity, level 2.
        ("vaccination below target", {"vaccinated_share": 0.7, "care_readiness_per_10k": 300}),
        (
            "infection 2, medium capacity",
            {"new_cases_7d_per_100k": 120, "care_readiness_per_10k": 300},
        ),
        ("infection 3, high capacity", {"new_cases_7d_per_100k": 500}),
        ("one death among 16,666", {"deaths_7d_per_100k": decision_218.per_population(1, 16_666)}),
    ],
)
def test_hcmc_examples_are_level_2(
    client: Any, sup: str, name: str, changes: dict[str, Any]
) -> None:
    res = _assess(client, sup, **changes)
    assert res.status_code == 200, res.text
    assert res.json()["level"] == 2, name


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**CALM, "vaccinated_share": 1.2}, "vaccinated_share"),
        ({**CALM, "deaths_7d_per_100k": -1}, "deaths_7d_per_100k"),
        ({k: v for k, v in CALM.items() if k != "oxygen_cases_per_100k"}, "oxygen_cases_per_100k"),
        ({**CALM, "care_readiness_per_10k": "lots"}, "care_readiness_per_10k"),
        ({**CALM, "icu_beds": 3}, "icu_beds"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: Any, sup: str, payload: dict[str, Any], field: str
) -> None:
    res = client.post("/api/v1/epidemic/assess", json=payload, headers=auth(sup))
    assert res.status_code == 422, res.text
    assert field in [d["field"] for d in res.json()["detail"]]


def test_roles_are_refused(client: Any) -> None:
    make_user("doc", "doctor", branches={})
    make_user("disp", "dispatcher")
    for username in ("doc", "disp"):
        token = token_for(client, username)
        assert _assess(client, token).status_code == 403
        assert client.get("/api/v1/epidemic/levels", headers=auth(token)).status_code == 403
        assert client.post("/api/v1/epidemic/recompute", headers=auth(token)).status_code == 403
        assert client.get("/api/v1/exports/ward-levels.csv", headers=auth(token)).status_code == 403
        assert client.get("/api/v1/stations", headers=auth(token)).status_code == 403
    assert client.post("/api/v1/epidemic/assess", json=CALM).status_code == 401
    make_user("root", "admin")
    assert _assess(client, token_for(client, "root")).status_code == 200


def test_policy_comes_from_settings(client: Any, sup: str, settings: Any) -> None:
    settings.epidemic_policy_overrides = {"deaths_limit_per_100k": 10.0, "version": "x"}
    body = _assess(client, sup, deaths_7d_per_100k=8).json()
    assert body["level"] == 1 and body["rules_version"] == "x"


def test_vaccination_figures_can_be_updated(client: Any, sup: str) -> None:
    _setup_calm_city()
    res = client.put(
        "/api/v1/areas/wards/W1/vaccination",
        json={
            "as_of": (date(2022, 2, 11)).isoformat(),
            "fully_vaccinated": 5000,
            "high_risk_fully_vaccinated": 950,
        },
        headers=auth(sup),
    )
    assert res.status_code == 200, res.text
    _recompute()
    w1 = _levels(client, sup)["W1"]
    assert w1["inputs"]["vaccinated_share"] == 0.5
    assert w1["sources"]["2a_2b"]["as_of"] == "2022-02-11"
    too_many = client.put(
        "/api/v1/areas/wards/W1/vaccination",
        json={"as_of": "2022-02-12", "fully_vaccinated": 10001, "high_risk_fully_vaccinated": 0},
        headers=auth(sup),
    )
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "fully_vaccinated"
