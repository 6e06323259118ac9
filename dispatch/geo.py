"""Places on the map: a coordinate pair that makes sense, and the distance between two."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kernel.errors import InvalidInput

EARTH_RADIUS_KM = 6371.0088


def check_location(lat: float, lon: float, prefix: str = "") -> None:
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidInput(f"{prefix}lat", "must be a latitude between -90 and 90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidInput(f"{prefix}lon", "must be a longitude between -180 and 180")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box around a point; every place outside it is at least
    `min_outside_km` from that point, along the great circle."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    min_outside_km: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


def bounding_box(lat: float, lon: float, radius_km: float) -> Box | None:
    """The smallest box outside which every place is at least radius_km away; None where such
    a box would reach a pole or cross the date line (the caller then reads everything).

    Outside the box, either the latitudes differ by more than radius_km / R (and the distance
    is at least that much), or they differ less and the longitudes differ by more than the
    half-width `b` chosen so that, by the haversine formula with both latitudes within the box,
    sin^2(d / 2R) >= cos(lat) cos(lat_far) sin^2(b / 2) = sin^2(radius_km / 2R).
    """
    a = radius_km / EARTH_RADIUS_KM
    far = math.radians(abs(lat)) + a
    if far >= math.radians(89.0):
        return None
    s = math.sin(a / 2) / math.sqrt(math.cos(math.radians(lat)) * math.cos(far))
    if s >= 1.0:
        return None
    b = math.degrees(2 * math.asin(s))
    if lon - b < -180 or lon + b > 180:
        return None
    da = math.degrees(a)
    return Box(lat - da, lat + da, lon - b, lon + b, radius_km)
