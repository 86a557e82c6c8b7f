"""Drawdowns within the limit and the pledge rate, and repayments that pay penalty, interest and
principal in that order.

The world's pledged pork is worth CNY 600,000.00 at CNY 20.00/kg; at 65 % it carries CNY 390,000.00,
under the facility's limit of CNY 500,000.00.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from coldpledge.financing import facilities, loans
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import DrawdownRequestIn, RepaymentIn
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn, price, requested
from tests.support import Clock, now, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB


@pytest.fixture
def facility_id(db: TestDB, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00")
    return active_facility(db.uow, world)


def approve(db: TestDB, world: World, drawdown_id: int) -> Drawdown:
    return loans.approve(db.uow(), world.who("bank"), drawdown_id, NoteIn())


def test_a_drawdown_within_the_limit_and_the_pledge_rate_is_approved_and_paid_out(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawdown_id = requested(db.uow, world, facility_id, 39_000_000)

    assert approve(db, world, drawdown_id).status is DrawdownStatus.APPROVED
    paid = loans.disburse(db.uow(), world.who("bank"), drawdown_id, NoteIn())

    assert paid.status is DrawdownStatus.ACTIVE
    assert paid.principal_outstanding_fen == 39_000_000
    assert paid.disbursed_on == today()
    assert (paid.rate_bp, paid.penalty_rate_bp) == (435, 652)


def test_a_drawdown_beyond_the_pledge_rate_is_refused_with_what_is_possible(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawdown_id = requested(db.uow, world, facility_id, 39_000_001)

    with pytest.raises(Conflict) as refused:
        approve(db, world, drawdown_id)
    assert refused.value.params["headroom"] == 39_000_000


def test_a_drawdown_beyond_the_limit_is_refused(db: TestDB, settings: Settings, world: World) -> None:
    price(db.uow, settings, world, "20.00")
    facility_id = active_facility(db.uow, world, limit_fen=20_000_000)
    data = DrawdownRequestIn(amount_fen=20_000_001, maturity_date=today() + timedelta(days=30))

    with pytest.raises(InvalidInput) as refused:
        loans.request(db.uow(), world.who("borrower"), facility_id, data)
    assert refused.value.field == "amount_fen"

    drawn(db.uow, world, facility_id, 15_000_000)
    second = requested(db.uow, world, facility_id, 5_000_001)
    with pytest.raises(Conflict) as over:
        approve(db, world, second)
    assert over.value.params["headroom"] == 5_000_000


def test_approved_drawdowns_count_before_they_are_paid_out(
    db: TestDB, world: World, facility_id: int
) -> None:
    first = requested(db.uow, world, facility_id, 30_000_000)
    second = requested(db.uow, world, facility_id, 10_000_000)
    approve(db, world, first)

    with pytest.raises(Conflict):
        approve(db, world, second)

    loans.withdraw(db.uow(), world.who("borrower"), first, ReasonIn(reason="暂不用款"))
    assert approve(db, world, second).status is DrawdownStatus.APPROVED


def test_no_drawdown_is_approved_under_a_margin_call(db: TestDB, world: World, facility_id: int) -> None:
    drawdown_id = requested(db.uow, world, facility_id, 1_000_000)
    with db.uow() as unit:
        unit.session.get_one(Facility, facility_id).risk_state = RiskState.MARGIN_CALL
        unit.commit()

    with pytest.raises(Conflict, match="Margin call"):
        approve(db, world, drawdown_id)


def test_no_drawdown_is_asked_for_or_approved_on_a_suspended_facility(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawdown_id = requested(db.uow, world, facility_id, 1_000_000)
    facilities.suspend(db.uow(), world.who("bank"), facility_id, ReasonIn(reason="抽查发现短少"))

    with pytest.raises(Conflict, match="Suspended"):
        approve(db, world, drawdown_id)
    with pytest.raises(Conflict, match="Suspended"):
        requested(db.uow, world, facility_id, 1_000_000)


def test_no_drawdown_rests_on_a_stale_price(db: TestDB, settings: Settings, world: World) -> None:
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=14))
    facility_id = active_facility(db.uow, world)
    drawdown_id = requested(db.uow, world, facility_id, 1_000_000)

    with pytest.raises(Conflict, match="stale"):
        approve(db, world, drawdown_id)


def test_a_price_fall_after_approval_stops_the_money_going_out(
    db: TestDB, settings: Settings, world: World
) -> None:
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=1))
    facility_id = active_facility(db.uow, world)
    drawdown_id = requested(db.uow, world, facility_id, 39_000_000)
    approve(db, world, drawdown_id)
    price(db.uow, settings, world, "19.00")

    with pytest.raises(Conflict, match="no longer covers"):
        loans.disburse(db.uow(), world.who("bank"), drawdown_id, NoteIn())


def test_a_maturity_after_the_facility_expires_is_refused(db: TestDB, world: World, facility_id: int) -> None:
    data = DrawdownRequestIn(amount_fen=1_000_000, maturity_date=today() + timedelta(days=400))

    with pytest.raises(InvalidInput) as refused:
        loans.request(db.uow(), world.who("borrower"), facility_id, data)
    assert refused.value.field == "maturity_date"


def test_the_borrower_asks_and_the_bank_decides(db: TestDB, world: World, facility_id: int) -> None:
    with pytest.raises(PermissionDenied):
        loans.request(
            db.uow(),
            world.who("bank"),
            facility_id,
            DrawdownRequestIn(amount_fen=1_000_000, maturity_date=today() + timedelta(days=30)),
        )
    drawdown_id = requested(db.uow, world, facility_id, 1_000_000)
    with pytest.raises(PermissionDenied):
        loans.approve(db.uow(), world.who("borrower"), drawdown_id, NoteIn())
    with pytest.raises(NotFound):
        loans.approve(db.uow(), world.who("bank2"), drawdown_id, NoteIn())


def test_a_paid_out_drawdown_cannot_be_withdrawn(db: TestDB, world: World, facility_id: int) -> None:
    drawdown = drawn(db.uow, world, facility_id, 1_000_000)

    with pytest.raises(IllegalTransition) as refused:
        loans.withdraw(db.uow(), world.who("borrower"), drawdown.id, ReasonIn(reason="不要了"))
    assert refused.value.allowed_actions == ["repay"]


def test_a_repayment_pays_penalty_then_interest_then_principal(
    db: TestDB, world: World, facility_id: int
) -> None:
    clock = Clock(now())
    drawdown = drawn(db.uow, world, facility_id, 36_000_000, days=10)
    clock.advance(days=12)  # ten days of interest, then two days past maturity of penalty
    uow = UnitOfWork(db.session, clock=clock)

    repayment = loans.repay(uow, world.who("borrower"), drawdown.id, RepaymentIn(amount_fen=1_000_000))

    # 36,000,000 × 4.35 % / 360 = 4,350 fen a day: 43,500 for ten days; penalty 6.52 %: 6,520 a day.
    assert (repayment.penalty_fen, repayment.interest_fen) == (13_040, 43_500)
    assert repayment.principal_fen == 1_000_000 - 13_040 - 43_500
    with db.uow() as unit:
        after = unit.session.get_one(Drawdown, drawdown.id)
        assert after.status is DrawdownStatus.OVERDUE
        assert after.principal_outstanding_fen == 36_000_000 - repayment.principal_fen
        assert after.principal_repaid_fen + after.principal_outstanding_fen == after.amount_fen


def test_paying_everything_owed_closes_the_drawdown(db: TestDB, world: World, facility_id: int) -> None:
    clock = Clock(now())
    drawdown = drawn(db.uow, world, facility_id, 36_000_000)
    clock.advance(days=3)
    uow = UnitOfWork(db.session, clock=clock)

    with pytest.raises(InvalidInput, match="36013050") as refused:
        loans.repay(uow, world.who("borrower"), drawdown.id, RepaymentIn(amount_fen=40_000_000))
    assert refused.value.field == "amount_fen"
    loans.repay(uow, world.who("bank"), drawdown.id, RepaymentIn(amount_fen=36_013_050, reference="TX-9"))

    with db.uow() as unit:
        closed = unit.session.get_one(Drawdown, drawdown.id)
        actions = unit.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_ref == closed.subject_ref)
            .order_by(AuditEvent.id)
        ).all()
        assert closed.status is DrawdownStatus.REPAID
        assert closed.interest_paid_fen == closed.interest_posted_fen == 13_050
    assert actions == [
        "drawdown.request",
        "drawdown.approve",
        "drawdown.disburse",
        "drawdown.accrue",
        "drawdown.repayment_applied",
    ]
