"""Who handles and who hears about an alert in a place: the escalation chain of DESIGN §5.

The assignee is an inspector assigned to the virtual warehouse (else a supervision manager of its
supervisor); above the assignee stand the supervisor's supervision managers, then the risk
officers of every bank holding an active pledge on goods in those rooms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from coldpledge.inventory.models import Lot
from coldpledge.parties.models import User
from coldpledge.parties.policy import Role
from coldpledge.receipts.lifecycle import ACTIVE, ReceiptStatus
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt
from coldpledge.warehouses.models import Room, VirtualWarehouse, VirtualWarehouseStaff, Warehouse

# GSP practice: a critical alert is told to at least three people (the policies'
# ``alert_recipients_min`` defaults to the same number).
CRITICAL_RECIPIENTS_MIN = 3


@dataclass(frozen=True)
class AlertScope:
    """Where an alert or a work order is: as precise as known (a room, else a virtual warehouse,
    else a warehouse). An alert on no place (a facility's) names who answers for it instead
    (``responder_user_id``: the bank's risk officer); in a warehouse its inspector does."""

    room_id: int | None = None
    warehouse_id: int | None = None
    virtual_warehouse_id: int | None = None
    responder_user_id: int | None = None


def complete(session: Session, place: AlertScope) -> AlertScope:
    """Fill in the warehouse and virtual warehouse of a room, and the warehouse of a virtual one."""
    room_id, warehouse_id, vw_id = place.room_id, place.warehouse_id, place.virtual_warehouse_id
    if room_id is not None:
        room = session.get_one(Room, room_id)
        warehouse_id = warehouse_id or room.warehouse_id
        vw_id = vw_id or room.virtual_warehouse_id
    if vw_id is not None and warehouse_id is None:
        warehouse_id = session.get_one(VirtualWarehouse, vw_id).warehouse_id
    return AlertScope(room_id, warehouse_id, vw_id, place.responder_user_id)


def rooms_of(place: AlertScope) -> Select[Any]:
    if place.room_id is not None:
        return select(Room.id).where(Room.id == place.room_id)
    if place.virtual_warehouse_id is not None:
        return select(Room.id).where(Room.virtual_warehouse_id == place.virtual_warehouse_id)
    return select(Room.id).where(Room.warehouse_id == place.warehouse_id)


def _users(session: Session, query: Select[Any]) -> list[int]:
    return list(session.scalars(query.where(User.is_active).order_by(User.id)))


def assignee_for(session: Session, place: AlertScope) -> int | None:
    """The inspector assigned longest to the virtual warehouse, else its first supervision manager;
    on no place, the responder the place names."""
    if place.virtual_warehouse_id is None:
        return place.responder_user_id
    inspector = session.scalars(
        select(User.id)
        .join(VirtualWarehouseStaff, VirtualWarehouseStaff.user_id == User.id)
        .where(VirtualWarehouseStaff.virtual_warehouse_id == place.virtual_warehouse_id, User.is_active)
        .order_by(VirtualWarehouseStaff.assigned_at, User.id)
    ).first()
    if inspector is not None:
        return inspector
    managers = supervision_managers(session, place)
    return managers[0] if managers else None


def supervision_managers(session: Session, place: AlertScope) -> list[int]:
    if place.virtual_warehouse_id is None:
        return []
    org = select(VirtualWarehouse.supervisor_org_id).where(VirtualWarehouse.id == place.virtual_warehouse_id)
    return _users(
        session, select(User.id).where(User.organisation_id.in_(org), User.role == Role.SUPERVISION_MANAGER)
    )


def bank_risk_officers(session: Session, place: AlertScope) -> list[int]:
    """Risk officers of the banks whose accepted pledges cover goods in these rooms."""
    banks = (
        select(Pledge.pledgee_org_id)
        .join(Receipt, Receipt.id == Pledge.receipt_id)
        .join(Lot, Lot.id == Receipt.lot_id)
        .where(Pledge.status == PledgeStatus.ACTIVE, Lot.room_id.in_(rooms_of(place)))
    )
    return _users(
        session, select(User.id).where(User.organisation_id.in_(banks), User.role == Role.BANK_RISK_OFFICER)
    )


def keeper_staff(session: Session, place: AlertScope) -> list[int]:
    if place.warehouse_id is None:
        return []
    keeper = select(Warehouse.keeper_org_id).where(Warehouse.id == place.warehouse_id)
    return _users(
        session, select(User.id).where(User.organisation_id.in_(keeper), User.role == Role.KEEPER_STAFF)
    )


def chain(session: Session, place: AlertScope, assignee: int | None, level: int) -> list[int]:
    """Everyone told at escalation ``level``: the assignee, then the managers, then the banks."""
    people = [assignee] if assignee is not None else []
    if level >= 1 or not people:
        people += supervision_managers(session, place)
    if level >= 2:
        people += bank_risk_officers(session, place)
    return list(dict.fromkeys(people))


def platform_operators(session: Session) -> list[int]:
    """The platform's own administrators: they see every alert, in every warehouse."""
    return _users(session, select(User.id).where(User.role == Role.PLATFORM_ADMIN))


def critical_recipients(
    session: Session, place: AlertScope, assignee: int | None, minimum: int = CRITICAL_RECIPIENTS_MIN
) -> list[int]:
    """A critical alert reaches at least ``minimum`` people where that many exist (GSP practice):
    the assignee, the supervision managers, the banks' risk officers and the keeper's staff on
    site; when they are fewer (no inspector on the warehouse, no active pledge on its goods), the
    platform's operators make up the number."""
    people = list(dict.fromkeys(chain(session, place, assignee, 2) + keeper_staff(session, place)))
    if len(people) < minimum:
        people = list(dict.fromkeys(people + platform_operators(session)))
    return people


_ACTIVE_RECEIPT: tuple[ReceiptStatus, ...] = tuple(sorted(ACTIVE))


def evidence_refs(session: Session, place: AlertScope) -> list[str]:
    """Evidence refs of the place and of the goods in it, so that whoever owns the room, the
    warehouse, a lot or a receipt there finds the alert in its evidence."""
    refs: list[str] = []
    if place.room_id is not None:
        refs.append(f"room:{place.room_id}")
    if place.virtual_warehouse_id is not None:
        refs.append(session.get_one(VirtualWarehouse, place.virtual_warehouse_id).subject_ref)
    if place.warehouse_id is not None:
        refs.append(session.get_one(Warehouse, place.warehouse_id).subject_ref)
    if place.room_id is None and place.virtual_warehouse_id is None and place.warehouse_id is None:
        return refs
    rows = session.execute(
        select(Lot.code, Receipt.code)
        .outerjoin(Receipt, (Receipt.lot_id == Lot.id) & Receipt.status.in_(_ACTIVE_RECEIPT))
        .where(Lot.room_id.in_(rooms_of(place)))
        .order_by(Lot.id)
    )
    for lot_code, receipt_code in rows:
        refs.append(f"lot:{lot_code}")
        if receipt_code is not None:
            refs.append(f"receipt:{receipt_code}")
    return list(dict.fromkeys(refs))
