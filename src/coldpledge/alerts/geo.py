"""Distance on the Earth's surface, for GPS check-ins. Pure: no I/O."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def distance_m(lat1_e6: int, lon1_e6: int, lat2_e6: int, lon2_e6: int) -> int:
    """Great-circle (haversine) distance in whole metres between two points in micro-degrees."""
    lat1, lon1, lat2, lon2 = (math.radians(v / 1_000_000) for v in (lat1_e6, lon1_e6, lat2_e6, lon2_e6))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))
