"""Liquidation and disposal in tests, through the real services: a facility is put in liquidation
(as mark-to-market does it) and its goods go out under the bank's disposal release, weighed by
Kate at the dock after Sam unseals the lot."""

from __future__ import annotations

from collections.abc import Callable

from coldpledge.audit.snapshot import snapshot
from coldpledge.financing.disposal import DisposalStart, start_disposal
from coldpledge.financing.models import Facility
from coldpledge.financing.risk import RiskState
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot
from coldpledge.inventory.schemas import UnsealIn
from coldpledge.parties.policy import SYSTEM
from coldpledge.receipts import releases
from coldpledge.receipts.models import Receipt
from coldpledge.receipts.schemas import OutboundIn, ReleaseRequestIn
from coldpledge.uow import UnitOfWork
from tests.support import in_days
from tests.world import World

UowFactory = Callable[[], UnitOfWork]
PLATE, COLLECTOR_ID = "沪C88888", "310101198801018888"


def liquidate(uow: UowFactory, facility_id: int) -> DisposalStart:
    """Move the facility to liquidation and start the disposal, in one unit of work."""
    with uow() as unit:
        facility = unit.session.get_one(Facility, facility_id, with_for_update=True)
        before = snapshot(facility)
        facility.risk_state = RiskState.LIQUIDATION
        unit.record(SYSTEM, "facility.liquidate", facility, before=before, reason="test")
        started = start_disposal(unit, facility)
        unit.commit()
        return started


def unsealed(uow: UowFactory, world: World, lot_id: int) -> None:
    with uow() as unit:
        sealed = bool(inventory.active_seals(unit.session, unit.session.get_one(Lot, lot_id)))
    if sealed:
        inventory.unseal_lot(uow(), world.who("supervisor"), lot_id, UnsealIn(reason="按处置指令出库"))


def sold_out(uow: UowFactory, world: World, receipt_id: int, quantity_g: int | None = None) -> int:
    """The bank's disposal release of ``quantity_g`` (all by default), executed at the dock;
    returns the release id."""
    with uow() as unit:
        receipt = unit.session.get_one(Receipt, receipt_id)
        lot_id, held_g, cartons = receipt.lot_id, receipt.quantity_g, receipt.cartons
    quantity = held_g if quantity_g is None else quantity_g
    boxes = cartons * quantity // held_g
    release, code = releases.request_release(
        uow(),
        world.who("bank"),
        receipt_id,
        ReleaseRequestIn(
            quantity_g=quantity,
            vehicle_plate=PLATE,
            collector_name="拍卖行赵师傅",
            collector_id_no=COLLECTOR_ID,
            valid_until=in_days(2),
        ),
    )
    assert code is not None
    unsealed(uow, world, lot_id)
    releases.execute_outbound(
        uow(),
        world.who("keeper"),
        lot_id,
        OutboundIn(
            release_id=release.id,
            release_code=code,
            gross_g=quantity + 12_000_000,
            tare_g=12_000_000,
            weigh_ticket_no=f"WT-DISP-{release.id}",
            cartons=boxes,
            vehicle_plate=PLATE,
            collector_id_no=COLLECTOR_ID,
        ),
    )
    return release.id
