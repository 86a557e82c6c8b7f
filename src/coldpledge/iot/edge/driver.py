"""What every driver offers the gateway, and what it hands back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Measurement:
    """One value read from a device; the gateway stamps it with the capture time."""

    device: str | None  # None: the gateway's own reading (its backlog)
    metric: str
    value: float


class Driver(Protocol):
    name: str
    interval_seconds: float

    def read(self, now: datetime) -> list[Measurement]:
        """The values at ``now``; a device that cannot be read gives none, and never raises."""
        ...

    def close(self) -> None: ...
