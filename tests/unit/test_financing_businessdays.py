"""Business days: weekends and public holidays skipped, make-up working days (调休) counted."""

from __future__ import annotations

from datetime import date

from coldpledge.financing.businessdays import add_business_days, business_days_between, is_business_day

# National Day 2026: 1-7 October off; Saturday 10 October is a make-up working day.
NATIONAL_DAY = frozenset(date(2026, 10, day) for day in range(1, 8))
MAKE_UP = frozenset({date(2026, 10, 10)})
# 2026-12-04 is a Friday.
FRIDAY = date(2026, 12, 4)


def test_weekdays_are_business_days_and_weekends_are_not() -> None:
    assert is_business_day(FRIDAY)
    assert not is_business_day(date(2026, 12, 5))
    assert not is_business_day(date(2026, 12, 6))


def test_a_holiday_is_no_business_day() -> None:
    assert not is_business_day(date(2026, 10, 1), NATIONAL_DAY)


def test_a_make_up_saturday_is_a_business_day() -> None:
    assert is_business_day(date(2026, 10, 10), NATIONAL_DAY, MAKE_UP)


def test_three_business_days_after_a_friday_is_wednesday() -> None:
    assert add_business_days(FRIDAY, 3) == date(2026, 12, 9)


def test_a_cure_period_over_national_day_ends_after_the_holiday() -> None:
    # Margin call on Wednesday 30 September; 8 and 9 October are the first business days after the
    # holiday, and the make-up Saturday the 10th is the third.
    assert add_business_days(date(2026, 9, 30), 3, NATIONAL_DAY, MAKE_UP) == date(2026, 10, 10)
    assert add_business_days(date(2026, 9, 30), 3, NATIONAL_DAY) == date(2026, 10, 12)


def test_counting_from_a_weekend_starts_at_the_next_business_day() -> None:
    assert add_business_days(date(2026, 12, 5), 1) == date(2026, 12, 7)


def test_zero_business_days_is_the_day_itself() -> None:
    assert add_business_days(date(2026, 12, 5), 0) == date(2026, 12, 5)


def test_negative_business_days_go_back() -> None:
    assert add_business_days(date(2026, 12, 7), -1) == FRIDAY


def test_a_price_from_friday_is_one_business_day_old_on_monday() -> None:
    assert business_days_between(FRIDAY, date(2026, 12, 7)) == 1
    assert business_days_between(FRIDAY, date(2026, 12, 6)) == 0
    assert business_days_between(date(2026, 12, 7), FRIDAY) == -1
    assert business_days_between(date(2026, 9, 30), date(2026, 10, 8), NATIONAL_DAY) == 1
