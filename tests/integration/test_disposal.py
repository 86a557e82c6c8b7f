"""Disposal of a liquidated facility's goods: receipts to disposal and loans to recovery, the sale's
proceeds through the waterfall (costs, storage lien, penalty, interest, principal, surplus), loans
recovered or written off with the claim kept, and the facility closed when nothing is owed.

The world's pledged pork: 30 t, CNY 20.00/kg; Carol draws CNY 390,000.00 against it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import pytest
from sqlalchemy import select

from coldpledge.alerts.lifecycle import WorkOrderType
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.config import Settings
from coldpledge.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from coldpledge.financing import disposal, facilities, loans, risk_effects, write_offs
from coldpledge.financing.disposal_models import Disposal, DisposalChannel
from coldpledge.financing.disposal_schemas import DisposalIn, WriteOffIn
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility, FacilityStatus
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import RepaymentIn
from coldpledge.receipts import releases
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt, Release, ReleaseStatus
from coldpledge.receipts.schemas import NoteIn, ReleaseRequestIn
from coldpledge.rules.conditions import Transition
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn, price, requested
from tests.liquidation import liquidate, sold_out
from tests.support import Clock, in_days, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

TONNE = 1_000_000
M = TypeVar("M")


@pytest.fixture
def facility_id(db: TestDB, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=1))
    return active_facility(db.uow, world)


def sale(release_id: int, proceeds_fen: int, **more: object) -> DisposalIn:
    fields: dict[str, object] = {
        "release_id": release_id,
        "channel": DisposalChannel.AUCTION,
        "buyer_name": "上海农产品拍卖行",
        "price_fen_per_t": proceeds_fen * TONNE // (30 * TONNE),
        "proceeds_fen": proceeds_fen,
        **more,
    }
    return DisposalIn.model_validate(fields)


def record(db: TestDB, world: World, facility_id: int, data: DisposalIn) -> Disposal:
    return disposal.record_disposal(db.uow(), world.who("bank"), facility_id, data)


def reread(db: TestDB, model: type[M], ident: int) -> M:
    return db.session().get_one(model, ident)


# --- liquidation --------------------------------------------------------------------------------


def test_liquidation_takes_the_goods_to_disposal_and_the_loans_to_recovery(
    db: TestDB, world: World, facility_id: int
) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000, days=90)
    pending = requested(db.uow, world, facility_id, 1_000_000)

    started = liquidate(db.uow, facility_id)

    receipt = reread(db, Receipt, world.receipts["pledged"])
    assert receipt.status is ReceiptStatus.IN_DISPOSAL
    assert started.receipts == [receipt.code]
    loan_now = reread(db, Drawdown, loan.id)
    assert loan_now.status is DrawdownStatus.IN_RECOVERY
    assert loan_now.maturity_date == today()  # accelerated: penalty interest runs from today
    assert reread(db, Drawdown, pending).status is DrawdownStatus.REJECTED
    [order] = db.session().scalars(select(WorkOrder).where(WorkOrder.id.in_(started.work_orders))).all()
    assert order.kind is WorkOrderType.DISPOSAL
    assert order.subject == receipt.subject_ref
    assert order.room_id == world.rooms["YS-F18"]


def test_liquidation_cancels_open_releases_and_starting_it_twice_changes_nothing(
    db: TestDB, settings: Settings, world: World
) -> None:
    price(db.uow, settings, world, "30.00", commodity="BEEF-FZ", on=today() - timedelta(days=1))
    facility_id = active_facility(db.uow, world, receipts=("pledged_with_release",))

    first = liquidate(db.uow, facility_id)
    second = liquidate(db.uow, facility_id)

    assert reread(db, Release, world.releases["requested"]).status is ReleaseStatus.CANCELLED
    assert len(first.receipts) == 1
    assert (second.receipts, second.already, second.work_orders) == ([], first.receipts, [])


# --- a sale and its proceeds ---------------------------------------------------------------------


def test_proceeds_pay_costs_lien_and_loan_and_the_surplus_goes_to_the_pledgor(
    db: TestDB, world: World, facility_id: int
) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    release_id = sold_out(db.uow, world, world.receipts["pledged"])

    made = record(
        db, world, facility_id, sale(release_id, 50_000_000, fees_fen=500_000, storage_lien_fen=300_000)
    )

    assert (made.quantity_g, made.fees_paid_fen, made.storage_lien_paid_fen) == (30 * TONNE, 500_000, 300_000)
    assert (made.principal_fen, made.surplus_fen, made.residual_claim_fen) == (39_000_000, 10_200_000, 0)
    assert made.pledgor_org_id == world.orgs["borrower"]
    assert made.reference_price_fen_per_t == 2_000_000
    [allocation] = made.allocations
    assert (allocation.drawdown_id, allocation.principal_fen) == (loan.id, 39_000_000)
    recovered = reread(db, Drawdown, loan.id)
    assert recovered.status is DrawdownStatus.RECOVERED
    assert recovered.principal_repaid_fen + recovered.principal_outstanding_fen == recovered.amount_fen
    facility = reread(db, Facility, facility_id)
    assert (facility.status, facility.risk_state) == (FacilityStatus.CLOSED, RiskState.DISPOSED)
    pledge = db.session().scalars(select(Pledge).where(Pledge.receipt_id == world.receipts["pledged"])).one()
    assert pledge.status is PledgeStatus.ENFORCED
    assert reread(db, Receipt, world.receipts["pledged"]).status is ReceiptStatus.CANCELLED


def test_the_last_sale_resolves_the_facility_s_liquidation_alert(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    with db.uow() as unit:
        facility = unit.session.get_one(Facility, facility_id)
        rule, severity = risk_effects.RULE_OF_STATE[RiskState.LIQUIDATION]
        fired = Transition(
            rule, facility.subject_ref, "firing", severity, unit.now(), {"ltv_bp": 9000}, "LTV 90 %"
        )
        [alert] = risk_effects.raise_alerts(unit, facility, [fired])
        unit.commit()
        alert_id = alert.id
    release_id = sold_out(db.uow, world, world.receipts["pledged"])

    record(db, world, facility_id, sale(release_id, 50_000_000))

    resolved = reread(db, Alert, alert_id)
    assert resolved.condition == "resolved"
    assert resolved.facility_id == facility_id


def test_proceeds_pay_penalty_then_interest_then_principal_across_loans_oldest_first(
    db: TestDB, world: World, facility_id: int
) -> None:
    older = drawn(db.uow, world, facility_id, 20_000_000)
    newer = drawn(db.uow, world, facility_id, 19_000_000)
    liquidate(db.uow, facility_id)
    release_id = sold_out(db.uow, world, world.receipts["pledged"])
    ten_days_on = UnitOfWork(db.session, clock=Clock(in_days(10)))

    made = disposal.record_disposal(ten_days_on, world.who("bank"), facility_id, sale(release_id, 25_000_000))

    first, second = reread(db, Drawdown, older.id), reread(db, Drawdown, newer.id)
    # Ten days of penalty interest (accelerated today) on each, paid before any principal.
    assert first.penalty_paid_fen == first.penalty_posted_fen > 0
    assert second.penalty_paid_fen == second.penalty_posted_fen > 0
    assert made.penalty_fen == first.penalty_posted_fen + second.penalty_posted_fen
    assert made.principal_fen == 25_000_000 - made.penalty_fen - made.interest_fen
    assert first.status is DrawdownStatus.RECOVERED
    assert second.status is DrawdownStatus.IN_RECOVERY
    assert second.principal_outstanding_fen == 39_000_000 - made.principal_fen
    assert made.residual_claim_fen == second.principal_outstanding_fen
    assert [a.drawdown_id for a in made.allocations] == [older.id, newer.id]


def test_a_shortfall_stays_a_claim_until_the_bank_writes_it_off(
    db: TestDB, world: World, facility_id: int
) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    half = sold_out(db.uow, world, world.receipts["pledged"], 15 * TONNE)
    record(db, world, facility_id, sale(half, 15_000_000, fees_fen=1_000_000))

    assert reread(db, Facility, facility_id).risk_state is RiskState.LIQUIDATION  # 15 t still to sell
    with pytest.raises(Conflict) as unsold:
        write_offs.write_off(db.uow(), world.who("bank"), loan.id, WriteOffIn(reason="处置不足"))
    assert "not sold yet" in str(unsold.value)

    rest = sold_out(db.uow, world, world.receipts["pledged"])
    second = record(db, world, facility_id, sale(rest, 14_000_000, storage_lien_fen=500_000))

    assert second.residual_claim_fen == 39_000_000 - 14_000_000 - 13_500_000
    assert reread(db, Facility, facility_id).risk_state is RiskState.DISPOSED
    assert reread(db, Facility, facility_id).status is FacilityStatus.ACTIVE  # still owed

    written = write_offs.write_off(db.uow(), world.who("bank"), loan.id, WriteOffIn(reason="处置不足, 核销"))

    assert (written.principal_fen, written.residual_claim_fen) == (11_500_000, 11_500_000)
    assert written.claim_against_org_id == world.orgs["borrower"]
    off = reread(db, Drawdown, loan.id)
    assert off.status is DrawdownStatus.WRITTEN_OFF
    assert (
        off.principal_repaid_fen + off.principal_outstanding_fen + off.principal_written_off_fen == 39_000_000
    )
    assert reread(db, Facility, facility_id).status is FacilityStatus.CLOSED


def test_a_guarantor_may_pay_the_residual_claim_instead(db: TestDB, world: World, facility_id: int) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    record(db, world, facility_id, sale(sold_out(db.uow, world, world.receipts["pledged"]), 30_000_000))

    loans.repay(db.uow(), world.who("bank"), loan.id, RepaymentIn(amount_fen=9_000_000, reference="担保代偿"))

    assert reread(db, Drawdown, loan.id).principal_outstanding_fen == 0
    with pytest.raises(IllegalTransition):
        write_offs.write_off(db.uow(), world.who("bank"), loan.id, WriteOffIn(reason="已代偿"))
    closed = facilities.close(db.uow(), world.who("bank"), facility_id, NoteIn(note="担保代偿结清"))
    assert closed.status is FacilityStatus.CLOSED


def test_a_write_off_against_the_guarantor_needs_one(db: TestDB, world: World, facility_id: int) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    record(db, world, facility_id, sale(sold_out(db.uow, world, world.receipts["pledged"]), 30_000_000))

    with pytest.raises(InvalidInput) as refused:
        write_offs.write_off(
            db.uow(), world.who("bank"), loan.id, WriteOffIn(reason="担保追偿", claim_against="guarantor")
        )
    assert refused.value.field == "claim_against"


def test_only_the_facilitys_bank_records_a_disposal_of_its_own_executed_release(
    db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 39_000_000)
    with pytest.raises(Conflict):  # not in liquidation
        record(db, world, facility_id, sale(world.releases["requested"], 1_000))
    liquidate(db.uow, facility_id)
    release_id = sold_out(db.uow, world, world.receipts["pledged"], 10 * TONNE)

    with pytest.raises(InvalidInput):  # another receipt's release
        record(db, world, facility_id, sale(world.releases["requested"], 1_000))
    with pytest.raises(PermissionDenied):
        disposal.record_disposal(db.uow(), world.who("borrower"), facility_id, sale(release_id, 1_000))
    record(db, world, facility_id, sale(release_id, 20_000_000))
    with pytest.raises(Conflict):  # a release is applied once
        record(db, world, facility_id, sale(release_id, 20_000_000))


def test_a_disposal_waits_for_the_goods_to_be_weighed_out(db: TestDB, world: World, facility_id: int) -> None:
    drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    release, _ = releases.request_release(
        db.uow(),
        world.who("bank"),
        world.receipts["pledged"],
        ReleaseRequestIn(
            quantity_g=TONNE,
            vehicle_plate="沪C88888",
            collector_name="赵师傅",
            collector_id_no="310101198801018888",
            valid_until=in_days(1),
        ),
    )

    with pytest.raises(Conflict) as waiting:
        record(db, world, facility_id, sale(release.id, 2_000_000))
    assert "once the goods are out" in str(waiting.value)
