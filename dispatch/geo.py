"""Places on the map: a coordinate pair that makes sense, and the distance between two."""

from __future__ import annotations

import math

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
