"""Price series (one source's quote for one commodity, spec and market) and their observations.

Prices are stored normalised to integer fen per tonne (CNY/kg × 100,000; CNY/t × 100), beside the
value and unit as received. An observation is used for valuation only once approved by a second
person (four eyes, a CHECK in the database); at most one non-rejected observation per series and
date (a partial unique index), so a correction is a rejection followed by a new entry.
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
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.choices import Choice, present
from coldpledge.db import Base, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.inventory.models import Commodity


@present({"CNY/kg": N_("CNY per kilogram"), "CNY/t": N_("CNY per tonne")})
class PriceUnit(Choice):
    CNY_PER_KG = "CNY/kg"
    CNY_PER_T = "CNY/t"


@present({"daily": N_("Daily"), "weekly": N_("Weekly")})
class PriceFrequency(Choice):
    DAILY = "daily"
    WEEKLY = "weekly"


@present({"manual": N_("Manual entry"), "csv": N_("CSV import"), "feed": N_("Vendor feed")})
class PriceOrigin(Choice):
    MANUAL = "manual"
    CSV = "csv"
    FEED = "feed"


@present(
    {"pending": N_("Awaiting approval"), "approved": N_("Approved"), "rejected": N_("Rejected")},
    {"pending": "cyan", "approved": "green", "rejected": "red"},
)
class ObservationStatus(Choice):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


PRIMARY_SERIES_SQL = "is_primary AND active"
LIVE_OBSERVATION_SQL = "status <> 'rejected'"


class PriceSeries(Base):
    """One quoted price over time: a source's series for a commodity, spec and market."""

    __tablename__ = "price_series"
    __permission__ = "price"
    __label__ = N_("price series")
    __subject_type__ = "price_series"
    __table_args__ = (
        UniqueConstraint("source", "source_series_id"),
        CheckConstraint("stale_after_business_days > 0", name="stale_after_positive"),
        CheckConstraint(
            "average_days IS NULL OR (average_days >= 2 AND average_days <= 60)", name="average_days_range"
        ),
        # Valuation of a commodity follows its one primary series.
        Index(
            "uq_price_series_one_primary_per_commodity",
            "commodity_id",
            unique=True,
            sqlite_where=text(PRIMARY_SERIES_SQL),
            postgresql_where=text(PRIMARY_SERIES_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    commodity_id: Mapped[int] = mapped_column(ForeignKey("commodities.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))  # e.g. "moa_daily", "sci99"
    source_series_id: Mapped[str] = mapped_column(String(100))  # the source's own name for it
    market_region: Mapped[str] = mapped_column(String(100))
    spec: Mapped[str] = mapped_column(String(200))
    unit: Mapped[PriceUnit] = mapped_column(choice_column(PriceUnit, "price_unit"))
    frequency: Mapped[PriceFrequency] = mapped_column(
        choice_column(PriceFrequency, "price_frequency"), default=PriceFrequency.DAILY
    )
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Quotes from a vendor feed of this series count as approved unless they are outliers.
    feed_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    stale_after_business_days: Mapped[int] = mapped_column(Integer, default=3)
    # When set, valuation takes the lower of the day's mid and the mean of this many observations.
    average_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    commodity: Mapped[Commodity] = relationship()

    @property
    def subject_ref(self) -> str:
        return f"price_series:{self.code}"


class PriceObservation(Base):
    """One published price of a series on one date, as received and normalised to fen per tonne."""

    __tablename__ = "price_observations"
    __permission__ = "price"
    __label__ = N_("price observation")
    __subject_type__ = "price_observation"
    __table_args__ = (
        CheckConstraint("price_mid_fen_per_t > 0", name="mid_positive"),
        CheckConstraint(
            "price_low_fen_per_t IS NULL "
            "OR (price_low_fen_per_t > 0 AND price_low_fen_per_t <= price_mid_fen_per_t)",
            name="low_not_above_mid",
        ),
        CheckConstraint(
            "price_high_fen_per_t IS NULL OR price_high_fen_per_t >= price_mid_fen_per_t",
            name="high_not_below_mid",
        ),
        CheckConstraint(
            "approved_by_user_id IS NULL OR entered_by_user_id IS NULL "
            "OR approved_by_user_id <> entered_by_user_id",
            name="four_eyes",
        ),
        CheckConstraint("status <> 'approved' OR approved_at IS NOT NULL", name="approved_has_time"),
        Index(
            "uq_price_observations_one_live_per_date",
            "series_id",
            "price_date",
            unique=True,
            sqlite_where=text(LIVE_OBSERVATION_SQL),
            postgresql_where=text(LIVE_OBSERVATION_SQL),
        ),
        Index("ix_price_observations_series_status_date", "series_id", "status", "price_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("price_series.id"))
    price_date: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    price_low_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    price_high_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    price_mid_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    raw_value: Mapped[str] = mapped_column(String(100))  # as received, e.g. "24.63" or "24.10/25.30"
    raw_unit: Mapped[str] = mapped_column(String(16))
    origin: Mapped[PriceOrigin] = mapped_column(choice_column(PriceOrigin, "price_origin"))
    status: Mapped[ObservationStatus] = mapped_column(
        choice_column(ObservationStatus, "price_observation_status"), default=ObservationStatus.PENDING
    )
    entered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a feed
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejected_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    raw_payload_sha256: Mapped[str] = mapped_column(String(64))
    is_outlier: Mapped[bool] = mapped_column(Boolean, default=False)
    outlier_reason: Mapped[str | None] = mapped_column(Text)
    # The approver's explicit word that an outlier is a true price.
    outlier_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    series: Mapped[PriceSeries] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own convention

    @property
    def subject_ref(self) -> str:
        return f"price_observation:{self.id}"
