"""Price risk of collateral (issue 6 §7): volatility from price history, the probability that the
price falls far enough for LTV to reach a line, and value at risk. Figures for people to read, not
money to post, so floats are fine here; inputs and money results stay integers.

Model: the price follows a geometric Brownian motion observed daily,
``ln S_t = ln S_0 + μ t + σ W_t`` with ``t`` in days. ``μ`` (``mu_daily``) is the drift of the *log*
price — the mean daily log return, which is what history estimates — and ``σ`` (``sigma_daily``) the
standard deviation of daily log returns. Exposure is held fixed: LTV moves only with the price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from statistics import NormalDist, fmean, stdev

from coldpledge.financing.collateral import BP

# Broadie, Glasserman and Kou (1997): a barrier watched only at discrete steps Δt behaves like a
# continuously watched barrier moved away from the price by exp(β σ √Δt), β = −ζ(½)/√(2π).
BGK_BETA = 0.5825971579390106
_STANDARD = NormalDist()


def daily_log_returns(prices: Sequence[int]) -> list[float]:
    """ln(Sₜ / Sₜ₋₁) for consecutive observations (oldest first). Prices must be positive."""
    if any(price <= 0 for price in prices):
        raise ValueError("prices must be positive to take log returns")
    return [math.log(later / earlier) for earlier, later in pairwise(prices)]


def daily_volatility(log_returns: Sequence[float]) -> float:
    """σ: the sample standard deviation of daily log returns (needs at least two)."""
    if len(log_returns) < 2:
        raise ValueError("volatility needs at least two returns (three prices)")
    return stdev(log_returns)


def daily_drift(log_returns: Sequence[float]) -> float:
    """μ: the mean daily log return (needs at least one)."""
    if not log_returns:
        raise ValueError("drift needs at least one return (two prices)")
    return fmean(log_returns)


def _log_cdf(x: float) -> float:
    """ln Φ(x), accurate far into the lower tail where Φ itself underflows to zero."""
    if x > -30.0:
        # Through erfc, not NormalDist.cdf: 1 + erf(x/√2) cancels to 0 below x ≈ −8.3.
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    # Asymptotic series: Φ(x) ≈ φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶).
    inverse_square = 1.0 / (x * x)
    series = 1.0 - inverse_square + 3.0 * inverse_square**2 - 15.0 * inverse_square**3
    return -0.5 * x * x - math.log(-x) - 0.5 * math.log(2.0 * math.pi) + math.log(series)


def barrier_hit_probability(
    s0: float,
    barrier: float,
    sigma_daily: float,
    mu_daily: float,
    days: float,
    *,
    daily_monitoring: bool = False,
) -> float:
    """The probability that the price, starting at ``s0``, falls to ``barrier`` (< s0) at some time
    within ``days``.

    Reflection principle for Brownian motion with drift: with ``b = ln(barrier / s0) < 0``,
    ``m = μT``, ``v = σ√T``,

        P(min ln(S_t/S_0) ≤ b) = Φ((b − m) / v) + exp(2μb / σ²) · Φ((b + m) / v).

    This watches the price continuously, which overstates a daily check slightly (it is the
    conservative figure). ``daily_monitoring`` applies the Broadie-Glasserman-Kou correction: the
    barrier moves down by exp(−β σ) for one observation a day, which matches a daily
    mark-to-market closely.
    """
    if s0 <= 0 or barrier < 0 or sigma_daily < 0 or days < 0:
        raise ValueError("price must be positive; barrier, volatility and horizon not negative")
    if barrier >= s0:
        return 1.0
    if barrier == 0 or days == 0:
        return 0.0
    if daily_monitoring:
        barrier *= math.exp(-BGK_BETA * sigma_daily)
    b = math.log(barrier / s0)
    m = mu_daily * days
    if sigma_daily == 0:
        # No randomness: the price drifts straight; it reaches the barrier iff it ends at or below.
        return 1.0 if m <= b else 0.0
    v = sigma_daily * math.sqrt(days)
    direct = _STANDARD.cdf((b - m) / v)
    reflected = math.exp(2.0 * mu_daily * b / sigma_daily**2 + _log_cdf((b + m) / v))
    return min(1.0, max(0.0, direct + reflected))


def price_at_ltv(price_fen_per_t: int, exposure_fen: int, value_fen: int, line_bp: int) -> int:
    """The price at which LTV reaches ``line_bp``, the exposure and quantities held fixed (only the
    price moves): price × (E / V) / line, rounded up to the fen, so the line is shown reached at
    the true price or a fen before it. 0 if there is no exposure."""
    if value_fen <= 0 or line_bp <= 0:
        raise ValueError("a value and a line must be positive")
    if exposure_fen < 0 or price_fen_per_t < 0:
        raise ValueError("exposure and price cannot be negative")
    return -(-price_fen_per_t * exposure_fen * BP // (value_fen * line_bp))


def line_hit_probability(
    exposure_fen: int,
    value_fen: int,
    line_bp: int,
    sigma_daily: float,
    mu_daily: float,
    days: float,
    *,
    daily_monitoring: bool = False,
) -> float:
    """The probability that LTV reaches ``line_bp`` within ``days``: the price barrier at which it
    does is V·line / E of today's price (only the ratio matters). Certain when there is no value
    behind an exposure; impossible without exposure."""
    if exposure_fen <= 0:
        return 0.0
    if value_fen <= 0:
        return 1.0
    return barrier_hit_probability(
        1.0,
        exposure_fen * BP / (value_fen * line_bp),
        sigma_daily,
        mu_daily,
        days,
        daily_monitoring=daily_monitoring,
    )


def var_fen(
    value_fen: int, sigma_daily: float, *, days: int = 10, confidence: float = 0.99, mu_daily: float = 0.0
) -> int:
    """Parametric value at risk of collateral value under the lognormal model: the loss not
    exceeded with ``confidence`` over ``days``, V · (1 − exp(μT + σ√T · z₁₋꜀)), rounded up. The
    drift is zero by default, as usual for a short horizon. Lognormal, so the loss never exceeds the
    value itself."""
    if value_fen < 0 or sigma_daily < 0 or days < 0 or not 0 < confidence < 1:
        raise ValueError("value, volatility and horizon cannot be negative; confidence lies in (0, 1)")
    quantile = mu_daily * days + sigma_daily * math.sqrt(days) * _STANDARD.inv_cdf(1.0 - confidence)
    loss = value_fen * -math.expm1(quantile)
    return max(0, math.ceil(loss))


def var_99_10d_fen(value_fen: int, sigma_daily: float, mu_daily: float = 0.0) -> int:
    """10-day 99 % value at risk of collateral value, lognormal (see ``var_fen``)."""
    return var_fen(value_fen, sigma_daily, days=10, confidence=0.99, mu_daily=mu_daily)
