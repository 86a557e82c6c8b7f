"""A bank runs ``coldpledge witness`` against the real log over HTTP: it cosigns each checkpoint that
extends the last one it saw, and refuses (loudly, with evidence, exit 2) a log that rewrote or
removed history, even when the log signs the lie with its own key.

Every test runs its own server (uvicorn on a free port) on a database of its own, because the
attacks below change the database for good.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from sqlalchemy import Connection, delete, select, text, update
from typer.testing import CliRunner, Result

from coldpledge.cli import app as cli
from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import merkle
from coldpledge.evidence.keys import load_log_signer, write_private
from coldpledge.evidence.models import EvidenceCheckpoint, EvidenceCosignature, EvidenceLeaf, EvidenceTile
from coldpledge.evidence.note import (
    COSIGNATURE_V1,
    Checkpoint,
    Signer,
    open_note,
    parse_checkpoint,
    parse_skey,
    parse_vkey,
)
from coldpledge.evidence.outbox import EvidenceOutbox, canonical
from coldpledge.evidence.tiles import TileStore
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.migrate import upgrade
from coldpledge.uow import UnitOfWork
from coldpledge.web.app import create_app
from tests.world import World, build

WITNESS_NAME = "witness.zsbank.example.cn"
COLDPLEDGE = (sys.executable, "-c", "from coldpledge.cli import main; main()")


@dataclass
class LiveLog:
    """The platform's log, served over real HTTP from a database of its own."""

    url: str
    database: Database
    settings: Settings
    world: World
    counted: int = 0

    @property
    def signer(self) -> Signer:
        return load_log_signer(self.settings)

    def business_goes_on(self) -> None:
        """Ivy counts a lot: one more audited change, one more evidence entry."""
        self.counted += 1
        inventory.stocktake(
            UnitOfWork(self.database.write_session),
            self.world.who("inspector"),
            self.world.lots["free"],
            StocktakeIn(counted_g=10_000_000 - self.counted, counted_cartons=500),
        )

    def publish(self) -> int:
        """The log's worker: sequence what is waiting and sign a checkpoint. Returns its size."""
        evidence_log.sequence_all(self.database.write_session)
        signed = evidence_log.publish_checkpoint(
            self.database.write_session, self.signer, self.settings.origin
        )
        assert signed is not None
        return signed.tree_size

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/evidence/{path}", headers={"Accept-Language": "en"})

    def post_cosignature(self, tree_size: int, line: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/evidence/cosignatures",
            json={"tree_size": tree_size, "cosignature": line},
            headers={"Accept-Language": "en"},
        )


@dataclass
class Bank:
    """The bank's side: its witness key and the files its witness keeps, in one folder."""

    folder: Path

    @property
    def signer(self) -> Signer:
        return parse_skey(self.key_file.read_text())

    @property
    def key_file(self) -> Path:
        return self.folder / "witness.key"

    @property
    def state_file(self) -> Path:
        return self.folder / "witness-state.json"

    @property
    def fork_file(self) -> Path:
        return self.folder / "witness-state.json.fork.json"

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state


runner = CliRunner()


def witness(log: LiveLog, bank: Bank, *extra: str, log_key: str | None = None) -> Result:
    """One round of ``coldpledge witness``, as the bank runs it."""
    return runner.invoke(
        cli,
        [
            "witness",
            "--log-url",
            log.url,
            "--log-key",
            log_key or log.signer.verifier.vkey,
            "--key-file",
            str(bank.key_file),
            "--state-file",
            str(bank.state_file),
            "--once",
            *extra,
        ],
    )


