"""Release windows: is a moment inside one? Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    weekdays: str  # ISO weekdays, "12345"
    start_minute: int
    end_minute: int
    timezone: str = "Asia/Shanghai"

    def contains(self, moment: datetime) -> bool:
        if moment.tzinfo is None:
            raise ValueError("release windows compare aware datetimes only")
        local = moment.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return str(local.isoweekday()) in self.weekdays and self.start_minute <= minute < self.end_minute


def within_any(windows: Iterable[Window], moment: datetime) -> bool:
    return any(window.contains(moment) for window in windows)


def parse_hhmm(text: str) -> int:
    """'08:30' -> 510. '24:00' is allowed as the end of the day."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"time must look like HH:MM, got {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
