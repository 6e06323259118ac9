"""Matching by index: the pools read near the pick-up point give the same ranking as every pool.

`rank_nearest` reads only the hospitals inside a box around the pick-up point (through the
hospitals' location index) and widens it until what it found is certain to head the full
ranking; these tests compare it with `rank_candidates`, which reads every pool, on random
hospitals, counts, staleness, notices and refusals.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from dispatch import matching
from dispatch.geo import bounding_box, haversine_km
from dispatch.models import BedPool, Hospital, TransferRequest
from kernel.db import new_id, unit_of_work

NOW = datetime(2021, 8, 1, 8, 0, tzinfo=UTC)
STATUSES = ("open", "advisory", "full", "closed")

hospital_st = st.fixed_dictionaries(
    {
        # Placed from the pick-up point, by bearing and distance: many lie near the edges of
        # the boxes searched in turn (3, 10, 30 km), and some far beyond them.
        "bearing": st.floats(0, 360),
        "km": st.one_of(st.floats(0, 35), st.floats(0, 12), st.floats(35, 200)),
        "total": st.integers(0, 6),
        "occupied": st.integers(0, 3),
        "held": st.integers(0, 2),
        "discharges": st.integers(0, 2),
        "discharge_in_min": st.none() | st.integers(-30, 240),
        # Mostly fresh, open and with beds, as in a city in normal times, so that the search
        # often stops at a box; the odd stale, full or closed one among them.
        "age_s": st.sampled_from([0, 60, 600, 1200, 3000, 4000, None]),
        "status": st.sampled_from(("open", "open", "open", *STATUSES)),
        "notice_lapses_in_min": st.none() | st.integers(-60, 60),
        "excluded": st.sampled_from((False, False, False, True)),
    }
)


def _place(pickup: tuple[float, float], bearing: float, km: float) -> tuple[float, float]:
    """About km from the pick-up point (a flat map is close enough for placing test data)."""
    rad = math.radians(bearing)
    lat = pickup[0] + km * math.cos(rad) / 111.2
    lon = pickup[1] + km * math.sin(rad) / (111.2 * math.cos(math.radians(pickup[0])))
    return lat, lon


def _store(hospitals: list[dict[str, Any]], pickup: tuple[float, float]) -> list[str]:
    excluded = []
    with unit_of_work() as s:
        s.execute(delete(BedPool))
        s.execute(delete(Hospital))
        for i, h in enumerate(hospitals):
            hid = new_id()
            occupied = min(h["occupied"], h["total"])
            held = min(h["held"], h["total"] - occupied)
            due = h["discharge_in_min"]
            lapses = h["notice_lapses_in_min"]
            lat, lon = _place(pickup, h["bearing"], h["km"])
            s.add(
                Hospital(
                    id=hid,
                    name=f"H{i}",
                    tier=2,
                    lat=lat,
                    lon=lon,
                    status=h["status"],
                    status_until=None if lapses is None else NOW + timedelta(minutes=lapses),
                )
            )
            s.flush()
            s.add(
                BedPool(
                    hospital_id=hid,
                    bed_type="icu",
                    total=h["total"],
                    occupied=occupied,
                    out_of_service=0,
                    held=held,
                    expected_discharges=h["discharges"],
                    next_discharge_at=None if due is None else NOW + timedelta(minutes=due),
                    as_of=None if h["age_s"] is None else NOW - timedelta(seconds=h["age_s"]),
                )
            )
            if h["excluded"]:
                excluded.append(hid)
    return excluded


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hospitals=st.lists(hospital_st, min_size=0, max_size=60),
    pickup=st.tuples(st.floats(10.72, 10.88), st.floats(106.62, 106.78)),
    wanted=st.integers(1, 6),
    speed=st.sampled_from([20.0, 40.0, 90.0]),
)
def test_the_nearest_pools_rank_as_the_full_scan_does(
    hospitals: list[dict[str, Any]],
    pickup: tuple[float, float],
    wanted: int,
    speed: float,
    settings: Any,
) -> None:
    settings.ambulance_speed_kmh = speed
    settings.bed_staleness_s = 3600
    excluded = _store(hospitals, pickup)
    req = TransferRequest(
        bed_type="icu",
        pickup_lat=pickup[0],
        pickup_lon=pickup[1],
        excluded_hospital_ids=excluded,
    )
    with unit_of_work() as s:
        full = matching.rank_candidates(s, req, NOW)
        by_index = matching.rank_nearest(s, req, NOW, wanted=wanted)
        in_memory = matching.rank_nearest(
            s, req, NOW, wanted=wanted, pools=matching.pools_of_type(s, "icu")
        )
    for found in (by_index, in_memory):
        if found.complete:
            assert found.candidates == full
        else:
            # The head of the full ranking, long enough, and with a bed to hold in it.
            assert found.candidates == full[: len(found.candidates)]
            assert len(found.candidates) >= wanted
            assert any(c.free_now for c in found.candidates)
    assert by_index == in_memory


@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-170, 170),
    radius_km=st.sampled_from([1.0, 3.0, 10.0, 30.0, 300.0]),
    side=st.sampled_from(["north", "south", "east", "west"]),
    along=st.floats(0, 1),
    beyond=st.floats(1e-6, 0.05),
)
def test_every_place_outside_the_box_is_beyond_its_radius(
    lat: float, lon: float, radius_km: float, side: str, along: float, beyond: float
) -> None:
    """Just outside each edge of the box, anywhere along it, is at least the radius away."""
    box = bounding_box(lat, lon, radius_km)
    if box is None:
        return
    lat_along = box.lat_min + along * (box.lat_max - box.lat_min)
    lon_along = box.lon_min + along * (box.lon_max - box.lon_min)
    other = {
        "north": (box.lat_max + beyond, lon_along),
        "south": (box.lat_min - beyond, lon_along),
        "east": (lat_along, box.lon_max + beyond),
        "west": (lat_along, box.lon_min - beyond),
    }[side]
    assert not box.contains(*other)
    assert haversine_km(lat, lon, *other) >= radius_km * (1 - 1e-9)


def test_a_hospital_in_a_corner_of_the_box_does_not_beat_a_nearer_one_outside_it(
    settings: Any,
) -> None:
    settings.bed_staleness_s = 3600
    pickup = (10.7769, 106.7009)
    fresh = {"total": 2, "occupied": 0, "held": 0, "discharges": 0, "discharge_in_min": None}
    fresh |= {"age_s": 0, "status": "open", "notice_lapses_in_min": None, "excluded": False}
    radius = matching.SEARCH_RADII_KM[0]
    # In the first box's corner, a little beyond its radius; due north, nearer, but outside it.
    _store(
        [
            {**fresh, "bearing": 45.0, "km": radius * 1.1},
            {**fresh, "bearing": 0.0, "km": radius * 1.03},
        ],
        pickup,
    )
    req = TransferRequest(bed_type="icu", pickup_lat=pickup[0], pickup_lon=pickup[1])
    with unit_of_work() as s:
        found = matching.rank_nearest(s, req, NOW, wanted=1)
        full = matching.rank_candidates(s, req, NOW)
    assert [c.hospital_name for c in full] == ["H1", "H0"]
    assert found.candidates[0].hospital_name == "H1"
