"""A cold store of its own for tests that commit (concurrency): its own borrower, bank, keeper and
supervisor (one user each, keyed like the shared world so that its helpers work on it), one frozen
room in a supervised virtual warehouse. Nothing built here shows in the shared world's lists."""

from __future__ import annotations

from decimal import Decimal

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from tests.world import PASSWORD, World

ROLES: dict[str, tuple[PartyType, Role]] = {
    "borrower": (PartyType.BORROWER, Role.BORROWER_FINANCE),
    "bank": (PartyType.BANK, Role.BANK_RISK_OFFICER),
    "keeper": (PartyType.KEEPER, Role.KEEPER_STAFF),
    "supervisor": (PartyType.SUPERVISOR, Role.SUPERVISION_MANAGER),
}


def private_site(database: Database, settings: Settings, world: World, *, name: str, room: str) -> World:
    """The site called ``name`` (organisations ``<name>-borrower`` …, users ``<name>-bank`` …,
    warehouse and virtual warehouse ``<NAME>``) with the room ``room``; committed."""

    def uow() -> UnitOfWork:
        return UnitOfWork(database.write_session)

    site = World(commodities=dict(world.commodities))
    for key, (party_type, role) in ROLES.items():
        org = parties.create_organisation(
            uow(), SYSTEM, OrganisationIn(name=f"{name}-{key}", party_type=party_type)
        )
        site.orgs[key] = org.id
        data = UserIn(
            username=f"{name}-{key}", display_name=key, organisation_id=org.id, role=role, password=PASSWORD
        )
        site.users[key] = parties.create_user(uow(), settings, SYSTEM, data).id
    with uow() as unit:
        for key, user_id in site.users.items():
            site.principals[key] = parties.principal_for(unit.session.get_one(User, user_id))
    keeper = site.who("keeper")
    code = name.upper()
    warehouse = warehouses.create_warehouse(
        uow(), keeper, WarehouseIn(code=code, name=f"{name} cold store", address="洋山港区", city="上海")
    )
    made = warehouses.add_room(
        uow(),
        keeper,
        warehouse.id,
        RoomIn(
            code=room,
            name=f"{name} room",
            temperature_class=TemperatureClass.FROZEN,
            set_point_c=Decimal("-18"),
            band_low_c=Decimal("-22"),
            band_high_c=Decimal("-18"),
        ),
    )
    site.rooms[room] = made.id
    warehouses.create_virtual_warehouse(
        uow(),
        SYSTEM,
        VirtualWarehouseIn(
            code=f"VW-{code}",
            name=f"{name} supervised",
            warehouse_id=warehouse.id,
            supervisor_org_id=site.orgs["supervisor"],
            room_ids=[made.id],
        ),
    )
    return site
