"""The demo's parties, people, warehouses and commodities, and the first day that sets them up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import CommodityIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.parties.service import principal_for
from coldpledge.seed.identifiers import credit_code
from coldpledge.seed.scene import Scene, Site
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import ReleaseWindowIn, RoomIn, VirtualWarehouseIn, WarehouseIn

# key: (name, English name, party type, administrative division, organisation serial, address)
ORGANISATIONS: dict[str, tuple[str, str, PartyType, str, str, str]] = {
    "operator": (
        "冷链质押平台运营中心",
        "ColdPledge Platform Operations",
        PartyType.OPERATOR,
        "310115",
        "58213406",
        "上海市浦东新区临港新片区环湖西二路 888 号",
    ),
    "bank": (
        "浙商银行杭州分行",
        "China Zheshang Bank, Hangzhou Branch",
        PartyType.BANK,
        "330100",
        "67162945",
        "浙江省杭州市上城区民心路 1 号",
    ),
    "bank2": (
        "宁波银行上海分行",
        "Bank of Ningbo, Shanghai Branch",
        PartyType.BANK,
        "310115",
        "66076831",
        "上海市浦东新区世纪大道 210 号",
    ),
    "borrower": (
        "上海鲜丰冷链贸易有限公司",
        "Shanghai Xianfeng Cold Chain Trading Co., Ltd.",
        PartyType.BORROWER,
        "310115",
        "31248657",
        "上海市浦东新区申港大道 88 号 1206 室",
    ),
    "borrower2": (
        "天津海润食品进出口有限公司",
        "Tianjin Hairun Food Import & Export Co., Ltd.",
        PartyType.BORROWER,
        "120116",
        "30591724",
        "天津自贸试验区（东疆综合保税区）洛阳道 601 号 305 室",
    ),
    "keeper": (
        "中冷物流仓储有限公司",
        "Zhongleng Logistics & Warehousing Co., Ltd.",
        PartyType.KEEPER,
        "310115",
        "55934170",
        "上海市浦东新区芦潮港镇同顺大道 2789 号",
    ),
    "supervisor": (
        "中储监管服务有限公司",
        "Zhongchu Collateral Supervision Services Co., Ltd.",
        PartyType.SUPERVISOR,
        "110105",
        "79412638",
        "北京市朝阳区东三环中路 39 号 17 层",
    ),
    "insurer": (
        "中国人民财产保险股份有限公司上海市分公司",
        "PICC Property and Casualty, Shanghai Branch",
        PartyType.INSURER,
        "310101",
        "13221786",
        "上海市黄浦区中山南路 700 号",
    ),
}

# The demo logins, in the order they are shown: (username, organisation key, role, display name).
LOGINS: tuple[tuple[str, str, Role, str], ...] = (
    ("admin", "operator", Role.PLATFORM_ADMIN, "周敏"),
    # The operator's second person: approves the prices the first one enters (four eyes).
    ("admin2", "operator", Role.PLATFORM_ADMIN, "吴倩"),
    ("bank", "bank", Role.BANK_RISK_OFFICER, "陈立"),
    ("bank2", "bank2", Role.BANK_RISK_OFFICER, "林晓"),
    ("borrower", "borrower", Role.BORROWER_FINANCE, "许文静"),
    ("borrower2", "borrower2", Role.BORROWER_FINANCE, "赵海"),
    ("keeper", "keeper", Role.KEEPER_STAFF, "孙国强"),
    ("supervisor", "supervisor", Role.SUPERVISION_MANAGER, "李卫东"),
    ("inspector", "supervisor", Role.INSPECTOR, "何雨"),
)

# Room bands in °C: (set point, low, high).
_BANDS = {
    TemperatureClass.FROZEN: ("-20", "-23", "-18"),
    TemperatureClass.DEEP_FROZEN: ("-25", "-28", "-22"),
    TemperatureClass.CHILLED: ("2", "0", "4"),
}


@dataclass(frozen=True)
class WarehousePlan:
    code: str
    name: str
    address: str
    city: str
    city_code: str  # in certificate, ticket and seal numbers
    latitude: str
    longitude: str
    archive_code: str  # 中仓登 warehouse archive
    customs_office: str
    sealer: str  # the supervisor's person on site
    rooms: tuple[tuple[str, str, TemperatureClass, int, int], ...]  # code, name, class, m², m³


WAREHOUSES: dict[str, WarehousePlan] = {
    "yangshan": WarehousePlan(
        code="SH-YS",
        name="上海洋山冷库",
        address="上海市浦东新区芦潮港镇同顺大道 2789 号（洋山特殊综合保税区）",
        city="上海",
        city_code="SH",
        latitude="30.872140",
        longitude="121.893720",
        archive_code="ZCD-3101-2022-0187",
        customs_office="2248",
        sealer="inspector",
        rooms=(
            ("YS-F18-A", "1 号冷冻间 -18 °C", TemperatureClass.FROZEN, 1_200, 8_400),
            ("YS-F18-B", "2 号冷冻间 -18 °C", TemperatureClass.FROZEN, 1_200, 8_400),
            ("YS-F25", "3 号深冷间 -25 °C", TemperatureClass.DEEP_FROZEN, 800, 5_600),
            ("YS-C04", "4 号冷藏间 0–4 °C", TemperatureClass.CHILLED, 600, 3_600),
        ),
    ),
    "dongjiang": WarehousePlan(
        code="TJ-DJ",
        name="天津东疆冷库",
        address="天津自贸试验区（东疆综合保税区）亚洲路 6975 号",
        city="天津",
        city_code="TJ",
        latitude="39.021340",
        longitude="117.774180",
        archive_code="ZCD-1201-2021-0093",
        customs_office="0209",
        sealer="supervisor",
        rooms=(
            ("DJ-F18-1", "A1 冷冻间 -18 °C", TemperatureClass.FROZEN, 1_500, 10_500),
            ("DJ-F18-2", "A2 冷冻间 -18 °C", TemperatureClass.FROZEN, 1_500, 10_500),
        ),
    ),
}

COMMODITIES: tuple[tuple[str, str, str, TemperatureClass, str, int], ...] = (
    ("PORK-FZ", "冷冻猪肉", "Frozen pork", TemperatureClass.FROZEN, "0203299000", 730),
    ("BEEF-FZ", "冷冻去骨牛肉", "Frozen boneless beef", TemperatureClass.FROZEN, "0202300000", 730),
    ("SHRIMP-FZ", "冷冻南美白虾", "Frozen whiteleg shrimp", TemperatureClass.DEEP_FROZEN, "0306171900", 730),
    ("CHICKEN-CH", "冰鲜鸡肉", "Chilled chicken", TemperatureClass.CHILLED, "0207131900", 9),
)


def set_up(scene: Scene, password: str) -> None:
    """Day 0: the platform registers the parties and their people; the keeper registers its
    warehouses; the platform places rooms under supervision."""
    clock = scene.clock
    clock.on(0, "09:00")
    for key, (name, name_en, party_type, division, serial, address) in ORGANISATIONS.items():
        org = parties.create_organisation(
            scene.uow(),
            SYSTEM,
            OrganisationIn(
                name=name,
                name_en=name_en,
                party_type=party_type,
                credit_code=credit_code(division, serial),
                address=address,
            ),
        )
        scene.orgs[key], scene.org_names[key] = org.id, org.name
        clock.later(3)
    for username, org_key, role, display_name in LOGINS:
        user = parties.create_user(
            scene.uow(),
            scene.settings,
            SYSTEM,
            UserIn(
                username=username,
                display_name=display_name,
                organisation_id=scene.orgs[org_key],
                role=role,
                password=password,
            ),
        )
        scene.users[username] = user.id
        clock.later(2)
    with scene.database.reading() as session:
        for username, user_id in scene.users.items():
            scene.who[username] = principal_for(session.get_one(User, user_id))

    clock.on(0, "10:30")
    for key, site in WAREHOUSES.items():
        warehouse = warehouses.create_warehouse(
            scene.uow(),
            scene.who["keeper"],
            WarehouseIn(
                code=site.code,
                name=site.name,
                address=site.address,
                city=site.city,
                latitude=Decimal(site.latitude),
                longitude=Decimal(site.longitude),
                registry_code=site.archive_code,
            ),
        )
        scene.sites[key] = Site(key, warehouse.id, site.customs_office, site.city_code, site.sealer)
        for room_code, room_name, temperature, area, volume in site.rooms:
            set_point, low, high = _BANDS[temperature]
            room = warehouses.add_room(
                scene.uow(),
                scene.who["keeper"],
                warehouse.id,
                RoomIn(
                    code=room_code,
                    name=room_name,
                    temperature_class=temperature,
                    set_point_c=Decimal(set_point),
                    band_low_c=Decimal(low),
                    band_high_c=Decimal(high),
                    area_m2=area,
                    volume_m3=volume,
                ),
            )
            scene.rooms[room_code], scene.room_site[room_code] = room.id, key
            clock.later(2)

    for code, name, name_en, temperature, hs_code, shelf_life in COMMODITIES:
        scene.commodities[code] = inventory.create_commodity(
            scene.uow(),
            SYSTEM,
            CommodityIn(
                code=code,
                name=name,
                name_en=name_en,
                temperature_class=temperature,
                hs_code=hs_code,
                shelf_life_days=shelf_life,
            ),
        ).id
        clock.later(1)

    clock.on(0, "14:00")
    _supervise(scene)


def _supervise(scene: Scene) -> None:
    """The tripartite supervision agreements: the supervisor watches the frozen rooms of both
    warehouses. The chilled room holds short-lived goods nobody lends against, so it stays outside."""
    year = scene.clock.start.year
    plan = {
        "yangshan": ("VW-SH-YS", "洋山冷库监管仓", ["YS-F18-A", "YS-F18-B", "YS-F25"], f"ZCJG-{year}-SH-031"),
        "dongjiang": ("VW-TJ-DJ", "东疆冷库监管仓", ["DJ-F18-1", "DJ-F18-2"], f"ZCJG-{year}-TJ-017"),
    }
    for key, (code, name, rooms, agreement) in plan.items():
        scene.vws[key] = warehouses.create_virtual_warehouse(
            scene.uow(),
            SYSTEM,
            VirtualWarehouseIn(
                code=code,
                name=name,
                warehouse_id=scene.sites[key].warehouse_id,
                supervisor_org_id=scene.orgs["supervisor"],
                room_ids=[scene.rooms[room] for room in rooms],
                agreement_no=agreement,
            ),
        ).id
        scene.clock.later(5)
    supervisor = scene.who["supervisor"]
    windows = (
        ("yangshan", ReleaseWindowIn(weekdays="12345", start="08:00", end="17:00", note="工作日放货窗口")),
        ("yangshan", ReleaseWindowIn(weekdays="6", start="08:30", end="12:00", note="周六上午放货窗口")),
        ("dongjiang", ReleaseWindowIn(weekdays="12345", start="08:30", end="16:30", note="工作日放货窗口")),
    )
    for key, window in windows:
        warehouses.add_release_window(scene.uow(), supervisor, scene.vws[key], window)
        scene.clock.later(3)
    warehouses.assign_staff(scene.uow(), supervisor, scene.vws["yangshan"], scene.users["inspector"])
