"""Business dates: stored times are UTC, but dates are dates on the warehouse's calendar (China)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from coldpledge.calendar import business_date


def test_the_business_day_changes_at_16_00_utc() -> None:
    assert business_date(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)).isoformat() == "2026-11-30"
    assert business_date(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)).isoformat() == "2026-12-01"


def test_a_year_ends_at_16_00_utc_on_new_years_eve() -> None:
    assert business_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)).isoformat() == "2027-01-01"


def test_business_date_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_date(datetime(2026, 11, 30, 12, 0))  # noqa: DTZ001 - the point of the test


def test_a_time_given_in_another_zone_is_dated_in_china() -> None:
    # 10:00 in New York (UTC-5) on 30 November is 23:00 in Shanghai, still the 30th; an hour later
    # it is the 1st.
    new_york = timezone(timedelta(hours=-5))
    assert business_date(datetime(2026, 11, 30, 10, 0, tzinfo=new_york)).isoformat() == "2026-11-30"
    assert business_date(datetime(2026, 11, 30, 11, 0, tzinfo=new_york)).isoformat() == "2026-12-01"
