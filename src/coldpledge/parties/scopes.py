"""Who sees which rows: the row-scope rule of every model, for every party type, in one place.

Each rule returns a SQL condition. ``restrict`` (in ``access``) applies it after checking that the
role may perform the action at all. The rules follow the parties' relationships (DESIGN §1):

- keeper: everything in the warehouses it keeps;
- supervisor: the virtual warehouses assigned to its organisation (an inspector: only those the
  inspector is personally assigned to), their rooms, and the lots and receipts in those rooms;
- borrower: the lots it owns and the receipts it holds;
- bank: the receipts pledged (or offered in pledge) to it, and their lots, until the receipt is
  offered to another bank;
- insurer: the receipts it insures, and their lots;
- bank, borrower and guarantor: the credit facilities they are party to, and their drawdowns;
- everyone signed in: the directory of organisations, the commodity list and prices.

Warehouses, rooms, operations and seals follow from the lots a party may see; operations on a
whole room (they list everyone's stock inside) only for its keeper and supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.financing.models import Drawdown, Facility
from coldpledge.financing.prices.models import PriceObservation, PriceSeries
from coldpledge.inventory.models import AttachmentLink, Commodity, Lot, Operation, Seal
from coldpledge.iot.models import DeadLetter, Device
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.receipts.models import Pledge, Receipt, Release
from coldpledge.warehouses.models import (
    ReleaseWindow,
    Room,
    SupervisionPolicy,
    VirtualWarehouse,
    VirtualWarehouseStaff,
    Warehouse,
)

Rule = Callable[[Principal], ColumnElement[bool]]


def _kept_warehouses(p: Principal) -> Select[Any]:
    return select(Warehouse.id).where(Warehouse.keeper_org_id == p.org_id)


def _supervised_vws(p: Principal) -> Select[Any]:
    query = select(VirtualWarehouse.id).where(VirtualWarehouse.supervisor_org_id == p.org_id)
    if p.role is Role.INSPECTOR:
        query = query.where(
            VirtualWarehouse.id.in_(
                select(VirtualWarehouseStaff.virtual_warehouse_id).where(
                    VirtualWarehouseStaff.user_id == p.user_id
                )
            )
        )
    return query


def _supervised_rooms(p: Principal) -> Select[Any]:
    return select(Room.id).where(Room.virtual_warehouse_id.in_(_supervised_vws(p)))


def _receipt_ids(p: Principal) -> Select[Any] | None:
    """Receipts a party sees through its relationship to the receipt itself."""
    if p.party_type is PartyType.BANK:
        # A pledge in any status keeps the receipt in view, so a bank still sees what it declined
        # or discharged; but not once the receipt is offered to another bank, whose pledge,
        # registration, releases and history are none of its business.
        later = aliased(Pledge)
        return select(Pledge.receipt_id).where(
            Pledge.pledgee_org_id == p.org_id,
            ~exists().where(
                later.receipt_id == Pledge.receipt_id,
                later.id > Pledge.id,
                later.pledgee_org_id != p.org_id,
            ),
        )
    if p.party_type is PartyType.BORROWER:
        return select(Receipt.id).where(Receipt.holder_org_id == p.org_id)
    if p.party_type is PartyType.INSURER:
        return select(Receipt.id).where(Receipt.insurer_org_id == p.org_id)
    return None


def _lot_ids(p: Principal) -> Select[Any]:
    if p.party_type is PartyType.KEEPER:
        return select(Lot.id).where(Lot.warehouse_id.in_(_kept_warehouses(p)))
    if p.party_type is PartyType.SUPERVISOR:
        return select(Lot.id).where(Lot.room_id.in_(_supervised_rooms(p)))
    if p.party_type is PartyType.BORROWER:
        return select(Lot.id).where(Lot.owner_org_id == p.org_id)
    receipts = _receipt_ids(p)
    if receipts is not None:
        return select(Receipt.lot_id).where(Receipt.id.in_(receipts))
    return select(Lot.id).where(false())


def _warehouse_ids(p: Principal) -> Select[Any]:
    if p.party_type is PartyType.KEEPER:
        return _kept_warehouses(p)
    if p.party_type is PartyType.SUPERVISOR:
        return select(VirtualWarehouse.warehouse_id).where(VirtualWarehouse.id.in_(_supervised_vws(p)))
    return select(Lot.warehouse_id).where(Lot.id.in_(_lot_ids(p)))


def _room_ids(p: Principal) -> Select[Any]:
    if p.party_type is PartyType.SUPERVISOR:
        return _supervised_rooms(p)
    if p.party_type is PartyType.KEEPER:
        return select(Room.id).where(Room.warehouse_id.in_(_kept_warehouses(p)))
    # Owners, banks and insurers see the rooms their goods are in, not the whole building.
    return select(Lot.room_id).where(Lot.id.in_(_lot_ids(p)))


def _vw_ids(p: Principal) -> Select[Any]:
    if p.party_type is PartyType.SUPERVISOR:
        return _supervised_vws(p)
    if p.party_type is PartyType.KEEPER:
        return select(VirtualWarehouse.id).where(VirtualWarehouse.warehouse_id.in_(_kept_warehouses(p)))
    return select(Room.virtual_warehouse_id).where(Room.id.in_(_room_ids(p)))


def receipts_rule(p: Principal) -> ColumnElement[bool]:
    if p.party_type is PartyType.KEEPER:
        return Receipt.warehouse_id.in_(_kept_warehouses(p))
    if p.party_type is PartyType.SUPERVISOR:
        return Receipt.lot_id.in_(_lot_ids(p))
    receipts = _receipt_ids(p)
    return Receipt.id.in_(receipts) if receipts is not None else false()


def _visible_receipt_ids(p: Principal) -> Select[Any]:
    return select(Receipt.id).where(receipts_rule(p))


def operations_rule(p: Principal) -> ColumnElement[bool]:
    on_lots = Operation.lot_id.in_(_lot_ids(p))
    if p.party_type not in (PartyType.KEEPER, PartyType.SUPERVISOR):
        # Sealing a room records the stock of every owner inside it: owners, banks and insurers
        # see what was done to their own lots (and the room's seals), not that list.
        return on_lots
    return or_(on_lots, and_(Operation.lot_id.is_(None), Operation.room_id.in_(_room_ids(p))))


def seals_rule(p: Principal) -> ColumnElement[bool]:
    return or_(Seal.lot_id.in_(_lot_ids(p)), Seal.room_id.in_(_room_ids(p)))


def _placed(p: Principal, room: Any, vw: Any, warehouse: Any) -> ColumnElement[bool]:
    """Alerts and work orders follow the most precise place they name: whoever sees the room (a
    bank: the rooms its collateral is in), else the virtual warehouse, else the warehouse."""
    return or_(
        and_(room.is_not(None), room.in_(_room_ids(p))),
        and_(room.is_(None), vw.is_not(None), vw.in_(_vw_ids(p))),
        and_(room.is_(None), vw.is_(None), warehouse.in_(_warehouse_ids(p))),
    )


def alerts_rule(p: Principal) -> ColumnElement[bool]:
    # A facility's alert (LTV, margin call, price) is seen by whoever sees the facility.
    return or_(
        _placed(p, Alert.room_id, Alert.virtual_warehouse_id, Alert.warehouse_id),
        Alert.facility_id.in_(select(Facility.id).where(facilities_rule(p))),
    )


def work_orders_rule(p: Principal) -> ColumnElement[bool]:
    # Whoever a work order is assigned (or escalated by assignment) to sees it; the response to a
    # facility's alert is seen by whoever sees the facility.
    placed = or_(
        _placed(p, WorkOrder.room_id, WorkOrder.virtual_warehouse_id, WorkOrder.warehouse_id),
        WorkOrder.alert_id.in_(
            select(Alert.id).where(Alert.facility_id.in_(select(Facility.id).where(facilities_rule(p))))
        ),
    )
    return or_(placed, WorkOrder.assignee_user_id == p.user_id) if p.user_id is not None else placed


def policies_rule(p: Principal) -> ColumnElement[bool]:
    """A policy is seen by whoever sees what it is attached to; commodities are open to all."""
    return or_(
        SupervisionPolicy.virtual_warehouse_id.in_(_vw_ids(p)),
        SupervisionPolicy.room_id.in_(_room_ids(p)),
        SupervisionPolicy.warehouse_id.in_(_warehouse_ids(p)),
        SupervisionPolicy.commodity_id.is_not(None),
    )


def facilities_rule(p: Principal) -> ColumnElement[bool]:
    """A facility is its bank's, its borrower's and its guarantor's business, nobody else's."""
    return or_(
        Facility.bank_org_id == p.org_id,
        Facility.borrower_org_id == p.org_id,
        Facility.guarantor_org_id == p.org_id,
    )


def _everyone(_p: Principal) -> ColumnElement[bool]:
    return true()


RULES: dict[type, Rule] = {
    Organisation: _everyone,
    Commodity: _everyone,
    # Prices are public data: everyone signed in reads them.
    PriceSeries: _everyone,
    PriceObservation: _everyone,
    User: lambda p: User.organisation_id == p.org_id,
    Warehouse: lambda p: Warehouse.id.in_(_warehouse_ids(p)),
    Room: lambda p: Room.id.in_(_room_ids(p)),
    # A device is seen by whoever sees its room: a bank watches the rooms its collateral is in.
    Device: lambda p: Device.room_id.in_(_room_ids(p)),
    # Raw rejected payloads may name any party's devices: the platform operator's alone.
    DeadLetter: lambda p: false(),
    VirtualWarehouse: lambda p: VirtualWarehouse.id.in_(_vw_ids(p)),
    ReleaseWindow: lambda p: ReleaseWindow.virtual_warehouse_id.in_(_vw_ids(p)),
    SupervisionPolicy: policies_rule,
    Lot: lambda p: Lot.id.in_(_lot_ids(p)),
    Operation: operations_rule,
    Seal: seals_rule,
    AttachmentLink: lambda p: AttachmentLink.lot_id.in_(_lot_ids(p)),
    Receipt: receipts_rule,
    Pledge: lambda p: Pledge.receipt_id.in_(_visible_receipt_ids(p)),
    Release: lambda p: Release.receipt_id.in_(_visible_receipt_ids(p)),
    Alert: alerts_rule,
    WorkOrder: work_orders_rule,
    Facility: facilities_rule,
    Drawdown: lambda p: Drawdown.facility_id.in_(select(Facility.id).where(facilities_rule(p))),
}
