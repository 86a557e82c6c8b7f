"""Request and response bodies of mark-to-market: valuations with their lines and the price
observations used, margin calls with their events, and a run of the daily job."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from coldpledge.financing.mtm_models import LineStatus, MarginCallEventKind, MarginCallStatus, ValuationKind
from coldpledge.financing.risk import RiskReason, RiskState
from coldpledge.inventory.schemas import Strict


class WaiveIn(Strict):
    reason: str = Field(min_length=2, max_length=500)
    until: date | None = Field(
        default=None,
        description="No new margin call before this business date; the call's deadline by default",
    )


class MarkIn(Strict):
    business_date: date


class ValuationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    business_date: date
    kind: ValuationKind
    cause: str | None
    valued_at: datetime
    principal_outstanding_fen: int
    interest_due_fen: int
    cash_margin_fen: int
    exposure_fen: int = Field(description="Principal + interest due − cash margin, never below 0")
    market_value_fen: int = Field(description="The goods at the prices used, before haircut, eligible or not")
    collateral_value_fen: int = Field(description="Counted lines only, after haircut")
    lines: int
    unpriced_lines: int
    ltv_bp: int | None = Field(
        description="Exposure ÷ collateral value, rounded up; null: no value behind it"
    )
    pledge_rate_bp: int
    warning_line_bp: int
    margin_call_line_bp: int
    liquidation_line_bp: int
    risk_before: RiskState
    risk_after: RiskState
    risk_reason: RiskReason | None = Field(description="Null when held")
    held: bool = Field(description="Some collateral had no usable price: the state was not moved on it")


class ObservationUsedOut(BaseModel):
    id: int
    series_id: int
    series_code: str
    price_date: date
    price_mid_fen_per_t: int
    status: str


class ValuationLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    link_id: int
    pledge_id: int
    receipt_id: int
    receipt_code: str | None = None
    lot_id: int
    commodity_id: int
    quantity_g: int
    status: LineStatus
    price_fen_per_t: int | None
    price_observation_id: int | None
    price_date: date | None
    observation_ids: list[int] | None
    stale: bool
    haircut_bp: int
    market_value_fen: int
    value_fen: int
    reason: str | None = None


class ValuationDetailOut(ValuationOut):
    valuation_lines: list[ValuationLineOut]
    observations: list[ObservationUsedOut] = Field(description="Every price observation the valuation used")


class MarginCallEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: MarginCallEventKind
    at: datetime
    business_date: date
    valuation_id: int | None
    ref: str | None
    amount_fen: int | None
    ltv_bp: int | None
    user_id: int | None
    note: str | None


class MarginCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    facility_id: int
    valuation_id: int
    business_date: date
    status: MarginCallStatus
    exposure_fen: int
    collateral_value_fen: int
    ltv_bp: int | None
    pledge_rate_bp: int
    cure_cash_fen: int = Field(description="Cash (deposit or repayment) that alone cures it")
    cure_collateral_value_fen: int = Field(description="Collateral value, after haircut, that alone cures it")
    cure_goods_value_fen: int | None = Field(description="Market value of those goods; null: no price")
    cure_goods_g: int | None = Field(description="Grams of the main commodity at the price below")
    cure_commodity_id: int | None
    cure_price_fen_per_t: int | None
    cure_haircut_bp: int
    issued_at: datetime
    deadline: date = Field(description="The last business day to cure")
    closed_at: datetime | None
    closed_on: date | None
    closing_valuation_id: int | None
    outcome: str | None
    waive_requested_by_user_id: int | None
    waive_requested_at: datetime | None
    waive_reason: str | None
    waived_by_user_id: int | None
    waived_at: datetime | None
    waived_until: date | None


class MarginCallDetailOut(MarginCallOut):
    events: list[MarginCallEventOut]


class MarkRunOut(BaseModel):
    business_date: date
    path: str = Field(description="set: one set-based pass (PostgreSQL); each: facility by facility")
    facilities: int = Field(description="Facilities in scope")
    valued: int = Field(description="Valued by this run (the others were marked for the date already)")
    lines: int
    held: int
    moved: dict[str, int] = Field(description="Facilities moved, by the state they moved to")
    margin_calls_issued: int
    margin_calls_cured: int
    margin_calls_expired: int
    seconds: float
