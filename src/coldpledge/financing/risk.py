"""The collateral risk state of a facility (DESIGN §7, domain §6.2), one pure step per evaluation.

    normal ──LTV ≥ warning──> warning ──LTV < warning − hysteresis──> normal
    normal | warning ──LTV ≥ margin-call line──> margin_call (deadline = T + cure business days)
    margin_call ──LTV ≤ pledge rate──> normal (cured)
    margin_call ──business date after the deadline, not cured──> liquidation
    any live state ──LTV ≥ liquidation line (or no collateral value at all)──> liquidation
    liquidation ──(disposal recorded, not this step)──> disposed

The margin-call line defaults to the warning line: reaching the warning line obliges the pledgor to
top up within the cure period (the usual Chinese contract form). A facility may set a higher call
line, and then the band between the two lines is a notice-only warning.

The deadline is the last business day to cure: the evaluation on the deadline itself still waits,
the first evaluation after it liquidates. Cure is tested before the deadline, so a margin call cured
on its last day ends in normal however late the evaluation runs.

The step is a fixpoint: feeding its decision back with the same LTV and business date gives the
same decision, so a daily job run twice for one business date (two schedulers, a retry) changes
nothing the second time. Liquidation and disposed never step back on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from coldpledge.choices import Choice, present
from coldpledge.errors import N_
from coldpledge.financing.businessdays import NO_DATES, add_business_days

DEFAULT_HYSTERESIS_BP = 100


@present(
    {
        "normal": N_("Normal"),
        "warning": N_("Warning"),
        "margin_call": N_("Margin call"),
        "liquidation": N_("Liquidation"),
        "disposed": N_("Disposed"),
    },
    {
        "normal": "green",
        "warning": "orange",
        "margin_call": "red",
        "liquidation": "purple",
        "disposed": "grey",
    },
)
class RiskState(Choice):
    NORMAL = "normal"
    WARNING = "warning"
    MARGIN_CALL = "margin_call"
    LIQUIDATION = "liquidation"
    DISPOSED = "disposed"


@present(
    {
        "unchanged": N_("No change"),
        "warning_line_reached": N_("LTV reached the warning line"),
        "warning_cleared": N_("LTV fell back below the warning line"),
        "margin_call_line_reached": N_("LTV reached the margin-call line"),
        "cured": N_("Margin call cured: LTV back within the pledge rate"),
        "deadline_missed": N_("Margin call not cured by its deadline"),
        "liquidation_line_reached": N_("LTV reached the liquidation line"),
        "no_collateral_value": N_("Exposure without any collateral value"),
    }
)
class RiskReason(Choice):
    UNCHANGED = "unchanged"
    WARNING_LINE_REACHED = "warning_line_reached"
    WARNING_CLEARED = "warning_cleared"
    MARGIN_CALL_LINE_REACHED = "margin_call_line_reached"
    CURED = "cured"
    DEADLINE_MISSED = "deadline_missed"
    LIQUIDATION_LINE_REACHED = "liquidation_line_reached"
    NO_COLLATERAL_VALUE = "no_collateral_value"


@dataclass(frozen=True)
class RiskLines:
    """A facility's lines in basis points of LTV. ``margin_call_line_bp`` ``None`` means the
    warning line."""

    pledge_rate_bp: int
    warning_line_bp: int
    liquidation_line_bp: int
    margin_call_line_bp: int | None = None
    hysteresis_bp: int = DEFAULT_HYSTERESIS_BP

    def __post_init__(self) -> None:
        if not 0 < self.pledge_rate_bp < self.warning_line_bp <= self.call_line_bp < self.liquidation_line_bp:
            raise ValueError(
                "lines must rise: 0 < pledge rate < warning ≤ margin call < liquidation "
                f"(got {self.pledge_rate_bp}, {self.warning_line_bp}, {self.call_line_bp}, "
                f"{self.liquidation_line_bp})"
            )
        if self.hysteresis_bp < 0:
            raise ValueError("hysteresis cannot be negative")

    @property
    def call_line_bp(self) -> int:
        return self.warning_line_bp if self.margin_call_line_bp is None else self.margin_call_line_bp


@dataclass(frozen=True)
class RiskDecision:
    previous: RiskState
    state: RiskState
    reason: RiskReason
    margin_call_deadline: date | None  # set while (and only while) the state is margin_call

    @property
    def changed(self) -> bool:
        return self.state is not self.previous

    @property
    def opens_margin_call(self) -> bool:
        return self.changed and self.state is RiskState.MARGIN_CALL


def step_risk(
    current: RiskState,
    ltv_bp: int | None,
    lines: RiskLines,
    margin_call_deadline: date | None,
    business_date: date,
    cure_business_days: int = 3,
    holidays: frozenset[date] = NO_DATES,
    workdays: frozenset[date] = NO_DATES,
) -> RiskDecision:
    """The risk state after evaluating ``ltv_bp`` (``None`` = infinite, see ``collateral.ltv_bp``)
    on ``business_date``. ``margin_call_deadline`` is the open call's deadline when ``current`` is
    margin_call and is ignored otherwise."""
    if cure_business_days < 0:
        raise ValueError("a cure period cannot be negative")
    if current is RiskState.MARGIN_CALL and margin_call_deadline is None:
        raise ValueError("a margin call needs its deadline")

    def stay(reason: RiskReason = RiskReason.UNCHANGED) -> RiskDecision:
        deadline = margin_call_deadline if current is RiskState.MARGIN_CALL else None
        return RiskDecision(current, current, reason, deadline)

    def move(state: RiskState, reason: RiskReason, deadline: date | None = None) -> RiskDecision:
        return RiskDecision(current, state, reason, deadline)

    if current in (RiskState.LIQUIDATION, RiskState.DISPOSED):
        return stay()
    if ltv_bp is None:
        return move(RiskState.LIQUIDATION, RiskReason.NO_COLLATERAL_VALUE)
    if ltv_bp >= lines.liquidation_line_bp:
        return move(RiskState.LIQUIDATION, RiskReason.LIQUIDATION_LINE_REACHED)
    if current is RiskState.MARGIN_CALL:
        assert margin_call_deadline is not None
        if ltv_bp <= lines.pledge_rate_bp:
            return move(RiskState.NORMAL, RiskReason.CURED)
        if business_date > margin_call_deadline:
            return move(RiskState.LIQUIDATION, RiskReason.DEADLINE_MISSED)
        return stay()
    if ltv_bp >= lines.call_line_bp:
        deadline = add_business_days(business_date, cure_business_days, holidays, workdays)
        return move(RiskState.MARGIN_CALL, RiskReason.MARGIN_CALL_LINE_REACHED, deadline)
    if current is RiskState.WARNING:
        if ltv_bp < lines.warning_line_bp - lines.hysteresis_bp:
            return move(RiskState.NORMAL, RiskReason.WARNING_CLEARED)
        return stay()
    if ltv_bp >= lines.warning_line_bp:
        return move(RiskState.WARNING, RiskReason.WARNING_LINE_REACHED)
    return stay()
