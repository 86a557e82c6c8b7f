"""One evidence worker at a time, and even two sequencers by mistake hand out every index once."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.models import EvidenceLeaf
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.runner import leadership
from coldpledge.migrate import upgrade
from coldpledge.uow import UnitOfWork
from tests import world as world_module


@pytest.fixture
def own(settings: Settings) -> Iterator[Database]:
    """A database of the test's own, with the world's entries waiting in the outbox."""
    with scratch_database(os.environ.get("COLDPLEDGE_TEST_DATABASE_URL"), prefix="coldpledge_leader") as url:
        database = Database(url)
        try:
            upgrade(database.engine)
            world_module.build(
                lambda: UnitOfWork(database.write_session), settings.model_copy(update={"database_url": url})
            )
            yield database
        finally:
            database.dispose()


def test_a_second_worker_waits_while_the_first_leads_and_takes_over_after(own: Database) -> None:
    second_gave_up = threading.Event()
    outcome: list[bool] = []

    with leadership(own) as first:
        assert first

        def contender() -> None:
            with leadership(own, wait=second_gave_up, poll=0.05) as leader:
                outcome.append(leader)

        thread = threading.Thread(target=contender)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second worker must wait while the first leads"
        second_gave_up.set()
        thread.join(5)

    assert outcome == [False]
    with leadership(own, poll=0.05) as after:
        assert after


def test_two_sequencers_at_once_give_every_entry_exactly_one_index_in_order(own: Database) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sequencer() -> None:
        try:
            barrier.wait()
            while evidence_log.sequence(own.write_session, limit=7) > 0:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sequencer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    with own.reading() as session:
        outbox = session.scalars(select(EvidenceOutbox.id).order_by(EvidenceOutbox.id)).all()
        leaves = session.execute(
            select(EvidenceLeaf.leaf_index, EvidenceLeaf.outbox_id).order_by(EvidenceLeaf.leaf_index)
        ).all()
        assert session.scalar(select(func.count()).select_from(EvidenceLeaf)) == len(outbox)
    assert [index for index, _ in leaves] == list(range(len(outbox)))
    assert [outbox_id for _, outbox_id in leaves] == list(outbox)
