"""`coldpledge evidence audit` finds what someone with direct database access did behind the log's
back: entries edited or deleted, leaves reordered or deleted, tree hashes edited, audit rows edited
or deleted, business rows changed without evidence, checkpoints edited.

Each test builds the log from the shared world (with more than one full tile of leaves and two
checkpoints), then acts as the attacker: it takes down the append-only and invariant triggers inside
the test transaction (all rolled back afterwards) and writes straight to the tables.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rfc8785
from sqlalchemy import select, text
from typer.testing import CliRunner

from coldpledge.audit.models import AuditEvent
from coldpledge.cli import app as cli
from coldpledge.config import get_settings
from coldpledge.db import Database, scratch_database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.audit import audit
from coldpledge.evidence.audit_report import Report
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.note import Signer
from coldpledge.evidence.tiles import TILE_WIDTH
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.migrate import upgrade
from coldpledge.parties import service as parties
from coldpledge.parties.policy import SYSTEM, PartyType
from coldpledge.parties.schemas import OrganisationIn
from coldpledge.receipts.models import Receipt
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.schemas import PolicyIn
from tests.world import PASSWORD, World

if TYPE_CHECKING:
    from tests.conftest import TestDB

# Entries written after the last sequencing: the audit counts them and does not blame them.
WAITING = 2
# Tables an attacker touches here; on PostgreSQL their triggers (foreign keys included) go off.
TABLES = (
    "audit_events",
    "evidence_outbox",
    "evidence_refs",
    "evidence_leaves",
    "evidence_tiles",
    "evidence_checkpoints",
    "receipts",
    "lots",
)


@dataclass
class Log:
    """The log built inside the test transaction, and its key."""

    db: TestDB
    signer: Signer
    size: int

    def audit(self) -> Report:
        with self.db.session() as session:
            return audit(session, self.signer.verifier, batch=100)

    def sql(self, statement: str, **params: Any) -> Any:
        return self.db.connection.execute(text(statement), params)

    def outbox_of_leaf(self, index: int) -> int:
        return int(
            self.sql("SELECT outbox_id FROM evidence_leaves WHERE leaf_index = :i", i=index).scalar_one()
        )


def stocktakes(db: TestDB, world: World, count: int) -> None:
    """Ordinary work that adds evidence: each count of the free lot is one entry."""
    with db.session() as session:
        lot = session.get_one(Lot, world.lots["free"])
        weight, cartons = lot.verified_net_weight_g, lot.cartons
    for _ in range(count):
        inventory.stocktake(
            db.uow(), world.who("inspector"), lot.id, StocktakeIn(counted_g=weight, counted_cartons=cartons)
        )


@pytest.fixture
def log(db: TestDB, world: World) -> Log:
    signer = load_log_signer(db.settings)
    evidence_log.sequence_all(db.session)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    with db.session() as session:
        logged = evidence_log.tree_size(session)
    # Past a full tile, so the second level of the tree is checked too; and at least one more
    # entry, so the second checkpoint grows the tree even when the shared database already held a
    # full tile (tests that commit run before this one on the same database).
    stocktakes(db, world, max(1, TILE_WIDTH + 20 - logged))
    evidence_log.sequence_all(db.session, batch=97)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    stocktakes(db, world, WAITING)
    with db.session() as session:
        size = evidence_log.tree_size(session)
    assert size > TILE_WIDTH
    return Log(db, signer, size)


@pytest.fixture
def attacker(log: Log) -> Log:
    """Someone with direct database access, who takes the database's own guards down first."""
    if log.db.dialect == "postgresql":
        for table in TABLES:
            log.sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    else:
        for name in log.sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all():
            log.sql(f"DROP TRIGGER {name}")
        # Foreign keys are checked at COMMIT from here on, and this transaction never commits.
        log.sql("PRAGMA defer_foreign_keys = ON")
    return log


def kinds(report: Report) -> set[str]:
    return {finding.kind for finding in report.findings if finding.problem}


def objects(report: Report, kind: str) -> set[str]:
    return {name for finding in report.of_kind(kind) for name in finding.objects}


# --- the untouched log --------------------------------------------------------------------------


