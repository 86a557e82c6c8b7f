"""Request and response bodies of the inventory API. Weights are integer grams."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from coldpledge.calendar import BUSINESS_TZ
from coldpledge.db import MAX_ID
from coldpledge.inventory.models import (
    AttachmentPurpose,
    InspectionResult,
    LotStatus,
    OperationKind,
    QualityStatus,
)
from coldpledge.warehouses.models import TemperatureClass

# A grams field caps at 10 million tonnes: far above any warehouse, far below integer overflow.
MAX_GRAMS = 10**16
SEAL_NUMBER_PATTERN = r"^[A-Za-z0-9-]{4,32}$"
PLATE_PATTERN = r"^[\u4e00-\u9fa5A-Z0-9·-]{5,12}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def aware_moment(name: str, moment: datetime) -> datetime:
    """Refuse a time without a zone, and one so near the ends of the calendar that it cannot be
    told in UTC or in China (year 1 at +14:00 is still year 0 in UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} needs a time zone, e.g. 2026-11-28T09:00:00+08:00")
    try:
        moment.astimezone(UTC)
        moment.astimezone(BUSINESS_TZ)
    except OverflowError as exc:
        raise ValueError(f"{name} is out of range") from exc
    return moment


class CommodityIn(Strict):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    temperature_class: TemperatureClass
    hs_code: str | None = Field(default=None, pattern=r"^\d{4,12}$")
    shelf_life_days: int | None = Field(strict=True, default=None, gt=0, le=3650)


class CommodityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    name_en: str
    temperature_class: TemperatureClass
    hs_code: str | None
    shelf_life_days: int | None


class WeighingIn(Strict):
    """A weighbridge or floor-scale reading: net = gross - tare."""

    gross_g: int = Field(strict=True, gt=0, le=MAX_GRAMS)
    tare_g: int = Field(strict=True, ge=0, le=MAX_GRAMS)
    weigh_ticket_no: str = Field(min_length=1, max_length=64)
    scale_ref: str | None = Field(default=None, max_length=64)

    # Cross-field checks are field validators reading the fields before them (``info.data``), so
    # the error names the field to fix rather than the whole body.
    @field_validator("tare_g")
    @classmethod
    def _tare_below_gross(cls, tare_g: int, info: ValidationInfo) -> int:
        gross_g = info.data.get("gross_g")
        if gross_g is not None and tare_g >= gross_g:
            raise ValueError("tare_g must be less than gross_g")
        return tare_g

    @property
    def net_g(self) -> int:
        return self.gross_g - self.tare_g


class InboundIn(Strict):
    owner_org_id: int = Field(
        strict=True, gt=0, le=MAX_ID, description="The depositor: the trading company that owns the goods"
    )
    room_id: int = Field(strict=True, gt=0, le=MAX_ID)
    location: str | None = Field(default=None, max_length=100, description="Rack, row or pallet positions")
    commodity_id: int = Field(strict=True, gt=0, le=MAX_ID)
    spec: str = Field(min_length=1, max_length=200)
    brand: str | None = Field(default=None, max_length=100)
    origin_country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    plant_number: str | None = Field(default=None, max_length=64)
    batch_number: str = Field(min_length=1, max_length=64)
    production_date: date | None = None
    expiry_date: date | None = None
    declared_cartons: int = Field(strict=True, gt=0, le=10_000_000)
    declared_net_weight_g: int = Field(strict=True, gt=0, le=MAX_GRAMS)
    cartons_received: int | None = Field(strict=True, default=None, ge=0, le=10_000_000)
    customs_declaration_no: str | None = Field(
        default=None, pattern=r"^\d{18}$", description="报关单号, 18 digits"
    )
    quarantine_cert_no: str | None = Field(default=None, max_length=64)
    disinfection_cert_no: str | None = Field(default=None, max_length=64)
    container_no: str | None = Field(default=None, pattern=r"^[A-Z]{4}\d{7}$", description="ISO 6346")
    lead_seal_no: str | None = Field(default=None, max_length=32)
    vehicle_plate: str | None = Field(default=None, pattern=PLATE_PATTERN)
    truck_weighing: WeighingIn | None = Field(default=None, description="The gate weighbridge ticket, if any")
    received_at: datetime | None = Field(default=None, description="Defaults to now; never in the future")
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("expiry_date")
    @classmethod
    def _dates_in_order(cls, expiry_date: date | None, info: ValidationInfo) -> date | None:
        production_date = info.data.get("production_date")
        if production_date and expiry_date and production_date >= expiry_date:
            raise ValueError("production_date must be before expiry_date")
        return expiry_date

    @field_validator("received_at")
    @classmethod
    def _aware(cls, received_at: datetime | None) -> datetime | None:
        return None if received_at is None else aware_moment("received_at", received_at)


