"""Lots of goods, what was done to them, the seals on them and the files that prove it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.choices import Choice, present
from coldpledge.db import Base, JSONDocument, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.warehouses.models import Room, TemperatureClass, Warehouse


@present(
    {
        "in_stock": N_("In stock"),
        "on_hold": N_("On quality hold"),
        "depleted": N_("Depleted"),
        "split": N_("Split into sub-lots"),
    },
    {"in_stock": "green", "on_hold": "orange", "depleted": "grey", "split": "grey"},
)
class LotStatus(Choice):
    IN_STOCK = "in_stock"
    ON_HOLD = "on_hold"
    DEPLETED = "depleted"
    SPLIT = "split"


@present(
    {"pending": N_("Awaiting inspection"), "passed": N_("Passed"), "failed": N_("Failed")},
    {"pending": "grey", "passed": "green", "failed": "red"},
)
class QualityStatus(Choice):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@present(
    {
        "inbound": N_("Inbound"),
        "weigh": N_("Weighing"),
        "inspect": N_("Quality inspection"),
        "disinfect": N_("Disinfection"),
        "stocktake": N_("Stocktake"),
        "outbound": N_("Outbound"),
        "seal": N_("Seal"),
        "unseal": N_("Unseal"),
        "split": N_("Split"),
    }
)
class OperationKind(Choice):
    INBOUND = "inbound"
    WEIGH = "weigh"
    INSPECT = "inspect"
    DISINFECT = "disinfect"
    STOCKTAKE = "stocktake"
    OUTBOUND = "outbound"
    SEAL = "seal"
    UNSEAL = "unseal"
    SPLIT = "split"


@present({"passed": N_("Passed"), "failed": N_("Failed"), "hold": N_("Hold for further testing")})
class InspectionResult(Choice):
    PASSED = "passed"
    FAILED = "failed"
    HOLD = "hold"


@present(
    {
        "photo": N_("Photo"),
        "certificate": N_("Certificate"),
        "weigh_ticket": N_("Weigh ticket"),
        "inspection_report": N_("Inspection report"),
        "other": N_("Other document"),
    }
)
class AttachmentPurpose(Choice):
    PHOTO = "photo"
    CERTIFICATE = "certificate"
    WEIGH_TICKET = "weigh_ticket"
    INSPECTION_REPORT = "inspection_report"
    OTHER = "other"


class Commodity(Base):
    __tablename__ = "commodities"
    __permission__ = "commodity"
    __label__ = N_("commodity")
    __subject_type__ = "commodity"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    temperature_class: Mapped[TemperatureClass] = mapped_column(
        choice_column(TemperatureClass, "commodity_temperature_class")
    )
    hs_code: Mapped[str | None] = mapped_column(String(12))
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"commodity:{self.code}"


class Lot(Base):
    """A batch of goods stored together: the physical thing a receipt stands for.

    ``verified_net_weight_g`` is the book stock proven by weighing; only weighing at inbound and
    weighed outbound change it. A stocktake records what it found but never rewrites it.
    """

    __tablename__ = "lots"
    __permission__ = "lot"
    __label__ = N_("lot")
    __subject_type__ = "lot"
    __table_args__ = (
        CheckConstraint("declared_net_weight_g > 0", name="declared_weight_positive"),
        CheckConstraint("verified_net_weight_g >= 0", name="verified_weight_not_negative"),
        CheckConstraint("cartons >= 0", name="cartons_not_negative"),
        CheckConstraint(
            "expiry_date IS NULL OR production_date IS NULL OR production_date < expiry_date",
            name="produced_before_expiry",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    location: Mapped[str | None] = mapped_column(String(100))  # rack / row / pallet positions
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"), index=True)
    spec: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str | None] = mapped_column(String(100))
    origin_country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    plant_number: Mapped[str | None] = mapped_column(String(64))  # 境外生产企业注册号
    batch_number: Mapped[str] = mapped_column(String(64))
    production_date: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    declared_cartons: Mapped[int] = mapped_column(Integer)
    declared_net_weight_g: Mapped[int] = mapped_column(BigInteger)
    cartons: Mapped[int] = mapped_column(Integer)
    verified_net_weight_g: Mapped[int] = mapped_column(BigInteger, default=0)
    weighed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customs_declaration_no: Mapped[str | None] = mapped_column(String(32))  # 报关单号
    quarantine_cert_no: Mapped[str | None] = mapped_column(String(64))  # 检验检疫证明
    disinfection_cert_no: Mapped[str | None] = mapped_column(String(64))  # 消毒证明
    container_no: Mapped[str | None] = mapped_column(String(16))
    lead_seal_no: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[LotStatus] = mapped_column(
        choice_column(LotStatus, "lot_status"), default=LotStatus.IN_STOCK
    )
    quality_status: Mapped[QualityStatus] = mapped_column(
        choice_column(QualityStatus, "quality_status"), default=QualityStatus.PENDING
    )
    parent_lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    commodity: Mapped[Commodity] = relationship()
    warehouse: Mapped[Warehouse] = relationship()
    room: Mapped[Room] = relationship()

    @property
    def subject_ref(self) -> str:
        return f"lot:{self.code}"


class Operation(Base):
    """One thing done to a lot or a room, as it was recorded. Rows are never edited."""

    __tablename__ = "operations"
    __permission__ = "lot"
    __label__ = N_("operation")
    __subject_type__ = "operation"
    __table_args__ = (
        CheckConstraint("lot_id IS NOT NULL OR room_id IS NOT NULL", name="has_target"),
        CheckConstraint(
            "gross_g IS NULL OR tare_g IS NULL OR gross_g >= tare_g", name="gross_not_below_tare"
        ),
        CheckConstraint("net_g IS NULL OR net_g >= 0", name="net_not_negative"),
        Index("ix_operations_lot_time", "lot_id", "performed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OperationKind] = mapped_column(choice_column(OperationKind, "operation_kind"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    performed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Weighing: gross, tare and net in grams, and the ticket of the weighbridge or floor scale.
    gross_g: Mapped[int | None] = mapped_column(BigInteger)
    tare_g: Mapped[int | None] = mapped_column(BigInteger)
    net_g: Mapped[int | None] = mapped_column(BigInteger)
    cartons: Mapped[int | None] = mapped_column(Integer)
    weigh_ticket_no: Mapped[str | None] = mapped_column(String(64))
    scale_ref: Mapped[str | None] = mapped_column(String(64))
    # Inspection.
    inspection_result: Mapped[InspectionResult | None] = mapped_column(
        choice_column(InspectionResult, "inspection_result")
    )
    inspection_agency: Mapped[str | None] = mapped_column(String(100))
    report_no: Mapped[str | None] = mapped_column(String(64))
    core_temperature_mc: Mapped[int | None] = mapped_column(Integer)
    # Disinfection.
    certificate_no: Mapped[str | None] = mapped_column(String(64))
    # Inspection or disinfection: until when its report or certificate holds (the expiry rule).
    certificate_valid_until: Mapped[date | None] = mapped_column(Date)
    disinfectant: Mapped[str | None] = mapped_column(String(100))
    # Stocktake: what the books said and what was counted.
    expected_g: Mapped[int | None] = mapped_column(BigInteger)
    counted_g: Mapped[int | None] = mapped_column(BigInteger)
    expected_cartons: Mapped[int | None] = mapped_column(Integer)
    counted_cartons: Mapped[int | None] = mapped_column(Integer)
    variance_bp: Mapped[int | None] = mapped_column(Integer)
    within_tolerance: Mapped[bool | None] = mapped_column(Boolean)
    # Outbound: the release it executed, and the vehicle that took the goods.
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), unique=True)
    vehicle_plate: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"operation:{self.id}"


class Seal(Base):
    """One numbered, single-use tamper-evident seal on a room door or on a lot's cage or pallets.

    Seal numbers are unique for all time: a number that was once used can never be used again.
    """

    __tablename__ = "seals"
    __permission__ = "seal"
    __label__ = N_("seal")
    __subject_type__ = "seal"
    __table_args__ = (
        CheckConstraint("(room_id IS NULL) <> (lot_id IS NULL)", name="one_target"),
        Index("ix_seals_active_room", "room_id", "removed_at"),
        Index("ix_seals_active_lot", "lot_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sealed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    seal_operation_id: Mapped[int] = mapped_column(ForeignKey("operations.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removal_reason: Mapped[str | None] = mapped_column(String(300))

    @property
    def subject_ref(self) -> str:
        return f"seal:{self.number}"


class Attachment(Base):
    """A file stored by the SHA-256 of its bytes; only the hash ever enters the evidence log."""

    __tablename__ = "attachments"
    __permission__ = "attachment"
    __label__ = N_("attachment")

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentLink(Base):
    """Which lot (and operation) a file belongs to, and why."""

    __tablename__ = "attachment_links"
    __permission__ = "attachment"
    __label__ = N_("attachment")
    __subject_type__ = "attachment"
    __table_args__ = (UniqueConstraint("sha256", "lot_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("attachments.sha256"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"))
    purpose: Mapped[AttachmentPurpose] = mapped_column(choice_column(AttachmentPurpose, "attachment_purpose"))
    original_name: Mapped[str | None] = mapped_column(String(200))
    linked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"attachment:{self.sha256}"
