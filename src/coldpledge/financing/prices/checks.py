"""The arithmetic of prices, with no I/O: normalising a quote, the outlier guard and the
conservative valuation price (domain §5). Staleness counts business days with
``financing.businessdays``; volatility is ``financing.pricerisk``'s.

Prices are integer fen per tonne. A quote in CNY/kg is × 100,000, one in CNY/t × 100; a quote more
precise than that (a fraction of a fen per tonne) is refused rather than rounded, so the stored
price is exactly the published one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from coldpledge.errors import N_, InvalidInput
from coldpledge.financing.pricerisk import daily_log_returns, daily_volatility
from coldpledge.financing.prices.models import PriceUnit

FEN_PER_T = {PriceUnit.CNY_PER_KG: 100_000, PriceUnit.CNY_PER_T: 100}
# How sources write their units; spaces are ignored.
UNIT_ALIASES = {
    "CNY/kg": PriceUnit.CNY_PER_KG,
    "元/公斤": PriceUnit.CNY_PER_KG,
    "元/千克": PriceUnit.CNY_PER_KG,
    "CNY/t": PriceUnit.CNY_PER_T,
    "元/吨": PriceUnit.CNY_PER_T,
}
# No quote for a food commodity comes near CNY 10,000 per kg; a larger one is a typing error.
MAX_FEN_PER_T = 10_000 * 100_000

# Domain §5: |Δ| > 10 % day on day, or a log return beyond 3σ of the recent ones, is confirmed
# before use. σ needs a history: fewer returns than MIN_RETURNS say nothing.
MAX_DAILY_CHANGE_BP = 1_000
SIGMAS = 3
SIGMA_WINDOW = 30
MIN_RETURNS = 10


def to_fen_per_t(raw: str, unit: PriceUnit, *, field: str = "price") -> int:
    """``raw`` (a decimal number as published, in ``unit``) in fen per tonne, exactly."""
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(N_("“{raw}” is not a number."), field=field, raw=raw) from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(N_("A price must be a positive number, not “{raw}”."), field=field, raw=raw)
    fen = value * FEN_PER_T[unit]
    if fen != fen.to_integral_value():
        raise InvalidInput(
            N_("“{raw}” {unit} is more precise than a fen per tonne; give fewer decimals."),
            field=field,
            raw=raw,
            unit=unit.value,
        )
    if fen > MAX_FEN_PER_T:
        raise InvalidInput(
            N_("“{raw}” {unit} is not a plausible price."), field=field, raw=raw, unit=unit.value
        )
    return int(fen)


@dataclass(frozen=True)
class Quote:
    """Low, mid and high of one date in fen per tonne; the mid of a low-high range is its floor
    midpoint (rounded down: conservative)."""

    low: int | None
    mid: int
    high: int | None


def quote_of(low: int | None, mid: int | None, high: int | None) -> Quote:
    if mid is None:
        if low is None or high is None:
            raise InvalidInput(N_("Give the mid price, or both the low and the high."), field="mid")
        mid = (low + high) // 2
    if low is not None and low > mid:
        raise InvalidInput(N_("The low price is above the mid price."), field="low")
    if high is not None and high < mid:
        raise InvalidInput(N_("The high price is below the mid price."), field="high")
    return Quote(low, mid, high)


@dataclass(frozen=True)
class OutlierVerdict:
    is_outlier: bool
    reason: str | None = None


def outlier_check(price: int, history: Sequence[tuple[date, int]]) -> OutlierVerdict:
    """Judge ``price`` against ``history``: the approved (date, price) before it, oldest first.

    The day-on-day test compares with the latest price of the history, whatever its date; the σ
    test with the standard deviation of the last ``SIGMA_WINDOW`` log returns of the history.
    """
    if not history:
        return OutlierVerdict(False)
    previous_date, previous = history[-1]
    reasons = []
    if abs(price - previous) * 10_000 > MAX_DAILY_CHANGE_BP * previous:
        change = Decimal((price - previous) * 100) / Decimal(previous)
        reasons.append(
            N_("{change} % against {previous_date}").format(
                change=f"{change:+.2f}", previous_date=previous_date.isoformat()
            )
        )
    returns = daily_log_returns([p for _d, p in history])[-SIGMA_WINDOW:]
    if len(returns) >= MIN_RETURNS:
        sigma = daily_volatility(returns)
        move = math.log(price / previous)
        if sigma > 0 and abs(move) > SIGMAS * sigma:
            reasons.append(
                N_("a move of {sigmas} σ of the last {count} returns").format(
                    sigmas=f"{abs(move) / sigma:.1f}", count=len(returns)
                )
            )
    if not reasons:
        return OutlierVerdict(False)
    return OutlierVerdict(True, "; ".join(reasons))


def conservative_price(mid: int, recent_mids: Sequence[int]) -> tuple[int, int | None]:
    """(price used, average): the lower of the day's mid and the floor mean of ``recent_mids``
    (which include the day's own); without recent mids, the mid itself and no average."""
    if not recent_mids:
        return mid, None
    average = sum(recent_mids) // len(recent_mids)
    return min(mid, average), average
