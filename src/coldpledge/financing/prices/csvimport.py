"""Importing prices from a CSV file: every row checked, all stored or none.

The file is UTF-8 (a byte-order mark is allowed), comma-separated, with a header naming at least
``series`` and ``price_date`` and one of ``mid`` or ``low``+``high``; ``unit``, ``published_at`` and
``note`` are optional. ``series`` is our series code. Prices are decimal texts in ``unit`` (or the
series' unit). Rows are numbered as a spreadsheet shows them: the header is row 1.

Imported prices wait for approval by someone other than the importer, as entered ones do: a file
is as easy to get wrong as a form, and the four-eyes rule is the same whatever the channel.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from coldpledge.calendar import business_date
from coldpledge.errors import N_, Conflict, DomainError, InvalidInput
from coldpledge.financing.prices import checks
from coldpledge.financing.prices.models import PriceObservation, PriceOrigin, PriceSeries, PriceUnit
from coldpledge.financing.prices.service import Entry, add, check_entry, entry_of
from coldpledge.i18n import gettext
from coldpledge.parties.access import require, restrict
from coldpledge.parties.policy import Principal
from coldpledge.uow import UnitOfWork

COLUMNS = ("series", "price_date", "unit", "low", "mid", "high", "published_at", "note")
MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
# The row errors an answer lists; a file with more is wrong throughout and the first ones say how.
MAX_REPORTED = 100


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        translated = gettext(self.message)
        return translated.format(**self.params) if self.params else translated


class ImportRejected(InvalidInput):
    """Some rows are wrong: nothing of the file was stored; the answer lists the rows to fix."""

    code = "price_import_rejected"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(
            N_("Nothing was imported: {count} rows have errors. Fix them and send the whole file again."),
            count=len(errors),
        )
        self.errors = errors

    def extra(self) -> dict[str, Any]:
        return {
            "rows": [
                {"row": error.row, "field": error.column, "message": error.text()}
                for error in self.errors[:MAX_REPORTED]
            ]
        }


@dataclass(frozen=True)
class Row:
    """One data row as text, with its number in the file."""

    number: int
    cells: dict[str, str | None]

    def get(self, name: str) -> str | None:
        return self.cells.get(name)


def read_rows(content: bytes) -> tuple[list[Row], list[RowError]]:
    """The rows of a CSV file, or what makes the file as a whole unreadable."""
    if len(content) > MAX_BYTES:
        return [], [RowError(0, None, N_("The file is larger than {limit} bytes."), {"limit": MAX_BYTES})]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [RowError(0, None, N_("The file is not UTF-8 text."))]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in ("series", "price_date") if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        return [], [
            RowError(
                1,
                None,
                N_("The header needs the columns series and price_date and knows only {columns}."),
                {"columns": ", ".join(COLUMNS)},
            )
        ]
    reader.fieldnames = header
    rows: list[Row] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            return [], [RowError(number, None, N_("A file holds at most {limit} rows."), {"limit": MAX_ROWS})]
        if None in record:
            return [], [RowError(number, None, N_("The row has more cells than the header."))]
        cells = {
            name: (value.strip() or None) if isinstance(value, str) else None
            for name, value in record.items()
        }
        if any(cells.values()):
            rows.append(Row(number, cells))
    return rows, []


def parse_date(text: str | None, name: str) -> date:
    if text is None:
        raise InvalidInput(N_("The {name} is missing."), field=name, name=name)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("“{raw}” is not a date like 2026-12-01."), field=name, raw=text) from None


def parse_moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            N_("“{raw}” is not a time with its zone, like 2026-12-01T14:00:00+08:00."), field=name, raw=text
        )
    return moment


def parse_unit(text: str | None) -> PriceUnit | None:
    if text is None:
        return None
    unit = checks.UNIT_ALIASES.get(text.replace(" ", ""))
    if unit is None:
        raise InvalidInput(N_("“{raw}” is not a price unit; use CNY/kg or CNY/t."), field="unit", raw=text)
    return unit


def entry_from_row(row: Row, series: PriceSeries) -> Entry:
    return entry_of(
        series,
        parse_date(row.get("price_date"), "price_date"),
        parse_unit(row.get("unit")),
        row.get("low"),
        row.get("mid"),
        row.get("high"),
        payload=row.cells,
        published_at=parse_moment(row.get("published_at"), "published_at"),
        note=row.get("note"),
    )


@dataclass(frozen=True)
class ImportResult:
    observations: list[PriceObservation]
    series_codes: list[str]
    file_sha256: str


def import_csv(uow: UnitOfWork, principal: Principal, content: bytes) -> ImportResult:
    """Store every row of the file as a price awaiting approval, or none (``ImportRejected``)."""
    require(principal, "price:import")
    rows, errors = read_rows(content)
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise InvalidInput(N_("The file has no rows of prices."))
    file_sha256 = hashlib.sha256(content).hexdigest()
    with uow:
        codes = {code for row in rows if (code := row.get("series")) is not None}
        known = {
            series.code: series
            for series in uow.session.scalars(
                restrict(principal, "view", PriceSeries).where(PriceSeries.code.in_(codes))
            )
        }
        today = business_date(uow.now())
        entries: list[Entry] = []
        seen: dict[tuple[int, date], int] = {}
        for row in rows:
            code = row.get("series")
            series = known.get(code or "")
            if series is None:
                errors.append(
                    RowError(row.number, "series", N_("There is no price series “{code}”."), {"code": code})
                )
                continue
            try:
                entry = entry_from_row(row, series)
                check_entry(uow.session, entry, today)
            except (InvalidInput, Conflict) as error:
                errors.append(_row_error(row.number, error))
                continue
            key = (series.id, entry.price_date)
            if key in seen:
                errors.append(
                    RowError(
                        row.number,
                        "price_date",
                        N_("Row {other} has a price of the same series and date."),
                        {"other": seen[key]},
                    )
                )
                continue
            seen[key] = row.number
            entries.append(entry)
        if errors:
            raise ImportRejected(errors)
        observations = [
            add(uow, principal, entry, PriceOrigin.CSV, data={"file_sha256": file_sha256})
            for entry in entries
        ]
        uow.commit()
        return ImportResult(observations, sorted(codes), file_sha256)


def _row_error(number: int, error: DomainError) -> RowError:
    return RowError(number, error.field, error.message, dict(error.params))
