"""The tree, stored as tiles of 256 hashes (the C2SP tlog-tiles layout).

Level 0 holds the leaf hashes; an entry of level L is the root of the perfect subtree over 256^L
leaves. Any perfect, aligned subtree is one tile entry or the hash of at most 128 entries of one
tile, so the root of any tree size and any proof take O(log n) tile reads, whatever the size of
the log: nothing is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import and_, or_, select
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
        return _perfect_root(chunk)

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
        if size == 0:
            return merkle.EMPTY_ROOT
        self._prefetch(lambda subtree: subtree(0, size))
        return self.subtree(0, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._prefetch(lambda subtree: merkle.inclusion_path(index, size, subtree))
        return merkle.inclusion_path(index, size, self.subtree)

    def consistency(self, first: int, second: int) -> list[bytes]:
        self._prefetch(lambda subtree: merkle.consistency_proof(first, second, subtree))
        return merkle.consistency_proof(first, second, self.subtree)

    def _prefetch(self, walk: Callable[[merkle.Subtree], object]) -> None:
        """Read every tile ``walk`` will need in one query, not one query per tile: a proof in a
        log of millions of leaves needs half a dozen tiles, and each query is a round trip."""
        wanted: set[tuple[int, int]] = set()

        def record(start: int, end: int) -> bytes:
            _tiles_under(start, end, wanted)
            return bytes(HASH)

        walk(record)
        missing = wanted - self._cache.keys()
        if not missing:
            return
        by_level: dict[int, list[int]] = {}
        for level, index in sorted(missing):
            self._cache[(level, index)] = b""
            by_level.setdefault(level, []).append(index)
        # One equality on the level and a list of tile indices per level: SQLite walks the primary
        # key for this, where it would scan the table for a (level, tile_index) IN (...) row list.
        rows = self.session.connection().execute(
            select(EvidenceTile.level, EvidenceTile.tile_index, EvidenceTile.hashes).where(
                or_(
                    *(
                        and_(EvidenceTile.level == level, EvidenceTile.tile_index.in_(indices))
                        for level, indices in by_level.items()
                    )
                )
            )
        )
        for level, index, hashes in rows:
            self._cache[(level, index)] = bytes(hashes)

    # --- appending ----------------------------------------------------------------------------

    def append(self, size: int, leaf_hashes: Sequence[bytes]) -> int:
        """Add ``leaf_hashes`` after the first ``size`` leaves; returns the new size. Every tile
        that completes passes its root up to the next level."""
        pending = {0: (size, list(leaf_hashes))}
        level = 0
        writes: list[dict[str, object]] = []
        while level in pending:
            first, hashes = pending.pop(level)
            completed = self._extend(level, first, hashes, writes)
            if completed:
                pending[level + 1] = (completed[0][0], [root for _, root in completed])
            level += 1
        self._write(writes)
        return size + len(leaf_hashes)

    def _extend(
        self, level: int, first: int, hashes: list[bytes], writes: list[dict[str, object]]
    ) -> list[tuple[int, bytes]]:
        """Put ``hashes`` at positions ``first``.. of ``level`` (the tiles to write go to ``writes``);
        return (tile index, root) of every tile this completed, in order."""
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
            self._cache[(level, index)] = tile
            writes.append({"level": level, "tile_index": index, "hashes": tile})
            if len(tile) == TILE_WIDTH * HASH:
                completed.append((index, _perfect_root(tile)))
            position += len(taken)
            cursor += len(taken)
        return completed

    def _write(self, tiles: list[dict[str, object]]) -> None:
        """Insert or grow these tiles in one call (each tile appears once)."""
        if not tiles:
            return
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(EvidenceTile)
        self.session.connection().execute(
            statement.on_conflict_do_update(
                index_elements=[EvidenceTile.level, EvidenceTile.tile_index],
                set_={"hashes": statement.excluded.hashes},
            ),
            tiles,
        )


def _tiles_under(start: int, end: int, into: set[tuple[int, int]]) -> None:
    """Add to ``into`` the (level, tile index) of every tile ``TileStore.subtree(start, end)`` reads."""
    size = end - start
    if size <= 0:
        return  # ``subtree`` refuses it when the walk is done for real
    if size & (size - 1) == 0 and start % size == 0:
        level = (size.bit_length() - 1) // TILE_HEIGHT
        into.add((level, (start >> (level * TILE_HEIGHT)) // TILE_WIDTH))
        return
    k = merkle.split(size)
    _tiles_under(start, start + k, into)
    _tiles_under(start + k, end, into)


def _perfect_root(hashes: bytes) -> bytes:
    """The root of a perfect subtree over these concatenated hashes (a power of two of them), level
    by level: the same as ``merkle.root_of`` there, without its recursion."""
    level = [hashes[i : i + HASH] for i in range(0, len(hashes), HASH)]
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