def test_the_untouched_log_passes_the_audit(log: Log) -> None:
    report = log.audit()

    assert report.clean, report.lines()
    assert kinds(report) == set()
    assert report.checked["leaves"] == log.size
    assert report.checked["outbox entries"] == report.checked["audit events"] == log.size + WAITING
    assert report.checked["checkpoints"] == 2
    assert report.checked["business rows"] > 50


def test_entries_waiting_for_the_sequencer_are_counted_but_not_blamed(log: Log) -> None:
    report = log.audit()

    assert report.unsequenced == WAITING
    [notice] = report.of_kind("unsequenced")
    assert not notice.problem
    assert report.clean


def test_ordinary_work_through_the_platform_raises_no_alarm(log: Log, world: World) -> None:
    # A sign-in is not evidenced; a policy that switches the mode records the warehouse's change.
    parties.authenticate(log.db.uow(), log.db.settings, "bank", PASSWORD)
    vw_id = world.vws[next(iter(world.vws))]
    with log.db.session() as session:
        policy = warehouses.current_policy(session, vw_id)
        assert policy is not None
        parameters = {**policy.parameters}
    parameters.update(mode="dynamic", min_control_quantity_g=1_000_000)
    warehouses.set_policy(
        log.db.uow(),
        world.who("supervisor"),
        vw_id,
        PolicyIn.model_validate({"parameters": parameters, "reason": "转为动态质押"}),
    )
    evidence_log.sequence_all(log.db.session)

    report = log.audit()

    assert report.clean, report.lines()


# --- the log's own tables -----------------------------------------------------------------------


def test_an_edited_outbox_entry_no_longer_matches_its_leaf(attacker: Log) -> None:
    outbox_id = attacker.outbox_of_leaf(40)
    entry = json.loads(
        attacker.sql("SELECT entry FROM evidence_outbox WHERE id = :o", o=outbox_id).scalar_one()
    )
    forged = rfc8785.dumps({**entry, "actor": "someone else"})
    # The attacker even fixes the entry's own sha256; the tree still remembers the original.
    attacker.sql(
        "UPDATE evidence_outbox SET entry = :e, entry_sha256 = :h WHERE id = :o",
        e=forged,
        h=hashlib.sha256(forged).hexdigest(),
        o=outbox_id,
    )

    report = attacker.audit()

    assert {"leaf_content", "entry_mismatch"} <= kinds(report)
    assert objects(report, "leaf_content") == {"leaf:40", f"outbox:{outbox_id}"}
    [mismatch] = report.of_kind("entry_mismatch")
    assert "actor" in mismatch.message


def test_an_outbox_entry_edited_in_place_fails_its_own_hash_too(attacker: Log) -> None:
    outbox_id = attacker.outbox_of_leaf(3)
    entry = bytes(attacker.sql("SELECT entry FROM evidence_outbox WHERE id = :o", o=outbox_id).scalar_one())
    attacker.sql(
        "UPDATE evidence_outbox SET entry = :e WHERE id = :o", e=entry.replace(b"Z", b"+"), o=outbox_id
    )

    report = attacker.audit()

    assert {"entry_hash", "leaf_content", "entry_mismatch"} <= kinds(report)
    assert objects(report, "entry_hash") == {f"outbox:{outbox_id}"}


def test_an_outbox_entry_rewritten_as_text_is_still_read_and_found(attacker: Log) -> None:
    outbox_id = attacker.outbox_of_leaf(4)
    attacker.sql("UPDATE evidence_outbox SET entry = :e WHERE id = :o", e="{}", o=outbox_id)

    report = attacker.audit()

    assert {"entry_hash", "leaf_content", "entry_mismatch"} <= kinds(report)


def test_a_deleted_outbox_entry_leaves_its_leaf_and_its_audit_event_without_evidence(attacker: Log) -> None:
    outbox_id = attacker.outbox_of_leaf(77)
    event_id = attacker.sql(
        "SELECT audit_event_id FROM evidence_outbox WHERE id = :o", o=outbox_id
    ).scalar_one()
    attacker.sql("DELETE FROM evidence_refs WHERE outbox_id = :o", o=outbox_id)
    attacker.sql("DELETE FROM evidence_outbox WHERE id = :o", o=outbox_id)

    report = attacker.audit()

    assert objects(report, "leaf_orphaned") == {"leaf:77", f"outbox:{outbox_id}"}
    assert f"audit_event:{event_id}" in objects(report, "event_without_entry")


