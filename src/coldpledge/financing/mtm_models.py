"""Mark-to-market (盯市) records: the valuations of a facility's collateral per business date, line
by line with the price observations used, and the margin calls (追加保证金通知) they issue, with
their cure events (issue 6, domain §2.5 and §6.3).

A facility has at most one daily valuation per business date (a partial unique index: the daily
job is idempotent, and a second scheduler running at the same time inserts nothing) and any
number of intraday ones (a cure re-evaluates at once). It has at most one open margin call (a
partial unique index). Lines copy what was valued (quantity, lot, commodity, price), so a
valuation reads the same however the goods change later.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.choices import Choice, present
from coldpledge.db import Base, JSONDocument, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.financing.risk import RiskReason, RiskState

DAILY_SQL = "kind = 'daily'"
OPEN_CALL_SQL = "status = 'open'"


@present({"daily": N_("Daily mark"), "intraday": N_("Intraday re-evaluation")})
class ValuationKind(Choice):
    DAILY = "daily"
    INTRADAY = "intraday"


@present(
    {
        "counted": N_("Counted"),
        "ineligible": N_("Not eligible"),
        "unpriced": N_("No usable price"),
    },
    {"counted": "green", "ineligible": "grey", "unpriced": "orange"},
)
class LineStatus(Choice):
    COUNTED = "counted"
    INELIGIBLE = "ineligible"  # pledge ended, receipt no longer pledged, lot on quality hold
    UNPRICED = "unpriced"  # no approved price, or a stale one: the facility's value is incomplete


@present(
    # "Deadline missed", not "Expired": the facility's own "Expired" (its term ended) reads
    # differently in Chinese (已到期 against 逾期未补足).
    {"open": N_("Open"), "cured": N_("Cured"), "expired": N_("Deadline missed"), "waived": N_("Waived")},
    {"open": "red", "cured": "green", "expired": "purple", "waived": "grey"},
)
class MarginCallStatus(Choice):
    OPEN = "open"
    CURED = "cured"
    EXPIRED = "expired"  # not cured by its deadline, or the liquidation line reached first
    WAIVED = "waived"


@present(
    {
        "issued": N_("Issued"),
        "notified": N_("Parties notified"),
        "deposit": N_("Margin deposited"),
        "repayment": N_("Repayment received"),
        "top_up": N_("Goods pledged and attached"),
        "revalued": N_("Re-evaluated"),
        "cured": N_("Cured"),
        "expired": N_("Deadline missed"),
        "waive_requested": N_("Waiver requested"),
        "waived": N_("Waived"),
    }
)
class MarginCallEventKind(Choice):
    ISSUED = "issued"
    NOTIFIED = "notified"
    DEPOSIT = "deposit"
    REPAYMENT = "repayment"
    TOP_UP = "top_up"
    REVALUED = "revalued"
    CURED = "cured"
    EXPIRED = "expired"
    WAIVE_REQUESTED = "waive_requested"
    WAIVED = "waived"


class Valuation(Base):
    """One evaluation of a facility: exposure, collateral value, LTV against its lines, and the
    risk state before and after (domain §7 LTVEvaluation). ``held`` means some collateral had no
    usable price, so the state was not moved on the value found (no liquidation for want of a
    price); ``ltv_bp`` None is an exposure with no value behind it."""

    __tablename__ = "valuations"
    __permission__ = "facility"
    __label__ = N_("valuation")
    __subject_type__ = "valuation"
    __table_args__ = (
        Index(
            "uq_valuations_one_daily_per_facility_date",
            "facility_id",
            "business_date",
            unique=True,
            sqlite_where=text(DAILY_SQL),
            postgresql_where=text(DAILY_SQL),
        ),
        CheckConstraint(
            "principal_outstanding_fen >= 0 AND interest_due_fen >= 0 AND cash_margin_fen >= 0 "
            "AND exposure_fen >= 0 AND market_value_fen >= 0 AND collateral_value_fen >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint("unpriced_lines >= 0 AND unpriced_lines <= lines", name="lines_counted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[ValuationKind] = mapped_column(choice_column(ValuationKind, "valuation_kind"))
    # What an intraday re-evaluation followed: margin_deposit:7, repayment:12, facility_collateral:3.
    cause: Mapped[str | None] = mapped_column(String(100))
    valued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    principal_outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    interest_due_fen: Mapped[int] = mapped_column(BigInteger)
    cash_margin_fen: Mapped[int] = mapped_column(BigInteger)
    exposure_fen: Mapped[int] = mapped_column(BigInteger)
    market_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    collateral_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    unpriced_lines: Mapped[int] = mapped_column(Integer, default=0)
    ltv_bp: Mapped[int | None] = mapped_column(BigInteger)
    pledge_rate_bp: Mapped[int] = mapped_column(Integer)
    warning_line_bp: Mapped[int] = mapped_column(Integer)
    margin_call_line_bp: Mapped[int] = mapped_column(Integer)
    liquidation_line_bp: Mapped[int] = mapped_column(Integer)
    risk_before: Mapped[RiskState] = mapped_column(choice_column(RiskState, "valuation_risk_before"))
    risk_after: Mapped[RiskState] = mapped_column(choice_column(RiskState, "valuation_risk_after"))
    risk_reason: Mapped[RiskReason | None] = mapped_column(choice_column(RiskReason, "valuation_risk_reason"))
    held: Mapped[bool] = mapped_column(default=False)

    @property
    def subject_ref(self) -> str:
        return f"valuation:{self.id}"

    @property
    def complete(self) -> bool:
        return self.unpriced_lines == 0


class ValuationLine(Base):
    """One pledged receipt as valued: what it held, the price and observations used, its value."""

    __tablename__ = "valuation_lines"
    __table_args__ = (
        CheckConstraint(
            "quantity_g >= 0 AND market_value_fen >= 0 AND value_fen >= 0 AND value_fen <= market_value_fen",
            name="values_in_order",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    valuation_id: Mapped[int] = mapped_column(ForeignKey("valuations.id"), index=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("facility_collateral.id"))
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"))
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    # Copies as valued: the lot and its commodity (a receipt's lot never changes).
    lot_id: Mapped[int] = mapped_column(Integer)
    commodity_id: Mapped[int] = mapped_column(Integer)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[LineStatus] = mapped_column(choice_column(LineStatus, "valuation_line_status"))
    price_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    price_observation_id: Mapped[int | None] = mapped_column(ForeignKey("price_observations.id"))
    price_date: Mapped[date | None] = mapped_column(Date)
    # Every observation the price rests on (more than one when the series averages).
    observation_ids: Mapped[list[int] | None] = mapped_column(JSONDocument)
    stale: Mapped[bool] = mapped_column(default=False)
    haircut_bp: Mapped[int] = mapped_column(Integer)
    market_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Why it counts nothing, untranslated, with its parameters.
    reason: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class MarginCall(Base):
    """追加保证金通知: what the borrower must bring by the deadline — cash, or goods at the day's
    price — for the facility's LTV to be back within the pledge rate (domain §6.3)."""

    __tablename__ = "margin_calls"
    __permission__ = "facility"
    __label__ = N_("margin call")
    __subject_type__ = "margin_call"
    __table_args__ = (
        Index(
            "uq_margin_calls_one_open_per_facility",
            "facility_id",
            unique=True,
            sqlite_where=text(OPEN_CALL_SQL),
            postgresql_where=text(OPEN_CALL_SQL),
        ),
        CheckConstraint(
            "exposure_fen >= 0 AND collateral_value_fen >= 0 AND cure_cash_fen >= 0 "
            "AND cure_collateral_value_fen >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint("deadline >= business_date", name="deadline_after_issue"),
        # Dual approval of a waiver: two different risk officers.
        CheckConstraint(
            "waived_by_user_id IS NULL OR waived_by_user_id <> waive_requested_by_user_id",
            name="waiver_by_two",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    valuation_id: Mapped[int] = mapped_column(ForeignKey("valuations.id"))
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[MarginCallStatus] = mapped_column(
        choice_column(MarginCallStatus, "margin_call_status"), index=True
    )
    # At the trigger.
    exposure_fen: Mapped[int] = mapped_column(BigInteger)
    collateral_value_fen: Mapped[int] = mapped_column(BigInteger)
    ltv_bp: Mapped[int | None] = mapped_column(BigInteger)
    pledge_rate_bp: Mapped[int] = mapped_column(Integer)
    # The cure at the trigger's prices (collateral.margin_call_cure): cash, or goods of the
    # facility's main commodity at its price and the facility's haircut.
    cure_cash_fen: Mapped[int] = mapped_column(BigInteger)
    cure_collateral_value_fen: Mapped[int] = mapped_column(BigInteger)
    cure_goods_value_fen: Mapped[int | None] = mapped_column(BigInteger)
    cure_goods_g: Mapped[int | None] = mapped_column(BigInteger)
    cure_commodity_id: Mapped[int | None] = mapped_column(ForeignKey("commodities.id"))
    cure_price_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    cure_haircut_bp: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last business day to cure (the first evaluation after it liquidates).
    deadline: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closing_valuation_id: Mapped[int | None] = mapped_column(ForeignKey("valuations.id"))
    # cured, deadline_missed, liquidation_line_reached, no_collateral_value or waived.
    outcome: Mapped[str | None] = mapped_column(String(32))
    waive_requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    waive_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waive_reason: Mapped[str | None] = mapped_column(Text)
    waived_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No new margin call is issued before this business date (unless the liquidation line is reached).
    waived_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"margin_call:{self.code}"


class MarginCallEvent(Base):
    """What happened to a margin call: its notices, each cure (deposit, repayment, goods topped
    up) and the re-evaluation it caused, and its outcome."""

    __tablename__ = "margin_call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    margin_call_id: Mapped[int] = mapped_column(ForeignKey("margin_calls.id"), index=True)
    kind: Mapped[MarginCallEventKind] = mapped_column(
        choice_column(MarginCallEventKind, "margin_call_event_kind")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    business_date: Mapped[date] = mapped_column(Date)
    valuation_id: Mapped[int | None] = mapped_column(ForeignKey("valuations.id"))
    # The record behind it: margin_deposit:7, repayment:12, facility_collateral:3, notification kind.
    ref: Mapped[str | None] = mapped_column(String(100))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    ltv_bp: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
