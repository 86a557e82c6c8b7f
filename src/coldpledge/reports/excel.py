"""Reports as Excel workbooks (openpyxl): one sheet per section, figures as numbers.

Money is written as exact yuan from integer fen with a two-decimal format, weights as kilograms
from integer grams with three, ratios as fractions with a per-cent format: a bank can sum and
chart them without parsing text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from coldpledge.i18n import gettext
from coldpledge.reports import format as fmt
from coldpledge.reports.model import (
    AlertLine,
    DailyReport,
    PortfolioReport,
    SealLine,
    WorkOrderLine,
)

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOLD = Font(bold=True)


@dataclass(frozen=True)
class Column:
    title: str
    number_format: str | None = None
    width: int = 14


def _sheet(book: Workbook, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> Worksheet:
    # A sheet's name may not hold []:*?/\ and is at most 31 characters.
    name = "".join(" " if char in "[]:*?/\\" else char for char in title)[:31]
    sheet: Worksheet = book.create_sheet(name)
    sheet.append([column.title for column in columns])
    for cell in sheet[1]:
        cell.font = BOLD
    for row in rows:
        sheet.append(list(row))
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.number_format is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = column.number_format
    sheet.freeze_panes = "A2"
    return sheet


def _save(book: Workbook) -> bytes:
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _new_book() -> Workbook:
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    return book


def _yuan(fen: int | None) -> Any:
    return None if fen is None else fmt.yuan_value(fen)


def _kg(grams: int | None) -> Any:
    return None if grams is None else fmt.kg_value(grams)


def _ratio(bp: int | None) -> Any:
    return None if bp is None else fmt.ratio_value(bp)


TIME = Column("", fmt.DATETIME_FORMAT, 17)


def _time(title: str) -> Column:
    return Column(title, TIME.number_format, TIME.width)


# --- daily supervision report -----------------------------------------------------------------


def daily_xlsx(report: DailyReport) -> bytes:
    book = _new_book()
    _sheet(
        book,
        gettext("Summary"),
        [Column(gettext("Item"), width=28), Column(gettext("Value"), width=40)],
        [
            (gettext("Warehouse"), f"{report.warehouse_code} {report.warehouse_name}"),
            (gettext("Business date"), report.business_date),
            (gettext("Generated at"), fmt.local_naive(report.generated_at)),
            (gettext("Alerts raised"), len(report.alerts_raised)),
            (gettext("Alerts resolved"), len(report.alerts_resolved)),
            (gettext("Work orders opened"), len(report.work_orders_opened)),
            (gettext("Work orders closed"), len(report.work_orders_closed)),
            (gettext("Work orders overdue"), len(report.work_orders_overdue)),
            (gettext("Operations"), len(report.operations)),
        ],
    ).cell(row=3, column=2).number_format = "yyyy-mm-dd"
    celsius = fmt.CELSIUS_FORMAT
    _sheet(
        book,
        gettext("Rooms"),
        [
            Column(gettext("Room")),
            Column(gettext("Name"), width=24),
            Column(gettext("Band low (°C)"), celsius),
            Column(gettext("Band high (°C)"), celsius),
            Column(gettext("Min (°C)"), celsius),
            Column(gettext("Max (°C)"), celsius),
            Column(gettext("Mean (°C)"), celsius),
            Column(gettext("Out of band (min)"), "0"),
            Column(gettext("MKT (°C)"), "0.00"),
            Column(gettext("Readings received"), fmt.PERCENT_FORMAT),
            Column(gettext("Probes"), "0"),
        ],
        [
            (
                room.code,
                room.name,
                room.band_low_c,
                room.band_high_c,
                room.min_c,
                room.max_c,
                room.mean_c,
                room.out_of_band_minutes,
                room.mkt_c,
                room.completeness,
                room.devices,
            )
            for room in report.rooms
        ],
    )
    _alerts(book, gettext("Alerts raised"), report.alerts_raised)
    _alerts(book, gettext("Alerts resolved"), report.alerts_resolved)
    orders = [
        *[(gettext("Opened"), order) for order in report.work_orders_opened],
        *[(gettext("Closed"), order) for order in report.work_orders_closed],
        *[(gettext("Overdue"), order) for order in report.work_orders_overdue],
    ]
    _work_orders(book, orders)
    _sheet(
        book,
        gettext("Operations"),
        [
            Column(gettext("Operation")),
            Column(gettext("Count"), "0"),
            Column(gettext("Net weight (kg)"), fmt.KG_FORMAT, 18),
            Column(gettext("Cartons"), "#,##0"),
        ],
        [
            (total.kind_label, total.count, _kg(total.net_g), total.cartons)
            for total in report.operation_totals
        ],
    )
    _sheet(
        book,
        gettext("Operation log"),
        [
            Column("#", "0", 8),
            _time(gettext("Time")),
            Column(gettext("Operation")),
            Column(gettext("Lot"), width=22),
            Column(gettext("Room")),
            Column(gettext("Net weight (kg)"), fmt.KG_FORMAT, 18),
            Column(gettext("Cartons"), "#,##0"),
            Column(gettext("Weigh ticket"), width=18),
        ],
        [
            (
                line.id,
                fmt.local_naive(line.performed_at),
                line.kind_label,
                line.lot,
                line.room,
                _kg(line.net_g),
                line.cartons,
                line.weigh_ticket_no,
            )
            for line in report.operations
        ],
    )
    seals = [
        *[(gettext("Applied"), seal) for seal in report.seals_applied],
        *[(gettext("Removed"), seal) for seal in report.seals_removed],
        *[(gettext("In place"), seal) for seal in report.seals_in_place],
    ]
    _seals(book, seals)
    checkpoint = report.checkpoint
    _sheet(
        book,
        gettext("Evidence log"),
        [Column(gettext("Item"), width=24), Column(gettext("Value"), width=70)],
        []
        if checkpoint is None
        else [
            (gettext("Log"), checkpoint.origin),
            (gettext("Tree size"), checkpoint.tree_size),
            (gettext("Root hash"), checkpoint.root_hash),
            (gettext("Signed by"), checkpoint.key_name),
            (gettext("Key ID"), checkpoint.key_id),
            (gettext("Signed at"), fmt.local_time(checkpoint.signed_at, "%Y-%m-%d %H:%M:%S")),
            (gettext("Witness cosignatures"), checkpoint.cosignatures),
        ],
    )
    return _save(book)


def _alerts(book: Workbook, title: str, rows: Sequence[AlertLine]) -> None:
    _sheet(
        book,
        title,
        [
            Column("#", "0", 8),
            _time(gettext("Raised at")),
            _time(gettext("Resolved at")),
            Column(gettext("Room")),
            Column(gettext("Rule"), width=22),
            Column(gettext("Severity")),
            Column(gettext("Status")),
            Column(gettext("Detail"), width=50),
        ],
        [
            (
                alert.id,
                fmt.local_naive(alert.triggered_at),
                fmt.local_naive(alert.resolved_at),
                alert.room,
                alert.rule,
                alert.severity,
                alert.status,
                alert.detail,
            )
            for alert in rows
        ],
    )


def _work_orders(book: Workbook, rows: Sequence[tuple[str, WorkOrderLine]]) -> None:
    _sheet(
        book,
        gettext("Work orders"),
        [
            Column(gettext("Section")),
            Column("#", "0", 8),
            Column(gettext("Title"), width=36),
            Column(gettext("Room")),
            Column(gettext("Severity")),
            Column(gettext("Status")),
            _time(gettext("Opened at")),
            _time(gettext("Resolve by")),
            _time(gettext("Closed at")),
        ],
        [
            (
                section,
                order.id,
                order.title,
                order.room,
                order.severity,
                order.status,
                fmt.local_naive(order.opened_at),
                fmt.local_naive(order.resolve_by),
                fmt.local_naive(order.finished_at),
            )
            for section, order in rows
        ],
    )


def _seals(book: Workbook, rows: Sequence[tuple[str, SealLine]]) -> None:
    _sheet(
        book,
        gettext("Seals"),
        [
            Column(gettext("Section")),
            Column(gettext("Seal number"), width=18),
            Column(gettext("On"), width=22),
            _time(gettext("Sealed at")),
            _time(gettext("Removed at")),
            Column(gettext("Reason for removal"), width=36),
        ],
        [
            (
                section,
                seal.number,
                seal.target,
                fmt.local_naive(seal.sealed_at),
                fmt.local_naive(seal.removed_at),
                seal.removal_reason,
            )
            for section, seal in rows
        ],
    )


# --- portfolio report -------------------------------------------------------------------------


def portfolio_xlsx(report: PortfolioReport) -> bytes:
    book = _new_book()
    totals = report.totals
    yuan = fmt.YUAN_FORMAT
    rows: list[tuple[Any, ...]] = [
        (
            line.code,
            line.borrower,
            line.status,
            line.risk_state,
            _yuan(line.limit_fen),
            _yuan(line.exposure_fen),
            _yuan(line.collateral_value_fen),
            _ratio(line.ltv_bp),
            line.valued_on,
            line.open_margin_calls,
        )
        for line in report.facilities
    ]
    rows.append(
        (
            gettext("Total"),
            None,
            None,
            None,
            _yuan(totals.limit_fen),
            _yuan(totals.exposure_fen),
            _yuan(totals.collateral_value_fen),
            _ratio(totals.ltv_bp),
            None,
            totals.open_margin_calls,
        )
    )
    sheet = _sheet(
        book,
        gettext("Facilities"),
        [
            Column(gettext("Facility"), width=18),
            Column(gettext("Borrower"), width=28),
            Column(gettext("Status")),
            Column(gettext("Risk state")),
            Column(gettext("Limit (CNY)"), yuan, 18),
            Column(gettext("Exposure (CNY)"), yuan, 18),
            Column(gettext("Collateral value (CNY)"), yuan, 20),
            Column(gettext("LTV"), fmt.PERCENT_FORMAT, 10),
            Column(gettext("Valued on"), "yyyy-mm-dd", 12),
            Column(gettext("Open margin calls"), "0", 12),
        ],
        rows,
    )
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
    _sheet(
        book,
        gettext("Summary"),
        [Column(gettext("Item"), width=28), Column(gettext("Value"), width=24)],
        [
            (gettext("Bank"), report.bank_name),
            (gettext("As of business date"), report.business_date),
            (gettext("Facilities"), totals.facilities),
            (gettext("Limit (CNY)"), _yuan(totals.limit_fen)),
            (gettext("Exposure (CNY)"), _yuan(totals.exposure_fen)),
            (gettext("Collateral value (CNY)"), _yuan(totals.collateral_value_fen)),
            (gettext("LTV"), _ratio(totals.ltv_bp)),
            (gettext("Open margin calls"), totals.open_margin_calls),
            *[(state, count) for state, count in totals.risk_states.items()],
        ],
    )
    summary = book[book.sheetnames[-1]]
    summary["B3"].number_format = "yyyy-mm-dd"
    for cell in ("B5", "B6", "B7"):
        summary[cell].number_format = yuan
    summary["B8"].number_format = fmt.PERCENT_FORMAT
    return _save(book)
