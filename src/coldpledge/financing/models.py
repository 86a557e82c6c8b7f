"""Credit facilities (授信), their contracts, collateral and cash margin, drawdowns (借据), daily
interest accruals and repayments (issue 6).

Money is integer fen, rates and ratios integer basis points; interest is accrued in integer
micro-fen (1e-6 fen) and posted to fen from the cumulative amount, so it never drifts. Three
invariants live in the database: a pledge backs at most one facility at a time, an accrual is
written once per drawdown, business date and kind (which makes the daily job idempotent), and no
amount goes negative.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.choices import Choice, present
from coldpledge.db import Base, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.interest import RateKind
from coldpledge.financing.risk import RiskState


@present(
    {
        "applied": N_("Applied"),
        "approved": N_("Approved"),
        "active": N_("Active"),
        "suspended": N_("Suspended"),
        "expired": N_("Expired"),
        "closed": N_("Closed"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
    },
    {
        "applied": "cyan",
        "approved": "blue",
        "active": "green",
        "suspended": "orange",
        "expired": "grey",
        "closed": "grey",
        "rejected": "red",
        "withdrawn": "grey",
    },
)
class FacilityStatus(Choice):
    APPLIED = "applied"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@present(
    {
        "credit_agreement": N_("Credit agreement"),
        "pledge_contract": N_("Pledge contract"),
        "supervision_agreement": N_("Supervision agreement"),
    }
)
class ContractKind(Choice):
    CREDIT_AGREEMENT = "credit_agreement"
    PLEDGE_CONTRACT = "pledge_contract"
    SUPERVISION_AGREEMENT = "supervision_agreement"


@present(
    {
        "requested": N_("Requested"),
        "approved": N_("Approved, awaiting disbursement"),
        "active": N_("Active"),
        "repaid": N_("Repaid"),
        "overdue": N_("Past due"),  # a loan's 逾期, not a work order's 超时 ("Overdue")
        "defaulted": N_("Defaulted"),
        "in_recovery": N_("In recovery"),
        "recovered": N_("Recovered"),
        "written_off": N_("Written off"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
    },
    {
        "requested": "cyan",
        "approved": "blue",
        "active": "green",
        "repaid": "grey",
        "overdue": "orange",
        "defaulted": "red",
        "in_recovery": "red",
        "recovered": "grey",
        "written_off": "grey",
        "rejected": "red",
        "withdrawn": "grey",
    },
)
class DrawdownStatus(Choice):
    REQUESTED = "requested"
    APPROVED = "approved"
    ACTIVE = "active"
    REPAID = "repaid"
    OVERDUE = "overdue"
    DEFAULTED = "defaulted"
    IN_RECOVERY = "in_recovery"
    RECOVERED = "recovered"
    WRITTEN_OFF = "written_off"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# Money has left the bank and is owed: these accrue interest and count in exposure.
OUTSTANDING = (
    DrawdownStatus.ACTIVE,
    DrawdownStatus.OVERDUE,
    DrawdownStatus.DEFAULTED,
    DrawdownStatus.IN_RECOVERY,
)
# Approved and not yet disbursed: the amount is reserved against the limit and the pledge rate.
RESERVED = (DrawdownStatus.APPROVED,)
CLOSED_DRAWDOWN = (
    DrawdownStatus.REPAID,
    DrawdownStatus.RECOVERED,
    DrawdownStatus.WRITTEN_OFF,
    DrawdownStatus.REJECTED,
    DrawdownStatus.WITHDRAWN,
)


@present({"interest": N_("Interest"), "penalty": N_("Penalty interest")})
class AccrualKind(Choice):
    INTEREST = "interest"
    PENALTY = "penalty"


class Facility(Base):
    """授信: a bank's credit line to a borrower, secured by pledged receipts."""

    __tablename__ = "facilities"
    __permission__ = "facility"
    __label__ = N_("credit facility")
    __subject_type__ = "facility"
    __table_args__ = (
        CheckConstraint("limit_fen > 0", name="limit_positive"),
        CheckConstraint("start_date < expiry_date", name="starts_before_expiry"),
        CheckConstraint(
            "pledge_rate_bp > 0 AND pledge_rate_bp <= warning_line_bp "
            "AND warning_line_bp <= liquidation_line_bp AND liquidation_line_bp <= 10000",
            name="lines_in_order",
        ),
        CheckConstraint("cure_business_days > 0", name="cure_period_positive"),
        CheckConstraint("rate_bp IS NULL OR rate_bp >= 0", name="rate_not_negative"),
        # The bank sets the rate when it approves; an application has none yet.
        CheckConstraint(
            "rate_bp IS NOT NULL OR status IN ('applied', 'rejected', 'withdrawn')", name="rate_once_approved"
        ),
        CheckConstraint("penalty_multiplier_bp >= 10000", name="penalty_not_below_rate"),
        CheckConstraint("haircut_bp >= 0 AND haircut_bp < 10000", name="haircut_range"),
        CheckConstraint("cash_margin_fen >= 0", name="cash_margin_not_negative"),
        CheckConstraint(
            "rate_kind = 'fixed' OR (lpr_bp IS NOT NULL AND spread_bp IS NOT NULL)", name="lpr_complete"
        ),
        CheckConstraint("bank_org_id <> borrower_org_id", name="two_parties"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    bank_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    borrower_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # 兜底方: a guarantor who may read the facility (and buys back or pays a shortfall).
    guarantor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    limit_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    start_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date)
    pledge_rate_bp: Mapped[int] = mapped_column(Integer, default=6500)
    warning_line_bp: Mapped[int] = mapped_column(Integer, default=7500)
    liquidation_line_bp: Mapped[int] = mapped_column(Integer, default=8500)
    # Between the warning and the liquidation line: at or above it a margin call is issued (0012).
    margin_call_line_bp: Mapped[int] = mapped_column(Integer, default=8000)
    cure_business_days: Mapped[int] = mapped_column(Integer, default=3)
    rate_kind: Mapped[RateKind] = mapped_column(
        choice_column(RateKind, "facility_rate_kind"), default=RateKind.FIXED
    )
    # The annual rate new drawdowns take: the fixed rate, or LPR + spread when the bank last set it.
    rate_bp: Mapped[int | None] = mapped_column(Integer)
    lpr_bp: Mapped[int | None] = mapped_column(Integer)
    spread_bp: Mapped[int | None] = mapped_column(Integer)
    day_count: Mapped[DayCount] = mapped_column(
        choice_column(DayCount, "facility_day_count"), default=DayCount.ACT_360
    )
    penalty_multiplier_bp: Mapped[int] = mapped_column(Integer, default=15000)
    haircut_bp: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[FacilityStatus] = mapped_column(
        choice_column(FacilityStatus, "facility_status"), default=FacilityStatus.APPLIED, index=True
    )
    risk_state: Mapped[RiskState] = mapped_column(
        choice_column(RiskState, "facility_risk_state"), default=RiskState.NORMAL
    )
    # Σ of the live margin deposits, kept here under the facility's lock.
    cash_margin_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"facility:{self.code}"


class FacilityContract(Base):
    """A signed contract behind a facility: its number, date, parties and the file's hash."""

    __tablename__ = "facility_contracts"
    __permission__ = "facility"
    __label__ = N_("facility contract")
    __subject_type__ = "facility_contract"
    __table_args__ = (UniqueConstraint("facility_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    kind: Mapped[ContractKind] = mapped_column(choice_column(ContractKind, "facility_contract_kind"))
    number: Mapped[str] = mapped_column(String(64))
    signed_on: Mapped[date] = mapped_column(Date)
    parties: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def subject_ref(self) -> str:
        return f"facility_contract:{self.id}"


class FacilityCollateral(Base):
    """A pledge securing a facility. Detaching keeps the row (history); a pledge secures at most
    one facility at a time (a partial unique index)."""

    __tablename__ = "facility_collateral"
    __permission__ = "facility"
    __label__ = N_("collateral link")
    __subject_type__ = "facility_collateral"
    __table_args__ = (
        Index(
            "uq_facility_collateral_one_live_per_pledge",
            "pledge_id",
            unique=True,
            sqlite_where=text("detached_at IS NULL"),
            postgresql_where=text("detached_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attached_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detached_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def subject_ref(self) -> str:
        return f"facility_collateral:{self.id}"


class MarginDeposit(Base):
    """补缴保证金: cash the borrower placed in the bank's escrow account for the facility."""

    __tablename__ = "margin_deposits"
    __permission__ = "facility"
    __label__ = N_("margin deposit")
    __subject_type__ = "margin_deposit"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))  # the bank's transaction number
    deposited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deposited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    @property
    def subject_ref(self) -> str:
        return f"margin_deposit:{self.id}"


class Drawdown(Base):
    """用款/借据: one loan under a facility, from request to the last fen repaid.

    Conservation: ``amount_fen`` (once disbursed) = ``principal_repaid_fen`` +
    ``principal_outstanding_fen`` + ``principal_written_off_fen``.
    """

    __tablename__ = "drawdowns"
    __permission__ = "drawdown"
    __label__ = N_("drawdown")
    __subject_type__ = "drawdown"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "principal_outstanding_fen >= 0 AND principal_repaid_fen >= 0 AND principal_written_off_fen >= 0",
            name="principal_not_negative",
        ),
        CheckConstraint(
            "principal_outstanding_fen + principal_repaid_fen + principal_written_off_fen IN (0, amount_fen)",
            name="principal_conserved",
        ),
        CheckConstraint(
            "accrued_ufen >= 0 AND penalty_accrued_ufen >= 0 "
            "AND interest_paid_fen >= 0 AND interest_paid_fen <= interest_posted_fen "
            "AND penalty_paid_fen >= 0 AND penalty_paid_fen <= penalty_posted_fen",
            name="interest_not_overpaid",
        ),
        CheckConstraint("rate_bp >= 0 AND penalty_rate_bp >= rate_bp", name="rates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[DrawdownStatus] = mapped_column(
        choice_column(DrawdownStatus, "drawdown_status"), default=DrawdownStatus.REQUESTED, index=True
    )
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    maturity_date: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str | None] = mapped_column(String(200))
    # The rate, penalty rate and day count at approval: later changes to the facility leave them.
    rate_bp: Mapped[int] = mapped_column(Integer)
    penalty_rate_bp: Mapped[int] = mapped_column(Integer)
    day_count: Mapped[DayCount] = mapped_column(choice_column(DayCount, "drawdown_day_count"))
    principal_outstanding_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_repaid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_written_off_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Cumulative micro-fen; the posted fen are ROUND_HALF_UP of these, never a sum of daily roundings.
    accrued_ufen: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_accrued_ufen: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The first business date not yet accrued (interest runs from disbursement, 算头不算尾).
    accrued_until: Mapped[date | None] = mapped_column(Date)
    overdue_since: Mapped[date | None] = mapped_column(Date)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    disbursed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disbursed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"drawdown:{self.code}"

    @property
    def interest_due_fen(self) -> int:
        return self.interest_posted_fen - self.interest_paid_fen

    @property
    def penalty_due_fen(self) -> int:
        return self.penalty_posted_fen - self.penalty_paid_fen


class InterestAccrual(Base):
    """One day's interest (or penalty interest) of one drawdown, written once."""

    __tablename__ = "interest_accruals"
    __table_args__ = (
        UniqueConstraint("drawdown_id", "business_date", "kind"),
        CheckConstraint("ufen >= 0 AND posted_fen >= 0 AND principal_fen > 0", name="amounts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    drawdown_id: Mapped[int] = mapped_column(ForeignKey("drawdowns.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[AccrualKind] = mapped_column(choice_column(AccrualKind, "accrual_kind"))
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int] = mapped_column(Integer)
    day_count: Mapped[DayCount] = mapped_column(choice_column(DayCount, "accrual_day_count"))
    ufen: Mapped[int] = mapped_column(BigInteger)
    # Cumulative micro-fen of this kind after this day, and the fen it posted (the change in the
    # rounded cumulative amount).
    cumulative_ufen: Mapped[int] = mapped_column(BigInteger)
    posted_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Repayment(Base):
    """还款: money received against a drawdown, split penalty → interest → principal."""

    __tablename__ = "repayments"
    __permission__ = "drawdown"
    __label__ = N_("repayment")
    __subject_type__ = "repayment"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "penalty_fen >= 0 AND interest_fen >= 0 AND principal_fen >= 0 "
            "AND penalty_fen + interest_fen + principal_fen = amount_fen",
            name="allocation_adds_up",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    drawdown_id: Mapped[int] = mapped_column(ForeignKey("drawdowns.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_on: Mapped[date] = mapped_column(Date)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    @property
    def subject_ref(self) -> str:
        return f"repayment:{self.id}"