def test_two_leaves_swapped_are_out_of_order_and_out_of_place(attacker: Log) -> None:
    first, second = attacker.outbox_of_leaf(10), attacker.outbox_of_leaf(20)
    # In three steps, as the one-outbox-id-per-leaf index would refuse a halfway state.
    attacker.sql("UPDATE evidence_leaves SET outbox_id = -1 WHERE leaf_index = 10")
    attacker.sql("UPDATE evidence_leaves SET outbox_id = :o WHERE leaf_index = 20", o=first)
    attacker.sql("UPDATE evidence_leaves SET outbox_id = :o WHERE leaf_index = 10", o=second)

    report = attacker.audit()

    assert "leaf_order" in kinds(report)
    assert {"leaf:10", "leaf:20"} <= objects(report, "leaf_content")
    assert {"leaf:11", "leaf:20"} <= objects(report, "leaf_order")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_deleted_leaf_is_a_missing_index(attacker: Log, where: str) -> None:
    index = {"first": 0, "middle": attacker.size // 2, "last": attacker.size - 1}[where]
    attacker.sql("DELETE FROM evidence_leaves WHERE leaf_index = :i", i=index)

    report = attacker.audit()

    assert f"leaf:{index}" in objects(report, "leaf_missing")
    assert not report.clean


def test_an_edited_leaf_hash_in_a_tile_breaks_the_leaf_the_tile_above_and_the_checkpoints(
    attacker: Log,
) -> None:
    tile = attacker.sql("SELECT hashes FROM evidence_tiles WHERE level = 0 AND tile_index = 0").scalar_one()
    position = 5 * 32
    forged = bytes(tile[:position]) + bytes(32) + bytes(tile[position + 32 :])
    attacker.sql("UPDATE evidence_tiles SET hashes = :h WHERE level = 0 AND tile_index = 0", h=forged)

    report = attacker.audit()

    assert objects(report, "leaf_content") == {"leaf:5", f"outbox:{attacker.outbox_of_leaf(5)}"}
    assert objects(report, "tile_mismatch") == {"tile:0/0", "tile:1/0"}
    # A checkpoint over fewer than 256 leaves is built from the leaf hashes themselves and breaks;
    # one over a full first tile reaches it through the tile above, which the tile check covers.
    first, size = attacker.sql(
        "SELECT id, tree_size FROM evidence_checkpoints ORDER BY tree_size LIMIT 1"
    ).one()
    broken = f"checkpoint:{first}" in objects(report, "checkpoint_root")
    assert broken == (size < 256)


def test_an_edited_hash_higher_up_the_tree_is_found_too(attacker: Log) -> None:
    attacker.sql("UPDATE evidence_tiles SET hashes = :h WHERE level = 1 AND tile_index = 0", h=bytes(32))

    report = attacker.audit()

    assert objects(report, "tile_mismatch") == {"tile:0/0", "tile:1/0"}
    assert "checkpoint_root" in kinds(report)
    assert "leaf_content" not in kinds(report)


@pytest.mark.parametrize("tile", [0, 1])
def test_a_deleted_tile_leaves_its_leaves_without_hashes(attacker: Log, tile: int) -> None:
    attacker.sql("DELETE FROM evidence_tiles WHERE level = 0 AND tile_index = :t", t=tile)

    report = attacker.audit()

    first = tile * TILE_WIDTH
    assert {f"tile:0/{tile}", f"leaf:{first}", f"leaf:{first + 9}"} <= objects(report, "tile_missing")
    assert report.counts["tile_missing"] == min(TILE_WIDTH, attacker.size - first) + 1


# --- the audit trail ----------------------------------------------------------------------------


def test_an_edited_audit_event_no_longer_gives_its_logged_hash(attacker: Log, world: World) -> None:
    with attacker.db.session() as session:
        receipt = session.get_one(Receipt, world.receipts["pledged"])
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_ref == receipt.subject_ref)
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None
        assert event.after is not None
        after = {**event.after, "quantity_g": event.after["quantity_g"] * 2}
        event_id, ref = event.id, receipt.subject_ref
    attacker.sql("UPDATE audit_events SET after = :a WHERE id = :i", a=json.dumps(after), i=event_id)

    report = attacker.audit()

    assert objects(report, "payload_mismatch") >= {f"audit_event:{event_id}", ref}
    # The receipt did not change, but its latest evidence now says it did.
    assert ref in objects(report, "row_changed")


