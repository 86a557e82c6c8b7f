"""The platform's daily round over the story, kept by the story's clock (``StoryClock.keep``).

Every night at 00:30 the interest accrual job accrues the day that ended
(``financing.accrual.accrue``, as ``coldpledge financing accrue`` does); every business morning
the operator enters the day's prices at 09:35 and the second operator approves them at 09:50
(``seed.prices``); every business afternoon at 15:30, after the scheduler's 15:00, the
mark-to-market job marks the day (``financing.marktomarket.mark_to_market``, as
``coldpledge financing mark`` does). A step runs at its own time whenever the story moves past
it, so a story event at 10:20 sees the morning's prices and one at 16:00 the afternoon's marks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import partial

from coldpledge.financing.accrual import accrue
from coldpledge.financing.businessdays import is_business_day
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.seed.prices import PriceDesk
from coldpledge.seed.scene import Scene

Step = tuple[datetime, Callable[[], object]]


class DailyRound:
    def __init__(self, scene: Scene, desk: PriceDesk, first_day: int) -> None:
        self.scene = scene
        self.desk = desk
        self._steps = self._round(first_day)
        self._next: Step | None = next(self._steps)

    def __call__(self, target: datetime) -> None:
        """Do every step due up to ``target``, each at its own time."""
        while self._next is not None and self._next[0] <= target:
            when, step = self._next
            self.scene.clock.to(when)
            step()
            self._next = next(self._steps, None)

    def _round(self, first_day: int) -> Iterator[Step]:
        scene, clock = self.scene, self.scene.clock
        day = first_day
        while True:
            today = clock.date_of(day)
            yield clock.at(day, "00:30"), partial(self._accrue, today - timedelta(days=1))
            if is_business_day(today):
                yield clock.at(day, "09:35"), partial(self.desk.enter, today)
                yield clock.at(day, "09:50"), partial(self.desk.approve, today)
                yield clock.at(day, "15:30"), partial(mark_to_market, scene.uow, today)
            day += 1

    def _accrue(self, through: date) -> None:
        accrue(self.scene.uow(), through)
