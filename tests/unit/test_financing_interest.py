"""Interest: day count, daily accrual in micro-fen, posting in whole fen, floating and penalty rates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from coldpledge.financing.daycount import DayCount, days_between
from coldpledge.financing.interest import (
    FloatingRate,
    accrued_ufen,
    daily_accrual_ufen,
    effective_rate_bp,
    interest_fen,
    penalty_rate_bp,
    post_fen,
    posted_increment_fen,
)

TEN_MILLION_CNY_FEN = 1_000_000_000


def test_ten_million_yuan_at_4_35_percent_for_30_days_is_36_250_yuan_on_act_360() -> None:
    assert interest_fen(TEN_MILLION_CNY_FEN, 435, date(2026, 3, 1), date(2026, 3, 31), DayCount.ACT_360) == (
        3_625_000
    )


def test_the_same_loan_is_35_753_yuan_42_on_act_365() -> None:
    assert interest_fen(TEN_MILLION_CNY_FEN, 435, date(2026, 3, 1), date(2026, 3, 31), DayCount.ACT_365) == (
        3_575_342
    )


def test_posting_the_30_days_one_by_one_gives_the_same_fen_as_the_period() -> None:
    for basis, expected in ((DayCount.ACT_360, 3_625_000), (DayCount.ACT_365, 3_575_342)):
        daily = daily_accrual_ufen(TEN_MILLION_CNY_FEN, 435, basis)
        posted = [posted_increment_fen(daily * (day - 1), daily * day) for day in range(1, 31)]
        assert sum(posted) == expected
        # Each day posts whole fen close to the true daily interest, never drifting from the total.
        assert max(posted) - min(posted) <= 1


def test_a_day_on_act_365_posts_1_191_yuan_78_or_79() -> None:
    daily = daily_accrual_ufen(TEN_MILLION_CNY_FEN, 435, DayCount.ACT_365)
    posted = {posted_increment_fen(daily * (day - 1), daily * day) for day in range(1, 366)}
    assert posted == {119_178, 119_179}


def test_the_first_day_counts_and_the_last_does_not() -> None:
    assert days_between(date(2026, 3, 1), date(2026, 3, 31)) == 30
    assert days_between(date(2026, 3, 1), date(2026, 3, 2)) == 1
    assert days_between(date(2026, 3, 1), date(2026, 3, 1)) == 0


def test_a_leap_february_holds_29_days_of_interest() -> None:
    assert days_between(date(2028, 2, 1), date(2028, 3, 1)) == 29


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        days_between(date(2026, 3, 2), date(2026, 3, 1))


def test_the_bases_divide_by_360_and_365_days() -> None:
    assert DayCount.ACT_360.basis_days == 360
    assert DayCount("act_365").basis_days == 365


def test_daily_accrual_keeps_micro_fen_rounded_down() -> None:
    # 10 million yuan × 4.35 % / 360 = 1,208.333… yuan a day = 120,833.333… fen.
    assert daily_accrual_ufen(TEN_MILLION_CNY_FEN, 435, DayCount.ACT_360) == 120_833_333_333


def test_accrual_over_a_period_is_the_sum_of_its_days() -> None:
    start = date(2026, 1, 15)
    whole = accrued_ufen(123_456_789, 385, start, start + timedelta(days=90), DayCount.ACT_360)
    first = accrued_ufen(123_456_789, 385, start, start + timedelta(days=31), DayCount.ACT_360)
    rest = accrued_ufen(
        123_456_789, 385, start + timedelta(days=31), start + timedelta(days=90), DayCount.ACT_360
    )
    assert whole == first + rest


def test_posting_rounds_half_a_fen_up() -> None:
    assert post_fen(1_499_999) == 1
    assert post_fen(1_500_000) == 2
    assert post_fen(499_999) == 0
    assert post_fen(500_000) == 1
    assert post_fen(0) == 0


def test_posting_a_negative_total_rounds_half_away_from_zero() -> None:
    assert post_fen(-500_000) == -1
    assert post_fen(-499_999) == 0


def test_a_floating_rate_is_lpr_plus_spread() -> None:
    assert effective_rate_bp(FloatingRate(lpr_bp=310, spread_bp=125)) == 435
    assert effective_rate_bp(FloatingRate(lpr_bp=310, spread_bp=-20)) == 290


def test_a_fixed_rate_is_its_own_rate() -> None:
    assert effective_rate_bp(435) == 435


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        effective_rate_bp(FloatingRate(lpr_bp=10, spread_bp=-20))


def test_the_penalty_rate_is_one_and_a_half_times_the_rate_rounded_down() -> None:
    assert penalty_rate_bp(435, 15_000) == 652  # 6.525 % → 6.52 %
    assert penalty_rate_bp(400, 15_000) == 600
    assert penalty_rate_bp(435, 13_000) == 565  # 5.655 % → 5.65 %


def test_penalty_interest_accrues_like_interest_at_the_penalty_rate() -> None:
    rate = penalty_rate_bp(435, 15_000)
    # 1 million yuan overdue for 10 days at 6.52 % on ACT/360: 1,811.11 yuan.
    assert interest_fen(100_000_000, rate, date(2026, 6, 1), date(2026, 6, 11), DayCount.ACT_360) == 181_111


def test_no_principal_accrues_nothing() -> None:
    assert interest_fen(0, 435, date(2026, 6, 1), date(2026, 7, 1), DayCount.ACT_365) == 0
