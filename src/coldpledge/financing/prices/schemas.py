"""Request and response bodies of the prices API.

Prices come in as decimal text exactly as published (``"24.63"`` CNY/kg), never as JSON floats,
and go out as integer fen per tonne beside the value as received.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coldpledge.db import MAX_ID
from coldpledge.financing.prices.models import ObservationStatus, PriceFrequency, PriceOrigin, PriceUnit
from coldpledge.inventory.schemas import Strict, aware_moment

PRICE_TEXT = r"^\d{1,9}(\.\d{1,6})?$"
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_.-]{1,39}$"


class SeriesIn(Strict):
    code: str = Field(pattern=CODE_PATTERN, description="Our name for the series, e.g. MOA-PORK-NATL")
    commodity_id: int = Field(strict=True, gt=0, le=MAX_ID)
    source: str = Field(min_length=2, max_length=64, description="e.g. moa_daily, sci99, dce")
    source_series_id: str = Field(min_length=1, max_length=100, description="The source's own series name")
    market_region: str = Field(min_length=1, max_length=100, description="e.g. 全国, 上海")
    spec: str = Field(min_length=1, max_length=200, description="e.g. 冻猪肉 2号肉")
    unit: PriceUnit
    frequency: PriceFrequency = PriceFrequency.DAILY
    is_primary: bool = False
    feed_trusted: bool = Field(
        default=False, description="Quotes from the vendor feed count as approved unless they are outliers"
    )
    stale_after_business_days: int | None = Field(
        strict=True,
        default=None,
        gt=0,
        le=60,
        description="Stale when the latest approved price is older; default 3 (daily) or 7 (weekly)",
    )
    average_days: int | None = Field(
        strict=True,
        default=None,
        ge=2,
        le=60,
        description="Value at the lower of the day's mid and the mean of this many latest observations",
    )


class SeriesChangeIn(Strict):
    """Only the fields given change; ``average_days: null`` turns the average off."""

    is_primary: bool | None = None
    active: bool | None = None
    feed_trusted: bool | None = None
    stale_after_business_days: int | None = Field(strict=True, default=None, gt=0, le=60)
    average_days: int | None = Field(strict=True, default=None, ge=2, le=60)
    note: str | None = Field(default=None, max_length=500)


class SeriesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    commodity_id: int
    source: str
    source_series_id: str
    market_region: str
    spec: str
    unit: PriceUnit
    frequency: PriceFrequency
    is_primary: bool
    active: bool
    feed_trusted: bool
    stale_after_business_days: int
    average_days: int | None


class ObservationIn(Strict):
    """One published price, in the unit it was published in (the series' unit if left out)."""

    series_id: int = Field(strict=True, gt=0, le=MAX_ID)
    price_date: date
    unit: PriceUnit | None = None
    low: str | None = Field(default=None, pattern=PRICE_TEXT)
    mid: str | None = Field(
        default=None, pattern=PRICE_TEXT, description="The mid, average or mainstream price"
    )
    high: str | None = Field(default=None, pattern=PRICE_TEXT)
    published_at: datetime | None = None
    note: str | None = Field(default=None, max_length=500)

    @field_validator("published_at")
    @classmethod
    def _aware(cls, published_at: datetime | None) -> datetime | None:
        return None if published_at is None else aware_moment("published_at", published_at)


class ApproveIn(Strict):
    confirm_outlier: bool = Field(
        default=False, description="The approver has checked that a flagged price is the true price"
    )
    note: str | None = Field(default=None, max_length=500)


class RejectIn(Strict):
    reason: str = Field(min_length=2, max_length=500)


class ObservationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    price_date: date
    published_at: datetime | None
    price_low_fen_per_t: int | None
    price_mid_fen_per_t: int
    price_high_fen_per_t: int | None
    raw_value: str
    raw_unit: str
    origin: PriceOrigin
    status: ObservationStatus
    entered_by_user_id: int | None
    entered_at: datetime
    approved_by_user_id: int | None
    approved_at: datetime | None
    rejected_by_user_id: int | None
    rejected_at: datetime | None
    rejection_reason: str | None
    raw_payload_sha256: str
    is_outlier: bool
    outlier_reason: str | None
    outlier_confirmed: bool
    note: str | None


class ImportOut(BaseModel):
    series_codes: list[str]
    observations: list[ObservationOut]
    outliers: int
    approved: int
    pending: int


class StaleSeriesOut(BaseModel):
    series: SeriesOut
    latest_price_date: date | None
    business_days_old: int | None
    limit_business_days: int


class PriceUsedOut(BaseModel):
    series_id: int
    series_code: str
    commodity_id: int
    observation_id: int
    price_date: date
    price_fen_per_t: int
    mid_fen_per_t: int
    average_fen_per_t: int | None
    observation_ids: list[int]
    stale: bool
    business_days_old: int