class WeighIn(WeighingIn):
    cartons: int | None = Field(
        strict=True, default=None, ge=0, le=10_000_000, description="Cartons counted at the scale"
    )
    note: str | None = Field(default=None, max_length=1000)


class InspectIn(Strict):
    result: InspectionResult
    agency: str = Field(min_length=1, max_length=100, description="Who inspected, e.g. CCIC or SGS")
    report_no: str | None = Field(default=None, max_length=64)
    valid_until: date | None = Field(
        default=None, description="The last day the inspection report holds; the expiry rule warns before it"
    )
    core_temperature_c: Decimal | None = Field(default=None, ge=-60, le=60, decimal_places=3)
    note: str | None = Field(default=None, max_length=1000)


class DisinfectIn(Strict):
    certificate_no: str = Field(min_length=1, max_length=64)
    valid_until: date | None = Field(
        default=None, description="The last day the certificate holds; the expiry rule warns before it"
    )
    disinfectant: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=1000)


class DocumentsIn(Strict):
    """Document numbers that arrived after the goods. Only missing ones may be added: a number once
    recorded is never overwritten, so a certificate cannot be quietly swapped."""

    customs_declaration_no: str | None = Field(default=None, pattern=r"^\d{18}$", description="报关单号")
    quarantine_cert_no: str | None = Field(default=None, min_length=1, max_length=64)
    disinfection_cert_no: str | None = Field(default=None, min_length=1, max_length=64)
    container_no: str | None = Field(default=None, pattern=r"^[A-Z]{4}\d{7}$", description="ISO 6346")
    lead_seal_no: str | None = Field(default=None, min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=1000)

    def given(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump(exclude={"note"}).items() if value is not None}


class StocktakeIn(Strict):
    counted_g: int = Field(strict=True, ge=0, le=MAX_GRAMS)
    counted_cartons: int = Field(strict=True, ge=0, le=10_000_000)
    note: str | None = Field(default=None, max_length=1000)


class SealIn(Strict):
    numbers: list[str] = Field(min_length=1, max_length=20)
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("numbers")
    @classmethod
    def _numbers_well_formed(cls, numbers: list[str]) -> list[str]:
        import re

        for number in numbers:
            if not re.fullmatch(SEAL_NUMBER_PATTERN, number):
                raise ValueError(f"seal number {number!r} must be 4-32 letters, digits or dashes")
        if len(set(numbers)) != len(numbers):
            raise ValueError("each seal number at most once")
        return numbers


class UnsealIn(Strict):
    reason: str = Field(min_length=2, max_length=300)


class LotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    owner_org_id: int
    warehouse_id: int
    room_id: int
    location: str | None
    commodity_id: int
    spec: str
    brand: str | None
    origin_country: str
    plant_number: str | None
    batch_number: str
    production_date: date | None
    expiry_date: date | None
    declared_cartons: int
    declared_net_weight_g: int
    cartons: int
    verified_net_weight_g: int
    weighed_at: datetime | None
    customs_declaration_no: str | None
    quarantine_cert_no: str | None
    disinfection_cert_no: str | None
    container_no: str | None
    lead_seal_no: str | None
    status: LotStatus
    quality_status: QualityStatus
    parent_lot_id: int | None
    received_at: datetime
    sealed: bool = False


class OperationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: OperationKind
    lot_id: int | None
    room_id: int | None
    warehouse_id: int
    performed_by_user_id: int | None
    performed_at: datetime
    gross_g: int | None
    tare_g: int | None
    net_g: int | None
    cartons: int | None
    weigh_ticket_no: str | None
    scale_ref: str | None
    inspection_result: InspectionResult | None
    inspection_agency: str | None
    report_no: str | None
    core_temperature_mc: int | None
    certificate_no: str | None
    certificate_valid_until: date | None
    disinfectant: str | None
    expected_g: int | None
    counted_g: int | None
    expected_cartons: int | None
    counted_cartons: int | None
    variance_bp: int | None
    within_tolerance: bool | None
    release_id: int | None
    vehicle_plate: str | None
    note: str | None
    details: dict[str, Any] | None


class SealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    room_id: int | None
    lot_id: int | None
    warehouse_id: int
    sealed_at: datetime
    sealed_by_user_id: int | None
    removed_at: datetime | None
    removed_by_user_id: int | None
    removal_reason: str | None


class AttachmentOut(BaseModel):
    sha256: str
    size_bytes: int
    content_type: str
    purpose: AttachmentPurpose
    lot_id: int
    operation_id: int | None
    original_name: str | None
    linked_at: datetime
