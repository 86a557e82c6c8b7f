"""The clock the demo story is told by.

The story starts on a Monday about two months before now, so its weekdays are known in advance
(days 0-4 of every week are workdays, when release windows are open), and its units of work read
the time from this clock. The clock only moves forward and never passes now: audit events follow
one another in the order they were committed, and none lies in the future.

The platform's daily round (prices in the morning, mark-to-market in the afternoon, interest at
night) is kept by a routine the clock is given (``keep``): before the clock moves to a time, the
routine does whatever of its round falls due on the way, so the round and the story interleave
as they would in a real week.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from coldpledge.calendar import BUSINESS_TZ, business_date

# The story's last full day is always before today: the start is at least this many days back.
DAYS_BACK = 60


class StoryClock:
    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the story needs an aware 'now'")
        self.now = now.astimezone(UTC)
        first = business_date(self.now) - timedelta(days=DAYS_BACK)
        self.start = first - timedelta(days=first.weekday())
        self._current = datetime.combine(self.start, time(8, 0), BUSINESS_TZ).astimezone(UTC)
        self._routine: Callable[[datetime], None] | None = None
        self._in_routine = False

    def __call__(self) -> datetime:
        return self._current

    def date_of(self, day: int) -> date:
        """The calendar date (China Standard Time) of the story's ``day``."""
        return self.start + timedelta(days=day)

    @property
    def today(self) -> date:
        return business_date(self._current)

    @property
    def day(self) -> int:
        """Which day of the story it is now."""
        return (self.today - self.start).days

    def at(self, day: int, hhmm: str) -> datetime:
        """The moment ``hhmm`` local time on the story's ``day`` (0 is the first Monday)."""
        hour, minute = (int(part) for part in hhmm.split(":"))
        return datetime.combine(self.date_of(day), time(hour, minute), BUSINESS_TZ).astimezone(UTC)

    def on(self, day: int, hhmm: str) -> datetime:
        """Move to ``hhmm`` local time on the story's ``day``."""
        return self._move(self.at(day, hhmm))

    def to(self, moment: datetime) -> datetime:
        """Move to ``moment``."""
        return self._move(moment)

    def later(self, minutes: int) -> datetime:
        return self._move(self._current + timedelta(minutes=minutes))

    @property
    def last_morning(self) -> int:
        """The story day of the latest morning that is over by now: today's after noon, otherwise
        yesterday's. The story ends on it, in office hours, whenever it is told."""
        local = self.now.astimezone(BUSINESS_TZ)
        latest = local.date() if local.time() >= time(12, 0) else local.date() - timedelta(days=1)
        return (latest - self.start).days

    def keep(self, routine: Callable[[datetime], None]) -> None:
        """From now on, ``routine(target)`` runs before every move: it does (moving the clock on,
        never beyond ``target``) the steps of its round due up to ``target``."""
        self._routine = routine

    def _move(self, target: datetime) -> datetime:
        target = target.astimezone(UTC)
        if target < self._current:
            raise ValueError(f"the story cannot go back from {self._current} to {target}")
        if target > self.now:
            raise ValueError(f"the story cannot run ahead of now ({self.now}) to {target}")
        if self._routine is not None and not self._in_routine:
            self._in_routine = True
            try:
                self._routine(target)
            finally:
                self._in_routine = False
        self._current = target
        return target
