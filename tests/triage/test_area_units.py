"""Official units in both schemes: loading them, finding them by name with or without
diacritics, and the pick-up point a patient in each gets."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from kernel.db import unit_of_work
from tests.helpers import ROOT, account_headers, child_env, login, new_patient, sign
from triage.areas import units
from triage.areas.models import AreaUnit


def hotline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "areas", *args],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def load(scheme: str, province: str | None = "79") -> dict[str, int]:
    with unit_of_work() as s:
        return units.import_units(s, scheme, province)


def test_fold_drops_diacritics_and_d_bar() -> None:
    assert units.fold("Phường  Đa Kao") == "phuong da kao"
    assert units.fold("Thủ Đức") == units.fold("thu duc")


def test_the_2025_units_come_from_the_package_with_official_codes_and_names() -> None:
    counts = load("2025")
    # Ho Chi Minh City after the merger with Bình Dương and Bà Rịa–Vũng Tàu: 168 units.
    assert counts == {"units": 168, "created": 168}
    with unit_of_work() as s:
        ben_thanh = s.get(AreaUnit, "2025-26743")
        assert ben_thanh is not None
        assert (ben_thanh.scheme, ben_thanh.code, ben_thanh.name) == (
            "2025",
            "26743",
            "Phường Bến Thành",
        )
        assert ben_thanh.district_name is None  # no districts since July 2025
        assert ben_thanh.province_name == "Thành phố Hồ Chí Minh"
        assert ben_thanh.source.startswith("vietnam-provinces ")
        # Vũng Tàu is part of the city now.
        assert s.get(AreaUnit, "2025-26506") is not None
    assert load("2025") == {"units": 168, "created": 0}  # loading again changes nothing


def test_the_2021_units_are_our_three_level_list_with_approximate_centres() -> None:
    counts = load("2021")
    assert counts["units"] == 37
    with unit_of_work() as s:
        tan_dinh = s.get(AreaUnit, "26734")
        assert tan_dinh is not None
        assert (tan_dinh.scheme, tan_dinh.name, tan_dinh.district_name) == (
            "2021",
            "Tân Định",
            "Quận 1",
        )
        assert tan_dinh.centre_lat is not None and tan_dinh.centre_approximate
        # Every demo ward has a centre, inside Ho Chi Minh City.
        for unit in s.query(AreaUnit).filter(AreaUnit.scheme == "2021"):
            assert unit.centre_lat is not None and unit.centre_lon is not None, unit.name
            assert 10.6 < unit.centre_lat < 11.0 and 106.5 < unit.centre_lon < 106.9


def test_the_same_code_names_different_places_in_the_two_schemes() -> None:
    load("2021")
    load("2025")
    with unit_of_work() as s:
        old, new = s.get(AreaUnit, "26737"), s.get(AreaUnit, "2025-26737")
        assert old is not None and new is not None
        assert (old.name, new.name) == ("Đa Kao", "Phường Tân Định")


@pytest.mark.parametrize("typed", ["Bến Thành", "ben thanh", "BEN THANH", "phuong ben thanh"])
def test_the_picker_finds_a_ward_with_or_without_diacritics(client: Any, typed: str) -> None:
    load("2021")
    load("2025")
    doc = login(client, "doc")
    got = client.get("/api/v1/areas/wards", params={"q": typed}, headers=doc)
    assert got.status_code == 200, got.text
    found = {(w["scheme"], w["name"]) for w in got.json()}
    assert ("2025", "Phường Bến Thành") in found
    if not typed.startswith("phuong"):
        assert ("2021", "Bến Thành") in found


def test_the_picker_keeps_to_one_scheme_and_says_where_each_unit_sits(client: Any) -> None:
    load("2021")
    load("2025")
    doc = login(client, "doc")
    old = client.get(
        "/api/v1/areas/wards", params={"q": "thu duc", "scheme": "2021"}, headers=doc
    ).json()
    assert old and all(w["scheme"] == "2021" and w["district_name"] == "Thủ Đức" for w in old)
    new = client.get(
        "/api/v1/areas/wards", params={"q": "thu duc", "scheme": "2025"}, headers=doc
    ).json()
    assert new[0] == {
        "code": "2025-26824",
        "scheme": "2025",
        "official_code": "26824",
        "name": "Phường Thủ Đức",
        "district_name": None,
        "province_name": "Thành phố Hồ Chí Minh",
        "has_centre": False,
        "centre_approximate": True,
    }


def test_the_picker_names_one_unit_by_its_id(client: Any) -> None:
    load("2021")
    load("2025")
    doc = login(client, "doc")
    for area_id, name in (("2025-26737", "Phường Tân Định"), ("26737", "Đa Kao")):
        got = client.get("/api/v1/areas/wards", params={"code": area_id}, headers=doc).json()
        assert [(w["code"], w["name"]) for w in got] == [(area_id, name)]
    assert client.get("/api/v1/areas/wards", params={"code": "nowhere"}, headers=doc).json() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"scheme": "2030"}, "scheme"),
        ({"scheme": ""}, "scheme"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"q": "x" * 65}, "q"),
        ({"code": "9" * 17}, "code"),
    ],
)
def test_the_picker_refuses_garbage_naming_the_field(
    client: Any, params: dict[str, str], field: str
) -> None:
    doc = login(client, "doc")
    got = client.get("/api/v1/areas/wards", params=params, headers=doc)
    assert got.status_code == 422, got.text
    assert field in got.text


def test_the_picker_needs_a_role(client: Any) -> None:
    assert client.get("/api/v1/areas/wards", params={"q": "ben"}).status_code == 401
    hospital = account_headers("hosp", "hospital")
    assert client.get("/api/v1/areas/wards", headers=hospital).status_code == 403


@pytest.mark.parametrize(
    ("ward_code", "source"),
    [("26743", "ward_centre"), ("2025-26743", "unknown"), ("2025-centred", "ward_centre")],
)
def test_pick_up_point_for_a_patient_in_either_scheme(
    client: Any, ward_code: str, source: str
) -> None:
    load("2021")
    load("2025")
    with unit_of_work() as s:
        # A 2025 unit with a centre someone imported; the package ships none.
        units.upsert_unit(
            s,
            "2025",
            "centred",
            name="Phường Thử",
            province_code="79",
            province_name="Thành phố Hồ Chí Minh",
            centre_lat=10.8,
            centre_lon=106.7,
        )
        expected = units.place(s, ward_code)
        assert expected is not None
    doc = login(client, "doc")
    p = new_patient(client, doc, ward_code=ward_code)
    tr = sign(client, doc, p["id"], vitals={"spo2": 88})["transfer"]
    assert tr["pickup"]["source"] == source
    if source == "ward_centre":
        assert expected.centre is not None
        assert (tr["pickup"]["lat"], tr["pickup"]["lon"]) == expected.centre


def test_import_units_command_loads_each_scheme_and_refuses_garbage() -> None:
    done = hotline("import-units", "--scheme", "2025", "--province", "79")
    assert done.returncode == 0, done.stderr
    assert "168 units" in done.stdout
    done = hotline("import-units", "--scheme", "2021")
    assert done.returncode == 0, done.stderr
    with unit_of_work() as s:
        assert s.get(AreaUnit, "2025-26743") is not None and s.get(AreaUnit, "26743") is not None
    for args, field in (
        (("--scheme", "1999"), "--scheme"),
        (("--scheme", "2025", "--province", "abc"), "province"),
        (("--scheme", "2025", "--province", "999"), "province"),
        (("--scheme", "2021", "--province", "01"), "province"),
    ):
        refused = hotline("import-units", *args)
        assert refused.returncode == 2, (args, refused.stdout)
        assert field in refused.stderr, (args, refused.stderr)


def test_a_demo_patient_with_a_ward_is_picked_up_at_its_approximate_centre(client: Any) -> None:
    from sqlalchemy import select

    from hotline.demo import seed_demo as seed_hotline
    from triage import demo
    from triage.models import Patient
    from triage.transfers import pickup_point

    with unit_of_work() as s:
        seed_hotline(s)
    with unit_of_work() as s:
        demo.seed_demo(s)
    with unit_of_work() as s:
        patients = list(s.scalars(select(Patient)))
        assert patients and all(p.ward_code for p in patients)
        for patient in patients:
            where = units.place(s, patient.ward_code)
            assert where is not None and where.centre is not None and where.centre_approximate
            assert pickup_point(s, patient) == (*where.centre, "ward_centre")
