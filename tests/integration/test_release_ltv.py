"""Partial releases of goods that secure a facility: allowed only while the loan stays within the
pledge rate at today's price (or nothing is owed), checked when Carol asks and again when Alice
approves, and never while the facility is in liquidation.

The world's pledged pork (30 t) at CNY 20.00/kg is worth CNY 600,000.00; at 65 % it carries
CNY 390,000.00. With CNY 260,000.00 drawn, CNY 400,000.00 of pork must stay: 10 t may go.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.errors import Conflict
from coldpledge.financing import loans, releasing
from coldpledge.financing.models import Facility
from coldpledge.financing.releasing import ReleaseBeyondCover, ReleasesFrozen
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import RepaymentIn
from coldpledge.receipts import releases
from coldpledge.receipts.models import ReleaseStatus
from coldpledge.receipts.schemas import NoteIn, OutboundIn, ReleaseRequestIn
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn, price, requested
from tests.liquidation import unsealed
from tests.support import Clock, in_days, today
from tests.world import World

if TYPE_CHECKING:
    from coldpledge.receipts.models import Release
    from tests.conftest import TestDB

TONNE = 1_000_000


def ask(db: TestDB, world: World, quantity_g: int, key: str = "pledged") -> Release:
    release, _ = releases.request_release(
        db.uow(),
        world.who("borrower"),
        world.receipts[key],
        ReleaseRequestIn(
            quantity_g=quantity_g,
            vehicle_plate="沪B20260",
            collector_name="钱师傅",
            collector_id_no="310101198502023333",
            valid_until=in_days(2),
        ),
    )
    return release


def approve(db: TestDB, world: World, release_id: int) -> str:
    _, code = releases.approve(db.uow(), world.who("bank"), release_id, NoteIn())
    return code


@pytest.fixture
def facility_id(db: TestDB, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=1))
    return active_facility(db.uow, world)


def test_a_release_that_keeps_the_loan_within_the_pledge_rate_is_allowed_up_to_the_last_gram(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 26_000_000)

    with pytest.raises(ReleaseBeyondCover) as refused:
        ask(db, world, 10 * TONNE + 1)
    release = ask(db, world, 10 * TONNE)

    assert refused.value.status == 409
    assert refused.value.params["max_release_g"] == 10 * TONNE
    assert refused.value.params["exposure"] == 26_000_000
    assert refused.value.params["value_after"] == 39_999_998
    assert release.status is ReleaseStatus.REQUESTED
    assert len(approve(db, world, release.id)) >= 8


def test_with_the_loan_at_the_pledge_rate_no_goods_may_leave(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 39_000_000)

    with pytest.raises(ReleaseBeyondCover) as refused:
        ask(db, world, 1_000)

    assert refused.value.params["max_release_g"] == 0
    assert "at most 0 g can be released now" in str(refused.value)


def test_the_bank_cannot_approve_a_release_once_the_price_has_fallen(
    db: TestDB, settings: Settings, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 26_000_000)
    release = ask(db, world, 10 * TONNE)

    price(db.uow, settings, world, "19.00")  # today's price: 30 t now worth CNY 570,000.00
    with pytest.raises(ReleaseBeyondCover) as refused:
        approve(db, world, release.id)

    # 400,000.00 / 19.00 per kg = 21,052.632 kg must stay.
    assert refused.value.params["max_release_g"] == 30 * TONNE - 21_052_632
    with db.uow() as unit:
        assert unit.session.get_one(type(release), release.id).status is ReleaseStatus.REQUESTED


def test_approved_drawdowns_not_yet_paid_out_count_against_a_release(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 13_000_000)
    loans.approve(db.uow(), world.who("bank"), requested(db.uow, world, facility_id, 13_000_000), NoteIn())

    with pytest.raises(ReleaseBeyondCover) as refused:
        ask(db, world, 10 * TONNE + 1)

    assert refused.value.params["exposure"] == 26_000_000
    assert refused.value.params["max_release_g"] == 10 * TONNE


def test_with_nothing_owed_goods_may_leave_even_without_a_price(db: TestDB, world: World) -> None:
    facility_id = active_facility(db.uow, world)

    release = ask(db, world, 29 * TONNE)

    assert release.status is ReleaseStatus.REQUESTED
    assert releasing.facility_id_of(db.session(), world.receipts["pledged"]) == facility_id


def test_a_release_needs_a_current_price_while_something_is_owed(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 1_000_000)
    ten_days_on = UnitOfWork(db.session, clock=Clock(in_days(10)))

    with pytest.raises(Conflict) as refused:
        releases.request_release(
            ten_days_on,
            world.who("borrower"),
            world.receipts["pledged"],
            ReleaseRequestIn(
                quantity_g=TONNE,
                vehicle_plate="沪B20260",
                collector_name="钱师傅",
                collector_id_no="310101198502023333",
                valid_until=in_days(11),
            ),
        )

    assert "stale" in str(refused.value)


def test_a_repayment_frees_goods_worth_the_repayment_over_the_pledge_rate(
    db: TestDB, world: World, facility_id: int
) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    with db.uow() as unit:
        facility = unit.session.get_one(Facility, facility_id)
        before = releasing.release_capacity(unit.session, facility, today(), repayment_fen=6_500_000)

    assert before.max_release_value_fen == 0
    assert before.exposure_after_repayment_fen == 32_500_000
    # CNY 65,000.00 repaid frees CNY 100,000.00 of goods: 5 t at CNY 20.00/kg.
    assert before.max_release_value_after_repayment_fen == 10_000_000
    [pork] = before.receipts
    assert (pork.max_release_g, pork.max_release_g_after_repayment) == (0, 5 * TONNE)

    loans.repay(db.uow(), world.who("borrower"), loan.id, RepaymentIn(amount_fen=6_500_000))

    assert ask(db, world, 5 * TONNE).status is ReleaseStatus.REQUESTED


def test_every_release_check_is_evidenced_with_the_figures_it_rested_on(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 26_000_000)
    release = ask(db, world, 4 * TONNE)
    approve(db, world, release.id)

    checks = (
        db.session()
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "facility.release_checked", AuditEvent.subject_id == facility_id)
            .order_by(AuditEvent.id)
        )
        .all()
    )
    assert [c.actor for c in checks] == [
        f"user:{world.users['borrower']}",
        f"user:{world.users['bank']}",
    ]
    evidence = checks[-1].after
    assert evidence is not None
    figures = evidence["_data"]["release"]
    assert (figures["quantity"], figures["exposure"], figures["max_release_g"]) == (
        4 * TONNE,
        26_000_000,
        10 * TONNE,
    )
    assert evidence["_data"]["position"]["price_observation_ids"]


def test_a_facility_in_liquidation_releases_nothing_not_even_what_was_approved(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 10_000_000)
    release = ask(db, world, 2 * TONNE)
    code = approve(db, world, release.id)
    with db.uow() as unit:
        unit.session.get_one(Facility, facility_id).risk_state = RiskState.LIQUIDATION
        unit.commit()

    with pytest.raises(ReleasesFrozen):
        ask(db, world, TONNE)
    unsealed(db.uow, world, world.lots["pledged"])
    with pytest.raises(ReleasesFrozen) as at_the_dock:
        releases.execute_outbound(
            db.uow(),
            world.who("keeper"),
            world.lots["pledged"],
            OutboundIn(
                release_id=release.id,
                release_code=code,
                gross_g=2 * TONNE + 1_000_000,
                tare_g=1_000_000,
                weigh_ticket_no="WT-9",
                cartons=100,
                vehicle_plate="沪B20260",
                collector_id_no="310101198502023333",
            ),
        )

    assert at_the_dock.value.status == 409
    assert at_the_dock.value.params["state"] == "liquidation"


def test_the_bank_cannot_approve_a_release_asked_for_before_the_liquidation(
    db: TestDB, settings: Settings, world: World
) -> None:
    price(db.uow, settings, world, "30.00", commodity="BEEF-FZ", on=today() - timedelta(days=1))
    facility_id = active_facility(db.uow, world, receipts=("pledged_with_release",))
    with db.uow() as unit:
        unit.session.get_one(Facility, facility_id).risk_state = RiskState.LIQUIDATION
        unit.commit()

    with pytest.raises(ReleasesFrozen):
        approve(db, world, world.releases["requested"])


def test_receipts_outside_any_facility_are_the_pledgees_own_affair(db: TestDB, world: World) -> None:
    code = approve(db, world, world.releases["requested"])

    assert code
    assert releasing.facility_id_of(db.session(), world.receipts["pledged_with_release"]) is None
