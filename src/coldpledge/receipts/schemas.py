"""Request and response bodies of the receipts API. Quantities are integer grams, money integer fen."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from coldpledge.db import MAX_ID
from coldpledge.errors import N_
from coldpledge.inventory.schemas import MAX_GRAMS, PLATE_PATTERN, Strict, WeighingIn, aware_moment
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import NotationKind, PledgeStatus, ReleaseKind, ReleaseStatus

# 中国居民身份证 (18 characters, last may be X) or a passport-like number.
ID_NUMBER_PATTERN = r"^[0-9A-Za-z]{6,18}$"


class ReceiptCreateIn(Strict):
    lot_id: int = Field(strict=True, gt=0, le=MAX_ID)
    quantity_g: int = Field(strict=True, gt=0, le=MAX_GRAMS)
    cartons: int = Field(strict=True, gt=0, le=10_000_000)
    storage_period_end: date = Field(description="储存期限: when the storage agreement ends")
    storage_fee_note: str | None = Field(
        default=None, max_length=200, description="仓储费, e.g. 1.2 元/吨/天"
    )
    loss_standard: str | None = Field(default=None, max_length=200, description="损耗标准, e.g. 干耗 ≤ 0.3%")
    negotiable: bool = True
    insurer_org_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    insured_amount_fen: int | None = Field(strict=True, default=None, ge=0, le=10**15)
    # Checked even when left out, so that half an insurance is refused whichever part is missing.
    insurance_until: date | None = Field(default=None, validate_default=True)
    registry_code: str | None = Field(default=None, max_length=64, description="中仓登 national receipt code")

    @field_validator("insurance_until")
    @classmethod
    def _insurance_complete(cls, insurance_until: date | None, info: ValidationInfo) -> date | None:
        given = [
            info.data.get("insurer_org_id") is not None,
            info.data.get("insured_amount_fen") is not None,
            insurance_until is not None,
        ]
        if any(given) and not all(given):
            raise ValueError(N_("insurer_org_id, insured_amount_fen and insurance_until go together"))
        return insurance_until


class ReasonIn(Strict):
    reason: str = Field(min_length=2, max_length=500)


class NoteIn(Strict):
    note: str | None = Field(default=None, max_length=500)


class TransferIn(Strict):
    to_org_id: int = Field(strict=True, gt=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=500)


class PledgeRequestIn(Strict):
    pledgee_org_id: int = Field(strict=True, gt=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=500)


class PledgeAcceptIn(Strict):
    registration_no: str = Field(min_length=6, max_length=64, description="中登网 pledge registration number")
    registered_at: datetime | None = Field(default=None, description="Registration time; priority follows it")
    note: str | None = Field(default=None, max_length=500)

    @field_validator("registered_at")
    @classmethod
    def _aware(cls, registered_at: datetime | None) -> datetime | None:
        return None if registered_at is None else aware_moment("registered_at", registered_at)


class CollectionIn(Strict):
    """Who will collect the goods, in what vehicle, until when the instruction is valid."""

    vehicle_plate: str = Field(pattern=PLATE_PATTERN)
    collector_name: str = Field(min_length=1, max_length=100)
    collector_id_no: str = Field(
        pattern=ID_NUMBER_PATTERN, description="Stored only as a hash and last 4 characters"
    )
    valid_until: datetime

    @field_validator("valid_until")
    @classmethod
    def _aware(cls, valid_until: datetime) -> datetime:
        return aware_moment("valid_until", valid_until)


class ReleaseRequestIn(CollectionIn):
    quantity_g: int = Field(strict=True, gt=0, le=MAX_GRAMS)
    cartons: int | None = Field(strict=True, default=None, gt=0, le=10_000_000)
    note: str | None = Field(default=None, max_length=500)


class DeliveryRequestIn(CollectionIn):
    note: str | None = Field(default=None, max_length=500)


class SplitPart(Strict):
    quantity_g: int = Field(strict=True, gt=0, le=MAX_GRAMS)
    cartons: int = Field(strict=True, gt=0, le=10_000_000)


class SplitIn(Strict):
    parts: list[SplitPart] = Field(min_length=2, max_length=50)
    note: str | None = Field(default=None, max_length=500)


class OutboundIn(WeighingIn):
    release_id: int = Field(strict=True, gt=0, le=MAX_ID)
    release_code: str = Field(min_length=4, max_length=32, description="The one-time code of the release")
    collector_id_no: str = Field(pattern=ID_NUMBER_PATTERN, description="Checked against the instruction")
    cartons: int = Field(strict=True, ge=0, le=10_000_000)
    vehicle_plate: str = Field(pattern=PLATE_PATTERN)
    note: str | None = Field(default=None, max_length=1000)


class PledgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    pledgee_org_id: int
    pledgor_org_id: int
    status: PledgeStatus
    registration_no: str | None
    registered_at: datetime | None
    requested_at: datetime
    decided_at: datetime | None


class NotationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: NotationKind
    text: str
    quantity_g: int | None
    at: datetime


class ReceiptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    lot_id: int
    warehouse_id: int
    issuer_org_id: int
    depositor_org_id: int
    holder_org_id: int
    status: ReceiptStatus
    previous_status: ReceiptStatus | None
    quantity_g: int
    cartons: int
    issued_quantity_g: int | None
    negotiable: bool
    storage_period_end: date
    storage_fee_note: str | None
    loss_standard: str | None
    insurer_org_id: int | None
    insured_amount_fen: int | None
    insurance_until: date | None
    registry_code: str | None
    parent_receipt_id: int | None
    replaces_receipt_id: int | None
    issued_at: datetime | None
    status_changed_at: datetime
    public_url: str = ""
    allowed_actions: list[str] = []
    pledge: PledgeOut | None = None
    notations: list[NotationOut] = []


class ReleaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    receipt_id: int
    kind: ReleaseKind
    status: ReleaseStatus
    quantity_g: int
    cartons: int | None
    vehicle_plate: str
    collector_name: str
    collector_id_last4: str
    valid_until: datetime
    requested_at: datetime
    requested_by_user_id: int | None
    decided_at: datetime | None
    decided_by_user_id: int | None
    decision_note: str | None
    executed_at: datetime | None
    executed_net_g: int | None
    code: str | None = Field(
        default=None, description="The one-time code; present only in the answer that created it, never again"
    )


class HistoryEntryOut(BaseModel):
    id: int
    at: datetime
    recorded_at: datetime
    action: str
    actor: str
    actor_user_id: int | None
    actor_org_id: int | None
    reason: str | None
    changes: dict[str, list[Any]]


class PublicReceiptOut(BaseModel):
    code: str
    status: ReceiptStatus
    issuer: str
    warehouse: str
    city: str
    commodity: str
    issued_at: datetime | None
    status_changed_at: datetime
