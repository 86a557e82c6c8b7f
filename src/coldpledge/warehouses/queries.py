"""Reading warehouses and rooms in bulk, for screens: every room the principal sees, at once."""

from __future__ import annotations

from sqlalchemy.orm import Session, joinedload

from coldpledge.parties.access import restrict
from coldpledge.parties.policy import Principal
from coldpledge.warehouses.models import Room, Warehouse


def rooms_in_view(session: Session, principal: Principal) -> list[Room]:
    """Every room and zone the principal sees, with its warehouse, by warehouse and room code.
    One query: a keeper sees its buildings, a supervisor its supervised rooms, a bank or an owner
    the rooms its goods are in."""
    query = (
        restrict(principal, "view", Room)
        .join(Warehouse, Warehouse.id == Room.warehouse_id)
        .options(joinedload(Room.warehouse))
        .order_by(Warehouse.code, Room.code)
    )
    return list(session.scalars(query))
