"""The price risk of a facility's collateral (issue 6 §7), per pledged commodity, from the approved
price history of the commodity's primary series.

The model, stated once for every figure here:

- Each commodity's price follows a geometric Brownian motion per business day,
  ``ln S_t = ln S_0 + μt + σW_t``. μ and σ are estimated from the log returns between consecutive
  approved observations of the window (the latest ``window`` on or before the business date). A
  return spanning Δ > 1 business days (a missing quote) counts as Δ steps: μ = Σr / ΣΔ and
  σ² = Σ (r − μΔ)² / Δ ÷ (n − 1), which with every gap one day are the plain mean and sample
  deviation of the returns. Fewer than ``MIN_RETURNS`` returns give no figure, only a reason.
- A line (warning, margin call, liquidation) is reached when LTV = exposure ÷ collateral value
  reaches it. The exposure (principal outstanding + interest due − cash margin, as mark-to-market
  uses it) and the other commodities' values are held fixed; only this commodity's price moves.
  Its barrier is the price at which the facility's LTV touches the line; a line the other goods
  cover on their own is out of this commodity's reach (probability 0), a line already reached has
  probability 1.
- The probability of touching the barrier within 10 and 30 business days is the reflection
  principle's closed form for a continuously watched price (``probability``: the conservative
  figure), and with the Broadie-Glasserman-Kou correction for one check per business day, which is
  how mark-to-market watches it (``probability_daily``). See ``pricerisk.barrier_hit_probability``.
- Value at risk: lognormal, zero drift, 10 business days, 99 % (``pricerisk.var_99_10d_fen``) of
  each commodity's collateral value; the facility's figure is their sum, the loss if every price
  falls together, which no diversification assumption can understate.

Floats here are estimates for people to read; money stays integer fen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.errors import N_
from coldpledge.financing import collateral
from coldpledge.financing.businessdays import business_days_between
from coldpledge.financing.collateral import BP
from coldpledge.financing.collateral_sql import CollateralLine
from coldpledge.financing.models import Facility
from coldpledge.financing.position import Position, position_of
from coldpledge.financing.pricerisk import (
    barrier_hit_probability,
    daily_drift,
    daily_log_returns,
    daily_volatility,
    var_99_10d_fen,
)
from coldpledge.financing.prices.checks import MIN_RETURNS
from coldpledge.financing.prices.models import ObservationStatus, PriceObservation
from coldpledge.financing.prices.service import HOLIDAYS, PriceUsed
from coldpledge.inventory.models import Commodity

DEFAULT_WINDOW = 60
MIN_WINDOW = MIN_RETURNS + 1
MAX_WINDOW = 500
HORIZONS = (10, 30)
MODEL = (
    "Geometric Brownian motion of each commodity's price per business day; drift and volatility "
    "from the log returns of the approved observations listed; exposure and the other commodities "
    "held fixed. Line probabilities by the reflection principle: 'probability' watches the price "
    "continuously, 'probability_daily' once a business day (Broadie-Glasserman-Kou correction). "
    "VaR: lognormal, zero drift, 10 business days, 99 %; the facility's VaR is the sum over "
    "commodities (all prices falling together)."
)


@dataclass(frozen=True)
class HorizonRisk:
    days: int
    probability: float  # continuous monitoring
    probability_daily: float  # one check per business day


@dataclass(frozen=True)
class LineRisk:
    """How far this commodity's price must fall for the facility's LTV to reach a line."""

    line: str  # "warning" | "margin_call" | "liquidation"
    line_bp: int
    reached: bool
    # The price at which LTV touches the line (rounded up); None when this commodity alone cannot
    # take LTV there (the rest of the collateral covers the exposure at that line) or none is owed.
    barrier_fen_per_t: int | None
    fall_bp: int | None  # the fall from today's price to the barrier, rounded half up
    horizons: tuple[HorizonRisk, ...] = ()


@dataclass(frozen=True)
class History:
    """The approved observations the estimates rest on, oldest first."""

    series_id: int
    observation_ids: tuple[int, ...]
    dates: tuple[date, ...]
    mids_fen_per_t: tuple[int, ...]

    @property
    def returns(self) -> int:
        return max(0, len(self.observation_ids) - 1)


@dataclass(frozen=True)
class CommodityRisk:
    commodity_id: int
    commodity_code: str
    quantity_g: int
    value_fen: int
    price: PriceUsed | None
    history: History | None = None
    mu_daily: float | None = None
    sigma_daily: float | None = None
    lines: tuple[LineRisk, ...] = ()
    var_99_10d_fen: int | None = None
    # Why there is no figure (an untranslated message and its parameters).
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceRisk:
    facility_id: int
    business_date: date
    window: int
    exposure_fen: int
    value_fen: int
    ltv_bp: int | None
    pledge_rate_bp: int
    lines: dict[str, int]
    commodities: tuple[CommodityRisk, ...]

    @property
    def var_99_10d_fen(self) -> int | None:
        """Σ of the commodities' VaR; None when a commodity that carries value has no estimate."""
        figures = [c.var_99_10d_fen for c in self.commodities if c.value_fen > 0]
        if any(figure is None for figure in figures):
            return None
        return sum(figure for figure in figures if figure is not None)

    @property
    def ltv_after_var_bp(self) -> int | None:
        """LTV if the collateral lost its VaR; None when infinite or unknown."""
        var = self.var_99_10d_fen
        if var is None:
            return None
        return collateral.ltv_bp(self.exposure_fen, max(0, self.value_fen - var))


