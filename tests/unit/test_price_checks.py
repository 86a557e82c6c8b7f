"""The arithmetic of prices: exact normalisation to fen per tonne, the outlier guard, business-day
staleness and the conservative valuation price."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldpledge.errors import InvalidInput
from coldpledge.financing.prices.checks import (
    conservative_price,
    outlier_check,
    quote_of,
    to_fen_per_t,
)
from coldpledge.financing.prices.models import PriceUnit

KG = PriceUnit.CNY_PER_KG
T = PriceUnit.CNY_PER_T
MONDAY = date(2026, 11, 30)


def days(prices: list[int], end: date = MONDAY) -> list[tuple[date, int]]:
    """``prices`` as a daily history ending the day before ``end``."""
    return [(end - timedelta(days=len(prices) - i), price) for i, price in enumerate(prices)]


def test_a_price_per_kilogram_becomes_fen_per_tonne_exactly() -> None:
    # MOA's pork price of 2024-10-31: CNY 24.63 per kg is CNY 24,630 per tonne.
    assert to_fen_per_t("24.63", KG) == 2_463_000
    assert to_fen_per_t("61.03", KG) == 6_103_000


def test_a_price_per_tonne_becomes_fen_per_tonne_exactly() -> None:
    assert to_fen_per_t("24630", T) == 2_463_000
    assert to_fen_per_t("24630.55", T) == 2_463_055
    assert to_fen_per_t("16,500", T) == 1_650_000


def test_a_price_finer_than_a_fen_per_tonne_is_refused_not_rounded() -> None:
    with pytest.raises(InvalidInput, match="more precise"):
        to_fen_per_t("24630.555", T)
    with pytest.raises(InvalidInput, match="more precise"):
        to_fen_per_t("24.630001", KG)


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "NaN", "Infinity", "1e12"])
def test_it_refuses_a_price_that_is_no_price(raw: str) -> None:
    with pytest.raises(InvalidInput):
        to_fen_per_t(raw, KG)


@given(st.integers(min_value=0, max_value=9_999), st.integers(min_value=0, max_value=99_999))
def test_every_quote_in_cny_per_kg_with_five_decimals_is_kept_exactly(yuan: int, fraction: int) -> None:
    expected = yuan * 100_000 + fraction
    if expected == 0:
        return
    assert to_fen_per_t(f"{yuan}.{fraction:05d}", KG) == expected


def test_the_mid_of_a_range_is_its_midpoint_rounded_down() -> None:
    assert quote_of(2_410_000, None, 2_530_001).mid == 2_470_000


def test_a_mid_needs_a_low_and_high_when_left_out() -> None:
    with pytest.raises(InvalidInput, match="both the low and the high"):
        quote_of(2_410_000, None, None)


def test_a_low_above_the_mid_is_refused() -> None:
    with pytest.raises(InvalidInput, match="low price is above"):
        quote_of(2_500_000, 2_400_000, None)


def test_a_high_below_the_mid_is_refused() -> None:
    with pytest.raises(InvalidInput, match="high price is below"):
        quote_of(None, 2_400_000, 2_300_000)


def test_a_first_price_is_never_an_outlier() -> None:
    assert not outlier_check(2_463_000, []).is_outlier


def test_a_ten_percent_move_is_not_yet_an_outlier() -> None:
    assert not outlier_check(1_100_000, days([1_000_000])).is_outlier
    assert not outlier_check(900_000, days([1_000_000])).is_outlier


def test_a_move_beyond_ten_percent_day_on_day_is_an_outlier() -> None:
    verdict = outlier_check(1_100_001, days([1_000_000]))
    assert verdict.is_outlier
    assert verdict.reason is not None
    assert "+10.00 % against 2026-11-29" in verdict.reason
    assert outlier_check(899_999, days([1_000_000])).is_outlier


def test_a_move_beyond_three_sigma_of_a_quiet_series_is_an_outlier() -> None:
    # Twenty days moving ±0.1 %: σ ≈ 0.1 %, so a 2 % move is about 20 σ while well under 10 %.
    quiet = [1_000_000 + (1_000 if i % 2 else 0) for i in range(21)]
    verdict = outlier_check(1_020_000, days(quiet))
    assert verdict.is_outlier
    assert verdict.reason is not None
    assert "σ of the last 20 returns" in verdict.reason


def test_sigma_needs_ten_returns_before_it_judges() -> None:
    quiet = [1_000_000 + (1_000 if i % 2 else 0) for i in range(10)]  # nine returns
    assert not outlier_check(1_020_000, days(quiet)).is_outlier


def test_a_move_within_three_sigma_of_a_volatile_series_is_not_an_outlier() -> None:
    swinging = [1_000_000 + (50_000 if i % 2 else 0) for i in range(21)]
    assert not outlier_check(1_030_000, days(swinging)).is_outlier


def test_without_an_average_the_price_is_the_mid() -> None:
    assert conservative_price(2_463_000, []) == (2_463_000, None)


def test_the_price_is_the_lower_of_the_mid_and_the_average() -> None:
    # Falling prices: the day's mid is below the average and is used.
    assert conservative_price(2_400_000, [2_400_000, 2_500_000, 2_600_000]) == (2_400_000, 2_500_000)
    # Rising: the average is below and is used.
    assert conservative_price(2_600_000, [2_600_000, 2_500_000, 2_400_000]) == (2_500_000, 2_500_000)


def test_the_average_is_rounded_down() -> None:
    assert conservative_price(5, [5, 4, 4]) == (4, 4)
