"""Audit of the log's structure: leaves in order without gaps, entries hashing to their leaves,
tiles that reproduce the level above and every signed checkpoint, and the checkpoints themselves."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import coldpledge.models  # noqa: F401 - registers every model, so no evidenced type is skipped
from coldpledge.evidence import merkle
from coldpledge.evidence.audit_report import Report, keyset, raw
from coldpledge.evidence.models import EvidenceCheckpoint, EvidenceLeaf, EvidenceTile
from coldpledge.evidence.note import NoteError, Verifier, open_note, parse_checkpoint
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.tiles import HASH, TILE_WIDTH, TileStore


def _leaf_ref(index: int) -> str:
    return f"leaf:{index}"


def check_leaves(session: Session, report: Report, batch: int) -> int:
    """Walk the leaves in index order against their entries and the level-0 tiles; return the
    size of the log (one past the highest index still present, or the hashes the tiles hold)."""
    query = select(EvidenceLeaf.leaf_index, EvidenceLeaf.outbox_id, EvidenceOutbox.entry).outerjoin(
        EvidenceOutbox, EvidenceOutbox.id == EvidenceLeaf.outbox_id
    )
    expected, previous_outbox = 0, 0
    tiles: dict[int, bytes] = {}
    for leaf_index, outbox_id, entry in keyset(session, query, EvidenceLeaf.leaf_index, batch):
        report.checked["leaves"] += 1
        if leaf_index > expected:
            _missing_leaves(report, expected, leaf_index - 1)
        expected = leaf_index + 1
        if outbox_id <= previous_outbox:
            report.add(
                "leaf_order",
                [_leaf_ref(leaf_index), f"outbox:{outbox_id}", f"outbox:{previous_outbox}"],
                f"Leaf {leaf_index} holds outbox entry {outbox_id}, which does not come after entry "
                f"{previous_outbox} of the leaf before it: leaves were reordered or reassigned. "
                "Restore evidence_leaves from a backup; the tree and the checkpoints keep the true order.",
            )
        previous_outbox = max(previous_outbox, outbox_id)
        if entry is None:
            report.add(
                "leaf_orphaned",
                [_leaf_ref(leaf_index), f"outbox:{outbox_id}"],
                f"Leaf {leaf_index} holds outbox entry {outbox_id}, which no longer exists: the entry "
                "was deleted after it was logged. Restore it from a backup.",
            )
            continue
        tile_index = leaf_index // TILE_WIDTH
        if tile_index not in tiles:
            tiles = _level_zero_tiles(session, tile_index, batch)
        stored = _hash_at(tiles.get(tile_index, b""), leaf_index % TILE_WIDTH)
        if stored is None:
            report.add(
                "tile_missing",
                [_leaf_ref(leaf_index), f"tile:0/{tile_index}"],
                f"The tree has no leaf hash for leaf {leaf_index} (tile 0/{tile_index} is missing or "
                "short): the stored tree was cut. Restore evidence_tiles from a backup.",
            )
        elif stored != merkle.leaf_hash(raw(entry)):
            report.add(
                "leaf_content",
                [_leaf_ref(leaf_index), f"outbox:{outbox_id}"],
                f"Outbox entry {outbox_id} no longer hashes to the hash of leaf {leaf_index} in the "
                "tree: the entry (or the leaf hash) was edited after it was logged. Compare it with "
                "the entry served to witnesses and restore the original.",
            )
    stored_hashes = _hashes_at_level(session, 0)
    if stored_hashes > expected:
        _missing_leaves(report, expected, stored_hashes - 1)
    return max(expected, stored_hashes)


def _missing_leaves(report: Report, first: int, last: int) -> None:
    which = f"Leaf {first} is" if first == last else f"Leaves {first} to {last} are"
    report.add(
        "leaf_missing",
        [_leaf_ref(index) for index in range(first, min(last, first + 9) + 1)],
        f"{which} missing from evidence_leaves although the tree holds their hashes: rows were "
        "deleted. Restore them from a backup; checkpoints and witnesses still commit to them.",
    )


def _level_zero_tiles(session: Session, first: int, batch: int) -> dict[int, bytes]:
    """The level-0 tiles from ``first`` covering one batch of leaves."""
    last = first + max(1, batch // TILE_WIDTH)
    rows = session.execute(
        select(EvidenceTile.tile_index, EvidenceTile.hashes).where(
            EvidenceTile.level == 0, EvidenceTile.tile_index.between(first, last)
        )
    ).all()
    # Tiles that are gone count as empty, so a deleted tile is not looked for once per leaf.
    return dict.fromkeys(range(first, last + 1), b"") | {int(index): raw(hashes) for index, hashes in rows}


def _hash_at(tile: bytes, offset: int) -> bytes | None:
    found = tile[offset * HASH : (offset + 1) * HASH]
    return found if len(found) == HASH else None


def _hashes_at_level(session: Session, level: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(func.length(EvidenceTile.hashes)), 0)).where(
            EvidenceTile.level == level
        )
    )
    return int(total or 0) // HASH


# --- tiles and checkpoints --------------------------------------------------------------------


def check_tiles(session: Session, report: Report, size: int) -> None:
    """Every full tile's root must be the entry for it one level up; every level must be whole."""
    level, width = 0, size
    while width > 0:
        full_tiles = _check_level(session, report, level, width)
        level, width = level + 1, full_tiles


