"""Margin calls: what cures them (cash, repayment, goods at the day's price), by when, what happens
when nobody does, and the waiver that takes two of the bank's risk officers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from coldpledge.alerts.lifecycle import WorkOrderType
from coldpledge.alerts.models import WorkOrder
from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.errors import Conflict, NotFound, PermissionDenied
from coldpledge.financing import collateral_links, loans, margin, margincalls, risk_effects
from coldpledge.financing.businessdays import add_business_days
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility
from coldpledge.financing.mtm_models import MarginCallEventKind, MarginCallStatus, ValuationKind
from coldpledge.financing.mtm_schemas import WaiveIn
from coldpledge.financing.risk import RiskReason, RiskState
from coldpledge.financing.schemas import CollateralAttachIn, DrawdownRequestIn, MarginDepositIn, RepaymentIn
from coldpledge.parties.access import restrict
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Receipt
from tests.financing import price
from tests.marking import (
    alerts,
    business_day,
    calls,
    daily,
    drawn_facility,
    facility,
    mark,
    read,
    second_risk_officer,
    valuations,
)
from tests.support import today
from tests.world import World, pledge

if TYPE_CHECKING:
    from tests.conftest import TestDB

CURE_FEN = 7_800_000  # 390,000 − 65 % × 480,000


@pytest.fixture
def called(db: TestDB, settings: Settings, world: World) -> int:
    """The facility under a margin call issued today: the pork fell to CNY 16.00/kg."""
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    mark(db.uow)
    return facility_id


def drawdown_of(db: TestDB, facility_id: int) -> Drawdown:
    return read(
        db.uow,
        lambda session: session.scalars(select(Drawdown).where(Drawdown.facility_id == facility_id)).one(),
    )


def events(db: TestDB, call_id: int) -> list[MarginCallEventKind]:
    return read(db.uow, lambda session: [e.kind for e in margincalls.events_of(session, call_id)])


def test_a_margin_call_says_how_much_cash_or_goods_cure_it_and_by_when(
    db: TestDB, world: World, called: int
) -> None:
    (call,) = calls(db.uow, called)

    assert call.status is MarginCallStatus.OPEN
    assert (call.exposure_fen, call.collateral_value_fen, call.ltv_bp) == (39_000_000, 48_000_000, 8125)
    assert call.cure_cash_fen == CURE_FEN
    # Goods: 600,000 of cover is needed, 480,000 is there: 120,000 of pork at 16.00/kg is 7.5 t.
    assert (call.cure_collateral_value_fen, call.cure_goods_value_fen, call.cure_goods_g) == (
        12_000_000,
        12_000_000,
        7_500_000,
    )
    assert (call.cure_commodity_id, call.cure_price_fen_per_t) == (world.commodities["PORK-FZ"], 1_600_000)
    assert call.deadline == add_business_days(today(), 3)
    assert call.valuation_id == daily(db.uow, called).id
    assert facility(db.uow, called).risk_state is RiskState.MARGIN_CALL
    assert (alerts(db.uow, called)["margin_call"].severity) == "critical"
    order = read(
        db.uow,
        lambda session: session.scalars(select(WorkOrder).where(WorkOrder.subject == call.subject_ref)).one(),
    )
    assert (order.kind, order.assignee_user_id) == (WorkOrderType.MARGIN_CALL_FOLLOW_UP, world.users["bank"])


def test_no_money_goes_out_under_a_margin_call(db: TestDB, world: World, called: int) -> None:
    data = DrawdownRequestIn(amount_fen=100_000, maturity_date=add_business_days(today(), 30))
    with pytest.raises(Conflict):
        loans.request(db.uow(), world.who("borrower"), called, data)


def test_a_margin_deposit_that_covers_the_call_cures_it_at_once(
    db: TestDB, world: World, called: int
) -> None:
    margin.deposit(db.uow(), world.who("bank"), called, MarginDepositIn(amount_fen=CURE_FEN - 100_000))

    (call,) = calls(db.uow, called)
    assert call.status is MarginCallStatus.OPEN
    assert facility(db.uow, called).risk_state is RiskState.MARGIN_CALL

    deposit = margin.deposit(db.uow(), world.who("bank"), called, MarginDepositIn(amount_fen=100_000))

    (call,) = calls(db.uow, called)
    assert (call.status, call.outcome) == (MarginCallStatus.CURED, "cured")
    assert facility(db.uow, called).risk_state is RiskState.NORMAL
    last = valuations(db.uow, called)[-1]
    assert (last.kind, last.cause, last.ltv_bp) == (ValuationKind.INTRADAY, deposit.subject_ref, 6500)
    assert last.risk_reason is RiskReason.CURED
    assert call.closing_valuation_id == last.id
    assert events(db, call.id) == [
        MarginCallEventKind.ISSUED,
        MarginCallEventKind.DEPOSIT,
        MarginCallEventKind.DEPOSIT,
        MarginCallEventKind.CURED,
    ]
    assert alerts(db.uow, called) == {}
    assert alerts(db.uow, called, live=False)["margin_call"].status == "resolved"


def test_a_repayment_cures_the_call(db: TestDB, world: World, called: int) -> None:
    drawdown = drawdown_of(db, called)

    repayment = loans.repay(db.uow(), world.who("borrower"), drawdown.id, RepaymentIn(amount_fen=CURE_FEN))

    (call,) = calls(db.uow, called)
    assert call.status is MarginCallStatus.CURED
    assert valuations(db.uow, called)[-1].cause == repayment.subject_ref
    assert events(db, call.id)[1] == MarginCallEventKind.REPAYMENT
    assert facility(db.uow, called).risk_state is RiskState.NORMAL


def test_goods_pledged_and_attached_cure_the_call(
    db: TestDB, settings: Settings, world: World, called: int
) -> None:
    # Carol pledges her 12 t of shrimp to Alice; at CNY 10.00/kg it is worth exactly the 120,000.
    price(db.uow, settings, world, "10.00", commodity="SHRIMP-FZ")
    pledge(db.uow, world, world.receipts["issued"], holder="borrower", bank="bank")

    link = collateral_links.attach(
        db.uow(), world.who("bank"), called, CollateralAttachIn(receipt_id=world.receipts["issued"])
    )

    (call,) = calls(db.uow, called)
    assert call.status is MarginCallStatus.CURED
    last = valuations(db.uow, called)[-1]
    assert (last.cause, last.collateral_value_fen, last.ltv_bp) == (link.subject_ref, 60_000_000, 6500)
    assert events(db, call.id)[1] == MarginCallEventKind.TOP_UP


def test_a_call_not_cured_by_its_deadline_expires_and_the_facility_is_liquidated(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world, cure_business_days=1)
    price(db.uow, settings, world, "16.00", on=business_day(-5))
    price(db.uow, settings, world, "16.00", on=business_day(-3))
    mark(db.uow, business_day(-5))
    (call,) = calls(db.uow, facility_id)
    assert call.deadline == business_day(-4)
    mark(db.uow, business_day(-4))  # the deadline itself: still time
    assert facility(db.uow, facility_id).risk_state is RiskState.MARGIN_CALL

    mark(db.uow, business_day(-3))

    (call,) = calls(db.uow, facility_id)
    assert (call.status, call.outcome) == (MarginCallStatus.EXPIRED, "deadline_missed")
    assert facility(db.uow, facility_id).risk_state is RiskState.LIQUIDATION
    drawdown = drawdown_of(db, facility_id)
    assert drawdown.status is DrawdownStatus.IN_RECOVERY
    assert set(alerts(db.uow, facility_id)) == {"ltv_liquidation"}
    risk_moves = read(
        db.uow,
        lambda session: session.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.subject_ref == facility(db.uow, facility_id).subject_ref,
                AuditEvent.action == "facility.risk_state",
            )
        ).all(),
    )
    assert risk_moves == ["margin_call_line_reached", "deadline_missed"]


def test_liquidation_sends_the_receipts_to_disposal(db: TestDB, settings: Settings, world: World) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "14.00")

    mark(db.uow)

    assert facility(db.uow, facility_id).risk_state is RiskState.LIQUIDATION
    receipt_status = read(db.uow, lambda session: session.get_one(Receipt, world.receipts["pledged"]).status)
    assert receipt_status is ReceiptStatus.IN_DISPOSAL


def test_a_waiver_takes_two_risk_officers_and_holds_off_new_calls_until_it_ends(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00", on=business_day(-3))
    price(db.uow, settings, world, "16.00", on=business_day(-2))
    mark(db.uow, business_day(-3))
    (call,) = calls(db.uow, facility_id)
    bianca = second_risk_officer(db.uow, settings, world)
    asked = WaiveIn(reason="补货已在途，客户资信良好")

    with pytest.raises(PermissionDenied):
        margincalls.waive(db.uow(), world.who("borrower"), call.id, asked)
    with pytest.raises(NotFound):
        margincalls.waive(db.uow(), world.who("bank2"), call.id, asked)
    requested = margincalls.waive(db.uow(), world.who("bank"), call.id, asked)
    assert (requested.status, requested.waive_requested_by_user_id) == (
        MarginCallStatus.OPEN,
        world.users["bank"],
    )
    with pytest.raises(Conflict):
        margincalls.waive(db.uow(), world.who("bank"), call.id, asked)

    waived = margincalls.waive(db.uow(), bianca, call.id, WaiveIn(reason="同意豁免"))

    assert (waived.status, waived.waived_by_user_id, waived.waived_until) == (
        MarginCallStatus.WAIVED,
        bianca.user_id,
        call.deadline,
    )
    assert facility(db.uow, facility_id).risk_state is RiskState.WARNING
    assert set(alerts(db.uow, facility_id)) == {"ltv_warning"}
    # The next day's mark finds the LTV still past the call line: the waiver holds it in warning.
    mark(db.uow, business_day(-2))
    assert daily(db.uow, facility_id, business_day(-2)).risk_after is RiskState.WARNING
    assert len(calls(db.uow, facility_id)) == 1


def test_the_liquidation_alert_is_resolved_when_the_facility_leaves_liquidation_otherwise(
    db: TestDB, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "14.00")
    mark(db.uow)
    assert set(alerts(db.uow, facility_id)) == {"ltv_liquidation"}

    with db.uow() as unit:
        found = unit.session.get_one(Facility, facility_id)
        risk_effects.resolve_alert_of(unit, found, RiskState.LIQUIDATION, "goods sold, facility disposed")
        unit.commit()

    assert alerts(db.uow, facility_id) == {}
    assert alerts(db.uow, facility_id, live=False)["ltv_liquidation"].status == "resolved"


def test_the_margin_call_alert_is_answered_by_the_bank_and_seen_by_the_facility_s_parties(
    db: TestDB, world: World, called: int
) -> None:
    alert = alerts(db.uow, called)["margin_call"]
    order = read(
        db.uow,
        lambda session: session.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).one(),
    )
    assert (order.kind, order.assignee_user_id) == (WorkOrderType.ALERT_RESPONSE, world.users["bank"])

    def seen_by(who: str) -> bool:
        return read(
            db.uow,
            lambda session: (
                session.scalars(
                    restrict(world.who(who), "view", WorkOrder).where(WorkOrder.id == order.id)
                ).first()
                is not None
            ),
        )

    assert seen_by("bank")
    assert seen_by("borrower")
    assert not seen_by("bank2")
