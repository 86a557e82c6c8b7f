"""Day count: how many days of interest a period holds, and the days of the year they divide by.

Chinese RMB loans count the first day and not the last (算头不算尾): a loan drawn on 1 March and
repaid on 31 March bears 30 days of interest. The basis is stored with the facility, never a daily
rate derived from it.
"""

from __future__ import annotations

from datetime import date

from coldpledge.choices import Choice, present
from coldpledge.errors import N_


@present({"act_360": N_("Actual/360"), "act_365": N_("Actual/365")})
class DayCount(Choice):
    ACT_360 = "act_360"
    ACT_365 = "act_365"

    @property
    def basis_days(self) -> int:
        """The days of the year an annual rate is divided by."""
        return 360 if self is DayCount.ACT_360 else 365


def days_between(start: date, end: date) -> int:
    """Days of interest from ``start`` to ``end``: the first day counted, the last not."""
    if end < start:
        raise ValueError(f"a period cannot end ({end}) before it starts ({start})")
    return (end - start).days
