"""Receipts, their notations (the endorsement side), pledges and release instructions.

Three invariants live in the database itself (see the migration): a lot backs at most one
non-terminal receipt, a receipt has at most one live pledge and at most one open release, and an
active receipt never claims more than the lot's verified stock. Terminal receipts never change.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.choices import Choice, present
from coldpledge.db import Base, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.inventory.models import Lot
from coldpledge.receipts.lifecycle import TERMINAL, ReceiptStatus

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL))


@present(
    {
        "requested": N_("Requested"),
        "active": N_("Active"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "discharged": N_("Discharged"),
        "superseded": N_("Moved to a successor receipt"),
        "enforced": N_("Enforced by disposal"),
    },
    {"requested": "cyan", "active": "green", "rejected": "red", "discharged": "grey", "enforced": "red"},
)
class PledgeStatus(Choice):
    REQUESTED = "requested"
    ACTIVE = "active"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    DISCHARGED = "discharged"
    SUPERSEDED = "superseded"
    ENFORCED = "enforced"


LIVE_PLEDGE = (PledgeStatus.REQUESTED, PledgeStatus.ACTIVE)


@present({"partial_release": N_("Partial release"), "delivery": N_("Delivery"), "disposal": N_("Disposal")})
class ReleaseKind(Choice):
    PARTIAL_RELEASE = "partial_release"
    DELIVERY = "delivery"
    DISPOSAL = "disposal"


@present(
    {
        "requested": N_("Awaiting approval"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "cancelled": N_("Cancelled"),
        "executed": N_("Executed"),
    },
    {"requested": "cyan", "approved": "green", "rejected": "red", "cancelled": "grey", "executed": "blue"},
)
class ReleaseStatus(Choice):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXECUTED = "executed"


OPEN_RELEASE = (ReleaseStatus.REQUESTED, ReleaseStatus.APPROVED)


@present(
    {
        "endorsement": N_("Endorsement (transfer)"),
        "pledge": N_("Pledge"),
        "partial_release": N_("Partial release"),
        "discharge": N_("Discharge"),
        "split": N_("Split"),
        "replacement": N_("Replacement"),
        "freeze": N_("Freeze"),
        "loss": N_("Loss"),
        "disposal": N_("Disposal"),
        "delivery": N_("Delivery"),
    }
)
class NotationKind(Choice):
    ENDORSEMENT = "endorsement"
    PLEDGE = "pledge"
    PARTIAL_RELEASE = "partial_release"
    DISCHARGE = "discharge"
    SPLIT = "split"
    REPLACEMENT = "replacement"
    FREEZE = "freeze"
    LOSS = "loss"
    DISPOSAL = "disposal"
    DELIVERY = "delivery"


class Receipt(Base):
    """仓单: the keeper's promise to deliver a lot to whoever holds this record."""

    __tablename__ = "receipts"
    __permission__ = "receipt"
    __label__ = N_("receipt")
    __subject_type__ = "receipt"
    __table_args__ = (
        CheckConstraint("quantity_g >= 0", name="quantity_not_negative"),
        CheckConstraint("cartons >= 0", name="cartons_not_negative"),
        CheckConstraint("insured_amount_fen IS NULL OR insured_amount_fen >= 0", name="insured_not_negative"),
        Index(
            "uq_receipts_one_live_per_lot",
            "lot_id",
            unique=True,
            sqlite_where=text(f"status NOT IN ({_TERMINAL_SQL})"),
            postgresql_where=text(f"status NOT IN ({_TERMINAL_SQL})"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    issuer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    depositor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[ReceiptStatus] = mapped_column(
        choice_column(ReceiptStatus, "receipt_status"), default=ReceiptStatus.DRAFT, index=True
    )
    # The state to return to on unfreeze or when a loss report is withdrawn.
    previous_status: Mapped[ReceiptStatus | None] = mapped_column(
        choice_column(ReceiptStatus, "receipt_previous_status")
    )
    # Who froze it (a court order through the operator, or the pledgee): only they may unfreeze.
    frozen_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    cartons: Mapped[int] = mapped_column(Integer)
    issued_quantity_g: Mapped[int | None] = mapped_column(BigInteger)
    negotiable: Mapped[bool] = mapped_column(Boolean, default=True)
    storage_period_end: Mapped[date] = mapped_column(Date)
    storage_fee_note: Mapped[str | None] = mapped_column(String(200))  # 仓储费
    loss_standard: Mapped[str | None] = mapped_column(String(200))  # 损耗标准
    insurer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    insured_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    insurance_until: Mapped[date | None] = mapped_column(Date)
    registry_code: Mapped[str | None] = mapped_column(String(64), unique=True)  # 中仓登 national code
    parent_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    replaces_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    lot: Mapped[Lot] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own convention

    @property
    def subject_ref(self) -> str:
        return f"receipt:{self.code}"


class ReceiptNotation(Base):
    """What is written on the receipt after issue: endorsements, pledges, partial deliveries."""

    __tablename__ = "receipt_notations"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    kind: Mapped[NotationKind] = mapped_column(choice_column(NotationKind, "notation_kind"))
    text: Mapped[str] = mapped_column(Text)
    quantity_g: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Pledge(Base):
    """An encumbrance of a receipt in favour of a pledgee (质押)."""

    __tablename__ = "pledges"
    __permission__ = "receipt"
    __label__ = N_("pledge")
    __table_args__ = (
        Index(
            "uq_pledges_one_live_per_receipt",
            "receipt_id",
            unique=True,
            sqlite_where=text("status IN ('requested', 'active')"),
            postgresql_where=text("status IN ('requested', 'active')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    pledgee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    pledgor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[PledgeStatus] = mapped_column(choice_column(PledgeStatus, "pledge_status"))
    # 中登网 registration number and time: priority between pledges follows registration time.
    registration_no: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    predecessor_pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id"))
    note: Mapped[str | None] = mapped_column(Text)


class Release(Base):
    """A one-time instruction to let goods leave: a partial release of a pledged receipt, the
    delivery of an unencumbered one, or a disposal sale. An outbound operation executes it."""

    __tablename__ = "releases"
    __permission__ = "release"
    __label__ = N_("release instruction")
    __subject_type__ = "release"
    __table_args__ = (
        CheckConstraint("quantity_g > 0", name="quantity_positive"),
        Index(
            "uq_releases_one_open_per_receipt",
            "receipt_id",
            unique=True,
            sqlite_where=text("status IN ('requested', 'approved')"),
            postgresql_where=text("status IN ('requested', 'approved')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    kind: Mapped[ReleaseKind] = mapped_column(choice_column(ReleaseKind, "release_kind"))
    status: Mapped[ReleaseStatus] = mapped_column(choice_column(ReleaseStatus, "release_status"))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    cartons: Mapped[int | None] = mapped_column(Integer)
    vehicle_plate: Mapped[str] = mapped_column(String(16))
    collector_name: Mapped[str] = mapped_column(String(100))
    # The collector's ID number is personal data: only a salted hash and the last four characters.
    collector_id_sha256: Mapped[str] = mapped_column(String(64))
    collector_id_salt: Mapped[str] = mapped_column(String(32))
    collector_id_last4: Mapped[str] = mapped_column(String(4))
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    # Wrong codes tried at the dock; too many and the instruction is cancelled.
    failed_code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_net_g: Mapped[int | None] = mapped_column(BigInteger)

    receipt: Mapped[Receipt] = relationship()

    @property
    def subject_ref(self) -> str:
        return f"release:{self.id}"