def _check_level(session: Session, report: Report, level: int, width: int) -> int:
    """Check the tiles of ``level``, which must hold ``width`` hashes; return its full tiles."""
    full = width // TILE_WIDTH
    parent: tuple[int, bytes] = (-1, b"")
    expected_index = 0
    query = select(EvidenceTile.tile_index, EvidenceTile.hashes).where(EvidenceTile.level == level)
    for tile_index, hashes in keyset(session, query, EvidenceTile.tile_index, 256):
        report.checked["tiles"] += 1
        if tile_index != expected_index:
            report.add(
                "tile_missing",
                [
                    f"tile:{level}/{index}"
                    for index in range(expected_index, min(tile_index, expected_index + 10))
                ],
                f"Tiles {level}/{expected_index} to {level}/{tile_index - 1} are missing: part of the "
                "stored tree was deleted. Restore evidence_tiles from a backup.",
            )
        expected_index = tile_index + 1
        tile = raw(hashes)
        wanted = TILE_WIDTH if tile_index < full else width - full * TILE_WIDTH
        if len(tile) != wanted * HASH:
            report.add(
                "tile_size",
                [f"tile:{level}/{tile_index}"],
                f"Tile {level}/{tile_index} holds {len(tile) / HASH:g} hashes where the log of this "
                f"size needs {wanted}: hashes were cut or added. Restore it from a backup.",
            )
            continue
        if tile_index >= full:
            continue
        if parent[0] != tile_index // TILE_WIDTH:
            above = session.scalar(
                select(EvidenceTile.hashes).where(
                    EvidenceTile.level == level + 1, EvidenceTile.tile_index == tile_index // TILE_WIDTH
                )
            )
            parent = (tile_index // TILE_WIDTH, raw(above or b""))
        recorded = _hash_at(parent[1], tile_index % TILE_WIDTH)
        root = merkle.root_of([tile[i : i + HASH] for i in range(0, len(tile), HASH)])
        if recorded is not None and recorded != root:
            report.add(
                "tile_mismatch",
                [f"tile:{level}/{tile_index}", f"tile:{level + 1}/{parent[0]}"],
                f"Tile {level}/{tile_index} no longer hashes to its entry in tile {level + 1}/{parent[0]}: "
                "a stored hash was edited. Proofs served from this tree would not verify; restore the "
                "tiles from a backup.",
            )
    needed = -(-width // TILE_WIDTH)
    if expected_index < needed:
        report.add(
            "tile_missing",
            [f"tile:{level}/{index}" for index in range(expected_index, min(needed, expected_index + 10))],
            f"Tiles {level}/{expected_index} to {level}/{needed - 1} are missing: the end of the stored "
            "tree was deleted. Restore evidence_tiles from a backup.",
        )
    return full


def check_checkpoints(session: Session, report: Report, verifier: Verifier, size: int, batch: int) -> None:
    previous = 0
    query = select(
        EvidenceCheckpoint.id,
        EvidenceCheckpoint.tree_size,
        EvidenceCheckpoint.root_hash,
        EvidenceCheckpoint.note,
    )
    tiles = TileStore(session)
    for number, (ident, tree_size, root_hash, note_text) in enumerate(
        keyset(session, query, EvidenceCheckpoint.id, batch)
    ):
        report.checked["checkpoints"] += 1
        if number % batch == 0:
            tiles = TileStore(session)  # its cache grows with every tile read; bound it
        ref = f"checkpoint:{ident}"
        if tree_size <= previous:
            report.add(
                "checkpoint_order",
                [ref],
                f"Checkpoint {ident} is of size {tree_size}, not larger than the one signed before it "
                f"({previous}): checkpoints were edited or reordered. Compare with the witnesses' copies.",
            )
        previous = max(previous, tree_size)
        _check_note(report, verifier, ident, tree_size, raw(root_hash), note_text)
        if tree_size > size:
            report.add(
                "checkpoint_beyond_log",
                [ref],
                f"Checkpoint {ident} commits to {tree_size} leaves but the log holds only {size}: "
                "leaves that were signed are gone. Restore the log from a backup.",
            )
            continue
        try:
            again = tiles.root(tree_size)
        except (LookupError, TypeError):
            continue  # missing or mangled tiles: the tile checks already name them
        if again != raw(root_hash):
            report.add(
                "checkpoint_root",
                [ref, f"tree_size:{tree_size}"],
                f"The stored tree no longer gives the root signed in checkpoint {ident} (size "
                f"{tree_size}): leaf hashes or tiles were changed after signing. The log will refuse "
                "to sign again until the tree is restored from a backup.",
            )


def _check_note(
    report: Report, verifier: Verifier, ident: int, tree_size: int, root_hash: bytes, note_text: str
) -> None:
    ref = f"checkpoint:{ident}"
    try:
        note, _ = open_note(note_text, [verifier])
        body = parse_checkpoint(note.text)
    except NoteError as exc:
        report.add(
            "checkpoint_signature",
            [ref],
            f"The signed note of checkpoint {ident} does not verify with the log key {verifier.name} "
            f"({exc}): the note was edited. Compare it with the witnesses' copies.",
        )
        return
    if (body.origin, body.size, body.root) != (verifier.name, tree_size, root_hash):
        report.add(
            "checkpoint_mismatch",
            [ref],
            f"Checkpoint {ident} is stored with size {tree_size} and root {root_hash.hex()}, but its "
            f"signed note says size {body.size} and root {body.root.hex()} for {body.origin}: the "
            "row was edited. The signed note is what outsiders hold; restore the row to match it.",
        )
