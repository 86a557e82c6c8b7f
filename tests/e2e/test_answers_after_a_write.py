"""The answer to a write shows the write, with every session on its own connection, as in
production. (The rest of the suite shares one connection per test, which would hide this.)

On SQLite a read transaction keeps the snapshot it started with: had the request's reader stayed
open from sign-in, the answer to "accept the pledge" would show the receipt as it was before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.migrate import upgrade
from coldpledge.parties.security import issue_access_token
from coldpledge.uow import UnitOfWork
from coldpledge.web.app import create_app
from tests import world as world_module


@pytest.fixture
def separate(tmp_path: Path, settings: Settings) -> Iterator[tuple[TestClient, world_module.World, Settings]]:
    url = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    own = settings.model_copy(update={"database_url": url, "attachments_dir": tmp_path / "files"})
    database = Database(own.database_url)
    upgrade(database.engine)
    world = world_module.build(lambda: UnitOfWork(database.write_session), own)
    with TestClient(create_app(own, database=database), headers={"Accept-Language": "en"}) as client:
        yield client, world, own
    database.dispose()


def test_the_answer_to_accepting_a_pledge_shows_the_registration(
    separate: tuple[TestClient, world_module.World, Settings],
) -> None:
    client, world, settings = separate
    token = issue_access_token(settings, user_id=world.users["bank2"], now=utcnow()).token

    answer = client.post(
        f"/api/v1/receipts/{world.receipts['pending']}/accept-pledge",
        headers={"Authorization": f"Bearer {token}"},
        json={"registration_no": "ZDW-2026-SEEN-0001"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pledged"
    assert answer.json()["pledge"]["registration_no"] == "ZDW-2026-SEEN-0001"
    assert answer.json()["notations"][-1]["kind"] == "pledge"
