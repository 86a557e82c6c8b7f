"""When to try a failed delivery again: exponential backoff with jitter. Pure, no I/O."""

from __future__ import annotations

import random
from datetime import timedelta


def next_delay(attempt: int, *, base_seconds: float, cap_seconds: float, rng: random.Random) -> timedelta:
    """The wait after the ``attempt``-th failed attempt (1, 2, …): base × 2^(attempt−1), at most
    the cap, less a random part of up to half, so that the deliveries that failed together while a
    receiver was down do not all come back at the same moment."""
    delay = min(cap_seconds, base_seconds * 2 ** min(attempt - 1, 62))
    return timedelta(seconds=delay - rng.uniform(0, delay / 2))
