"""Release windows: a weekly slot in the warehouse's local time when goods may leave without alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from coldpledge.warehouses.windows import Window, format_hhmm, parse_hhmm, within_any

WEEKDAYS_8_TO_17 = Window(weekdays="12345", start_minute=8 * 60, end_minute=17 * 60)


def shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone(timedelta(hours=8)))


# 2026-12-07 is a Monday, 2026-12-12 a Saturday.


def test_a_weekday_morning_in_shanghai_is_inside() -> None:
    assert WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 7, 9, 30))


def test_the_start_minute_is_inside() -> None:
    assert WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 7, 8, 0))


def test_the_end_minute_is_outside() -> None:
    assert WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 7, 16, 59))
    assert not WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 7, 17, 0))


def test_just_before_the_start_is_outside() -> None:
    assert not WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 7, 7, 59))


def test_saturday_is_outside_a_weekday_window() -> None:
    assert not WEEKDAYS_8_TO_17.contains(shanghai(2026, 12, 12, 10, 0))


def test_utc_times_are_judged_on_the_local_clock() -> None:
    # 01:30 UTC on Monday is 09:30 in Shanghai: inside.
    assert WEEKDAYS_8_TO_17.contains(datetime(2026, 12, 7, 1, 30, tzinfo=UTC))
    # 23:30 UTC on Sunday is already 07:30 on Monday in Shanghai: outside, but on a weekday.
    assert not WEEKDAYS_8_TO_17.contains(datetime(2026, 12, 6, 23, 30, tzinfo=UTC))
    # 00:30 UTC on Monday is 08:30 on Monday in Shanghai: inside, although UTC still says Monday early.
    assert WEEKDAYS_8_TO_17.contains(datetime(2026, 12, 7, 0, 30, tzinfo=UTC))


def test_the_local_weekday_decides_not_the_utc_weekday() -> None:
    # Friday 20:00 UTC is Saturday 04:00 in Shanghai; a Saturday-only night window contains it.
    saturday_night = Window(weekdays="6", start_minute=0, end_minute=6 * 60)
    assert saturday_night.contains(datetime(2026, 12, 11, 20, 0, tzinfo=UTC))
    # Friday 15:00 UTC is still Friday 23:00 in Shanghai.
    assert not saturday_night.contains(datetime(2026, 12, 11, 15, 0, tzinfo=UTC))


def test_a_window_in_another_time_zone_uses_that_zone() -> None:
    berlin = Window(weekdays="1", start_minute=9 * 60, end_minute=10 * 60, timezone="Europe/Berlin")
    # Monday 09:30 in Berlin (winter, UTC+1) is 08:30 UTC.
    assert berlin.contains(datetime(2026, 12, 7, 8, 30, tzinfo=UTC))
    assert not berlin.contains(datetime(2026, 12, 7, 9, 30, tzinfo=UTC))


def test_a_window_until_midnight_includes_the_last_minute_of_the_day() -> None:
    evening = Window(weekdays="7", start_minute=22 * 60, end_minute=24 * 60)
    assert evening.contains(shanghai(2026, 12, 13, 23, 59))
    assert not evening.contains(shanghai(2026, 12, 14, 0, 0))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        WEEKDAYS_8_TO_17.contains(datetime(2026, 12, 7, 9, 0))  # noqa: DTZ001 - the point of the test


def test_within_any_is_true_when_one_window_contains_the_moment() -> None:
    weekend = Window(weekdays="67", start_minute=10 * 60, end_minute=12 * 60)
    saturday_11 = shanghai(2026, 12, 12, 11, 0)
    assert within_any([WEEKDAYS_8_TO_17, weekend], saturday_11)
    assert not within_any([WEEKDAYS_8_TO_17], saturday_11)


def test_no_windows_means_never_inside() -> None:
    assert not within_any([], shanghai(2026, 12, 7, 9, 0))


@pytest.mark.parametrize(
    ("text", "minute"), [("00:00", 0), ("08:30", 510), ("8:05", 485), ("23:59", 1439), ("24:00", 1440)]
)
def test_parse_hhmm_reads_clock_times(text: str, minute: int) -> None:
    assert parse_hhmm(text) == minute


@pytest.mark.parametrize("text", ["", "8", "08:5", "08-30", "ab:cd", "08:3x", "-1:00", "08:30:00", " 8:30"])
def test_parse_hhmm_refuses_what_is_not_hh_mm(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(text)


@pytest.mark.parametrize("text", ["08:60", "24:01", "25:00", "99:99"])
def test_parse_hhmm_refuses_times_that_are_not_in_a_day(text: str) -> None:
    with pytest.raises(ValueError, match="not a time of day"):
        parse_hhmm(text)


@pytest.mark.parametrize("minute", [0, 1, 59, 60, 510, 1439, 1440])
def test_format_hhmm_is_the_inverse_of_parse_hhmm(minute: int) -> None:
    assert parse_hhmm(format_hhmm(minute)) == minute
