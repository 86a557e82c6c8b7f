"""The reports' pure core: totals, figures from fen and grams, quiet days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from coldpledge.reports import builders
from coldpledge.reports import format as fmt
from coldpledge.reports.model import FacilityLine, OperationLine, SealLine, WorkOrderLine

START, END = builders.business_day(date(2026, 11, 29))


def operation(kind: str, net_g: int | None, cartons: int | None = None) -> OperationLine:
    return OperationLine(1, kind, kind, "L-1", "YS-F18", START, net_g, cartons, "")


def facility(
    limit: int, exposure: int | None, value: int | None, calls: int = 0, risk: str = "正常"
) -> FacilityLine:
    ltv = builders.ltv_bp(exposure, value) if exposure is not None and value is not None else None
    return FacilityLine("F-1", "Carol", "active", risk, limit, exposure, value, ltv, None, calls)


def test_the_business_day_runs_from_midnight_to_midnight_in_shanghai() -> None:
    assert datetime(2026, 11, 28, 16, 0, tzinfo=UTC) == START
    assert timedelta(days=1) == END - START


def test_a_quiet_day_still_lists_the_main_operations_with_zeros() -> None:
    totals = builders.operation_totals([], str)
    assert [(t.kind, t.count, t.net_g, t.cartons) for t in totals] == [
        ("inbound", 0, 0, 0),
        ("outbound", 0, 0, 0),
        ("weigh", 0, 0, 0),
        ("stocktake", 0, 0, 0),
    ]


def test_operations_sum_by_kind_and_other_kinds_follow() -> None:
    totals = builders.operation_totals(
        [operation("weigh", 10_000_500, 500), operation("weigh", 1, 1), operation("seal", None)], str.upper
    )
    by_kind = {t.kind: t for t in totals}
    assert (by_kind["weigh"].count, by_kind["weigh"].net_g, by_kind["weigh"].cartons) == (2, 10_000_501, 501)
    assert by_kind["seal"].count == 1
    assert by_kind["seal"].kind_label == "SEAL"
    assert totals[-1].kind == "seal"


def test_money_and_weights_are_exact_from_fen_and_grams() -> None:
    assert fmt.yuan_value(123_456_789) == Decimal("1234567.89")
    assert fmt.yuan(-5) == "-0.05"
    assert fmt.yuan(100_000_000) == "1,000,000.00"
    assert fmt.kg_value(1_234_567) == Decimal("1234.567")
    assert fmt.kg(999) == "0.999"
    assert fmt.percent(8125) == "81.25%"
    assert fmt.ratio_value(8125) == Decimal("0.8125")


def test_portfolio_totals_take_ltv_over_the_sums_never_an_average() -> None:
    lines = [
        facility(10_000_00, 600_00, 1_000_00, calls=1),
        facility(5_000_00, 300_00, 300_00, risk="追加保证金"),
    ]
    totals = builders.portfolio_totals(lines)
    assert totals.limit_fen == 15_000_00
    assert totals.exposure_fen == 900_00
    assert totals.collateral_value_fen == 1_300_00
    assert totals.ltv_bp == 900_00 * 10_000 // 1_300_00  # 6923, not the mean of 6000 and 10000
    assert totals.open_margin_calls == 1
    assert totals.risk_states == {"正常": 1, "追加保证金": 1}


def test_an_empty_portfolio_has_no_ltv_and_an_unvalued_facility_counts_for_its_limit() -> None:
    assert builders.portfolio_totals([]).ltv_bp is None
    totals = builders.portfolio_totals([facility(1_000, None, None)])
    assert (totals.facilities, totals.limit_fen, totals.exposure_fen, totals.ltv_bp) == (1, 1_000, 0, None)


def order(opened: datetime, resolve_by: datetime, finished: datetime | None) -> WorkOrderLine:
    return WorkOrderLine(
        1, "t", "major", "open", "YS-F18", opened, resolve_by, finished, finished is not None
    )


def test_work_orders_fall_into_opened_closed_and_overdue() -> None:
    hour = timedelta(hours=1)
    before = START - 5 * hour
    late = order(before, START + hour, None)  # overdue at the day's end
    done = order(before, START + hour, START + 2 * hour)  # finished in the day, not overdue
    fresh = order(START + hour, END + hour, None)  # opened in the day, due tomorrow
    opened, finished, overdue = builders.work_order_sections([late, done, fresh], START, END, END)
    assert opened == [fresh]
    assert finished == [done]
    assert overdue == [late]
    # Seen at noon, the late one is already late; the one due tomorrow is not.
    assert builders.work_order_sections([late, fresh], START, END, START + 12 * hour)[2] == [late]


def test_seals_applied_removed_and_in_place_at_the_day_s_end() -> None:
    hour = timedelta(hours=1)
    kept = SealLine("S-1", "YS-F18", START - hour, None, "")
    applied = SealLine("S-2", "L-1", START + hour, None, "")
    broken = SealLine("S-3", "L-2", START - hour, START + 2 * hour, "出库")
    later = SealLine("S-4", "L-3", START - hour, END + hour, "")
    applied_, removed, in_place = builders.seal_sections([kept, applied, broken, later], START, END)
    assert applied_ == [applied]
    assert removed == [broken]
    assert in_place == [kept, applied, later]