def served_note(log: LiveLog, path: str = "checkpoint") -> str:
    response = log.get(path)
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture
def live_log(settings: Settings, tmp_path: Path) -> Iterator[LiveLog]:
    with scratch_database(os.environ.get("COLDPLEDGE_TEST_DATABASE_URL"), prefix="coldpledge_witness") as url:
        own = settings.model_copy(update={"database_url": url, "log_key_file": tmp_path / "log" / "log.key"})
        database = Database(url)
        upgrade(database.engine)
        world = build(lambda: UnitOfWork(database.write_session), own)
        server = uvicorn.Server(
            uvicorn.Config(create_app(own, database=database), log_level="warning", access_log=False)
        )
        listening = socket.create_server(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert thread.is_alive(), "the log server stopped while starting"
                assert time.monotonic() < deadline, "the log server did not start"
                time.sleep(0.01)
            yield LiveLog(f"http://127.0.0.1:{port}", database, own, world)
        finally:
            server.should_exit = True
            thread.join(10)
            listening.close()
            database.dispose()


@pytest.fixture
def bank(live_log: LiveLog, tmp_path: Path) -> Bank:
    """A bank whose witness key the operator has registered."""
    bank = Bank(tmp_path / "bank")
    signer = Signer.generate(WITNESS_NAME, COSIGNATURE_V1)
    write_private(bank.key_file, signer.skey + "\n")
    evidence_log.register_witness(live_log.database.write_session, signer.verifier.vkey)
    return bank


# --- the attacker: someone with write access to the log's database and its signing key -----------


def _disable_append_only(connection: Connection, table: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for verb in ("update", "delete"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))


def rewrite_first_entry(log: LiveLog) -> None:
    """Change what entry 0 says and rebuild the stored tree, so the log reads as a whole again."""
    with log.database.write_session() as session:
        connection = session.connection()
        _disable_append_only(connection, "evidence_outbox")
        first_id, entry = session.execute(
            select(EvidenceOutbox.id, EvidenceOutbox.entry)
            .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
            .where(EvidenceLeaf.leaf_index == 0)
        ).one()
        document = json.loads(bytes(entry))
        document["actor"] = "someone-else"
        session.execute(
            update(EvidenceOutbox).where(EvidenceOutbox.id == first_id).values(entry=canonical(document))
        )
        entries = session.scalars(
            select(EvidenceOutbox.entry)
            .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
            .order_by(EvidenceLeaf.leaf_index)
        ).all()
        session.execute(delete(EvidenceTile))
        TileStore(session).append(0, [merkle.leaf_hash(bytes(e)) for e in entries])
        session.commit()


def remove_checkpoints_from(log: LiveLog, size: int) -> None:
    """Drop the checkpoints of ``size`` and up, with their cosignatures (as a restore from an old
    backup would)."""
    with log.database.write_session() as session:
        connection = session.connection()
        for table in ("evidence_checkpoints", "evidence_cosignatures"):
            _disable_append_only(connection, table)
        doomed = select(EvidenceCheckpoint.id).where(EvidenceCheckpoint.tree_size >= size)
        session.execute(delete(EvidenceCosignature).where(EvidenceCosignature.checkpoint_id.in_(doomed)))
        session.execute(delete(EvidenceCheckpoint).where(EvidenceCheckpoint.tree_size >= size))
        session.commit()


def sign_directly(log: LiveLog, signer: Signer | None = None) -> int:
    """Sign a checkpoint of the stored tree with the log's key, without publish_checkpoint's check."""
    signer = signer or log.signer
    with log.database.write_session() as session:
        size = evidence_log.tree_size(session)
        checkpoint = Checkpoint(log.settings.origin, size, TileStore(session).root(size))
        session.add(
            EvidenceCheckpoint(
                tree_size=size,
                root_hash=checkpoint.root,
                note=checkpoint.text + "\n" + signer.sign(checkpoint.text),
                signed_at=datetime.now(UTC),
            )
        )
        session.commit()
        return size


def assert_refused_with_evidence(result: Result, bank: Bank, state_before: str) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    assert "WITNESS REFUSED TO COSIGN" in result.stderr
    assert str(bank.fork_file) in result.stderr
    assert bank.state_file.read_text() == state_before
    evidence: dict[str, Any] = json.loads(bank.fork_file.read_text())
    return evidence


# --- cosigning ---------------------------------------------------------------------------------


def test_a_bank_witness_trusts_the_first_checkpoint_then_cosigns_each_one_that_extends_it(
    live_log: LiveLog, tmp_path: Path
) -> None:
    bank = Bank(tmp_path / "bank")
    keygen = runner.invoke(
        cli, ["evidence", "keygen", "--witness", "--name", WITNESS_NAME, "--out", str(bank.key_file)]
    )
    assert keygen.exit_code == 0, keygen.output
    vkey = keygen.stdout.strip()
    # The operator registers it on the log's side, in a process of its own (as on the server).
    registered = subprocess.run(  # noqa: S603 - our own interpreter and command, no shell
        [*COLDPLEDGE, "evidence", "add-witness", vkey],
        env={**os.environ, "COLDPLEDGE_DATABASE_URL": live_log.settings.database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert registered.returncode == 0, registered.stderr
    log_key, witness_key = live_log.signer.verifier, parse_vkey(vkey)

    first = live_log.publish()
    result = witness(live_log, bank)

    assert result.exit_code == 0, result.output
    assert "trust on first use" in result.stdout
    assert bank.state()["size"] == first
    note, signed_by = open_note(served_note(live_log), [log_key, witness_key])
    assert signed_by == [log_key, witness_key]
    assert [s.name for s in note.signatures] == [live_log.settings.origin, WITNESS_NAME]

    live_log.business_goes_on()
    second = live_log.publish()
    result = witness(live_log, bank)

    assert result.exit_code == 0, result.output
    assert f"consistent: the tree grew from {first} to {second} entries" in result.stdout
    assert "trust on first use" not in result.stdout
    assert bank.state()["size"] == second
    for path, size in ((f"checkpoints/{first}", first), ("checkpoint", second)):
        note, signed_by = open_note(served_note(live_log, path), [log_key, witness_key])
        assert signed_by == [log_key, witness_key]
        assert parse_checkpoint(note.text).size == size
    listed = live_log.get("witnesses").json()
    assert listed == [{"name": WITNESS_NAME, "vkey": vkey}]

    again = witness(live_log, bank)
    assert again.exit_code == 0, again.output
    assert "no change" in again.stdout
    assert served_note(live_log).count(WITNESS_NAME) == 1


def test_a_witness_not_yet_registered_keeps_its_cosignature_and_hands_it_in_once_registered(
    live_log: LiveLog, tmp_path: Path
) -> None:
    signer = Signer.generate(WITNESS_NAME, COSIGNATURE_V1)
    bank = Bank(tmp_path / "bank")
    write_private(bank.key_file, signer.skey + "\n")
    size = live_log.publish()

    refused = witness(live_log, bank)
    # The cosignature exists once made, so the state moves first, and the log's 422 is an error.
    assert refused.exit_code == 1, refused.output
    assert "422" in refused.stderr
    assert bank.state()["size"] == size

    evidence_log.register_witness(live_log.database.write_session, signer.verifier.vkey)
    result = witness(live_log, bank)

    assert result.exit_code == 0, result.output
    assert "re-sent the cosignature" in result.stdout
    open_note(served_note(live_log), [signer.verifier])


def test_the_log_accepts_only_a_registered_witness_s_cosignature_of_that_very_checkpoint(
    live_log: LiveLog, bank: Bank
) -> None:
    first = live_log.publish()
    live_log.business_goes_on()
    second = live_log.publish()
    bodies = {
        size: open_note(served_note(live_log, f"checkpoints/{size}"), [live_log.signer.verifier])[0].text
        for size in (first, second)
    }
    now = int(time.time())
    stranger = Signer.generate("witness.unknown.example", COSIGNATURE_V1)
    posing = Signer.generate(WITNESS_NAME, COSIGNATURE_V1)  # the bank's name, not its key
    good = bank.signer.cosign(bodies[second], now)

    refused = {
        "unregistered key": live_log.post_cosignature(second, stranger.cosign(bodies[second], now)),
        "registered name, other key": live_log.post_cosignature(second, posing.cosign(bodies[second], now)),
        "another checkpoint": live_log.post_cosignature(second, bank.signer.cosign(bodies[first], now)),
        "no such checkpoint": live_log.post_cosignature(second + 1, good),
        "a second line": live_log.post_cosignature(second, good + stranger.cosign(bodies[second], now)),
        "a time past year 9999": live_log.post_cosignature(second, bank.signer.cosign(bodies[second], 2**62)),
    }

    assert {why: r.status_code for why, r in refused.items()} == dict.fromkeys(refused, 422)
    assert WITNESS_NAME not in served_note(live_log)
    accepted = live_log.post_cosignature(second, good)
    assert accepted.status_code == 201, accepted.text
    assert served_note(live_log).endswith(good)


# --- refusing --------------------------------------------------------------------------------------


def test_a_witness_refuses_a_log_that_rewrote_an_entry_and_signed_a_bigger_tree(
    live_log: LiveLog, bank: Bank
) -> None:
    first = live_log.publish()
    assert witness(live_log, bank).exit_code == 0
    state_before = bank.state_file.read_text()

    rewrite_first_entry(live_log)
    live_log.business_goes_on()
    evidence_log.sequence_all(live_log.database.write_session)
    # The platform itself refuses to sign over the rewritten tree (issue 3, scope 3) ...
    with pytest.raises(evidence_log.LogInconsistent):
        evidence_log.publish_checkpoint(
            live_log.database.write_session, live_log.signer, live_log.settings.origin
        )
    # ... so the attacker signs with the stolen key directly; only an outside witness can catch that.
    forged = sign_directly(live_log)
    result = witness(live_log, bank)

    evidence = assert_refused_with_evidence(result, bank, state_before)
    assert f"the consistency proof from size {first} to size {forged} does not verify" in result.stderr
    log_key, witness_key = live_log.signer.verifier, bank.signer.verifier
    before, now = evidence["cosigned_before"], evidence["served_now"]
    assert open_note(before["note"], [log_key, witness_key])[1] == [log_key, witness_key]
    assert parse_checkpoint(open_note(now["note"], [log_key])[0].text).size == forged
    assert (
        evidence["consistency_proof_received"]
        == live_log.get(f"proof/consistency?first={first}&second={forged}").json()
    )
    assert WITNESS_NAME not in served_note(live_log)

    # It keeps refusing, without even asking the log, until a person has read the evidence ...
    evidence_text = bank.fork_file.read_text()
    assert witness(live_log, bank).exit_code == 2
    # ... and after that it checks again, refuses again, and keeps the first evidence as it was.
    reviewed = witness(live_log, bank, "--fork-reviewed")
    assert reviewed.exit_code == 2, reviewed.output
    assert bank.fork_file.read_text() == evidence_text
    assert len(list(bank.folder.glob("*.fork*.json"))) == 2
    assert bank.state_file.read_text() == state_before


def test_a_witness_refuses_two_different_roots_for_the_same_tree_size(live_log: LiveLog, bank: Bank) -> None:
    size = live_log.publish()
    assert witness(live_log, bank).exit_code == 0
    state_before = bank.state_file.read_text()

    rewrite_first_entry(live_log)
    remove_checkpoints_from(live_log, size)
    assert sign_directly(live_log) == size
    result = witness(live_log, bank)

    assert_refused_with_evidence(result, bank, state_before)
    assert f"two different root hashes for the same tree size {size}" in result.stderr


def test_a_witness_refuses_a_log_that_serves_a_smaller_tree_than_it_saw(
    live_log: LiveLog, bank: Bank
) -> None:
    first = live_log.publish()
    assert witness(live_log, bank).exit_code == 0
    live_log.business_goes_on()
    second = live_log.publish()
    assert witness(live_log, bank).exit_code == 0
    state_before = bank.state_file.read_text()

    remove_checkpoints_from(live_log, second)
    assert (
        parse_checkpoint(open_note(served_note(live_log), [live_log.signer.verifier])[0].text).size == first
    )
    result = witness(live_log, bank)

    evidence = assert_refused_with_evidence(result, bank, state_before)
    assert f"smaller tree ({first} entries) than the {second}" in result.stderr
    assert evidence["cosigned_before"] == {
        "size": second,
        "root": bank.state()["root"],
        "note": bank.state()["note"],
    }


def test_a_witness_refuses_a_checkpoint_signed_by_another_key_even_when_the_log_serves_that_key(
    live_log: LiveLog, bank: Bank
) -> None:
    pinned = live_log.signer.verifier.vkey
    live_log.publish()
    assert witness(live_log, bank).exit_code == 0
    state_before = bank.state_file.read_text()
    # Someone swaps the log's key for one of their own under the same name and signs with it.
    impostor = Signer.generate(live_log.settings.origin)
    write_private(live_log.settings.log_key_file, impostor.skey + "\n")
    live_log.business_goes_on()
    live_log.publish()
    assert live_log.get("public-key").text.strip() == impostor.verifier.vkey

    result = witness(live_log, bank, log_key=pinned)

    # A signature the witness cannot check proves nothing against the log: an error, not a fork.
    assert result.exit_code == 1, result.output
    assert "not signed by the pinned log key" in result.stderr
    assert bank.state_file.read_text() == state_before
    assert not bank.fork_file.exists()
    assert WITNESS_NAME not in served_note(live_log)


def test_a_witness_that_cannot_reach_the_log_exits_1_and_remembers_nothing_new(
    live_log: LiveLog, bank: Bank
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    unreachable = LiveLog(url, live_log.database, live_log.settings, live_log.world)

    result = witness(unreachable, bank, log_key=live_log.signer.verifier.vkey)

    assert result.exit_code == 1, result.output
    assert "unreachable" in result.stderr
    assert not bank.state_file.exists()


# --- the witness as a bank runs it: a process that polls -----------------------------------------


def test_a_polling_witness_follows_the_log_and_stops_with_status_2_when_it_forks(
    live_log: LiveLog, bank: Bank
) -> None:
    first = live_log.publish()
    pinned = bank.folder / "log.vkey"  # as a bank keeps it: a file from the operator
    pinned.write_text(live_log.signer.verifier.vkey + "\n")
    # Files, not pipes: a pipe nobody reads while the witness polls could fill up and stall it.
    out, err = bank.folder / "witness.out", bank.folder / "witness.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and command, no shell
            [
                *COLDPLEDGE,
                "witness",
                "--log-url",
                live_log.url,
                "--log-key",
                str(pinned),
                "--key-file",
                str(bank.key_file),
                "--state-file",
                str(bank.state_file),
                "--interval",
                "0.1",
            ],
            stdout=stdout,
            stderr=stderr,
        )

    def said() -> str:
        return f"witness said:\n{out.read_text()}\n{err.read_text()}"

    try:
        wait_until(lambda: bank.state_file.exists() and bank.state()["size"] == first, said)
        live_log.business_goes_on()
        second = live_log.publish()
        wait_until(lambda: bank.state()["size"] == second, said)
        # The state moves before the cosignature is handed in; wait for the log to have it.
        wait_until(lambda: WITNESS_NAME in served_note(live_log), said)

        rewrite_first_entry(live_log)
        live_log.business_goes_on()
        evidence_log.sequence_all(live_log.database.write_session)
        sign_directly(live_log)
        wait_until(lambda: process.poll() is not None, said)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 2, said()
    assert "trust on first use" in out.read_text()
    assert f"grew from {first} to {second}" in out.read_text()
    assert "WITNESS REFUSED TO COSIGN" in err.read_text()
    assert bank.fork_file.exists()
    assert bank.state()["size"] == second


def wait_until(condition: Callable[[], bool], explain: Callable[[], str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out; {explain()}"
        time.sleep(0.05)
