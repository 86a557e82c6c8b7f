"""The log turns the outbox into an RFC 9162 tree, signs checkpoints, and serves proofs that an
outsider can check with nothing but the public key."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import merkle
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.models import EvidenceLeaf
from coldpledge.evidence.note import open_note, parse_checkpoint, parse_vkey
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.tiles import TileStore
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import StocktakeIn
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB


def sequenced(db: TestDB) -> int:
    evidence_log.sequence_all(db.session, batch=7)
    with db.session() as session:
        return evidence_log.tree_size(session)


def test_every_outbox_entry_becomes_one_leaf_in_outbox_order(db: TestDB) -> None:
    size = sequenced(db)

    with db.session() as session:
        outbox = session.scalars(select(EvidenceOutbox.id).order_by(EvidenceOutbox.id)).all()
        leaves = session.execute(
            select(EvidenceLeaf.leaf_index, EvidenceLeaf.outbox_id).order_by(EvidenceLeaf.leaf_index)
        ).all()
    assert size == len(outbox) > 100
    assert [index for index, _ in leaves] == list(range(size))
    assert [outbox_id for _, outbox_id in leaves] == list(outbox)


def test_the_stored_tree_has_the_root_of_the_entries(db: TestDB) -> None:
    size = sequenced(db)
    with db.session() as session:
        entries = session.scalars(
            select(EvidenceOutbox.entry)
            .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
            .order_by(EvidenceLeaf.leaf_index)
        ).all()
        tiles = TileStore(session)
        for n in (1, 2, 3, size // 2, size - 1, size):
            assert tiles.root(n) == merkle.root_of([merkle.leaf_hash(bytes(e)) for e in entries[:n]])


def test_a_checkpoint_is_signed_only_when_the_tree_grew(db: TestDB) -> None:
    sequenced(db)
    signer = load_log_signer(db.settings)
    first = evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    again = evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)

    assert first is not None
    assert again is None
    note, _ = open_note(first.note, [signer.verifier])
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        db.settings.origin,
        first.tree_size,
        first.root_hash,
    )


def test_the_log_refuses_to_sign_when_the_stored_tree_contradicts_its_last_checkpoint(
    db: TestDB, world: World
) -> None:
    size = sequenced(db)
    # The forged leaf must sit in a partial tile: a full tile is summed up a level higher and its
    # leaves are not read again. How many entries other tests left committed decides the size.
    while size % 256 == 0:
        inventory.stocktake(
            db.uow(),
            world.who("inspector"),
            world.lots["free"],
            StocktakeIn(counted_g=10_000_000, counted_cartons=500),
        )
        size = sequenced(db)
    signer = load_log_signer(db.settings)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    # Someone rewrites the newest leaf hash behind the log's back (the one the signed root rests
    # on directly); then more is logged.
    tile_index, offset = divmod(size - 1, 256)
    tile = db.connection.execute(
        text("SELECT hashes FROM evidence_tiles WHERE level = 0 AND tile_index = :tile"), {"tile": tile_index}
    )
    hashes = bytes(tile.scalar_one())
    forged = hashes[: offset * 32] + bytes([hashes[offset * 32] ^ 0xFF]) + hashes[offset * 32 + 1 :]
    db.connection.execute(
        text("UPDATE evidence_tiles SET hashes = :forged WHERE level = 0 AND tile_index = :tile"),
        {"forged": forged, "tile": tile_index},
    )
    inventory.stocktake(
        db.uow(),
        world.who("inspector"),
        world.lots["free"],
        StocktakeIn(counted_g=10_000_000, counted_cartons=500),
    )
    sequenced(db)

    with pytest.raises(evidence_log.LogInconsistent):
        evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)


def test_an_outsider_checks_an_entry_with_the_public_api_and_the_public_key_alone(
    client: TestClient, db: TestDB
) -> None:
    sequenced(db)
    evidence_log.publish_checkpoint(db.session, load_log_signer(db.settings), db.settings.origin)

    vkey = client.get("/api/v1/evidence/public-key").text.strip()
    note_text = client.get("/api/v1/evidence/checkpoint").text
    note, _ = open_note(note_text, [parse_vkey(vkey)])
    checkpoint = parse_checkpoint(note.text)
    index = checkpoint.size // 3
    entry = client.get(f"/api/v1/evidence/entries/{index}").json()
    proof = client.get(
        "/api/v1/evidence/proof/inclusion", params={"index": index, "tree_size": checkpoint.size}
    ).json()

    leaf = merkle.leaf_hash(base64.b64decode(entry["leaf_input"]))
    assert leaf.hex() == entry["leaf_hash"]
    assert merkle.verify_inclusion(
        index, checkpoint.size, leaf, [bytes.fromhex(h) for h in proof["hashes"]], checkpoint.root
    )
