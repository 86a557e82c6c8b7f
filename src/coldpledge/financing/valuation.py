"""Valuing one facility on a business date, and what the valuation decides about its risk state.

A valuation line is one pledged receipt (followed through splits) as ``collateral_sql`` finds it,
with the price ``prices.service.price_for`` gives its commodity on the date, recorded whatever the
line's status:

- counted: the receipt is pledged to the facility's bank and the lot passed its inspection and is
  not on hold; value = quantity × price × (1 − haircut), rounded down;
- ineligible: the pledge ended, the receipt is no longer pledged, or the lot is on quality hold
  (value 0, with the reason);
- unpriced: it would count, but there is no approved price for its commodity on or before the
  date, or the latest one is stale (value 0, with the reason).

Exposure E = principal outstanding + interest and penalty posted and unpaid − cash margin (never
below 0); collateral value V = Σ counted values; LTV = E / V rounded up (``collateral.ltv_bp``).
Approved drawdowns not yet paid out do not count (they are not owed; ``position`` reserves them for
new drawdowns). A date is valued at that date's prices but on the exposure and the goods as they
stand when the job runs: the job is meant for the day (a missed day is marked late, not re-lived).

The decision is ``risk.step_risk`` with three rules on top:

- a facility whose value is incomplete (an unpriced line) and which owes something is *held*: its
  state does not move for want of a price — no liquidation because a price is missing or late —
  unless the priced part alone already proves it better (a cure, or the warning cleared: V can
  only be higher than what was found, so LTV only lower); a ``price_stale`` alert says so;
- while a waived margin call's ``waived_until`` lasts, no new margin call is issued (the facility
  stays in warning) unless the liquidation line is reached;
- an intraday re-evaluation (after a deposit, a repayment or goods topped up) only ever improves
  the state; worsening is the daily mark's.

The lines as configured may be degenerate for ``RiskLines`` (the facility terms allow a warning
line equal to the pledge rate or to the liquidation line); ``risk_lines`` nudges them by a basis
point to keep them strictly rising, and puts the margin-call line between warning and liquidation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from coldpledge.errors import N_
from coldpledge.financing import collateral
from coldpledge.financing.collateral_sql import CollateralLine
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import LineStatus, Valuation, ValuationKind, ValuationLine
from coldpledge.financing.position import position_of
from coldpledge.financing.prices.service import PriceUsed, prices_for
from coldpledge.financing.risk import RiskDecision, RiskLines, RiskReason, RiskState, step_risk
from coldpledge.uow import UnitOfWork

# Why a line counts nothing, worded as ``collateral_sql`` words it (the set-based path writes the
# same messages, so a valuation reads alike whichever path made it).
PLEDGE_NOT_ACTIVE = N_("The pledge is {status_label}.")
RECEIPT_NOT_COUNTED = N_("The receipt is {status_label}.")
QUALITY_HOLD = N_("The lot is on quality hold.")
NO_PRICE = N_("There is no approved price for this commodity on or before {day}.")
STALE_PRICE = N_("The price is {days} business days old (stale).")
UNPRICED = (NO_PRICE, STALE_PRICE)
# Decisions that a partial value can prove: LTV on the priced part is at least the true LTV.
IMPROVING = (RiskReason.CURED, RiskReason.WARNING_CLEARED)


def risk_lines(
    pledge_rate_bp: int, warning_line_bp: int, call_line_bp: int, liquidation_line_bp: int
) -> RiskLines:
    """The facility's lines as ``step_risk`` takes them: strictly rising, the margin-call line
    within [warning, liquidation)."""
    warning = max(warning_line_bp, pledge_rate_bp + 1)
    liquidation = max(liquidation_line_bp, warning + 1)
    call = min(max(call_line_bp, warning), liquidation - 1)
    return RiskLines(pledge_rate_bp, warning, liquidation, margin_call_line_bp=call)


def facility_lines(facility: Facility) -> RiskLines:
    return risk_lines(
        facility.pledge_rate_bp,
        facility.warning_line_bp,
        facility.margin_call_line_bp,
        facility.liquidation_line_bp,
    )


@dataclass(frozen=True)
class Decision:
    """What a valuation does to the facility's risk state. ``reason`` None: held (the value was
    incomplete); ``deadline``: the margin call it opens."""

    before: RiskState
    after: RiskState
    reason: RiskReason | None
    deadline: date | None = None

    @property
    def changed(self) -> bool:
        return self.after is not self.before

    @property
    def held(self) -> bool:
        return self.reason is None

    @property
    def opens_margin_call(self) -> bool:
        return self.changed and self.after is RiskState.MARGIN_CALL

    @property
    def closes_margin_call(self) -> bool:
        return self.changed and self.before is RiskState.MARGIN_CALL


def decide(
    current: RiskState,
    ltv_bp: int | None,
    *,
    exposure_fen: int,
    complete: bool,
    lines: RiskLines,
    deadline: date | None,
    business_date: date,
    cure_business_days: int,
    waived_until: date | None = None,
    intraday: bool = False,
) -> Decision:
    """The decision of one valuation (the rules in the module's docstring)."""
    if current is RiskState.MARGIN_CALL and deadline is None:
        # A call whose record is missing cannot wait for a deadline nobody knows: it is due today.
        deadline = business_date
    step: RiskDecision = step_risk(current, ltv_bp, lines, deadline, business_date, cure_business_days)
    stay = Decision(current, current, RiskReason.UNCHANGED)
    if not complete and exposure_fen > 0 and step.reason not in IMPROVING:
        return Decision(current, current, None)
    if not step.changed:
        return stay
    if intraday and step.reason not in IMPROVING:
        return stay
    if step.opens_margin_call and waived_until is not None and business_date <= waived_until:
        if current is RiskState.WARNING:
            return stay
        return Decision(current, RiskState.WARNING, RiskReason.WARNING_LINE_REACHED)
    return Decision(
        current, step.state, step.reason, step.margin_call_deadline if step.opens_margin_call else None
    )


# --- one facility, valued in Python (intraday, and the daily job on SQLite) -----------------------


def line_status(line: CollateralLine) -> LineStatus:
    if line.reason is None:
        return LineStatus.COUNTED if line.price is not None else LineStatus.UNPRICED
    return LineStatus.UNPRICED if line.reason in UNPRICED else LineStatus.INELIGIBLE


def line_row(line: CollateralLine, price: PriceUsed | None, haircut_bp: int) -> dict[str, Any]:
    """A valuation line (without its valuation) from a line of ``collateral_sql``."""
    status = line_status(line)
    assert line.receipt_id is not None
    assert line.lot_id is not None
    assert line.commodity_id is not None
    market = collateral.goods_value_fen(line.quantity_g, price.price_fen_per_t) if price else 0
    value = (
        collateral.LotValue(line.quantity_g, price.price_fen_per_t, haircut_bp).value_fen
        if status is LineStatus.COUNTED and price is not None
        else 0
    )
    return {
        "link_id": line.link_id,
        "pledge_id": line.pledge_id,
        "receipt_id": line.receipt_id,
        "lot_id": line.lot_id,
        "commodity_id": line.commodity_id,
        "quantity_g": line.quantity_g,
        "status": status,
        "price_fen_per_t": price.price_fen_per_t if price else None,
        "price_observation_id": price.observation_id if price else None,
        "price_date": price.price_date if price else None,
        "observation_ids": list(price.observation_ids) if price else None,
        "stale": price.stale if price else False,
        "haircut_bp": haircut_bp,
        "market_value_fen": market,
        "value_fen": value,
        "reason": line.reason,
        "params": dict(line.params) if line.reason else None,
    }


def value_facility(
    uow: UnitOfWork, facility: Facility, business_date: date, kind: ValuationKind, cause: str | None = None
) -> Valuation:
    """Value the facility (locked by the caller) and store the valuation with its lines; the risk
    columns say ``unchanged`` until the caller settles the decision."""
    session = uow.session
    position = position_of(session, facility, business_date)
    prices = prices_for(
        session, {line.commodity_id for line in position.collateral.lines if line.commodity_id}, business_date
    )
    rows = [
        line_row(line, prices.get(line.commodity_id or 0), facility.haircut_bp)
        for line in position.collateral.lines
    ]
    value = sum(row["value_fen"] for row in rows)
    unpriced = sum(1 for row in rows if row["status"] is LineStatus.UNPRICED)
    exposure = position.exposure_fen
    valuation = Valuation(
        facility_id=facility.id,
        business_date=business_date,
        kind=kind,
        cause=cause,
        valued_at=uow.now(),
        principal_outstanding_fen=position.principal_outstanding_fen,
        interest_due_fen=position.interest_due_fen,
        cash_margin_fen=position.cash_margin_fen,
        exposure_fen=exposure,
        market_value_fen=sum(row["market_value_fen"] for row in rows),
        collateral_value_fen=value,
        lines=len(rows),
        unpriced_lines=unpriced,
        ltv_bp=collateral.ltv_bp(exposure, value),
        pledge_rate_bp=facility.pledge_rate_bp,
        warning_line_bp=facility.warning_line_bp,
        margin_call_line_bp=facility.margin_call_line_bp,
        liquidation_line_bp=facility.liquidation_line_bp,
        risk_before=facility.risk_state,
        risk_after=facility.risk_state,
        risk_reason=None if unpriced and exposure > 0 else RiskReason.UNCHANGED,
        held=bool(unpriced and exposure > 0),
    )
    session.add(valuation)
    session.flush()
    if rows:
        session.execute(insert(ValuationLine), [{"valuation_id": valuation.id, **row} for row in rows])
    return valuation


# --- what a valuation's lines say ---------------------------------------------------------------


@dataclass(frozen=True)
class MainGoods:
    """The goods that carry most of a facility's value: what a top-up would most likely be."""

    commodity_id: int
    price_fen_per_t: int


def main_goods(session: Session, valuation_id: int) -> MainGoods | None:
    """The commodity with the most counted value in the valuation (else the most market value),
    at the price the valuation used; None when no line had a price."""
    row = session.execute(
        select(ValuationLine.commodity_id, ValuationLine.price_fen_per_t)
        .where(ValuationLine.valuation_id == valuation_id, ValuationLine.price_fen_per_t.is_not(None))
        .group_by(ValuationLine.commodity_id, ValuationLine.price_fen_per_t)
        .order_by(
            func.sum(ValuationLine.value_fen).desc(),
            func.sum(ValuationLine.market_value_fen).desc(),
            ValuationLine.commodity_id,
        )
        .limit(1)
    ).first()
    if row is None or row[1] is None:
        return None
    return MainGoods(row[0], row[1])


def unpriced_commodities(session: Session, valuation_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each valuation, the commodities of its unpriced lines."""
    found: dict[int, set[int]] = {}
    for start in range(0, len(valuation_ids), 1000):
        for valuation_id, commodity_id in session.execute(
            select(ValuationLine.valuation_id, ValuationLine.commodity_id)
            .where(
                ValuationLine.valuation_id.in_(valuation_ids[start : start + 1000]),
                ValuationLine.status == LineStatus.UNPRICED,
            )
            .distinct()
        ):
            found.setdefault(valuation_id, set()).add(commodity_id)
    return {key: sorted(value) for key, value in found.items()}


def observation_ids(lines: Iterable[ValuationLine]) -> list[int]:
    """Every price observation the lines rest on."""
    return sorted({oid for line in lines for oid in (line.observation_ids or [])})
