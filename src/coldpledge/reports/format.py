"""How a report writes its figures, the same in the PDF and in the Excel sheets' formats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from coldpledge.calendar import BUSINESS_TZ

# Excel number formats: yuan with two decimals, kilograms with three, ratios in per cent.
YUAN_FORMAT = "#,##0.00"
KG_FORMAT = "#,##0.000"
PERCENT_FORMAT = "0.00%"
CELSIUS_FORMAT = "0.0"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def yuan_value(fen: int) -> Decimal:
    """Integer fen as exact yuan (two decimals)."""
    return Decimal(fen).scaleb(-2)


def kg_value(grams: int) -> Decimal:
    """Integer grams as exact kilograms (three decimals)."""
    return Decimal(grams).scaleb(-3)


def ratio_value(bp: int) -> Decimal:
    """Basis points as a fraction (8123 bp -> 0.8123), for a per-cent cell."""
    return Decimal(bp).scaleb(-4)


def yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def kg(grams: int | None) -> str:
    if grams is None:
        return "—"
    sign = "-" if grams < 0 else ""
    whole, rest = divmod(abs(grams), 1000)
    return f"{sign}{whole:,}.{rest:03d}"


def percent(bp: int | None) -> str:
    if bp is None:
        return "—"
    whole, rest = divmod(bp, 100)
    return f"{whole}.{rest:02d}%"


def celsius(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Stored in UTC, shown on the warehouses' clock (China Standard Time)."""
    return "—" if value is None else value.astimezone(BUSINESS_TZ).strftime(fmt)


def local_naive(value: datetime | None) -> datetime | None:
    """For a spreadsheet cell, which holds no time zone: the local wall-clock time."""
    return None if value is None else value.astimezone(BUSINESS_TZ).replace(tzinfo=None)
