"""The shared test world: parties, warehouses, lots and receipts in every interesting state.

Built once per test session through the real services (so every row has its audit event and
evidence entry), then each test runs inside a transaction that is rolled back.

The personas, one per role and relationship:

- Alice (``bank``) is a risk officer at 浙商银行杭州分行; Victor (``bankviewer``) may only look.
- Bruno (``bank2``) is a risk officer at 宁波银行上海分行, the other lender.
- Carol (``borrower``) is finance staff at 上海鲜丰冷链贸易; Dan (``borrower2``) at 天津海润食品.
- Kate (``keeper``) works for 中冷物流仓储, which keeps the Yangshan and Dongjiang warehouses.
- Ken (``keeper2``) works for 北方冷链, another keeper with a warehouse of its own.
- Sam (``supervisor``) manages supervision at 中储监管; Ivy (``inspector``) is assigned to the
  Yangshan frozen virtual warehouse only; Ian (``inspector2``) is assigned nowhere.
- Sue (``supervisor2``) manages another supervision company, over Ken's warehouse.
- Irene (``insurer``) at 人保财险 insures one receipt; Gary (``guarantor``) guarantees nothing yet.
- Olga (``admin``) runs the platform.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from coldpledge.config import Settings
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import AttachmentPurpose, InspectionResult, Lot
from coldpledge.inventory.schemas import CommodityIn, InboundIn, InspectIn, SealIn, WeighIn, WeighingIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Principal, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.parties.service import principal_for
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import (
    NoteIn,
    PledgeAcceptIn,
    PledgeRequestIn,
    ReceiptCreateIn,
    ReleaseRequestIn,
)
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import ReleaseWindowIn, RoomIn, VirtualWarehouseIn, WarehouseIn
from tests.support import in_days, tiny_png, today

PASSWORD = "correct-horse-battery"

USERS: dict[str, tuple[str, Role, str]] = {
    # username: (organisation key, role, display name)
    "admin": ("operator", Role.PLATFORM_ADMIN, "Olga"),
    "bank": ("bank", Role.BANK_RISK_OFFICER, "Alice"),
    "bankviewer": ("bank", Role.BANK_VIEWER, "Victor"),
    "bank2": ("bank2", Role.BANK_RISK_OFFICER, "Bruno"),
    "borrower": ("borrower", Role.BORROWER_FINANCE, "Carol"),
    "borrower2": ("borrower2", Role.BORROWER_FINANCE, "Dan"),
    "keeper": ("keeper", Role.KEEPER_STAFF, "Kate"),
    "keeper2": ("keeper2", Role.KEEPER_STAFF, "Ken"),
    "supervisor": ("supervisor", Role.SUPERVISION_MANAGER, "Sam"),
    "inspector": ("supervisor", Role.INSPECTOR, "Ivy"),
    "inspector2": ("supervisor", Role.INSPECTOR, "Ian"),
    "supervisor2": ("supervisor2", Role.SUPERVISION_MANAGER, "Sue"),
    "insurer": ("insurer", Role.INSURER_VIEWER, "Irene"),
    "guarantor": ("guarantor", Role.GUARANTOR_VIEWER, "Gary"),
}

ORGS: dict[str, tuple[str, PartyType]] = {
    "operator": ("冷链质押平台运营中心", PartyType.OPERATOR),
    "bank": ("浙商银行杭州分行", PartyType.BANK),
    "bank2": ("宁波银行上海分行", PartyType.BANK),
    "borrower": ("上海鲜丰冷链贸易有限公司", PartyType.BORROWER),
    "borrower2": ("天津海润食品进出口有限公司", PartyType.BORROWER),
    "keeper": ("中冷物流仓储（上海）有限公司", PartyType.KEEPER),
    "keeper2": ("北方冷链物流有限公司", PartyType.KEEPER),
    "supervisor": ("中储监管服务有限公司", PartyType.SUPERVISOR),
    "supervisor2": ("华信仓储监管有限公司", PartyType.SUPERVISOR),
    "insurer": ("中国人民财产保险上海分公司", PartyType.INSURER),
    "guarantor": ("浙江融资担保有限公司", PartyType.GUARANTOR),
}


@dataclass
class World:
    """Ids of everything the tests refer to by name."""

    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    warehouses: dict[str, int] = field(default_factory=dict)
    rooms: dict[str, int] = field(default_factory=dict)
    vws: dict[str, int] = field(default_factory=dict)
    commodities: dict[str, int] = field(default_factory=dict)
    lots: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, int] = field(default_factory=dict)
    releases: dict[str, int] = field(default_factory=dict)
    release_codes: dict[str, str] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)

    def who(self, username: str) -> Principal:
        return self.principals[username]


UowFactory = Callable[[], UnitOfWork]


def build(uow: UowFactory, settings: Settings) -> World:
    world = World()
    _parties(uow, settings, world)
    _warehouses(uow, world)
    _goods(uow, settings, world)
    return world


def _parties(uow: UowFactory, settings: Settings, world: World) -> None:
    for key, (name, party_type) in ORGS.items():
        world.orgs[key] = parties.create_organisation(
            uow(), SYSTEM, OrganisationIn(name=name, party_type=party_type)
        ).id
    for username, (org, role, display) in USERS.items():
        data = UserIn(
            username=username,
            display_name=display,
            organisation_id=world.orgs[org],
            role=role,
            password=PASSWORD,
        )
        user = parties.create_user(uow(), settings, SYSTEM, data)
        world.users[username] = user.id
    with uow() as unit:
        for username, user_id in world.users.items():
            world.principals[username] = principal_for(unit.session.get_one(User, user_id))


def _room(code: str, temperature: TemperatureClass) -> RoomIn:
    set_point, low, high = {
        TemperatureClass.FROZEN: ("-18", "-22", "-18"),
        TemperatureClass.DEEP_FROZEN: ("-25", "-28", "-22"),
        TemperatureClass.CHILLED: ("2", "0", "4"),
    }[temperature]
    return RoomIn(
        code=code,
        name=f"{code} room",
        temperature_class=temperature,
        set_point_c=Decimal(set_point),
        band_low_c=Decimal(low),
        band_high_c=Decimal(high),
    )


def _warehouses(uow: UowFactory, world: World) -> None:
    keeper, keeper2 = world.who("keeper"), world.who("keeper2")
    layout = {
        "yangshan": (
            keeper,
            "SH-YS",
            "上海洋山冷库",
            "上海",
            [
                ("YS-F18", TemperatureClass.FROZEN),
                ("YS-F25", TemperatureClass.DEEP_FROZEN),
                ("YS-C04", TemperatureClass.CHILLED),
            ],
        ),
        "dongjiang": (keeper, "TJ-DJ", "天津东疆冷库", "天津", [("DJ-F18", TemperatureClass.FROZEN)]),
        "north": (keeper2, "DL-BF", "大连北方冷库", "大连", [("BF-F18", TemperatureClass.FROZEN)]),
    }
    for key, (who, code, name, city, rooms) in layout.items():
        warehouse = warehouses.create_warehouse(
            uow(), who, WarehouseIn(code=code, name=name, address=f"{city}港区", city=city)
        )
        world.warehouses[key] = warehouse.id
        for room_code, temperature in rooms:
            world.rooms[room_code] = warehouses.add_room(
                uow(), who, warehouse.id, _room(room_code, temperature)
            ).id
    vws = {
        "ys-frozen": ("VW-YS-F", "yangshan", "supervisor", ["YS-F18", "YS-F25"]),
        "ys-chilled": ("VW-YS-C", "yangshan", "supervisor", ["YS-C04"]),
        "dj-frozen": ("VW-DJ-F", "dongjiang", "supervisor", ["DJ-F18"]),
        "north": ("VW-BF-F", "north", "supervisor2", ["BF-F18"]),
    }
    for key, (code, site, supervisor, room_codes) in vws.items():
        data = VirtualWarehouseIn(
            code=code,
            name=f"{code} 监管仓",
            warehouse_id=world.warehouses[site],
            supervisor_org_id=world.orgs[supervisor],
            room_ids=[world.rooms[room] for room in room_codes],
        )
        world.vws[key] = warehouses.create_virtual_warehouse(uow(), SYSTEM, data).id
    warehouses.assign_staff(uow(), world.who("supervisor"), world.vws["ys-frozen"], world.users["inspector"])
    window = warehouses.add_release_window(
        uow(),
        world.who("supervisor"),
        world.vws["ys-frozen"],
        ReleaseWindowIn(weekdays="12345", start="08:00", end="17:00", note="工作日放货窗口"),
    )
    world.windows["ys-weekdays"] = window.id
    for code, name, name_en, temperature in (
        ("PORK-FZ", "冷冻猪肉", "Frozen pork", TemperatureClass.FROZEN),
        ("BEEF-FZ", "冷冻牛肉", "Frozen beef", TemperatureClass.FROZEN),
        ("SHRIMP-FZ", "冷冻白虾", "Frozen white shrimp", TemperatureClass.DEEP_FROZEN),
        ("CHICKEN-CH", "冰鲜鸡", "Chilled chicken", TemperatureClass.CHILLED),
    ):
        commodity = inventory.create_commodity(
            uow(), SYSTEM, CommodityIn(code=code, name=name, name_en=name_en, temperature_class=temperature)
        )
        world.commodities[code] = commodity.id


def receive(
    uow: UowFactory,
    world: World,
    *,
    room: str,
    owner: str,
    commodity: str,
    tonnes: int,
    keeper: str = "keeper",
    batch: str = "B1",
) -> int:
    """Inbound a lot of ``tonnes`` declared tonnes; returns its id."""
    data = InboundIn(
        owner_org_id=world.orgs[owner],
        room_id=world.rooms[room],
        commodity_id=world.commodities[commodity],
        spec="20kg/箱",
        origin_country="ES",
        plant_number="ES10.07771/CS",
        batch_number=batch,
        production_date=today() - timedelta(days=60),
        expiry_date=today() + timedelta(days=600),
        declared_cartons=tonnes * 50,
        declared_net_weight_g=tonnes * 1_000_000,
        customs_declaration_no="220120261000123456",
        quarantine_cert_no="ES-QC-2026-0091",
        truck_weighing=WeighingIn(
            gross_g=tonnes * 1_000_000 + 15_000_000, tare_g=15_000_000, weigh_ticket_no="GT-1"
        ),
    )
    return inventory.inbound(uow(), world.who(keeper), data).id


def make_ready(
    uow: UowFactory,
    settings: Settings,
    world: World,
    lot_id: int,
    *,
    keeper: str = "keeper",
    sealer: str = "supervisor",
    seal: str | None = None,
) -> None:
    """Weigh, inspect, photograph and seal a lot: the inbound check a receipt needs."""
    from coldpledge.inventory.files import FileStore

    keeper_p = world.who(keeper)
    with uow() as unit:
        lot = unit.session.get_one(Lot, lot_id)
        declared, cartons = lot.declared_net_weight_g, lot.cartons
    inventory.weigh(
        uow(),
        keeper_p,
        lot_id,
        WeighIn(
            gross_g=declared + 1_500_000, tare_g=1_500_000, weigh_ticket_no=f"WT-{lot_id}", cartons=cartons
        ),
    )
    inventory.inspect(
        uow(),
        keeper_p,
        lot_id,
        InspectIn(result=InspectionResult.PASSED, agency="CCIC", report_no=f"CCIC-{lot_id}"),
    )
    store = FileStore(settings.attachments_dir, settings.attachment_max_bytes)
    inventory.attach(
        uow(),
        keeper_p,
        store,
        lot_id,
        io.BytesIO(tiny_png(lot_id)),
        purpose=AttachmentPurpose.PHOTO,
        original_name=f"lot-{lot_id}.png",
        operation_id=None,
    )
    inventory.seal_lot(uow(), world.who(sealer), lot_id, SealIn(numbers=[seal or f"SEAL-{lot_id:06d}"]))


def issued_receipt(
    uow: UowFactory, world: World, lot_id: int, *, keeper: str = "keeper", insurer: str | None = None
) -> int:
    with uow() as unit:
        lot = unit.session.get_one(Lot, lot_id)
        quantity, cartons = lot.verified_net_weight_g, lot.cartons
    insurance: dict[str, Any] = {}
    if insurer:
        insurance = {
            "insurer_org_id": world.orgs[insurer],
            "insured_amount_fen": 50_000_000_00,
            "insurance_until": today() + timedelta(days=365),
        }
    receipt = receipts.create_draft(
        uow(),
        world.who(keeper),
        ReceiptCreateIn(
            lot_id=lot_id,
            quantity_g=quantity,
            cartons=cartons,
            storage_period_end=today() + timedelta(days=300),
            storage_fee_note="1.20 元/吨/天",
            loss_standard="干耗 ≤ 0.3%",
            **insurance,
        ),
    )
    receipts.submit(uow(), world.who(keeper), receipt.id, NoteIn())
    receipts.issue(uow(), world.who(keeper), receipt.id, NoteIn())
    return receipt.id


def pledge(
    uow: UowFactory, world: World, receipt_id: int, *, holder: str, bank: str, accept: bool = True
) -> None:
    receipts.request_pledge(
        uow(), world.who(holder), receipt_id, PledgeRequestIn(pledgee_org_id=world.orgs[bank])
    )
    if accept:
        receipts.accept_pledge(
            uow(), world.who(bank), receipt_id, PledgeAcceptIn(registration_no=f"ZDW-2026-{receipt_id:08d}")
        )


def _goods(uow: UowFactory, settings: Settings, world: World) -> None:
    plan = [
        # key, room, owner, commodity, tonnes
        ("pledged", "YS-F18", "borrower", "PORK-FZ", 30),
        ("pledged_with_release", "YS-F18", "borrower", "BEEF-FZ", 20),
        ("pending", "DJ-F18", "borrower2", "PORK-FZ", 25),
        ("issued", "YS-F25", "borrower", "SHRIMP-FZ", 12),
        ("draft", "YS-F25", "borrower2", "SHRIMP-FZ", 8),
        ("free", "YS-F18", "borrower", "PORK-FZ", 10),
        ("north", "BF-F18", "borrower", "BEEF-FZ", 15),
    ]
    for key, room, owner, commodity, tonnes in plan:
        keeper = "keeper2" if room.startswith("BF") else "keeper"
        world.lots[key] = receive(
            uow,
            world,
            room=room,
            owner=owner,
            commodity=commodity,
            tonnes=tonnes,
            keeper=keeper,
            batch=f"B-{key}",
        )
        sealer = "supervisor2" if keeper == "keeper2" else "supervisor"
        make_ready(uow, settings, world, world.lots[key], keeper=keeper, sealer=sealer)

    world.receipts["pledged"] = issued_receipt(uow, world, world.lots["pledged"])
    pledge(uow, world, world.receipts["pledged"], holder="borrower", bank="bank")

    world.receipts["pledged_with_release"] = issued_receipt(uow, world, world.lots["pledged_with_release"])
    pledge(uow, world, world.receipts["pledged_with_release"], holder="borrower", bank="bank")
    release, _ = releases.request_release(
        uow(),
        world.who("borrower"),
        world.receipts["pledged_with_release"],
        ReleaseRequestIn(
            quantity_g=5_000_000,
            cartons=250,
            vehicle_plate="沪A12345",
            collector_name="王师傅",
            collector_id_no="310101199001011234",
            valid_until=in_days(3),
        ),
    )
    world.releases["requested"] = release.id

    world.receipts["pending"] = issued_receipt(uow, world, world.lots["pending"])
    pledge(uow, world, world.receipts["pending"], holder="borrower2", bank="bank2", accept=False)

    world.receipts["issued"] = issued_receipt(uow, world, world.lots["issued"], insurer="insurer")

    with uow() as unit:
        lot = unit.session.get_one(Lot, world.lots["draft"])
        quantity, cartons = lot.verified_net_weight_g, lot.cartons
    world.receipts["draft"] = receipts.create_draft(
        uow(),
        world.who("keeper"),
        ReceiptCreateIn(
            lot_id=world.lots["draft"],
            quantity_g=quantity,
            cartons=cartons,
            storage_period_end=today() + timedelta(days=200),
        ),
    ).id

    world.receipts["north"] = issued_receipt(uow, world, world.lots["north"], keeper="keeper2")
