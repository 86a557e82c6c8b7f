"""HTTP routes that inform a lending decision: a facility's price risk and a borrower's profile.
Every figure comes with the ids of the records it was computed from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from coldpledge.calendar import business_date
from coldpledge.financing import queries
from coldpledge.financing.mtm_models import MarginCallStatus
from coldpledge.financing.pricerisk_service import (
    DEFAULT_WINDOW,
    HORIZONS,
    MAX_WINDOW,
    MIN_WINDOW,
    MODEL,
    CommodityRisk,
    PriceRisk,
    price_risk,
)
from coldpledge.financing.profile import WINDOW_DAYS, BorrowerProfile, OverdueSpell, borrower_profile
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep
from coldpledge.web.errors import translate
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["financing"])
OnDate = Annotated[date | None, Query(description="Business date; today by default")]


# --- price risk -----------------------------------------------------------------------------------


class HorizonOut(BaseModel):
    days: int = Field(description="Business days ahead")
    probability: float = Field(description="Price watched continuously (reflection principle)")
    probability_daily: float = Field(description="Price watched once a business day (BGK correction)")


class LineRiskOut(BaseModel):
    line: str
    line_bp: int
    reached: bool = Field(description="LTV is at or above the line today")
    barrier_fen_per_t: int | None = Field(
        description="The price of this commodity at which LTV reaches the line; null: out of its reach"
    )
    fall_bp: int | None = Field(description="The fall from today's price to the barrier")
    horizons: list[HorizonOut]


class CommodityRiskOut(BaseModel):
    commodity_id: int
    commodity_code: str
    quantity_g: int
    value_fen: int = Field(description="Its collateral value today, after haircut")
    price_fen_per_t: int | None
    price_observation_id: int | None
    series_id: int | None
    series_code: str | None
    observation_ids: list[int] = Field(description="The approved observations of the window, oldest first")
    window_from: date | None
    window_to: date | None
    returns: int
    daily_drift: float | None = Field(description="μ: mean log return per business day")
    daily_volatility: float | None = Field(description="σ: deviation of log returns per business day")
    lines: list[LineRiskOut]
    var_99_10d_fen: int | None = Field(description="10-business-day 99 % VaR of its value")
    reason: str | None = Field(description="Why a figure is missing")


class PriceRiskOut(BaseModel):
    facility_id: int
    business_date: date
    model: str
    window: int = Field(description="Observations asked for per commodity")
    horizons: list[int]
    exposure_fen: int
    collateral_value_fen: int
    ltv_bp: int | None
    pledge_rate_bp: int
    warning_line_bp: int
    margin_call_line_bp: int
    liquidation_line_bp: int
    var_99_10d_fen: int | None = Field(description="Σ over commodities: all prices falling together")
    ltv_after_var_bp: int | None = Field(description="LTV if the collateral lost its VaR")
    commodities: list[CommodityRiskOut]


@router.get(
    "/facilities/{facility_id}/price-risk", response_model=PriceRiskOut, responses=errors(401, 404, 422)
)
def facility_price_risk(
    facility_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    on: OnDate = None,
    window: Annotated[int, Query(ge=MIN_WINDOW, le=MAX_WINDOW, description="Observations per commodity")] = (
        DEFAULT_WINDOW
    ),
) -> PriceRiskOut:
    """How likely the collateral's prices are to carry LTV to the warning, margin-call and liquidation lines
    within 10 and 30 business days, and the 10-day 99 % VaR, from approved price history."""
    facility = queries.get_facility(session, principal, facility_id)
    found = price_risk(session, facility, on or business_date(rt.now()), window)
    return _price_risk(found)


def _price_risk(found: PriceRisk) -> PriceRiskOut:
    return PriceRiskOut(
        facility_id=found.facility_id,
        business_date=found.business_date,
        model=MODEL,
        window=found.window,
        horizons=list(HORIZONS),
        exposure_fen=found.exposure_fen,
        collateral_value_fen=found.value_fen,
        ltv_bp=found.ltv_bp,
        pledge_rate_bp=found.pledge_rate_bp,
        warning_line_bp=found.lines["warning"],
        margin_call_line_bp=found.lines["margin_call"],
        liquidation_line_bp=found.lines["liquidation"],
        var_99_10d_fen=found.var_99_10d_fen,
        ltv_after_var_bp=found.ltv_after_var_bp,
        commodities=[_commodity(c) for c in found.commodities],
    )


def _commodity(c: CommodityRisk) -> CommodityRiskOut:
    history, price = c.history, c.price
    return CommodityRiskOut(
        commodity_id=c.commodity_id,
        commodity_code=c.commodity_code,
        quantity_g=c.quantity_g,
        value_fen=c.value_fen,
        price_fen_per_t=price.price_fen_per_t if price else None,
        price_observation_id=price.observation_id if price else None,
        series_id=price.series_id if price else None,
        series_code=price.series_code if price else None,
        observation_ids=list(history.observation_ids) if history else [],
        window_from=history.dates[0] if history and history.dates else None,
        window_to=history.dates[-1] if history and history.dates else None,
        returns=history.returns if history else 0,
        daily_drift=c.mu_daily,
        daily_volatility=c.sigma_daily,
        lines=[
            LineRiskOut(
                line=line.line,
                line_bp=line.line_bp,
                reached=line.reached,
                barrier_fen_per_t=line.barrier_fen_per_t,
                fall_bp=line.fall_bp,
                horizons=[HorizonOut(**h.__dict__) for h in line.horizons],
            )
            for line in c.lines
        ],
        var_99_10d_fen=c.var_99_10d_fen,
        reason=translate(c.reason, c.params) if c.reason else None,
    )


# --- borrower profile -----------------------------------------------------------------------------


class TurnoverOut(BaseModel):
    outbound_g: int = Field(description="Weighed out in the window")
    outbound_operation_ids: list[int]
    average_stock_g: int = Field(description="Mean of the end-of-day stock over the window")
    opening_stock_g: int
    closing_stock_g: int
    turnover_bp: int | None = Field(description="Outbound ÷ average stock; null without stock")
    lot_ids: list[int] = Field(description="The borrower's lots that had stock in the window")
    stock_operation_ids: list[int] = Field(description="Weighings, outbounds and splits the stock rests on")


class AlertCountOut(BaseModel):
    rule: str
    severity: str
    count: int
    alert_ids: list[int]


class AlertHistoryOut(BaseModel):
    total: int
    room_ids: list[int] = Field(description="Rooms that held the borrower's goods in the window")
    by_rule: list[AlertCountOut]


class StocktakeOut(BaseModel):
    operation_id: int
    lot_id: int
    performed_at: datetime
    expected_g: int | None
    counted_g: int | None
    variance_bp: int | None
    within_tolerance: bool | None


class StocktakeHistoryOut(BaseModel):
    count: int
    out_of_tolerance: int
    out_of_tolerance_operation_ids: list[int]
    max_abs_variance_bp: int | None
    items: list[StocktakeOut]


class MarginCallHistoryOut(BaseModel):
    count: int
    margin_call_ids: list[int]
    cured: int
    cured_ids: list[int]
    expired: int
    expired_ids: list[int]
    open_ids: list[int]
    waived_ids: list[int]


class OverdueSpellOut(BaseModel):
    drawdown_id: int
    drawdown_code: str
    facility_id: int
    overdue_since: date
    until: date | None = Field(description="Null: still overdue")
    days: int


class OverdueOut(BaseModel):
    current_days: int = Field(description="The longest overdue spell still running (0: none)")
    current_drawdown_id: int | None
    max_days: int = Field(description="The longest spell running at some time in the window")
    max_drawdown_id: int | None
    spells: list[OverdueSpellOut]


class BorrowerProfileOut(BaseModel):
    borrower_org_id: int
    borrower_name: str
    business_date: date
    window_from: date
    window_days: int
    facility_ids: list[int] = Field(description="The borrower's facilities the reader sees")
    inventory: TurnoverOut
    alerts: AlertHistoryOut
    stocktakes: StocktakeHistoryOut
    margin_calls: MarginCallHistoryOut
    overdue: OverdueOut


@router.get("/borrowers/{org_id}/profile", response_model=BorrowerProfileOut, responses=errors(401, 404, 422))
def get_borrower_profile(
    org_id: int, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep, on: OnDate = None
) -> BorrowerProfileOut:
    """Inventory turnover, alerts, stocktake variances, margin calls and days overdue over the
    last 90 days, each with its records' ids (for a bank that lends to the borrower, the borrower,
    the operator)."""
    return _profile(borrower_profile(session, principal, org_id, on or business_date(rt.now())))


def _profile(p: BorrowerProfile) -> BorrowerProfileOut:
    t, calls = p.turnover, p.margin_calls
    counted = [s for s in p.stocktakes if s.within_tolerance is False]
    variances = [abs(s.variance_bp) for s in p.stocktakes if s.variance_bp is not None]
    current, longest = p.current_overdue, p.longest_overdue
    return BorrowerProfileOut(
        borrower_org_id=p.borrower.id,
        borrower_name=p.borrower.name,
        business_date=p.window.last_day,
        window_from=p.window.first_day,
        window_days=WINDOW_DAYS,
        facility_ids=p.facility_ids,
        inventory=TurnoverOut(
            outbound_g=t.outbound_g,
            outbound_operation_ids=t.outbound_operation_ids,
            average_stock_g=t.average_stock_g,
            opening_stock_g=t.opening_stock_g,
            closing_stock_g=t.closing_stock_g,
            turnover_bp=t.turnover_bp,
            lot_ids=t.lot_ids,
            stock_operation_ids=t.stock_operation_ids,
        ),
        alerts=AlertHistoryOut(
            total=sum(a.count for a in p.alerts),
            room_ids=p.room_ids,
            by_rule=[
                AlertCountOut(rule=a.rule, severity=a.severity, count=a.count, alert_ids=a.alert_ids)
                for a in p.alerts
            ],
        ),
        stocktakes=StocktakeHistoryOut(
            count=len(p.stocktakes),
            out_of_tolerance=len(counted),
            out_of_tolerance_operation_ids=[s.operation_id for s in counted],
            max_abs_variance_bp=max(variances, default=None),
            items=[StocktakeOut(**s.__dict__) for s in p.stocktakes],
        ),
        margin_calls=MarginCallHistoryOut(
            count=len(calls.margin_call_ids),
            margin_call_ids=calls.margin_call_ids,
            cured=len(calls.of(MarginCallStatus.CURED)),
            cured_ids=calls.of(MarginCallStatus.CURED),
            expired=len(calls.of(MarginCallStatus.EXPIRED)),
            expired_ids=calls.of(MarginCallStatus.EXPIRED),
            open_ids=calls.of(MarginCallStatus.OPEN),
            waived_ids=calls.of(MarginCallStatus.WAIVED),
        ),
        overdue=OverdueOut(
            current_days=current.days if current else 0,
            current_drawdown_id=current.drawdown_id if current else None,
            max_days=longest.days if longest else 0,
            max_drawdown_id=longest.drawdown_id if longest else None,
            spells=[_spell(s) for s in p.overdue],
        ),
    )


def _spell(s: OverdueSpell) -> OverdueSpellOut:
    return OverdueSpellOut(**s.__dict__)
