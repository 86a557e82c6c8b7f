"""Disposal (处置) of a liquidated facility's collateral, and write-offs of what it did not pay.

A disposal records one sale of goods that left the warehouse under an executed disposal release:
the channel, the buyer, quantity, price and proceeds, and how the proceeds were applied in the
waterfall (costs of the sale, the keeper's storage lien, penalty, interest, principal, surplus to
the pledgor); its allocations say which drawdown received what. A write-off is the bank's decision
to take a loan's unpaid remainder off its books; the claim on the borrower (or the guarantor)
stays, and is recorded with it.

The database holds the arithmetic: every amount is non-negative, a disposal's proceeds are exactly
the sum of where they went, a release is applied once, and a drawdown is written off once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.choices import Choice, present
from coldpledge.db import Base, UTCDateTime, choice_column
from coldpledge.errors import N_


@present(
    {
        "agreed_valuation": N_("Agreed valuation"),
        "auction": N_("Auction"),
        "sale": N_("Sale"),
        "guarantor_buyback": N_("Guarantor buy-back"),
    }
)
class DisposalChannel(Choice):
    AGREED_VALUATION = "agreed_valuation"
    AUCTION = "auction"
    SALE = "sale"
    GUARANTOR_BUYBACK = "guarantor_buyback"


class Disposal(Base):
    """One sale of pledged goods and where its proceeds went."""

    __tablename__ = "disposals"
    __permission__ = "facility"
    __label__ = N_("disposal")
    __subject_type__ = "disposal"
    __table_args__ = (
        CheckConstraint("quantity_g > 0", name="quantity_positive"),
        CheckConstraint("price_fen_per_t >= 0", name="price_not_negative"),
        CheckConstraint(
            "proceeds_fen >= 0 AND fees_fen >= 0 AND storage_lien_fen >= 0 AND fees_paid_fen >= 0 "
            "AND storage_lien_paid_fen >= 0 AND penalty_fen >= 0 AND interest_fen >= 0 "
            "AND principal_fen >= 0 AND surplus_fen >= 0 AND residual_claim_fen >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint(
            "fees_paid_fen <= fees_fen AND storage_lien_paid_fen <= storage_lien_fen",
            name="costs_not_overpaid",
        ),
        CheckConstraint(
            "proceeds_fen = fees_paid_fen + storage_lien_paid_fen + penalty_fen + interest_fen "
            "+ principal_fen + surplus_fen",
            name="proceeds_add_up",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    # The executed disposal release the goods left under: one disposal per release.
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), unique=True)
    channel: Mapped[DisposalChannel] = mapped_column(choice_column(DisposalChannel, "disposal_channel"))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    proceeds_fen: Mapped[int] = mapped_column(BigInteger)
    # What the sale cost and what the keeper claims for unpaid storage, and what the proceeds paid
    # of each (a sale that does not even cover its costs leaves the rest unpaid).
    fees_fen: Mapped[int] = mapped_column(BigInteger)
    fees_paid_fen: Mapped[int] = mapped_column(BigInteger)
    storage_lien_fen: Mapped[int] = mapped_column(BigInteger)
    storage_lien_paid_fen: Mapped[int] = mapped_column(BigInteger)
    # Applied to the facility's loans, in total (the allocations split it per drawdown).
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    # Paid over to the pledgor once every loan is paid.
    surplus_fen: Mapped[int] = mapped_column(BigInteger)
    pledgor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # What the facility's loans still owed after this disposal (penalty + interest + principal).
    residual_claim_fen: Mapped[int] = mapped_column(BigInteger)
    # The price valuation used on the day, for comparison with the price obtained.
    reference_price_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    reference_observation_id: Mapped[int | None] = mapped_column(ForeignKey("price_observations.id"))
    business_date: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(64))  # the sale contract or auction lot number
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    allocations: Mapped[list[DisposalAllocation]] = relationship(
        lazy="selectin", order_by="DisposalAllocation.id"
    )

    @property
    def subject_ref(self) -> str:
        return f"disposal:{self.id}"

    @property
    def applied_to_loans_fen(self) -> int:
        return self.penalty_fen + self.interest_fen + self.principal_fen


class DisposalAllocation(Base):
    """What one disposal paid on one drawdown."""

    __tablename__ = "disposal_allocations"
    __table_args__ = (
        CheckConstraint(
            "penalty_fen >= 0 AND interest_fen >= 0 AND principal_fen >= 0 "
            "AND penalty_fen + interest_fen + principal_fen > 0",
            name="amounts_positive",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    disposal_id: Mapped[int] = mapped_column(ForeignKey("disposals.id"), index=True)
    drawdown_id: Mapped[int] = mapped_column(ForeignKey("drawdowns.id"), index=True)
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    principal_fen: Mapped[int] = mapped_column(BigInteger)


class WriteOff(Base):
    """核销: the bank takes what a drawdown still owes off its books. The claim itself survives
    (``residual_claim_fen``), against the borrower or the guarantor."""

    __tablename__ = "write_offs"
    __permission__ = "drawdown"
    __label__ = N_("write-off")
    __subject_type__ = "write_off"
    __table_args__ = (
        CheckConstraint(
            "principal_fen >= 0 AND interest_fen >= 0 AND penalty_fen >= 0", name="amounts_not_negative"
        ),
        CheckConstraint(
            "residual_claim_fen = principal_fen + interest_fen + penalty_fen", name="claim_adds_up"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    drawdown_id: Mapped[int] = mapped_column(ForeignKey("drawdowns.id"), unique=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    residual_claim_fen: Mapped[int] = mapped_column(BigInteger)
    # Whom the claim is pursued against: the borrower, or the facility's guarantor.
    claim_against_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def subject_ref(self) -> str:
        return f"write_off:{self.id}"
