"""Migration 0008 keeps the policies of virtual warehouses as they were, and learns the class
their temperature line was written for; the database itself refuses a policy attached to two
things. On a database of its own, as in test_migrations.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from coldpledge.db import make_engine, scratch_database
from coldpledge.migrate import alembic_config, upgrade

POSTGRES_URL = os.environ.get("COLDPLEDGE_TEST_DATABASE_URL")
AT = "2026-11-01 00:00:00"


@pytest.fixture
def fresh() -> Iterator[Engine]:
    with scratch_database(POSTGRES_URL, prefix="coldpledge_policy_migration") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def supervised_site(engine: Engine) -> None:
    """At 0007: a virtual warehouse over a frozen and a deep-frozen room with two policy
    versions, and one over no room at all."""
    statements = [
        "INSERT INTO organisations (id, name, party_type, is_active, created_at) "
        "VALUES (1, '冷库', 'keeper', true, :at), (2, '监管', 'supervisor', true, :at)",
        "INSERT INTO warehouses (id, code, name, keeper_org_id, address, city, created_at) "
        "VALUES (1, 'SH-YS', '洋山', 1, '港区', '上海', :at)",
        "INSERT INTO virtual_warehouses (id, code, name, warehouse_id, supervisor_org_id, mode, status, "
        "created_at) VALUES (1, 'VW-1', '监管仓', 1, 2, 'static', 'active', :at), "
        "(2, 'VW-2', '空监管仓', 1, 2, 'static', 'active', :at)",
        "INSERT INTO rooms (id, warehouse_id, code, name, kind, temperature_class, set_point_mc, "
        "band_low_mc, band_high_mc, virtual_warehouse_id, created_at) VALUES "
        "(1, 1, 'F18', 'F18', 'room', 'frozen', -20000, -22000, -18000, 1, :at), "
        "(2, 1, 'F25', 'F25', 'room', 'deep_frozen', -26000, -28000, -25000, 1, :at)",
        "INSERT INTO supervision_policies (id, virtual_warehouse_id, version, parameters, reason, "
        "created_at) VALUES (1, 1, 1, '{}', 'Initial policy', :at), (2, 1, 2, '{}', '收紧', :at), "
        "(3, 2, 1, '{}', 'Initial policy', :at)",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"at": AT})


def test_virtual_warehouse_policies_stay_theirs_and_take_the_class_of_the_coldest_room(fresh: Engine) -> None:
    upgrade(fresh, "0007")
    supervised_site(fresh)
    upgrade(fresh)
    with fresh.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, virtual_warehouse_id, warehouse_id, room_id, commodity_id, version, "
                "temperature_class FROM supervision_policies ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, 1, None, None, None, 1, "deep_frozen"),
        (2, 1, None, None, None, 2, "deep_frozen"),
        (3, 2, None, None, None, 1, "frozen"),
    ]


def test_a_policy_attached_to_two_things_or_to_nothing_is_refused(fresh: Engine) -> None:
    upgrade(fresh, "0007")
    supervised_site(fresh)
    upgrade(fresh)
    insert = (
        "INSERT INTO supervision_policies (id, virtual_warehouse_id, room_id, temperature_class, version, "
        "parameters, reason, created_at) VALUES (9, :vw, :room, 'frozen', 1, '{}', '测试', :at)"
    )
    for vw, room in ((1, 1), (None, None)):
        with pytest.raises(IntegrityError), fresh.begin() as connection:
            connection.execute(text(insert), {"vw": vw, "room": room, "at": AT})


def test_downgrading_keeps_the_virtual_warehouse_policies_and_drops_the_others(fresh: Engine) -> None:
    upgrade(fresh, "0007")
    supervised_site(fresh)
    upgrade(fresh)
    with fresh.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO supervision_policies (id, room_id, temperature_class, version, parameters, "
                "reason, created_at) VALUES (9, 1, 'frozen', 1, '{}', '冷间策略', :at)"
            ),
            {"at": AT},
        )
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with fresh.connect() as connection:
        kept = connection.execute(text("SELECT id FROM supervision_policies ORDER BY id")).scalars().all()
    assert kept == [1, 2, 3]
