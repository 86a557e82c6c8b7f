"""External price feeds behind one small interface, and the import of what they bring.

A feed names its quotes by the source's own series ids (``PriceSeries.source_series_id``).
``DirectoryFeed`` reads the files a vendor drops in a directory: CSV with the columns of a price
import (``series`` being the source's series id) or JSON (a list of objects with the same keys).

Importing a feed is repeatable: a quote the series has already, with the same content, is skipped;
one that differs from the stored price of its date is reported, never written over (correcting a
price is a person's decision). A bad quote is reported and skipped, unlike a person's CSV import:
one wrong line from a vendor must not hold back the day's other prices. Each quote is stored in a
savepoint of its own, so two importers running at once store it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coldpledge.calendar import business_date
from coldpledge.errors import N_, Conflict, DomainError, InvalidInput
from coldpledge.financing.prices.csvimport import parse_date, parse_moment, parse_unit, read_rows
from coldpledge.financing.prices.models import PriceOrigin, PriceSeries, PriceUnit
from coldpledge.financing.prices.service import FEED, add, check_entry, entry_of, live_observation
from coldpledge.uow import UnitOfWork, conflict_from


@dataclass(frozen=True)
class FeedQuote:
    """One quote as the source sent it: texts, parsed when imported."""

    source_series_id: str
    price_date: date
    unit: PriceUnit | None
    low: str | None
    mid: str | None
    high: str | None
    published_at: datetime | None
    payload: dict[str, Any]  # the record as received, hashed into raw_payload_sha256
    origin: str  # where it came from, e.g. "moa-2026-12-01.csv row 3"


class PriceFeed(Protocol):
    """A source of quotes. ``source`` matches ``PriceSeries.source``; ``problems`` tells, after a
    ``fetch``, what the source sent that could not be read."""

    source: str
    problems: list[str]

    def fetch(self, since: date) -> list[FeedQuote]:
        """Quotes with ``price_date`` on or after ``since``."""
        ...


@dataclass
class DirectoryFeed:
    """The files a vendor drops in ``directory`` (``*.csv``, ``*.json``), read in name order.
    ``problems`` lists the records that could not be read, after each ``fetch``."""

    source: str
    directory: Path
    problems: list[str] = field(default_factory=list)

    def fetch(self, since: date) -> list[FeedQuote]:
        self.problems = []
        quotes: list[FeedQuote] = []
        for path in sorted(self.directory.iterdir()):
            if path.suffix.lower() == ".csv":
                records = self._csv(path)
            elif path.suffix.lower() == ".json":
                records = self._json(path)
            else:
                continue
            for origin, record in records:
                try:
                    quote = _quote(record, origin)
                except DomainError as error:
                    self.problems.append(f"{origin}: {error}")
                    continue
                if quote.price_date >= since:
                    quotes.append(quote)
        return quotes

    def _csv(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        rows, errors = read_rows(path.read_bytes())
        self.problems.extend(f"{path.name} row {error.row}: {error.text()}" for error in errors)
        return [(f"{path.name} row {row.number}", row.cells) for row in rows]

    def _json(self, path: Path) -> list[tuple[str, dict[str, Any]]]:
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as error:
            self.problems.append(f"{path.name}: not JSON ({error})")
            return []
        if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
            self.problems.append(f"{path.name}: expected a list of quotes")
            return []
        return [(f"{path.name} item {index}", item) for index, item in enumerate(document, start=1)]


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        # A JSON float is not exact: a vendor sends prices as text, or whole numbers.
        raise InvalidInput(N_('The {name} must be text, like "24.63".'), field=key, name=key)
    return str(value).strip()


def _quote(record: dict[str, Any], origin: str) -> FeedQuote:
    series = _text(record, "series")
    if series is None:
        raise InvalidInput(N_("The series is missing."), field="series")
    return FeedQuote(
        source_series_id=series,
        price_date=parse_date(_text(record, "price_date"), "price_date"),
        unit=parse_unit(_text(record, "unit")),
        low=_text(record, "low"),
        mid=_text(record, "mid"),
        high=_text(record, "high"),
        published_at=parse_moment(_text(record, "published_at"), "published_at"),
        payload=record,
        origin=origin,
    )


@dataclass
class FeedReport:
    stored: list[int] = field(default_factory=list)  # observation ids
    approved: int = 0
    outliers: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def import_feed(uow: UnitOfWork, feed: PriceFeed, since: date) -> FeedReport:
    """Store the feed's new quotes since ``since`` (see the module's docstring)."""
    quotes = feed.fetch(since)
    report = FeedReport(problems=list(feed.problems))
    with uow:
        series_by_id = {
            series.source_series_id: series
            for series in uow.session.scalars(select(PriceSeries).where(PriceSeries.source == feed.source))
        }
        today = business_date(uow.now())
        for quote in quotes:
            series = series_by_id.get(quote.source_series_id)
            if series is None:
                report.problems.append(f"{quote.origin}: no series {quote.source_series_id} of {feed.source}")
                continue
            try:
                entry = entry_of(
                    series,
                    quote.price_date,
                    quote.unit,
                    quote.low,
                    quote.mid,
                    quote.high,
                    payload=quote.payload,
                    published_at=quote.published_at,
                )
                existing = live_observation(uow.session, series.id, quote.price_date)
                if existing is not None:
                    if existing.raw_payload_sha256 == entry.payload_sha256:
                        report.unchanged += 1
                    else:
                        report.problems.append(
                            f"{quote.origin}: {series.code} has another price for {quote.price_date}; kept it"
                        )
                    continue
                check_entry(uow.session, entry, today)
                with uow.savepoint():
                    observation = add(uow, FEED, entry, PriceOrigin.FEED, approve=series.feed_trusted)
            except (InvalidInput, Conflict) as error:
                report.problems.append(f"{quote.origin}: {error}")
                continue
            except IntegrityError as error:
                # Another importer stored the same date in the meantime.
                report.problems.append(f"{quote.origin}: {conflict_from(error)}")
                continue
            report.stored.append(observation.id)
            report.approved += observation.approved_at is not None
            report.outliers += observation.is_outlier
        uow.commit()
    return report