def test_a_deleted_audit_event_leaves_its_entry_without_an_event(attacker: Log) -> None:
    event_id, outbox_id = attacker.sql(
        "SELECT audit_event_id, id FROM evidence_outbox WHERE id = :o", o=attacker.outbox_of_leaf(60)
    ).one()
    attacker.sql("DELETE FROM audit_events WHERE id = :i", i=event_id)

    report = attacker.audit()

    assert objects(report, "entry_without_event") == {f"outbox:{outbox_id}", f"audit_event:{event_id}"}


# --- business rows changed without evidence -----------------------------------------------------


def changed_rows(report: Report) -> dict[str, str]:
    return {finding.objects[0]: finding.message for finding in report.of_kind("row_changed")}


def test_a_receipt_whose_quantity_was_raised_directly_is_changed_without_evidence(
    attacker: Log, world: World
) -> None:
    with attacker.db.session() as session:
        receipt = session.get_one(Receipt, world.receipts["pledged"])
        ref = receipt.subject_ref
    attacker.sql("UPDATE receipts SET quantity_g = quantity_g + 5000000 WHERE id = :i", i=receipt.id)

    report = attacker.audit()

    assert list(changed_rows(report)) == [ref]
    assert "quantity_g" in changed_rows(report)[ref]


def test_a_receipt_given_to_another_holder_directly_is_changed_without_evidence(
    attacker: Log, world: World
) -> None:
    with attacker.db.session() as session:
        receipt = session.get_one(Receipt, world.receipts["issued"])
        ref = receipt.subject_ref
    attacker.sql(
        "UPDATE receipts SET holder_org_id = :o WHERE id = :i", o=world.orgs["borrower2"], i=receipt.id
    )

    report = attacker.audit()

    assert list(changed_rows(report)) == [ref]
    assert "holder_org_id" in changed_rows(report)[ref]


def test_a_lot_whose_verified_weight_was_changed_directly_is_changed_without_evidence(
    attacker: Log, world: World
) -> None:
    with attacker.db.session() as session:
        lot = session.get_one(Lot, world.lots["pledged"])
        ref = lot.subject_ref
    attacker.sql("UPDATE lots SET verified_net_weight_g = verified_net_weight_g - 1 WHERE id = :i", i=lot.id)

    report = attacker.audit()

    assert list(changed_rows(report)) == [ref]
    assert "verified_net_weight_g" in changed_rows(report)[ref]


def test_a_lot_deleted_directly_is_deleted_without_evidence(attacker: Log, world: World) -> None:
    with attacker.db.session() as session:
        lot = session.get_one(Lot, world.lots["free"])
        ref = lot.subject_ref
    attacker.sql("DELETE FROM lots WHERE id = :i", i=lot.id)

    report = attacker.audit()

    assert ref in objects(report, "row_deleted")


def test_a_row_holding_a_value_the_platform_cannot_read_is_reported_and_the_rest_still_checked(
    attacker: Log, world: World
) -> None:
    with attacker.db.session() as session:
        forged, raised = (session.get_one(Receipt, world.receipts[key]) for key in ("draft", "pledged"))
    if attacker.db.dialect == "postgresql":
        attacker.sql("ALTER TABLE receipts DROP CONSTRAINT ck_receipts_receipt_status")
        attacker.sql("UPDATE receipts SET status = 'forged' WHERE id = :i", i=forged.id)
    else:
        # A connection setting, not part of the transaction: switched back at once.
        attacker.sql("PRAGMA ignore_check_constraints = ON")
        try:
            attacker.sql("UPDATE receipts SET status = 'forged' WHERE id = :i", i=forged.id)
        finally:
            attacker.sql("PRAGMA ignore_check_constraints = OFF")
    attacker.sql("UPDATE receipts SET quantity_g = quantity_g + 1 WHERE id = :i", i=raised.id)

    report = attacker.audit()

    assert set(changed_rows(report)) == {forged.subject_ref, raised.subject_ref}
    assert "cannot read" in changed_rows(report)[forged.subject_ref]


# --- checkpoints --------------------------------------------------------------------------------


