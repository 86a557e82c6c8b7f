"""Request and response bodies of the financing API. Money is integer fen, rates and ratios integer
basis points (65 % = 6500, 4.35 % = 435), quantities integer grams, prices fen per tonne."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coldpledge.db import MAX_ID
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.interest import RateKind
from coldpledge.financing.models import ContractKind, DrawdownStatus, FacilityStatus
from coldpledge.financing.risk import RiskState
from coldpledge.inventory.schemas import Strict

# CNY 10 billion: far above any one facility, and small enough that a day's interest in micro-fen
# on it, summed over decades, stays within a 64-bit column.
MAX_FEN = 10**12
# 36 % a year: the ceiling Chinese courts protect (and far above any bank's rate).
MAX_RATE_BP = 3600
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class FacilityApplyIn(Strict):
    """The borrower asks a bank for a credit line; the bank sets the terms when it approves."""

    bank_org_id: int = Field(strict=True, gt=0, le=MAX_ID)
    limit_fen: int = Field(strict=True, gt=0, le=MAX_FEN)
    start_date: date
    expiry_date: date
    guarantor_org_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.expiry_date <= self.start_date:
            raise ValueError("expiry_date must be after start_date")
        return self


class FacilityTermsIn(Strict):
    """The bank's terms, set on approval. Defaults are DESIGN §7's."""

    limit_fen: int | None = Field(
        strict=True, default=None, gt=0, le=MAX_FEN, description="Defaults to the limit applied for"
    )
    pledge_rate_bp: int = Field(strict=True, default=6500, gt=0, le=10_000, description="质押率")
    warning_line_bp: int = Field(strict=True, default=7500, gt=0, le=10_000, description="警戒线 (LTV)")
    liquidation_line_bp: int = Field(strict=True, default=8500, gt=0, le=10_000, description="平仓线 (LTV)")
    margin_call_line_bp: int | None = Field(
        strict=True,
        default=None,
        gt=0,
        le=10_000,
        description="追加担保线 (LTV): a margin call at or above it; defaults to 8000, kept between "
        "the warning and liquidation lines",
    )
    cure_business_days: int = Field(strict=True, default=3, gt=0, le=30)
    rate_kind: RateKind = RateKind.FIXED
    rate_bp: int | None = Field(
        strict=True, default=None, ge=0, le=MAX_RATE_BP, description="Annual fixed rate (fixed only)"
    )
    lpr_bp: int | None = Field(strict=True, default=None, ge=0, le=MAX_RATE_BP, description="1-year LPR")
    spread_bp: int | None = Field(strict=True, default=None, ge=-1000, le=MAX_RATE_BP)
    day_count: DayCount = DayCount.ACT_360
    penalty_multiplier_bp: int = Field(
        strict=True,
        default=15000,
        ge=10_000,
        le=20_000,
        description="Penalty rate = rate × this (1.5 = 15000)",
    )
    haircut_bp: int = Field(strict=True, default=0, ge=0, lt=10_000)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.pledge_rate_bp <= self.warning_line_bp <= self.liquidation_line_bp:
            raise ValueError("pledge_rate_bp ≤ warning_line_bp ≤ liquidation_line_bp must hold")
        if self.margin_call_line_bp is not None and not (
            self.warning_line_bp <= self.margin_call_line_bp <= self.liquidation_line_bp
        ):
            raise ValueError("warning_line_bp ≤ margin_call_line_bp ≤ liquidation_line_bp must hold")
        if self.rate_kind is RateKind.FIXED:
            if self.rate_bp is None or self.lpr_bp is not None or self.spread_bp is not None:
                raise ValueError("a fixed rate takes rate_bp, and no lpr_bp or spread_bp")
        else:
            if self.rate_bp is not None or self.lpr_bp is None or self.spread_bp is None:
                raise ValueError("LPR plus spread takes lpr_bp and spread_bp, and no rate_bp")
            if not 0 <= self.lpr_bp + self.spread_bp <= MAX_RATE_BP:
                raise ValueError("lpr_bp + spread_bp must be between 0 and 3600")
        return self

    @property
    def call_line_bp(self) -> int:
        """The margin-call line given, else DESIGN's 80 % kept between the other two lines."""
        if self.margin_call_line_bp is not None:
            return self.margin_call_line_bp
        return min(max(8000, self.warning_line_bp), self.liquidation_line_bp)

    @property
    def effective_rate_bp(self) -> int:
        if self.rate_bp is not None:
            return self.rate_bp
        assert self.lpr_bp is not None
        assert self.spread_bp is not None
        return self.lpr_bp + self.spread_bp