def price_risk(
    session: Session, facility: Facility, business_date: date, window: int = DEFAULT_WINDOW
) -> PriceRisk:
    """The facility's price risk on ``business_date`` from the latest ``window`` approved
    observations of each pledged commodity's primary series (the caller scopes the facility)."""
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"a window holds {MIN_WINDOW} to {MAX_WINDOW} observations")
    position = position_of(session, facility, business_date)
    lines = {
        "warning": facility.warning_line_bp,
        "margin_call": facility.margin_call_line_bp,
        "liquidation": facility.liquidation_line_bp,
    }
    by_commodity: dict[int, list[CollateralLine]] = {}
    for line in position.collateral.lines:
        if line.commodity_id is not None:
            by_commodity.setdefault(line.commodity_id, []).append(line)
    codes = dict(
        session.execute(
            select(Commodity.id, Commodity.code).where(Commodity.id.in_(sorted(by_commodity)))
        ).all()
    )
    commodities = tuple(
        _commodity_risk(session, position, lines, codes[commodity_id], commodity_id, found, window)
        for commodity_id, found in sorted(by_commodity.items())
    )
    return PriceRisk(
        facility_id=facility.id,
        business_date=business_date,
        window=window,
        exposure_fen=position.exposure_fen,
        value_fen=position.value_fen,
        ltv_bp=collateral.ltv_bp(position.exposure_fen, position.value_fen),
        pledge_rate_bp=facility.pledge_rate_bp,
        lines=lines,
        commodities=commodities,
    )


def _commodity_risk(
    session: Session,
    position: Position,
    lines: dict[str, int],
    code: str,
    commodity_id: int,
    found: list[CollateralLine],
    window: int,
) -> CommodityRisk:
    value = sum(line.value_fen for line in found)
    price = next((line.price for line in found if line.value_fen > 0 and line.price), None)
    base = CommodityRisk(
        commodity_id=commodity_id,
        commodity_code=code,
        quantity_g=sum(line.quantity_g for line in found if line.value_fen > 0),
        value_fen=value,
        price=price,
    )
    if price is None:
        # Nothing of it counts (no price, quality hold, pledge ended): no value, so no price risk.
        first = next((line for line in found if line.reason), None)
        reason, params = (first.reason, first.params) if first and first.reason else (None, {})
        return replace(base, reason=reason or N_("None of these goods counts as collateral."), params=params)
    history = approved_window(session, price.series_id, position.business_date, window)
    base = replace(base, history=history)
    if history.returns < MIN_RETURNS:
        return replace(
            base,
            reason=N_("The window holds {returns} price changes; an estimate needs {needed}."),
            params={"returns": history.returns, "needed": MIN_RETURNS},
        )
    mu, sigma = drift_and_volatility(history)
    other_value = position.value_fen - value
    return replace(
        base,
        mu_daily=mu,
        sigma_daily=sigma,
        lines=tuple(
            _line_risk(
                name, line_bp, position.exposure_fen, other_value, value, price.price_fen_per_t, mu, sigma
            )
            for name, line_bp in lines.items()
        ),
        var_99_10d_fen=var_99_10d_fen(value, sigma),
    )


