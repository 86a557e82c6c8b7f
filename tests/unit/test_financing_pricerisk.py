"""Price risk: volatility from history, probability of reaching a line, value at risk — checked
against closed forms and against a Monte Carlo simulation of the same model with a fixed seed."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from coldpledge.financing.collateral import LotValue, ltv_within
from coldpledge.financing.pricerisk import (
    barrier_hit_probability,
    daily_drift,
    daily_log_returns,
    daily_volatility,
    line_hit_probability,
    price_at_ltv,
    var_99_10d_fen,
    var_fen,
)

PHI = NormalDist().cdf


def test_log_returns_are_taken_between_consecutive_prices() -> None:
    returns = daily_log_returns([2_000_000, 2_200_000, 2_000_000])
    assert returns == pytest.approx([math.log(1.1), math.log(1 / 1.1)])


def test_a_zero_price_has_no_log_return() -> None:
    with pytest.raises(ValueError, match="positive"):
        daily_log_returns([2_000_000, 0])


def test_daily_volatility_is_the_sample_deviation_of_log_returns() -> None:
    returns = [0.01, -0.01, 0.02, -0.02]
    assert daily_volatility(returns) == pytest.approx(math.sqrt((2 * 0.0001 + 2 * 0.0004) / 3))
    assert daily_drift(returns) == pytest.approx(0.0)


def test_volatility_needs_at_least_two_returns() -> None:
    with pytest.raises(ValueError, match="two returns"):
        daily_volatility([0.01])


def test_without_drift_the_hit_probability_is_twice_the_chance_of_ending_below() -> None:
    # Reflection principle: P(min ≤ b) = 2 Φ(b / σ√T).
    expected = 2 * PHI(math.log(0.87) / (0.02 * math.sqrt(30)))
    assert barrier_hit_probability(100.0, 87.0, 0.02, 0.0, 30) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.2036, abs=1e-4)


def test_a_falling_drift_makes_the_line_likelier() -> None:
    neutral = barrier_hit_probability(100.0, 87.0, 0.02, 0.0, 30)
    assert barrier_hit_probability(100.0, 87.0, 0.02, -0.002, 30) > neutral
    assert barrier_hit_probability(100.0, 87.0, 0.02, 0.002, 30) < neutral


def test_a_longer_horizon_makes_the_line_likelier() -> None:
    assert barrier_hit_probability(100.0, 87.0, 0.02, 0.0, 10) < barrier_hit_probability(
        100.0, 87.0, 0.02, 0.0, 30
    )


def test_a_barrier_at_or_above_the_price_is_already_hit() -> None:
    assert barrier_hit_probability(100.0, 100.0, 0.02, 0.0, 10) == 1.0


def test_no_time_or_no_volatility_and_no_drift_cannot_reach_a_lower_barrier() -> None:
    assert barrier_hit_probability(100.0, 90.0, 0.02, 0.0, 0) == 0.0
    assert barrier_hit_probability(100.0, 90.0, 0.0, 0.0, 30) == 0.0
    assert barrier_hit_probability(100.0, 90.0, 0.0, -0.01, 30) == 1.0


def test_a_steep_fall_with_little_noise_does_not_overflow() -> None:
    assert barrier_hit_probability(100.0, 90.0, 0.001, -0.01, 5) == pytest.approx(0.0, abs=1e-12)
    assert barrier_hit_probability(100.0, 90.0, 0.001, -0.01, 20) == pytest.approx(1.0)


def test_a_line_far_out_of_reach_with_a_rising_drift_is_all_but_impossible() -> None:
    # The reflected term takes Φ far in its tail (at about −26 here), where a plain cdf is 0.
    assert barrier_hit_probability(100.0, 60.0, 0.006, 0.001, 10) == pytest.approx(0.0, abs=1e-12)


def test_daily_monitoring_is_less_likely_than_continuous() -> None:
    continuous = barrier_hit_probability(100.0, 87.0, 0.02, 0.0, 30)
    daily = barrier_hit_probability(100.0, 87.0, 0.02, 0.0, 30, daily_monitoring=True)
    assert 0 < daily < continuous


def test_the_price_at_a_line_scales_todays_price_by_ltv_over_the_line() -> None:
    # LTV 65 % today at CNY 24,630/t: the 78 % line is reached at 24,630 × 65/78 = 20,525 per tonne.
    assert price_at_ltv(2_463_000, 65_000_000, 100_000_000, 7_800) == 2_052_500
    assert price_at_ltv(2_463_000, 0, 100_000_000, 7_800) == 0


def test_ltv_crosses_the_line_one_fen_below_the_price_of_the_line() -> None:
    lot = LotValue(40_000_000, 2_463_000)
    exposure = 64_000_000
    price = price_at_ltv(lot.price_fen_per_t, exposure, lot.value_fen, 7_800)
    assert ltv_within(exposure, LotValue(lot.quantity_g, price).value_fen, 7_800)
    assert not ltv_within(exposure, LotValue(lot.quantity_g, price - 1).value_fen, 7_800)


def test_line_probability_uses_the_price_fall_that_reaches_the_line() -> None:
    # 65 % → 78 % is a fall to 65/78 of today's price.
    expected = barrier_hit_probability(1.0, 6_500 / 7_800, 0.02, 0.0, 30)
    assert line_hit_probability(65_000_000, 100_000_000, 7_800, 0.02, 0.0, 30) == pytest.approx(expected)
    assert line_hit_probability(0, 100_000_000, 7_800, 0.02, 0.0, 30) == 0.0
    assert line_hit_probability(1, 0, 7_800, 0.02, 0.0, 30) == 1.0


def test_var_99_10d_is_lognormal() -> None:
    # CNY 100,000 at 2 % daily: 1 − exp(−2.3263 × 0.02 × √10) = 13.68 %.
    expected = 10_000_000 * (1 - math.exp(NormalDist().inv_cdf(0.01) * 0.02 * math.sqrt(10)))
    assert var_99_10d_fen(10_000_000, 0.02) == math.ceil(expected)
    assert var_99_10d_fen(10_000_000, 0.02) == 1_368_193


def test_var_never_exceeds_the_value() -> None:
    assert var_99_10d_fen(10_000_000, 2.0) <= 10_000_000


def test_no_volatility_is_no_var() -> None:
    assert var_99_10d_fen(10_000_000, 0.0) == 0


def test_var_grows_with_horizon_and_confidence() -> None:
    assert var_fen(10_000_000, 0.02, days=1) < var_fen(10_000_000, 0.02, days=10)
    assert var_fen(10_000_000, 0.02, confidence=0.95) < var_fen(10_000_000, 0.02, confidence=0.99)


# Monte Carlo of the same model: daily log returns N(μ, σ²) with a fixed seed.

PATHS = 20_000


def simulate_hits(
    barrier: float, sigma: float, mu: float, days: int, *, continuous: bool, seed: int
) -> float:
    """Share of paths from 1.0 that reach ``barrier``. Continuous watching is simulated exactly
    with the Brownian-bridge probability of crossing between two daily points."""
    rng = random.Random(seed)
    b = math.log(barrier)
    hits = 0
    for _ in range(PATHS):
        x = 0.0
        for _ in range(days):
            nxt = x + rng.gauss(mu, sigma)
            if nxt <= b or (continuous and rng.random() < math.exp(-2 * (x - b) * (nxt - b) / sigma**2)):
                hits += 1
                break
            x = nxt
    return hits / PATHS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("barrier", "sigma", "mu", "days"),
    [(6_500 / 7_800, 0.02, 0.0, 30), (6_500 / 8_500, 0.025, -0.001, 30), (6_500 / 7_500, 0.03, 0.0005, 10)],
)
def test_the_closed_form_matches_a_monte_carlo_of_continuous_watching(
    barrier: float, sigma: float, mu: float, days: int
) -> None:
    simulated = simulate_hits(barrier, sigma, mu, days, continuous=True, seed=6)
    assert barrier_hit_probability(1.0, barrier, sigma, mu, days) == pytest.approx(simulated, abs=0.006)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("barrier", "sigma", "mu", "days"),
    [(6_500 / 7_800, 0.02, 0.0, 30), (6_500 / 8_500, 0.025, -0.001, 30), (6_500 / 7_500, 0.03, 0.0005, 10)],
)
def test_the_daily_correction_matches_a_monte_carlo_of_daily_marks(
    barrier: float, sigma: float, mu: float, days: int
) -> None:
    simulated = simulate_hits(barrier, sigma, mu, days, continuous=False, seed=7)
    corrected = barrier_hit_probability(1.0, barrier, sigma, mu, days, daily_monitoring=True)
    assert corrected == pytest.approx(simulated, abs=0.006)


@pytest.mark.slow
def test_var_matches_a_monte_carlo_of_ten_daily_returns() -> None:
    rng = random.Random(99)
    value, sigma = 10_000_000, 0.02
    losses = sorted(
        value * (1 - math.exp(sum(rng.gauss(0.0, sigma) for _ in range(10)))) for _ in range(PATHS)
    )
    simulated = losses[int(0.99 * PATHS)]
    assert var_99_10d_fen(value, sigma) == pytest.approx(simulated, rel=0.03)
