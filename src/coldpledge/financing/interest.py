"""Interest without drift: accrue in micro-fen every day, post whole fen from the running total.

A day's interest on principal P at annual rate r (basis points) is ``P × r / 10 000 / basis_days``
fen. It is kept exactly to a millionth of a fen, rounded down (the borrower is never charged a
fraction he does not owe; the loss is under one fen per million days). Posting rounds the
*cumulative* accrual to whole fen half up, and a day posts the difference between today's and
yesterday's rounded totals, so the posted fen of any run of days add up to the rounded total and
never drift from it however many days are posted one by one.

Known answer (domain §2.2): CNY 10,000,000 at 4.35 % for 30 days is CNY 36,250.00 on ACT/360 and
CNY 35,753.42 on ACT/365.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from coldpledge.choices import Choice, present
from coldpledge.errors import N_
from coldpledge.financing.daycount import DayCount, days_between

UFEN_PER_FEN = 1_000_000
BP = 10_000


@present({"fixed": N_("Fixed rate"), "lpr_spread": N_("LPR plus spread")})
class RateKind(Choice):
    FIXED = "fixed"
    LPR_SPREAD = "lpr_spread"


@dataclass(frozen=True)
class FloatingRate:
    """A floating rate: the one-year Loan Prime Rate plus a spread, both in basis points. The
    spread may be negative (LPR − 20 bp), the rate it gives may not."""

    lpr_bp: int
    spread_bp: int

    @property
    def rate_bp(self) -> int:
        return self.lpr_bp + self.spread_bp


def effective_rate_bp(rate: int | FloatingRate) -> int:
    """The annual rate in force: a fixed rate as it is, a floating one as LPR + spread."""
    value = rate.rate_bp if isinstance(rate, FloatingRate) else rate
    if value < 0:
        raise ValueError(f"an interest rate cannot be negative ({value} bp)")
    return value


def penalty_rate_bp(rate_bp: int, multiplier_bp: int) -> int:
    """The penalty (罚息) rate: the contract rate times the multiplier (1.5 = 15 000 bp), rounded
    down to a whole basis point, so it never exceeds the contractual multiple (PBOC 银发〔2003〕251号
    caps the surcharge at a fraction of the contract rate). 4.35 % × 1.5 = 6.525 % → 652 bp."""
    if rate_bp < 0 or multiplier_bp < 0:
        raise ValueError("a rate and its multiplier cannot be negative")
    return rate_bp * multiplier_bp // BP


def daily_accrual_ufen(principal_fen: int, rate_bp: int, basis: DayCount) -> int:
    """One day's interest in micro-fen, rounded down."""
    if principal_fen < 0 or rate_bp < 0:
        raise ValueError("principal and rate cannot be negative")
    return principal_fen * rate_bp * UFEN_PER_FEN // (BP * basis.basis_days)


def accrued_ufen(principal_fen: int, rate_bp: int, start: date, end: date, basis: DayCount) -> int:
    """The interest over ``[start, end)`` on a constant principal, in micro-fen: the sum of the
    daily accruals, the very figure the daily job reaches day by day."""
    return daily_accrual_ufen(principal_fen, rate_bp, basis) * days_between(start, end)


def post_fen(cumulative_ufen: int) -> int:
    """Whole fen of a micro-fen total, rounded half up (ties away from zero, as Decimal's
    ROUND_HALF_UP)."""
    magnitude = (abs(cumulative_ufen) + UFEN_PER_FEN // 2) // UFEN_PER_FEN
    return -magnitude if cumulative_ufen < 0 else magnitude


def posted_increment_fen(cumulative_before_ufen: int, cumulative_after_ufen: int) -> int:
    """The fen a day posts: the rounded total after it less the rounded total before it."""
    return post_fen(cumulative_after_ufen) - post_fen(cumulative_before_ufen)


def interest_fen(principal_fen: int, rate_bp: int, start: date, end: date, basis: DayCount) -> int:
    """The posted interest over ``[start, end)`` on a constant principal, in whole fen."""
    return post_fen(accrued_ufen(principal_fen, rate_bp, start, end, basis))