def approved_window(session: Session, series_id: int, business_date: date, window: int) -> History:
    """The latest ``window`` approved observations of the series on or before the date."""
    rows = session.execute(
        select(PriceObservation.id, PriceObservation.price_date, PriceObservation.price_mid_fen_per_t)
        .where(
            PriceObservation.series_id == series_id,
            PriceObservation.status == ObservationStatus.APPROVED,
            PriceObservation.price_date <= business_date,
        )
        .order_by(PriceObservation.price_date.desc())
        .limit(window)
    ).all()
    rows = list(reversed(rows))
    return History(
        series_id=series_id,
        observation_ids=tuple(row[0] for row in rows),
        dates=tuple(row[1] for row in rows),
        mids_fen_per_t=tuple(row[2] for row in rows),
    )


def drift_and_volatility(history: History) -> tuple[float, float]:
    """μ and σ of the log price per business day (see the module's docstring)."""
    returns = daily_log_returns(history.mids_fen_per_t)
    gaps = [max(1, business_days_between(a, b, HOLIDAYS)) for a, b in pairwise(history.dates)]
    return per_business_day(returns, gaps)


def per_business_day(returns: Sequence[float], gaps: Sequence[int]) -> tuple[float, float]:
    """μ = Σr / ΣΔ and σ² = Σ (r − μΔ)² / Δ ÷ (n − 1) for returns over gaps of Δ business days;
    with every gap one day, ``pricerisk.daily_drift`` and ``daily_volatility``."""
    if len(returns) != len(gaps) or any(gap < 1 for gap in gaps):
        raise ValueError("one gap of at least one business day per return")
    if all(gap == 1 for gap in gaps):
        return daily_drift(returns), daily_volatility(returns)
    if len(returns) < 2:
        raise ValueError("volatility needs at least two returns (three prices)")
    mu = sum(returns) / sum(gaps)
    variance = sum((r - mu * gap) ** 2 / gap for r, gap in zip(returns, gaps, strict=True)) / (
        len(returns) - 1
    )
    return mu, math.sqrt(variance)


def _line_risk(
    name: str,
    line_bp: int,
    exposure_fen: int,
    other_value_fen: int,
    value_fen: int,
    price_fen_per_t: int,
    mu: float,
    sigma: float,
) -> LineRisk:
    """LTV reaches the line when other + value · x = exposure ÷ line, x = S / S₀:
    x = (E · 10⁴ − other · line) ÷ (value · line)."""
    numerator = exposure_fen * BP - other_value_fen * line_bp
    denominator = value_fen * line_bp
    if exposure_fen == 0 or numerator <= 0:
        return LineRisk(name, line_bp, reached=False, barrier_fen_per_t=None, fall_bp=None)
    if numerator >= denominator:
        return LineRisk(
            name,
            line_bp,
            reached=True,
            barrier_fen_per_t=-(-price_fen_per_t * numerator // denominator),
            fall_bp=0,
            horizons=tuple(HorizonRisk(days, 1.0, 1.0) for days in HORIZONS),
        )
    ratio = numerator / denominator
    fall_numerator = (denominator - numerator) * BP
    return LineRisk(
        name,
        line_bp,
        reached=False,
        barrier_fen_per_t=-(-price_fen_per_t * numerator // denominator),
        fall_bp=(2 * fall_numerator + denominator) // (2 * denominator),
        horizons=tuple(
            HorizonRisk(
                days,
                barrier_hit_probability(1.0, ratio, sigma, mu, days),
                barrier_hit_probability(1.0, ratio, sigma, mu, days, daily_monitoring=True),
            )
            for days in HORIZONS
        ),
    )
