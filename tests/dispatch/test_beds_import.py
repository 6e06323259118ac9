"""Bed counts from one CSV, by an administrator over HTTP or from the CLI: all rows or none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.models import BedUpdate
from hotline.cli import main as cli
from kernel.db import unit_of_work
from tests.helpers import account_headers, make_hospital, pool

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
HEADER = "hospital,bed_type,total,occupied,out_of_service,as_of\n"


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def updates() -> int:
    with unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(BedUpdate)) or 0)


@pytest.fixture
def city(client: Any) -> dict[str, Any]:
    a = make_hospital("Bệnh viện Chợ Rẫy", beds={"icu": (5, 1)}, as_of=T0)
    b = make_hospital("Bệnh viện Nhân dân 115", beds={"icu": (2, 0)}, as_of=T0)
    return {"a": a, "b": b, "admin": account_headers("root", "admin")}


def test_an_admin_imports_every_hospitals_beds_from_one_csv(client, city):
    a, b = city["a"], city["b"]
    csv = (
        HEADER
        + f"{a},icu,8,3,1,{at(5)}\n"
        + f"{a},oxygen,40,12,,{at(5)}\n"
        + f"Bệnh viện Nhân dân 115,icu,4,4,0,{at(6)}\n"
    )
    res = client.post(
        "/api/v1/beds/import",
        content=csv.encode(),
        headers={**city["admin"], "Content-Type": "text/csv"},
    )
    assert res.status_code == 200, res.text
    assert res.json() == {"rows": 3, "hospitals": 2}
    p = pool(a, "icu")
    assert (p.total, p.occupied, p.out_of_service) == (8, 3, 1)
    assert (pool(a, "oxygen").total, pool(b, "icu").occupied) == (40, 4)


def test_the_file_may_come_as_a_form_upload(client, city):
    csv = HEADER + f"{city['b']},icu,3,1,0,{at(2)}\n"
    res = client.post(
        "/api/v1/beds/import",
        files={"file": ("beds.csv", csv.encode(), "text/csv")},
        headers=city["admin"],
    )
    assert res.status_code == 200, res.text
    assert pool(city["b"], "icu").total == 3


def test_every_bad_row_is_reported_by_line_and_column_and_nothing_is_stored(client, city):
    a = city["a"]
    before = updates()
    csv = (
        HEADER
        + f"{a},icu,8,3,1,{at(5)}\n"  # line 2: fine, yet not stored
        + f"Nowhere Hospital,icu,8,3,1,{at(5)}\n"  # line 3
        + f"{a},spa,8,3,1,{at(5)}\n"  # line 4
        + f"{a},oxygen,ten,3,1,{at(5)}\n"  # line 5
        + f"{a},general,8,3,1,2021-08-01 08:00\n"  # line 6: no time zone
        + f"{a},ecmo,2,3,0,{at(5)}\n"  # line 7: occupied > total
    )
    res = client.post(
        "/api/v1/beds/import",
        content=csv.encode(),
        headers={**city["admin"], "Content-Type": "text/csv"},
    )
    assert res.status_code == 422
    found = {(e["line"], e["column"]) for e in res.json()["detail"]}
    assert found == {(3, "hospital"), (4, "bed_type"), (5, "total"), (6, "as_of"), (7, "occupied")}
    assert all(e["rule"] for e in res.json()["detail"])
    assert pool(a, "icu").total == 5 and updates() == before


def test_a_row_older_than_the_stored_counts_refuses_the_whole_file(client, city):
    before = updates()
    csv = HEADER + f"{city['b']},icu,9,0,0,{at(5)}\n" + f"{city['a']},icu,9,0,0,{at(-5)}\n"
    res = client.post(
        "/api/v1/beds/import",
        content=csv.encode(),
        headers={**city["admin"], "Content-Type": "text/csv"},
    )
    assert res.status_code == 422
    assert [(e["line"], e["column"]) for e in res.json()["detail"]] == [(3, "as_of")]
    assert pool(city["b"], "icu").total == 2 and updates() == before


def test_a_missing_column_and_a_wrong_media_type_are_refused(client, city):
    admin = {**city["admin"], "Content-Type": "text/csv"}
    res = client.post("/api/v1/beds/import", content=b"hospital,total\nx,1\n", headers=admin)
    assert res.status_code == 422
    assert {e["column"] for e in res.json()["detail"]} == {"bed_type", "occupied", "as_of"}
    res = client.post("/api/v1/beds/import", json={"rows": []}, headers=city["admin"])
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "content-type"


def test_only_an_admin_imports(client, city):
    csv = (HEADER + f"{city['a']},icu,9,0,0,{at(5)}\n").encode()
    for who in (
        account_headers("staff_a", "hospital", hospital_id=city["a"]),
        account_headers("disp", "dispatcher"),
    ):
        res = client.post(
            "/api/v1/beds/import", content=csv, headers={**who, "Content-Type": "text/csv"}
        )
        assert res.status_code == 403
    assert pool(city["a"], "icu").total == 5


def test_the_cli_imports_a_file_or_lists_its_bad_rows(client, city, tmp_path, capsys):
    good = tmp_path / "beds.csv"
    good.write_text(HEADER + f"Bệnh viện Chợ Rẫy,icu,7,2,0,{at(3)}\n", encoding="utf-8")
    assert cli(["beds", "import", str(good)]) == 0
    assert "imported 1 row" in capsys.readouterr().out
    assert pool(city["a"], "icu").total == 7
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + f"{city['b']},icu,7,2,0,{at(4)}\n{city['b']},icu,x,2,0,{at(4)}\n",
        encoding="utf-8",
    )
    assert cli(["beds", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 3, column total" in err and "nothing imported" in err
    assert pool(city["b"], "icu").total == 2