class ContractIn(Strict):
    kind: ContractKind
    number: str = Field(min_length=2, max_length=64)
    signed_on: date
    parties: str = Field(
        min_length=2, max_length=1000, description="Who signed, e.g. 浙商银行杭州分行; 上海鲜丰"
    )
    file_sha256: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the signed file, lowercase hex")


class CollateralAttachIn(Strict):
    receipt_id: int = Field(strict=True, gt=0, le=MAX_ID, description="A receipt pledged to the bank")


class MarginDepositIn(Strict):
    amount_fen: int = Field(strict=True, gt=0, le=MAX_FEN)
    reference: str | None = Field(default=None, max_length=64, description="The bank's transaction number")
    note: str | None = Field(default=None, max_length=500)


class DrawdownRequestIn(Strict):
    amount_fen: int = Field(strict=True, gt=0, le=MAX_FEN)
    maturity_date: date
    purpose: str | None = Field(default=None, max_length=200)


class RepaymentIn(Strict):
    amount_fen: int = Field(strict=True, gt=0, le=MAX_FEN)
    reference: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class FacilityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    bank_org_id: int
    borrower_org_id: int
    guarantor_org_id: int | None
    limit_fen: int
    currency: str
    start_date: date
    expiry_date: date
    pledge_rate_bp: int
    warning_line_bp: int
    margin_call_line_bp: int
    liquidation_line_bp: int
    cure_business_days: int
    rate_kind: RateKind
    rate_bp: int | None
    lpr_bp: int | None
    spread_bp: int | None
    day_count: DayCount
    penalty_multiplier_bp: int
    haircut_bp: int
    status: FacilityStatus
    risk_state: RiskState
    cash_margin_fen: int
    note: str | None
    applied_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    status_changed_at: datetime
    allowed_actions: list[str] = []


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    kind: ContractKind
    number: str
    signed_on: date
    parties: str
    file_sha256: str
    added_at: datetime


class CollateralLinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    pledge_id: int
    attached_at: datetime
    detached_at: datetime | None


class MarginDepositOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    amount_fen: int
    reference: str | None
    deposited_at: datetime
    withdrawn_at: datetime | None
    note: str | None


class CollateralLineOut(BaseModel):
    """One pledged receipt as valued today; ``reason`` says why it counts nothing, if it doesn't."""

    link_id: int
    pledge_id: int
    receipt_id: int | None
    receipt_code: str | None
    lot_id: int | None
    commodity_id: int | None
    quantity_g: int
    price_fen_per_t: int | None
    price_observation_id: int | None
    price_date: date | None
    haircut_bp: int
    value_fen: int
    reason: str | None


class PositionOut(BaseModel):
    """Where a facility stands on a business date: what is owed, what covers it, what is left."""

    facility_id: int
    business_date: date
    principal_outstanding_fen: int
    reserved_fen: int = Field(description="Approved drawdowns not yet disbursed")
    interest_due_fen: int = Field(description="Posted, unpaid interest and penalty interest")
    cash_margin_fen: int
    exposure_fen: int = Field(description="Principal + interest due − cash margin, never below 0")
    committed_exposure_fen: int = Field(description="Exposure with the reserved drawdowns")
    collateral_value_fen: int
    ltv_bp: int | None = Field(description="Committed exposure ÷ value, rounded up; null: no value behind it")
    headroom_fen: int = Field(description="The most that may be drawn now")
    lines: list[CollateralLineOut]


class DrawdownOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    code: str
    status: DrawdownStatus
    amount_fen: int
    maturity_date: date
    purpose: str | None
    rate_bp: int
    penalty_rate_bp: int
    day_count: DayCount
    principal_outstanding_fen: int
    principal_repaid_fen: int
    principal_written_off_fen: int
    interest_posted_fen: int
    interest_paid_fen: int
    penalty_posted_fen: int
    penalty_paid_fen: int
    interest_due_fen: int
    penalty_due_fen: int
    accrued_until: date | None
    overdue_since: date | None
    requested_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    disbursed_at: datetime | None
    disbursed_on: date | None
    closed_at: datetime | None
    allowed_actions: list[str] = []


class RepaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    drawdown_id: int
    amount_fen: int
    penalty_fen: int
    interest_fen: int
    principal_fen: int
    reference: str | None
    received_at: datetime
    received_on: date
    note: str | None


class AccrualOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    business_date: date
    kind: str
    principal_fen: int
    rate_bp: int
    day_count: DayCount
    ufen: int
    cumulative_ufen: int
    posted_fen: int
