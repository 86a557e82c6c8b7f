"""Concurrent ingest workers raising the same condition make one alert and one work order.

Real connections, real commits, threads that overlap: the test works on a cold store of its own
(its own keeper and supervisor), so nothing it commits shows up for the shared world's personas.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.alerts.service import AlertScope, apply_transitions
from coldpledge.alerts.states import load_states, save_states
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.rules.conditions import Transition
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from tests.alerting import change
from tests.world import World

PATIENCE_S = 20.0


def _uow(database: Database) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(database.write_session)


@pytest.fixture(scope="module")
def room_id(database: Database, settings: Settings, world: World) -> int:
    """A supervised frozen room in a cold store nobody else uses."""
    uow = _uow(database)
    keeper = parties.create_organisation(
        uow(), SYSTEM, OrganisationIn(name="告警并发测试冷库", party_type=PartyType.KEEPER)
    )
    supervisor = parties.create_organisation(
        uow(), SYSTEM, OrganisationIn(name="告警并发测试监管", party_type=PartyType.SUPERVISOR)
    )
    made = {}
    for username, org, role in (
        ("alert-race-keeper", keeper.id, Role.KEEPER_STAFF),
        ("alert-race-manager", supervisor.id, Role.SUPERVISION_MANAGER),
    ):
        made[username] = parties.create_user(
            uow(),
            settings,
            SYSTEM,
            UserIn(
                username=username,
                display_name=username,
                organisation_id=org,
                role=role,
                password="correct-horse-battery",
            ),
        )
    warehouse = warehouses.create_warehouse(
        uow(),
        SYSTEM,
        WarehouseIn(
            code="AL-RACE", name="告警并发冷库", address="宁波港区", city="宁波", keeper_org_id=keeper.id
        ),
    )
    with uow() as unit:
        kate = parties.principal_for(unit.session.get_one(User, made["alert-race-keeper"].id))
    room = warehouses.add_room(
        uow(),
        kate,
        warehouse.id,
        RoomIn(
            code="AL-F18",
            name="race room",
            temperature_class=TemperatureClass.FROZEN,
            set_point_c=Decimal("-18"),
            band_low_c=Decimal("-22"),
            band_high_c=Decimal("-18"),
        ),
    )
    warehouses.create_virtual_warehouse(
        uow(),
        SYSTEM,
        VirtualWarehouseIn(
            code="VW-AL-RACE",
            name="告警并发监管仓",
            warehouse_id=warehouse.id,
            supervisor_org_id=supervisor.id,
            room_ids=[room.id],
        ),
    )
    return room.id


def _raise(
    database: Database, room_id: int, transition: Transition, before_commit: Callable[[], None]
) -> int:
    with UnitOfWork(database.write_session) as uow:
        (alert,) = apply_transitions(uow, [transition], scope=AlertScope(room_id=room_id))
        before_commit()
        uow.commit()
        return alert.id


def _counts(database: Database, rule: str) -> tuple[int, int]:
    with database.reading() as session:
        alerts = session.scalar(select(func.count()).select_from(Alert).where(Alert.rule == rule))
        orders = session.scalar(
            select(func.count())
            .select_from(WorkOrder)
            .join(Alert, Alert.id == WorkOrder.alert_id)
            .where(Alert.rule == rule)
        )
        return alerts or 0, orders or 0


def test_a_second_worker_raising_the_same_condition_while_the_first_commits_finds_its_alert(
    database: Database, room_id: int
) -> None:
    rule = f"race-{uuid.uuid4().hex[:8]}"
    transition = change(rule=rule, subject=f"room:{room_id}")
    first_applied = threading.Event()
    results: dict[str, int] = {}
    failures: list[BaseException] = []

    def hold() -> None:
        first_applied.set()
        threading.Event().wait(0.5)

    def first() -> None:
        try:
            # Holds its uncommitted alert while the second worker tries to raise the same one.
            results["first"] = _raise(database, room_id, transition, hold)
        except BaseException as exc:
            failures.append(exc)
            first_applied.set()

    def second() -> None:
        try:
            assert first_applied.wait(PATIENCE_S)
            results["second"] = _raise(database, room_id, transition, lambda: None)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE_S)
    assert not failures, failures
    assert results["first"] == results["second"]
    assert _counts(database, rule) == (1, 1)


def test_many_workers_starting_together_make_one_alert_and_one_work_order(
    database: Database, room_id: int
) -> None:
    rule = f"race-{uuid.uuid4().hex[:8]}"
    transition = change(rule=rule, subject=f"room:{room_id}")
    workers = 6
    start = threading.Barrier(workers)
    results: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            start.wait(PATIENCE_S)
            results.append(_raise(database, room_id, transition, lambda: None))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE_S)
    assert not failures, failures
    assert len(results) == workers
    assert len(set(results)) == 1
    assert _counts(database, rule) == (1, 1)


def test_condition_states_are_saved_and_loaded_in_the_callers_transaction(database: Database) -> None:
    rule = f"state-{uuid.uuid4().hex[:8]}"
    keys = [(rule, f"device:{n}") for n in range(3)]
    with UnitOfWork(database.write_session) as uow:
        save_states(uow.session, {keys[0]: {"since_ms": 1}, keys[1]: {"since_ms": 2}})
        uow.commit()
    with UnitOfWork(database.write_session) as uow:
        save_states(uow.session, {keys[1]: {"since_ms": 20}, keys[2]: {"since_ms": 3}})
        uow.session.rollback()
    with UnitOfWork(database.write_session) as uow:
        save_states(uow.session, {keys[1]: {"since_ms": 22}})
        uow.commit()
    with database.reading() as session:
        assert load_states(session, keys) == {keys[0]: {"since_ms": 1}, keys[1]: {"since_ms": 22}}
