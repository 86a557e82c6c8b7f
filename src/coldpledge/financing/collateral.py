"""Collateral arithmetic (DESIGN §7, domain §2.5-§2.6): value, exposure, loan-to-value, and how
much may be drawn, released or must be brought to cure a margin call.

Every rounding leans against the borrower, because the bank's cover must hold at the figure shown:
values round down, LTV rounds up, what a borrower may draw or take out rounds down, and what he
must pay or bring in rounds up. Ratio checks that decide something (``ltv_within``) compare exact
integer cross-products rather than a rounded LTV.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BP = 10_000
G_PER_T = 1_000_000


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _check_ratio(name: str, value_bp: int, *, positive: bool = False) -> None:
    if value_bp < 0 or value_bp > BP or (positive and value_bp == 0):
        raise ValueError(f"{name} must be within {'(0' if positive else '[0'}, 10000] bp, not {value_bp}")


def goods_value_fen(quantity_g: int, price_fen_per_t: int) -> int:
    """Market value of goods at a price per tonne, rounded down."""
    if quantity_g < 0 or price_fen_per_t < 0:
        raise ValueError("quantity and price cannot be negative")
    return quantity_g * price_fen_per_t // G_PER_T


@dataclass(frozen=True)
class LotValue:
    """One pledged lot as valuation sees it. An ineligible lot (quality hold, expired, disputed)
    counts nothing; a haircut takes its share off the market value."""

    quantity_g: int
    price_fen_per_t: int
    haircut_bp: int = 0
    eligible: bool = True

    def __post_init__(self) -> None:
        if self.quantity_g < 0 or self.price_fen_per_t < 0:
            raise ValueError("quantity and price cannot be negative")
        _check_ratio("a haircut", self.haircut_bp)

    @property
    def market_value_fen(self) -> int:
        return goods_value_fen(self.quantity_g, self.price_fen_per_t)

    @property
    def value_fen(self) -> int:
        """Collateral value: quantity × price × (1 − haircut), rounded down once."""
        return self.value_of_g(self.quantity_g)

    def value_of_g(self, quantity_g: int) -> int:
        """Collateral value of ``quantity_g`` grams of this lot."""
        if not self.eligible:
            return 0
        return quantity_g * self.price_fen_per_t * (BP - self.haircut_bp) // (G_PER_T * BP)


def collateral_value_fen(lots: Iterable[LotValue]) -> int:
    """The facility's collateral value: the sum of its lots' values (each rounded down on its own,
    so the facility's figure is the sum of the figures shown per lot)."""
    return sum(lot.value_fen for lot in lots)


def exposure_fen(principal_fen: int, accrued_interest_fen: int, cash_margin_fen: int) -> int:
    """What the collateral must cover: principal outstanding + accrued interest − cash margin,
    never below zero (surplus margin does not count as collateral)."""
    return max(0, principal_fen + accrued_interest_fen - cash_margin_fen)


def ltv_bp(exposure_fen: int, value_fen: int) -> int | None:
    """Loan-to-value in basis points, rounded up. ``None`` means infinite: an exposure with no
    collateral value behind it. No exposure is 0 whatever the value."""
    if exposure_fen < 0 or value_fen < 0:
        raise ValueError("exposure and value cannot be negative")
    if exposure_fen == 0:
        return 0
    if value_fen == 0:
        return None
    return _ceil_div(exposure_fen * BP, value_fen)


def ltv_within(exposure_fen: int, value_fen: int, line_bp: int) -> bool:
    """Whether exposure / value ≤ line exactly (no rounding): the test a drawdown or release passes."""
    return exposure_fen * BP <= value_fen * line_bp


def _covered_exposure_fen(value_fen: int, pledge_rate_bp: int) -> int:
    """The largest exposure ``value_fen`` covers at the pledge rate."""
    return value_fen * pledge_rate_bp // BP


def _value_needed_fen(exposure_fen: int, pledge_rate_bp: int) -> int:
    """The least collateral value that covers ``exposure_fen`` at the pledge rate."""
    return _ceil_div(exposure_fen * BP, pledge_rate_bp)


def drawdown_headroom_fen(limit_fen: int, exposure_fen: int, value_fen: int, pledge_rate_bp: int) -> int:
    """The most that may be drawn now: staying within the limit and within the pledge rate of the
    collateral value (``min(limit − E, V × r0 − E)``, never below zero)."""
    _check_ratio("a pledge rate", pledge_rate_bp)
    by_limit = limit_fen - exposure_fen
    by_collateral = _covered_exposure_fen(value_fen, pledge_rate_bp) - exposure_fen
    return max(0, min(by_limit, by_collateral))


def max_release_value_fen(value_fen: int, exposure_after_fen: int, pledge_rate_bp: int) -> int:
    """The most collateral value that may leave while exposure / remaining value ≤ pledge rate
    (``V − E / r0``, Frappe Lending's unpledge rule)."""
    _check_ratio("a pledge rate", pledge_rate_bp, positive=True)
    return max(0, value_fen - _value_needed_fen(exposure_after_fen, pledge_rate_bp))


def max_release_quantity_g(
    lot: LotValue, value_fen: int, exposure_after_fen: int, pledge_rate_bp: int
) -> int:
    """The most grams that may leave ``lot`` while the facility stays within the pledge rate.

    ``value_fen`` is the facility's collateral value with the whole lot in it; ``lot.quantity_g``
    is what the lot (or the receipt) holds now. Grams of an ineligible or worthless lot carry no
    value, so all of them may go if the rest already covers the exposure, none otherwise.
    """
    _check_ratio("a pledge rate", pledge_rate_bp, positive=True)
    other_value = value_fen - lot.value_fen
    if other_value < 0:
        raise ValueError("the facility's value must include the lot's own value")
    needed_from_lot = _value_needed_fen(exposure_after_fen, pledge_rate_bp) - other_value
    if needed_from_lot <= 0:
        return lot.quantity_g
    per_g_numerator = lot.price_fen_per_t * (BP - lot.haircut_bp) if lot.eligible else 0
    if per_g_numerator == 0:
        return 0
    keep_g = _ceil_div(needed_from_lot * G_PER_T * BP, per_g_numerator)
    return max(0, lot.quantity_g - keep_g)


@dataclass(frozen=True)
class MarginCallCure:
    """What cures a margin call, each on its own: cash (a margin deposit or a repayment), or goods
    at today's price. ``collateral_value_fen`` is the value after haircut the goods must add;
    ``goods_value_fen`` their market value and ``goods_g`` their weight. Goods are ``None`` when no
    quantity could cure (no price, or a 100 % haircut)."""

    cash_fen: int
    collateral_value_fen: int
    goods_value_fen: int | None
    goods_g: int | None

    @property
    def needed(self) -> bool:
        return self.cash_fen > 0


def margin_call_cure(
    exposure_fen: int, value_fen: int, pledge_rate_bp: int, haircut_bp: int, price_fen_per_t: int
) -> MarginCallCure:
    """The cure that brings LTV back to the pledge rate (domain §2.5, step 3), rounded up so that
    paying or bringing exactly this much cures fully:

    - cash = E − V × r0;
    - collateral value to add = E / r0 − V, i.e. market value (E / r0 − V) / (1 − haircut),
      and grams = the fewest whose value after haircut is at least that.
    """
    _check_ratio("a pledge rate", pledge_rate_bp, positive=True)
    _check_ratio("a haircut", haircut_bp)
    if exposure_fen < 0 or value_fen < 0 or price_fen_per_t < 0:
        raise ValueError("exposure, value and price cannot be negative")
    cash = max(0, exposure_fen - _covered_exposure_fen(value_fen, pledge_rate_bp))
    added = max(0, _value_needed_fen(exposure_fen, pledge_rate_bp) - value_fen)
    if added == 0:
        return MarginCallCure(cash_fen=cash, collateral_value_fen=0, goods_value_fen=0, goods_g=0)
    if haircut_bp == BP or price_fen_per_t == 0:
        return MarginCallCure(cash_fen=cash, collateral_value_fen=added, goods_value_fen=None, goods_g=None)
    return MarginCallCure(
        cash_fen=cash,
        collateral_value_fen=added,
        goods_value_fen=_ceil_div(added * BP, BP - haircut_bp),
        goods_g=_ceil_div(added * G_PER_T * BP, price_fen_per_t * (BP - haircut_bp)),
    )


def ltv_after_price_change_bp(ltv0_bp: int, change_bp: int) -> int | None:
    """LTV after the price moves by ``change_bp`` (−1667 = a 16.67 % fall): L0 / (1 + change),
    rounded up; ``None`` (infinite) if the price falls to nothing."""
    if change_bp < -BP:
        raise ValueError("a price cannot fall by more than 100 %")
    if change_bp == -BP:
        return None if ltv0_bp > 0 else 0
    return _ceil_div(ltv0_bp * BP, BP + change_bp)


def price_fall_to_reach(ltv0_bp: int, line_bp: int) -> int:
    """The price fall, in basis points, at which an LTV of ``ltv0_bp`` reaches ``line_bp``:
    1 − L0 / line, rounded half up (65 % → 78 % at a 16.67 % fall: 1667). 0 if already there."""
    if ltv0_bp < 0 or line_bp <= 0:
        raise ValueError("an LTV cannot be negative and a line must be positive")
    if ltv0_bp >= line_bp:
        return 0
    fall_numerator = (line_bp - ltv0_bp) * BP  # fall = fall_numerator / line_bp basis points
    return (2 * fall_numerator + line_bp) // (2 * line_bp)


def price_change_bp(reference_price_fen_per_t: int, price_fen_per_t: int) -> int:
    """The price move since a reference (e.g. the pledge-date price), for contracts that phrase
    their triggers as price drops: −500 is a 5 % fall. Rounded toward a larger fall."""
    if reference_price_fen_per_t <= 0 or price_fen_per_t < 0:
        raise ValueError("a reference price must be positive and a price not negative")
    return (price_fen_per_t - reference_price_fen_per_t) * BP // reference_price_fen_per_t
