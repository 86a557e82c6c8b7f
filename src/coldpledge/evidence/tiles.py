"""The tree, stored as tiles of 256 hashes (the C2SP tlog-tiles layout).

Level 0 holds the leaf hashes; an entry of level L is the root of the perfect subtree over 256^L
leaves. Any perfect, aligned subtree is one tile entry or the hash of at most 128 entries of one
tile, so the root of any tree size and any proof take O(log n) tile reads, whatever the size of
the log: nothing is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from coldpledge.evidence import merkle
from coldpledge.evidence.models import EvidenceTile

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = merkle.HASH_SIZE


class TileStore:
    """Reads and extends the tiles of one session's transaction; caches what it read."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[int, int], bytes] = {}

    # --- reading ------------------------------------------------------------------------------

    def tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            found = self.session.scalar(
                select(EvidenceTile.hashes).where(
                    EvidenceTile.level == level, EvidenceTile.tile_index == index
                )
            )
            self._cache[key] = found or b""
        return self._cache[key]

    def entry(self, level: int, index: int) -> bytes:
        tile = self.tile(level, index // TILE_WIDTH)
        offset = (index % TILE_WIDTH) * HASH
        if offset + HASH > len(tile):
            raise LookupError(f"the log has no hash at level {level}, position {index}")
        return tile[offset : offset + HASH]

    def perfect(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree over leaves [index·2^height, (index+1)·2^height)."""
        level, below = divmod(height, TILE_HEIGHT)
        if below == 0:
            return self.entry(level, index)
        width = 1 << below
        start = index * width
        tile = self.tile(level, start // TILE_WIDTH)
        offset = (start % TILE_WIDTH) * HASH
        chunk = tile[offset : offset + width * HASH]
        if len(chunk) != width * HASH:
            raise LookupError(f"the log has no complete subtree of height {height} at {index}")
        hashes = [chunk[i : i + HASH] for i in range(0, len(chunk), HASH)]
        return merkle.root_of(hashes)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end): perfect aligned pieces, combined the RFC 9162 way."""
        size = end - start
        if size <= 0:
            raise ValueError("an empty range has no subtree hash")
        if size & (size - 1) == 0 and start % size == 0:
            return self.perfect(size.bit_length() - 1, start // size)
        k = merkle.split(size)
        return merkle.node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int) -> bytes:
        return merkle.EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_path(index, size, self.subtree)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return merkle.consistency_proof(first, second, self.subtree)

    # --- appending ----------------------------------------------------------------------------

    def append(self, size: int, leaf_hashes: Sequence[bytes]) -> int:
        """Add ``leaf_hashes`` after the first ``size`` leaves; returns the new size. Every tile
        that completes passes its root up to the next level."""
        pending = {0: (size, list(leaf_hashes))}
        level = 0
        while level in pending:
            first, hashes = pending.pop(level)
            completed = self._extend(level, first, hashes)
            if completed:
                pending[level + 1] = (completed[0][0], [root for _, root in completed])
            level += 1
        return size + len(leaf_hashes)

    def _extend(self, level: int, first: int, hashes: list[bytes]) -> list[tuple[int, bytes]]:
        """Write ``hashes`` at positions ``first``.. of ``level``; return (tile index, root) of every
        tile this completed, in order."""
        completed: list[tuple[int, bytes]] = []
        position, cursor = first, 0
        while cursor < len(hashes):
            index, offset = divmod(position, TILE_WIDTH)
            room = TILE_WIDTH - offset
            taken = hashes[cursor : cursor + room]
            existing = self.tile(level, index) if offset else b""
            if len(existing) != offset * HASH:
                raise RuntimeError(
                    f"tile {level}/{index} holds {len(existing) // HASH} hashes, expected {offset}"
                )
            tile = existing + b"".join(taken)
            self._write(level, index, tile)
            if len(tile) == TILE_WIDTH * HASH:
                completed.append(
                    (index, merkle.root_of([tile[i : i + HASH] for i in range(0, len(tile), HASH)]))
                )
            position += len(taken)
            cursor += len(taken)
        return completed

    def _write(self, level: int, index: int, hashes: bytes) -> None:
        self._cache[(level, index)] = hashes
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(EvidenceTile).values(level=level, tile_index=index, hashes=hashes)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[EvidenceTile.level, EvidenceTile.tile_index], set_={"hashes": hashes}
            )
        )
