"""The migrations build exactly the schema the models describe, and can be undone and redone.

Each test gets a database of its own, never the suite's shared one: a temporary SQLite file, or in
the PostgreSQL pass a fresh database on the same server, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Column, Engine, MetaData, String, inspect, text

import coldpledge.migrate
from coldpledge.db import make_engine, scratch_database
from coldpledge.migrate import alembic_config, differences, upgrade
from coldpledge.models import metadata

POSTGRES_URL = os.environ.get("COLDPLEDGE_TEST_DATABASE_URL")


@pytest.fixture
def fresh() -> Iterator[Engine]:
    """An empty database nobody else uses."""
    with scratch_database(POSTGRES_URL, prefix="coldpledge_migrations") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def leftovers(engine: Engine) -> list[str]:
    """Triggers, functions and indexes the downgrade should have removed with the tables."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text(
                    "SELECT type || ' ' || name FROM sqlite_master "
                    "WHERE type IN ('trigger', 'index', 'view') AND tbl_name != 'alembic_version'"
                )
            )
        else:
            rows = connection.execute(
                text(
                    "SELECT 'function ' || proname FROM pg_proc "
                    "JOIN pg_namespace ON pg_namespace.oid = pg_proc.pronamespace "
                    "WHERE nspname = 'public'"
                )
            )
        return [row[0] for row in rows]


def test_the_migrations_build_what_the_models_describe(fresh: Engine) -> None:
    upgrade(fresh)
    assert differences(fresh) == []
    partitions = {name for name in tables(fresh) if name.startswith("readings_")}
    assert tables(fresh) - partitions == set(metadata.tables) | {"alembic_version"}
    if fresh.dialect.name == "postgresql":
        # The day's partition and the next week's exist from the start; the default catches the rest.
        assert "readings_default" in partitions
        assert len(partitions) >= 9
    else:
        assert partitions == set()


def test_downgrading_to_base_leaves_nothing_behind_and_upgrading_again_works(fresh: Engine) -> None:
    upgrade(fresh)
    head = revision(fresh)
    assert head is not None

    downgrade(fresh)
    # Alembic keeps its own bookkeeping table, empty: the database is back at "no revision".
    assert tables(fresh) == {"alembic_version"}
    assert revision(fresh) is None
    assert leftovers(fresh) == []

    upgrade(fresh)
    assert revision(fresh) == head
    assert differences(fresh) == []


def test_each_revision_can_be_undone_on_its_own(fresh: Engine) -> None:
    upgrade(fresh)
    history = [revision(fresh)]
    while history[-1] is not None:
        downgrade(fresh, "-1")
        history.append(revision(fresh))
        upgrade(fresh, history[-2] or "head")
        assert revision(fresh) == history[-2]
        downgrade(fresh, "-1")

    assert history == [
        "0015",
        "0014",
        "0013",
        "0012",
        "0011",
        "0010",
        "0009",
        "0008",
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
        None,
    ]


def test_entries_written_before_the_evidence_log_are_findable_by_what_they_are_about(fresh: Engine) -> None:
    upgrade(fresh, "0002")
    entry = (
        b'{"actor":"user:1","at":"2026-11-01T00:00:00Z","payload_sha256":"00","recorded_at":'
        b'"2026-11-01T00:00:00Z","related":["lot:LOT-1","org:2"],"subject":"receipt:WR-1",'
        b'"type":"receipt.issue","v":1}'
    )
    with fresh.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (id, at, recorded_at, actor, action, subject_type, subject_id, "
                "subject_ref, salt) VALUES (1, :at, :at, 'user:1', 'receipt.issue', 'receipt', 1, "
                "'receipt:WR-1', '00')"
            ),
            {"at": "2026-11-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO evidence_outbox (id, audit_event_id, entry, entry_sha256, recorded_at) "
                "VALUES (1, 1, :entry, '00', :at)"
            ),
            {"entry": entry, "at": "2026-11-01 00:00:00"},
        )

    upgrade(fresh)

    with fresh.connect() as connection:
        refs = connection.execute(
            text("SELECT ref FROM evidence_refs WHERE outbox_id = 1 ORDER BY ref")
        ).scalars()
        assert list(refs) == ["lot:LOT-1", "org:2", "receipt:WR-1"]


def test_a_column_added_by_hand_is_reported(fresh: Engine) -> None:
    upgrade(fresh)
    with fresh.begin() as connection:
        connection.execute(text("ALTER TABLE organisations ADD COLUMN nickname VARCHAR(20)"))
    found = differences(fresh)
    assert [(diff[0], diff[2], diff[3].name) for diff in found] == [
        ("remove_column", "organisations", "nickname")
    ]


def test_an_index_dropped_by_hand_is_reported(fresh: Engine) -> None:
    upgrade(fresh)
    with fresh.begin() as connection:
        connection.execute(text("DROP INDEX ix_lots_room_id"))
    found = differences(fresh)
    assert [(diff[0], diff[1].name) for diff in found] == [("add_index", "ix_lots_room_id")]


def test_a_model_column_without_a_migration_is_reported(
    fresh: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(fresh)
    # The models as they would be after someone added a column and forgot the migration.
    ahead = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(ahead)
    ahead.tables["warehouses"].append_column(Column("manager_phone", String(32)))
    monkeypatch.setattr(coldpledge.migrate, "metadata", ahead)

    found = differences(fresh)
    assert [(diff[0], diff[2], diff[3].name) for diff in found] == [
        ("add_column", "warehouses", "manager_phone")
    ]


def test_tables_rewritten_by_every_ingest_chunk_leave_room_on_their_pages_for_in_place_updates(
    fresh: Engine,
) -> None:
    if fresh.dialect.name != "postgresql":
        pytest.skip("fill factors are a PostgreSQL storage setting")
    upgrade(fresh)
    with fresh.connect() as connection:
        options: dict[str, list[str]] = dict(
            connection.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class "
                    "WHERE relname IN ('devices', 'latest_readings', 'rollups_1h')"
                )
            ).all()
        )
    assert options == {
        "devices": ["fillfactor=50"],
        "latest_readings": ["fillfactor=50"],
        "rollups_1h": ["fillfactor=70"],
    }
    downgrade(fresh, "0004")
    with fresh.connect() as connection:
        reset = connection.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'devices'")).scalar()
    assert reset is None
