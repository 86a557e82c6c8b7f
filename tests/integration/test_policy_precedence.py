"""Which supervision policy a room is judged by (``rules.policies``), on both databases.

The world: ys-frozen mixes YS-F18 (frozen; pork and beef pledged to Alice's bank) and YS-F25
(deep-frozen; shrimp under an issued, unpledged receipt); dj-frozen is DJ-F18 alone (frozen; pork
offered in pledge to the second bank). Every virtual warehouse has its initial policy, version 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from coldpledge.parties.policy import SYSTEM
from coldpledge.rules.policies import effective_policies, parameters_for_rooms, strictness
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import AreaKind, PolicyScope, Room, TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters, default_parameters
from coldpledge.warehouses.schemas import PolicyIn, RoomIn
from coldpledge.warehouses.supervision import PolicyPart
from tests.conftest import TestDB as Transaction
from tests.world import World


def frozen_line(warning_c: int, door_minutes: int) -> PolicyParameters:
    """The frozen template with its warning line at ``warning_c`` and the door limit changed:
    each policy in a test gets its own pair, so the answer shows which one was taken."""
    template = default_parameters(TemperatureClass.FROZEN)
    rule = template.temperature.model_copy(update={"warning_above_mc": warning_c * 1000})
    return template.model_copy(update={"temperature": rule, "door_open_max_minutes": door_minutes})


def set_policy(
    db: Transaction,
    world: World,
    who: str,
    scope: PolicyScope,
    scope_id: int,
    **body: Any,
) -> str:
    body.setdefault("reason", "测试策略")
    policy = supervision.set_policy(db.uow(), world.who(who), scope, scope_id, PolicyIn(**body))
    return policy.subject_ref


def judged(db: Transaction, room_id: int) -> tuple[int | None, int, dict[PolicyPart, str]]:
    """The warning line and door limit a room is judged by, and where each part came from."""
    with db.session() as session:
        found = effective_policies(session, [room_id])[room_id]
    parts = {part: source.ref for part, source in found.sources.items()}
    return found.parameters.temperature.warning_above_mc, found.parameters.door_open_max_minutes, parts


def unsupervised_room(db: Transaction, world: World, code: str, temperature_class: TemperatureClass) -> int:
    low, point, high = (
        ("-22", "-20", "-18") if temperature_class is TemperatureClass.FROZEN else ("-30", "-28", "-25")
    )
    data = RoomIn(
        code=code,
        name=f"{code} room",
        temperature_class=temperature_class,
        band_low_c=Decimal(low),
        set_point_c=Decimal(point),
        band_high_c=Decimal(high),
    )
    return warehouses.add_room(db.uow(), world.who("keeper"), world.warehouses["dongjiang"], data).id


@contextmanager
def counted(connection: Connection) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", count)


def test_a_mixed_frozen_and_deep_frozen_virtual_warehouse_judges_each_room_by_its_own_class(
    db: Transaction, world: World
) -> None:
    vw = world.vws["ys-frozen"]
    initial = f"supervision_policy:virtual_warehouse:{vw}:v1"
    # The initial policy was copied from the deep-frozen template, the coldest room's class.
    assert judged(db, world.rooms["YS-F25"]) == (
        -25_000,
        10,
        {PolicyPart.TEMPERATURE: initial, PolicyPart.MONITORING: initial, PolicyPart.PLEDGE: initial},
    )
    # The frozen room keeps the frozen line: -20 °C there is no excursion.
    assert judged(db, world.rooms["YS-F18"]) == (
        -18_000,
        10,
        {
            PolicyPart.TEMPERATURE: "policy_template:frozen",
            PolicyPart.MONITORING: initial,
            PolicyPart.PLEDGE: initial,
        },
    )


def test_a_room_policy_beats_the_commodity_the_virtual_warehouse_the_warehouse_and_the_template(
    db: Transaction, world: World
) -> None:
    room, vw = world.rooms["DJ-F18"], world.vws["dj-frozen"]
    loose = unsupervised_room(db, world, "DJ-F19", TemperatureClass.FROZEN)
    assert judged(db, loose)[2][PolicyPart.TEMPERATURE] == "policy_template:frozen"

    building = set_policy(
        db,
        world,
        "supervisor",
        PolicyScope.WAREHOUSE,
        world.warehouses["dongjiang"],
        parameters=frozen_line(-19, 21),
        temperature_class="frozen",
    )
    assert judged(db, loose) == (-19_000, 21, dict.fromkeys(PolicyPart, building))
    # DJ-F18's virtual warehouse has a policy: it comes before the warehouse's.
    initial = f"supervision_policy:virtual_warehouse:{vw}:v1"
    assert judged(db, room) == (-18_000, 10, dict.fromkeys(PolicyPart, initial))

    supervised = set_policy(
        db, world, "supervisor", PolicyScope.VIRTUAL_WAREHOUSE, vw, parameters=frozen_line(-20, 22)
    )
    assert judged(db, room) == (-20_000, 22, dict.fromkeys(PolicyPart, supervised))

    # Pork is offered in pledge in DJ-F18: its policy comes next, but the pledge terms stay the
    # virtual warehouse's.
    goods = set_policy(
        db,
        world,
        "admin",
        PolicyScope.COMMODITY,
        world.commodities["PORK-FZ"],
        parameters=frozen_line(-21, 23),
    )
    assert judged(db, room) == (
        -21_000,
        23,
        {PolicyPart.TEMPERATURE: goods, PolicyPart.MONITORING: goods, PolicyPart.PLEDGE: supervised},
    )

    own = set_policy(db, world, "supervisor", PolicyScope.ROOM, room, parameters=frozen_line(-22, 24))
    assert judged(db, room) == (
        -22_000,
        24,
        {PolicyPart.TEMPERATURE: own, PolicyPart.MONITORING: own, PolicyPart.PLEDGE: supervised},
    )
    with db.session() as session:
        parameters, ref = parameters_for_rooms(session, [room])[room]
    assert parameters.door_open_max_minutes == 24
    assert ref == f"temperature={own};monitoring={own};pledge={supervised}"


def test_a_warehouse_line_for_another_class_leaves_a_room_its_own_template(
    db: Transaction, world: World
) -> None:
    deep = unsupervised_room(db, world, "DJ-F30", TemperatureClass.DEEP_FROZEN)
    building = set_policy(
        db,
        world,
        "supervisor",
        PolicyScope.WAREHOUSE,
        world.warehouses["dongjiang"],
        template="frozen",
    )
    warning, _door, parts = judged(db, deep)
    assert warning == -25_000
    assert parts == {
        PolicyPart.TEMPERATURE: "policy_template:deep_frozen",
        PolicyPart.MONITORING: building,
        PolicyPart.PLEDGE: building,
    }


def test_the_strictest_line_of_the_pledged_commodities_in_a_room_wins(db: Transaction, world: World) -> None:
    room = world.rooms["YS-F18"]  # pork and beef, both pledged
    set_policy(db, world, "admin", PolicyScope.COMMODITY, world.commodities["PORK-FZ"], template="frozen")
    beef = set_policy(
        db, world, "admin", PolicyScope.COMMODITY, world.commodities["BEEF-FZ"], template="deep_frozen"
    )
    warning, _door, parts = judged(db, room)
    assert (warning, parts[PolicyPart.TEMPERATURE], parts[PolicyPart.MONITORING]) == (-25_000, beef, beef)


def test_goods_that_are_not_pledged_bring_no_commodity_policy(db: Transaction, world: World) -> None:
    # Shrimp in YS-F25 backs an issued receipt that nobody has pledged.
    set_policy(
        db,
        world,
        "admin",
        PolicyScope.COMMODITY,
        world.commodities["SHRIMP-FZ"],
        parameters=frozen_line(-30, 5),
    )
    assert judged(db, world.rooms["YS-F25"])[:2] == (-25_000, 10)


def test_a_zone_without_a_policy_of_its_own_follows_its_room(db: Transaction, world: World) -> None:
    parent = unsupervised_room(db, world, "DJ-F20", TemperatureClass.FROZEN)
    data = RoomIn(
        code="DJ-F20-A",
        name="DJ-F20 zone A",
        kind=AreaKind.ZONE,
        parent_room_id=parent,
        temperature_class=TemperatureClass.FROZEN,
        band_low_c=Decimal("-22"),
        set_point_c=Decimal("-20"),
        band_high_c=Decimal("-18"),
    )
    zone = warehouses.add_room(db.uow(), world.who("keeper"), world.warehouses["dongjiang"], data).id
    # Nobody supervises DJ-F20, so only the operator's system principal may attach a policy here.
    with db.uow() as unit:
        room = unit.session.get_one(Room, parent)
        policy = supervision.add_version(
            unit, SYSTEM, room, PolicyIn(parameters=frozen_line(-23, 7), reason="测试分区继承")
        )
        unit.commit()
        ref = policy.subject_ref
    assert judged(db, zone) == (
        -23_000,
        7,
        {**dict.fromkeys(PolicyPart, ref), PolicyPart.PLEDGE: "policy_template:frozen"},
    )


def test_the_policies_of_any_number_of_rooms_take_three_queries(db: Transaction, world: World) -> None:
    set_policy(db, world, "admin", PolicyScope.COMMODITY, world.commodities["PORK-FZ"], template="frozen")
    set_policy(db, world, "supervisor", PolicyScope.ROOM, world.rooms["YS-C04"], template="chilled")
    rooms = sorted(world.rooms.values())
    with db.session() as session, counted(db.connection) as statements:
        found = parameters_for_rooms(session, [*rooms, 10**6])
    assert sorted(found) == rooms  # a room that does not exist is left out
    assert len([s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]) == 3


def test_a_lower_warning_line_is_stricter_and_durations_break_ties() -> None:
    frozen = default_parameters(TemperatureClass.FROZEN).temperature
    deep = default_parameters(TemperatureClass.DEEP_FROZEN).temperature
    chilled = default_parameters(TemperatureClass.CHILLED).temperature
    quicker = frozen.model_copy(update={"warning_minutes": 15})
    assert sorted([chilled, frozen, quicker, deep], key=strictness) == [deep, quicker, frozen, chilled]
