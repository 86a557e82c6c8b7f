"""Business days (工作日): Monday to Friday, less public holidays, plus the weekend days China
declares working days to make up for a long holiday (调休). The calendars are passed in; this module
knows no holiday of its own."""

from __future__ import annotations

from datetime import date, timedelta

NO_DATES: frozenset[date] = frozenset()


def is_business_day(
    day: date, holidays: frozenset[date] = NO_DATES, workdays: frozenset[date] = NO_DATES
) -> bool:
    """A weekday that is no holiday, or a weekend day declared a working day."""
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_business_days(
    day: date, n: int, holidays: frozenset[date] = NO_DATES, workdays: frozenset[date] = NO_DATES
) -> date:
    """The ``n``-th business day after ``day`` (before it if ``n`` is negative); ``day`` itself
    need not be one. ``n == 0`` gives ``day``. A margin call issued on T with a cure period of 3
    business days has its deadline on ``add_business_days(T, 3, ...)``."""
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    current = day
    while remaining:
        current += step
        if is_business_day(current, holidays, workdays):
            remaining -= 1
    return current


def business_days_between(
    start: date, end: date, holidays: frozenset[date] = NO_DATES, workdays: frozenset[date] = NO_DATES
) -> int:
    """How many business days lie after ``start`` up to and including ``end`` (negative when
    ``end`` is earlier): the inverse of ``add_business_days`` on business days, and the age of a
    price published on ``start`` as seen on ``end``."""
    if end < start:
        return -business_days_between(end, start, holidays, workdays)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current, holidays, workdays):
            count += 1
    return count