def test_an_edited_checkpoint_note_no_longer_verifies(attacker: Log) -> None:
    first = attacker.sql("SELECT id, note FROM evidence_checkpoints ORDER BY id LIMIT 1").one()
    body, signatures = first.note.split("\n\n", 1)
    origin, size, root = body.split("\n")
    forged = "\n".join([origin, str(int(size) - 1), root]) + "\n\n" + signatures
    attacker.sql("UPDATE evidence_checkpoints SET note = :n WHERE id = :i", n=forged, i=first.id)

    report = attacker.audit()

    assert objects(report, "checkpoint_signature") == {f"checkpoint:{first.id}"}


def test_a_checkpoint_row_that_differs_from_its_signed_note_is_found(attacker: Log) -> None:
    first = attacker.sql("SELECT min(id) FROM evidence_checkpoints").scalar_one()
    attacker.sql("UPDATE evidence_checkpoints SET root_hash = :r WHERE id = :i", r=bytes(32), i=first)

    report = attacker.audit()

    assert {"checkpoint_mismatch", "checkpoint_root"} <= kinds(report)


def test_checkpoint_sizes_that_shrink_are_out_of_order(attacker: Log) -> None:
    attacker.sql(
        "UPDATE evidence_checkpoints SET id = -id WHERE id = (SELECT max(id) FROM evidence_checkpoints)"
    )

    report = attacker.audit()

    assert "checkpoint_order" in kinds(report)


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def own_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    """A database of its own (SQLite, or PostgreSQL in that pass): the command commits, and its
    tampering must not leak into the shared world."""
    with scratch_database(os.environ.get("COLDPLEDGE_TEST_DATABASE_URL"), prefix="coldpledge_audit") as url:
        monkeypatch.setenv("COLDPLEDGE_DATABASE_URL", url)
        monkeypatch.setenv("COLDPLEDGE_LOG_KEY_FILE", str(tmp_path / "evidence-log.key"))
        get_settings.cache_clear()
        database = Database(url)
        try:
            upgrade(database.engine)
            for name in ("浙商银行杭州分行", "宁波银行上海分行"):
                parties.create_organisation(
                    UnitOfWork(database.write_session),
                    SYSTEM,
                    OrganisationIn(name=name, party_type=PartyType.BANK),
                )
            yield database
        finally:
            database.dispose()
            get_settings.cache_clear()


def test_the_command_exits_0_on_a_clean_log_and_1_naming_what_was_changed(own_database: Database) -> None:
    settings = get_settings()
    evidence_log.sequence_all(own_database.write_session)
    evidence_log.publish_checkpoint(own_database.write_session, load_log_signer(settings), settings.origin)
    runner = CliRunner()

    clean = runner.invoke(cli, ["evidence", "audit"])
    assert clean.exit_code == 0, clean.output
    assert "no tampering found" in clean.output
    assert "未发现篡改" in clean.output

    with own_database.engine.begin() as connection:
        connection.execute(text("UPDATE organisations SET name = 'forged' WHERE id = 2"))
    tampered = runner.invoke(cli, ["evidence", "audit"])
    assert tampered.exit_code == 1
    assert "1 problem(s) found" in tampered.output
    assert "发现 1 处问题" in tampered.output
    assert "org:2 was changed without evidence: name is 'forged'" in tampered.output

    as_json = runner.invoke(cli, ["evidence", "audit", "--json"])
    assert as_json.exit_code == 1
    [finding] = json.loads(as_json.output)["findings"]
    assert (finding["kind"], finding["objects"][0]) == ("row_changed", "org:2")


def test_the_command_refuses_to_run_without_the_log_key_and_makes_none_up(
    own_database: Database, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["evidence", "audit"])

    assert result.exit_code == 2
    assert not (tmp_path / "evidence-log.key").exists()


def test_an_outside_auditor_needs_only_the_public_key(own_database: Database) -> None:
    settings = get_settings()
    signer = load_log_signer(settings)
    evidence_log.sequence_all(own_database.write_session)
    evidence_log.publish_checkpoint(own_database.write_session, signer, settings.origin)
    Path(settings.log_key_file).unlink()

    pinned = CliRunner().invoke(cli, ["evidence", "audit", "--vkey", signer.verifier.vkey])
    other = CliRunner().invoke(
        cli, ["evidence", "audit", "--vkey", Signer.generate(settings.origin).verifier.vkey]
    )

    assert pinned.exit_code == 0, pinned.output
    assert other.exit_code == 1
    assert "does not verify with the log key" in other.output
