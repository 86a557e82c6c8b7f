"""The daily mark-to-market: each facility valued line by line at the day's prices, once per
business date, its risk state moved with the alerts that go with it, and held when a price is
missing rather than sent to liquidation."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from sqlalchemy import select

from coldpledge.calendar import BUSINESS_TZ
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import InvalidInput
from coldpledge.financing import collateral_links
from coldpledge.financing.marktomarket import mark_due
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import LineStatus, Valuation, ValuationKind, ValuationLine
from coldpledge.financing.risk import RiskReason, RiskState
from coldpledge.financing.schemas import CollateralAttachIn
from coldpledge.financing.valuation import value_facility
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import UnsealIn
from coldpledge.notify.models import InboxItem
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import SplitIn, SplitPart
from tests.financing import price
from tests.marking import (
    DRAWN_FEN,
    alerts,
    business_day,
    daily,
    drawn_facility,
    facility,
    lines,
    mark,
    valuations,
)
from tests.support import today
from tests.world import World, pledge

if TYPE_CHECKING:
    from tests.conftest import TestDB


def test_a_facility_within_its_pledge_rate_is_marked_normal_with_the_prices_it_used(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)

    run = mark(db.uow)

    valuation = daily(db.uow, facility_id)
    assert run.valued >= 1
    assert (valuation.exposure_fen, valuation.collateral_value_fen, valuation.ltv_bp) == (
        DRAWN_FEN,
        60_000_000,
        6500,
    )
    assert (valuation.risk_before, valuation.risk_after, valuation.risk_reason) == (
        RiskState.NORMAL,
        RiskState.NORMAL,
        RiskReason.UNCHANGED,
    )
    (line,) = lines(db.uow, valuation.id)
    assert line.receipt_id == world.receipts["pledged"]
    assert (line.status, line.quantity_g, line.price_fen_per_t) == (LineStatus.COUNTED, 30_000_000, 2_000_000)
    assert line.price_date == business_day(-1)
    assert line.observation_ids == [line.price_observation_id]
    assert line.value_fen == line.market_value_fen == 60_000_000
    assert facility(db.uow, facility_id).risk_state is RiskState.NORMAL
    assert alerts(db.uow, facility_id) == {}


def test_marking_a_business_date_again_changes_nothing(db: TestDB, settings: Settings, world: World) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    mark(db.uow)

    again = mark(db.uow)

    assert again.valued == 0
    assert [v.kind for v in valuations(db.uow, facility_id)] == [ValuationKind.DAILY]
    assert facility(db.uow, facility_id).risk_state is RiskState.MARGIN_CALL


def test_a_business_date_still_to_come_is_not_marked(db: TestDB, settings: Settings, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        mark(db.uow, today() + timedelta(days=1))
    assert refused.value.field == "business_date"


def test_a_price_fall_to_the_warning_line_raises_the_facility_s_warning_alert_and_tells_its_parties(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "17.00")

    run = mark(db.uow)

    valuation = daily(db.uow, facility_id)
    assert valuation.ltv_bp == 7648  # 390,000 / 510,000, rounded up
    assert (valuation.risk_after, valuation.risk_reason) == (
        RiskState.WARNING,
        RiskReason.WARNING_LINE_REACHED,
    )
    assert run.moved.get("warning", 0) >= 1
    assert facility(db.uow, facility_id).risk_state is RiskState.WARNING
    warning = alerts(db.uow, facility_id)["ltv_warning"]
    assert (warning.status, warning.severity) == ("open", "major")
    assert warning.subject == f"facility:{facility(db.uow, facility_id).code}"
    assert warning.trigger["ltv_bp"] == 7648
    with db.uow() as unit:
        told = set(
            unit.session.scalars(select(InboxItem.user_id).where(InboxItem.kind == "facility.warning"))
        )
    assert {world.users["bank"], world.users["bankviewer"], world.users["borrower"]} <= told


def test_the_warning_clears_only_below_the_warning_line_less_the_hysteresis(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    for days_back, cny_per_kg in ((-4, "17.00"), (-3, "17.40"), (-2, "17.80")):
        price(db.uow, settings, world, cny_per_kg, on=business_day(days_back))

    mark(db.uow, business_day(-4))  # 76.48 %: warning
    mark(db.uow, business_day(-3))  # 74.72 %: inside the 1 % band below the line, still warning

    assert daily(db.uow, facility_id, business_day(-3)).ltv_bp == 7472
    assert facility(db.uow, facility_id).risk_state is RiskState.WARNING

    mark(db.uow, business_day(-2))  # 73.04 %: below 74 %, cleared

    assert daily(db.uow, facility_id, business_day(-2)).risk_reason is RiskReason.WARNING_CLEARED
    assert facility(db.uow, facility_id).risk_state is RiskState.NORMAL
    assert alerts(db.uow, facility_id) == {}
    assert alerts(db.uow, facility_id, live=False)["ltv_warning"].status == "resolved"


def test_goods_without_a_price_hold_the_risk_state_and_raise_a_stale_price_alert(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    collateral_links.attach(
        db.uow(),
        world.who("bank"),
        facility_id,
        CollateralAttachIn(receipt_id=world.receipts["pledged_with_release"]),
    )
    # Pork falls past the liquidation line; the beef has no price at all.
    price(db.uow, settings, world, "14.00")

    mark(db.uow)

    valuation = daily(db.uow, facility_id)
    assert valuation.held
    assert valuation.risk_reason is None
    assert (valuation.lines, valuation.unpriced_lines) == (2, 1)
    assert facility(db.uow, facility_id).risk_state is RiskState.NORMAL
    beef = next(
        line
        for line in lines(db.uow, valuation.id)
        if line.receipt_id == world.receipts["pledged_with_release"]
    )
    assert (beef.status, beef.value_fen, beef.price_fen_per_t) == (LineStatus.UNPRICED, 0, None)
    assert "no approved price" in (beef.reason or "")
    stale = alerts(db.uow, facility_id)["price_stale"]
    assert stale.trigger["commodity_ids"] == [world.commodities["BEEF-FZ"]]
    assert "ltv_liquidation" not in alerts(db.uow, facility_id)


def test_a_stale_price_never_liquidates_and_the_alert_resolves_once_prices_are_current(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "17.00", on=business_day(-6))
    mark(db.uow, business_day(-6))
    assert facility(db.uow, facility_id).risk_state is RiskState.WARNING

    # Four business days later the same price is stale: the pork counts nothing, yet the facility
    # is held in warning, not liquidated for want of a price.
    mark(db.uow, business_day(-2))

    held = daily(db.uow, facility_id, business_day(-2))
    assert (held.held, held.collateral_value_fen, held.ltv_bp) == (True, 0, None)
    (line,) = lines(db.uow, held.id)
    assert (line.status, line.stale, line.price_fen_per_t) == (LineStatus.UNPRICED, True, 1_700_000)
    assert facility(db.uow, facility_id).risk_state is RiskState.WARNING
    assert set(alerts(db.uow, facility_id)) == {"ltv_warning", "price_stale"}

    mark(db.uow, business_day(-1))  # the drawdown's CNY 20.00: 65 %

    assert facility(db.uow, facility_id).risk_state is RiskState.NORMAL
    assert alerts(db.uow, facility_id) == {}
    assert alerts(db.uow, facility_id, live=False)["price_stale"].status == "resolved"


def test_a_price_fall_past_the_liquidation_line_liquidates_at_once(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "14.00")

    mark(db.uow)

    valuation = daily(db.uow, facility_id)
    assert valuation.ltv_bp == 9286
    assert valuation.risk_reason is RiskReason.LIQUIDATION_LINE_REACHED
    assert facility(db.uow, facility_id).risk_state is RiskState.LIQUIDATION
    assert alerts(db.uow, facility_id)["ltv_liquidation"].severity == "critical"


@pytest.mark.postgres
def test_the_set_based_mark_and_the_facility_by_facility_valuation_agree_line_by_line(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    # Beef without a price, shrimp with a stale one, and the pork split in two after attaching.
    bank = world.who("bank")
    collateral_links.attach(
        db.uow(), bank, facility_id, CollateralAttachIn(receipt_id=world.receipts["pledged_with_release"])
    )
    price(db.uow, settings, world, "10.00", on=business_day(-6), commodity="SHRIMP-FZ")
    pledge(db.uow, world, world.receipts["issued"], holder="borrower", bank="bank")
    collateral_links.attach(
        db.uow(), bank, facility_id, CollateralAttachIn(receipt_id=world.receipts["issued"])
    )
    inventory.unseal_lot(db.uow(), world.who("supervisor"), world.lots["pledged"], UnsealIn(reason="拆单"))
    parts = [SplitPart(quantity_g=10_000_000, cartons=500), SplitPart(quantity_g=20_000_000, cartons=1000)]
    receipts.split(db.uow(), bank, world.receipts["pledged"], SplitIn(parts=parts))

    run = mark(db.uow)

    assert run.path == "set"
    marked = daily(db.uow, facility_id)
    assert (marked.lines, marked.unpriced_lines, marked.collateral_value_fen) == (4, 2, 60_000_000)
    with db.uow() as unit:
        valued = value_facility(
            unit, unit.session.get_one(Facility, facility_id), today(), ValuationKind.INTRADAY
        )
        each = [
            _line(line)
            for line in unit.session.scalars(
                select(ValuationLine)
                .where(ValuationLine.valuation_id == valued.id)
                .order_by(ValuationLine.link_id, ValuationLine.pledge_id)
            )
        ]
        assert _figures(valued) == _figures(marked)
    assert [_line(line) for line in lines(db.uow, marked.id)] == each


def _figures(valuation: Valuation) -> tuple[object, ...]:
    return (
        valuation.exposure_fen,
        valuation.market_value_fen,
        valuation.collateral_value_fen,
        valuation.lines,
        valuation.unpriced_lines,
        valuation.ltv_bp,
        valuation.held,
    )


def _line(line: ValuationLine) -> tuple[object, ...]:
    return (
        line.link_id,
        line.pledge_id,
        line.receipt_id,
        line.lot_id,
        line.commodity_id,
        line.quantity_g,
        line.status,
        line.price_fen_per_t,
        line.price_observation_id,
        line.price_date,
        line.observation_ids,
        line.stale,
        line.haircut_bp,
        line.market_value_fen,
        line.value_fen,
        line.reason,
        line.params,
    )


def test_the_scheduler_marks_a_business_day_once_its_prices_are_in(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    database = cast(Database, SimpleNamespace(write_session=db.session))
    day = business_day(-1)
    at = datetime.combine(day, time(14, 59), tzinfo=BUSINESS_TZ)

    assert mark_due(database, settings, at) == {"due": 0}
    assert valuations(db.uow, facility_id) == []
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    assert mark_due(database, settings, datetime.combine(saturday, time(16), tzinfo=BUSINESS_TZ)) == {
        "due": 0
    }

    report = mark_due(database, settings, at + timedelta(minutes=1))

    assert report["due"] == 1
    assert daily(db.uow, facility_id, day).ltv_bp == 6500
    assert mark_due(database, settings, at + timedelta(hours=1))["valued"] == 0
