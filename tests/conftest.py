"""Test fixtures: one database per run (SQLite, or PostgreSQL when asked), migrated with Alembic,
the shared world seeded once, and every test inside a transaction that is rolled back.

Set ``COLDPLEDGE_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` to run
the whole suite on PostgreSQL; a fresh database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.db import Database, make_engine, scratch_database, utcnow
from coldpledge.inventory.files import FileStore
from coldpledge.migrate import upgrade
from coldpledge.parties.security import issue_access_token
from coldpledge.uow import UnitOfWork
from coldpledge.web.app import create_app
from coldpledge.web.deps import Runtime
from tests import world as world_module

POSTGRES_URL = os.environ.get("COLDPLEDGE_TEST_DATABASE_URL")

hypothesis_settings.register_profile("dev", max_examples=30, deadline=None)
hypothesis_settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only; runs in the PostgreSQL pass of `make test`")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    try:
        with scratch_database(POSTGRES_URL, prefix="coldpledge_test") as url:
            yield url
    except OperationalError as exc:
        pytest.exit(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}", returncode=3)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        attachments_dir=tmp_path_factory.mktemp("attachments"),
        log_key_file=tmp_path_factory.mktemp("keys") / "evidence-log.key",
        public_base_url="http://testserver",
        # Cheap argon2 so the suite can hash passwords freely; production uses the defaults.
        password_time_cost=1,
        password_memory_kib=8,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def database(settings: Settings, engine: Engine) -> Iterator[Database]:
    """A Database on the migrated test database, for tests that need real commits from several
    connections (concurrency). Whatever they commit stays; they must use their own objects."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def world(settings: Settings, engine: Engine, database: Database) -> world_module.World:
    return world_module.build(lambda: UnitOfWork(database.write_session), settings)


class ReaderSession(Session):
    """A read-only session inside the test transaction.

    Requests open their read session first (to find who is calling) and their unit of work after,
    so the writer's savepoint nests inside the reader's. Rolling the reader back at the end of the
    request would discard the writer's work; releasing it keeps it, and a reader changed nothing.
    """

    def rollback(self) -> None:
        self.commit()


@dataclass
class TestDB:
    """One rolled-back transaction; every session a test (or the app) opens joins it."""

    connection: Connection
    settings: Settings

    def session(self) -> Session:
        return Session(bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    def reader(self) -> Session:
        return ReaderSession(
            bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session)

    def app(self, *, clock: Callable[[], datetime] = utcnow, **settings: Any) -> FastAPI:
        """An app whose sessions all join this transaction, living by ``clock``, with any setting
        overridden (``attachment_max_bytes=2048``, ``secure_cookies=True``)."""
        own = self.settings.model_copy(update=settings) if settings else self.settings
        runtime = Runtime(
            settings=own,
            read_session=self.reader,
            write_session=self.session,
            clock=clock,
            files=FileStore(Path(own.attachments_dir), own.attachment_max_bytes),
        )
        return create_app(runtime=runtime)

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name


@pytest.fixture
def db(engine: Engine, settings: Settings, world: world_module.World) -> Iterator[TestDB]:
    connection = engine.connect()
    transaction = connection.begin()
    try:
        yield TestDB(connection, settings)
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def app(db: TestDB) -> FastAPI:
    return db.app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"Accept-Language": "en"}) as test_client:
        yield test_client


@pytest.fixture
def auth(settings: Settings, world: world_module.World) -> Callable[[str], dict[str, str]]:
    """``auth("bank")`` -> headers that sign the request in as that persona."""

    def headers(username: str) -> dict[str, str]:
        token = issue_access_token(settings, user_id=world.users[username], now=utcnow())
        return {"Authorization": f"Bearer {token.token}"}

    return headers
