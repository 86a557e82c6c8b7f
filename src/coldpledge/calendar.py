"""Business dates. Times are stored in UTC, but a storage period or an expiry date is a date on
the calendar of the warehouse: China Standard Time, where midnight is 16:00 UTC."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def business_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError("business_date needs an aware datetime")
    return moment.astimezone(BUSINESS_TZ).date()
