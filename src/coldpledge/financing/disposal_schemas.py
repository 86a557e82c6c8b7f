"""Request and response bodies of disposal, write-off and release capacity. Money is integer fen,
quantities integer grams, prices fen per tonne."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coldpledge.db import MAX_ID
from coldpledge.financing.disposal_models import DisposalChannel
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import MAX_FEN
from coldpledge.inventory.schemas import Strict

# CNY 1,000,000 a kilogram: far above any frozen food, low enough to catch a misplaced unit.
MAX_PRICE_FEN_PER_T = 10**11


class DisposalIn(Strict):
    """A sale of goods that left under an executed disposal release (the weighed quantity is
    the release's). The proceeds are what was received; the price is the one agreed."""

    release_id: int = Field(strict=True, gt=0, le=MAX_ID, description="An executed disposal release")
    channel: DisposalChannel
    buyer_name: str = Field(min_length=2, max_length=200)
    buyer_org_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    price_fen_per_t: int = Field(strict=True, ge=0, le=MAX_PRICE_FEN_PER_T)
    proceeds_fen: int = Field(strict=True, ge=0, le=MAX_FEN)
    fees_fen: int = Field(strict=True, default=0, ge=0, le=MAX_FEN, description="Costs of the sale")
    storage_lien_fen: int = Field(
        strict=True, default=0, ge=0, le=MAX_FEN, description="Unpaid storage fees the keeper claims (留置)"
    )
    reference: str | None = Field(default=None, max_length=64, description="Sale contract or auction lot")
    note: str | None = Field(default=None, max_length=1000)


class WriteOffIn(Strict):
    reason: str = Field(min_length=2, max_length=1000)
    claim_against: Literal["borrower", "guarantor"] = "borrower"


class DisposalAllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    drawdown_id: int
    penalty_fen: int
    interest_fen: int
    principal_fen: int


class DisposalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    facility_id: int
    receipt_id: int
    release_id: int
    channel: DisposalChannel
    buyer_name: str
    buyer_org_id: int | None
    quantity_g: int
    price_fen_per_t: int
    proceeds_fen: int
    fees_fen: int
    fees_paid_fen: int
    storage_lien_fen: int
    storage_lien_paid_fen: int
    penalty_fen: int
    interest_fen: int
    principal_fen: int
    surplus_fen: int = Field(description="Paid over to the pledgor")
    pledgor_org_id: int
    residual_claim_fen: int = Field(description="What the facility's loans still owed after this disposal")
    reference_price_fen_per_t: int | None = Field(description="The valuation price of the day, to compare")
    reference_observation_id: int | None
    business_date: date
    reference: str | None
    note: str | None
    recorded_at: datetime
    allocations: list[DisposalAllocationOut]


class WriteOffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    drawdown_id: int
    facility_id: int
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    residual_claim_fen: int = Field(description="The claim that survives the write-off")
    claim_against_org_id: int
    reason: str
    decided_at: datetime


class ReceiptCapacityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    receipt_id: int
    receipt_code: str
    quantity_g: int
    price_fen_per_t: int | None
    value_fen: int
    max_release_g: int = Field(description="The most grams that may leave now")
    max_release_g_after_repayment: int = Field(description="… after the repayment asked about")


class ReleaseCapacityOut(BaseModel):
    """What may be released now, and what a repayment would free (each fen repaid frees goods worth
    1 / pledge rate fen)."""

    model_config = ConfigDict(from_attributes=True)

    facility_id: int
    business_date: date
    risk_state: RiskState
    frozen: bool = Field(description="In liquidation: nothing is released")
    stale: bool = Field(description="A price under the collateral is stale: nothing is released while owed")
    pledge_rate_bp: int
    exposure_fen: int = Field(description="Committed exposure: principal, approved drawdowns, interest due")
    value_fen: int
    max_release_value_fen: int
    repayment_fen: int
    exposure_after_repayment_fen: int
    max_release_value_after_repayment_fen: int
    price_observation_ids: list[int]
    receipts: list[ReceiptCapacityOut]
