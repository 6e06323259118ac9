"""Ward centres load with `hotline areas import`; a bad coordinate is refused naming its row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kernel.db import unit_of_work
from tests.helpers import ROOT, child_env
from triage.areas.models import Ward

HEADER = (
    "province_code,province_name,district_code,district_name,ward_code,ward_name,population,"
    "centre_lat,centre_lon\n"
)


def run_import(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "areas", "import", str(path)],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_areas_import_loads_ward_centres(tmp_path: Path) -> None:
    good = tmp_path / "wards.csv"
    good.write_text(
        HEADER
        + "79,Hồ Chí Minh,760,Quận 1,26734,Cầu Ông Lãnh,15000,10.7654,106.6968\n"
        + "79,Hồ Chí Minh,760,Quận 1,26737,Cô Giang,14000,,\n",
        encoding="utf-8",
    )
    done = run_import(good)
    assert done.returncode == 0, done.stderr
    with unit_of_work() as s:
        w = s.get(Ward, "26734")
        assert w is not None and (w.centre_lat, w.centre_lon) == (10.7654, 106.6968)
        other = s.get(Ward, "26737")
        assert other is not None and other.centre_lat is None

    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "79,Hồ Chí Minh,760,Quận 1,26740,Nguyễn Cư Trinh,12000,106.7,10.7\n"
        "79,Hồ Chí Minh,760,Quận 1,26741,Đa Kao,12000,10.7,abc\n",
        encoding="utf-8",
    )
    refused = run_import(bad)
    assert refused.returncode != 0
    assert "centre_lat" in refused.stderr + refused.stdout
    with unit_of_work() as s:
        assert s.get(Ward, "26740") is None  # all or nothing
