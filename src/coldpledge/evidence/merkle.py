"""The Merkle tree of RFC 9162 §2.1 (RFC 6962 hashing), exactly. Pure: no I/O.

Leaf hash SHA-256(0x00‖d), node hash SHA-256(0x01‖l‖r), the left-full tree that splits at the
largest power of two below the size (the last leaf is never duplicated), inclusion paths and
consistency proofs (§2.1.3.1, §2.1.4.1), and their verification (§2.1.3.2, §2.1.4.2) with the
length and size checks.

Proof generation reads subtree hashes through a function ``subtree(start, end)`` (the hash of the
leaves ``start..end-1``), so a store that keeps hashes of aligned perfect subtrees can serve proofs
for a tree of any size without rebuilding it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(size: int) -> int:
    """The largest power of two strictly below ``size`` (k < n <= 2k); ``size`` must be >= 2."""
    if size < 2:
        raise ValueError("only a tree of two or more leaves splits")
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (tests, packages and small trees)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _mth(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    k = split(end - start)
    return node_hash(_mth(leaves, start, start + k), _mth(leaves, start + k, end))


def memory_subtree(leaf_hashes: Sequence[bytes]) -> Subtree:
    """``subtree`` over leaf hashes held in memory."""
    return lambda start, end: _mth(leaf_hashes, start, end)


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: sibling hashes from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end, m = 0, size, index
    # Walk down from the root, collecting the other side at every split; then reverse.
    while end - start > 1:
        k = split(end - start)
        if m < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1, for 0 < m <= n (empty when m == n)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    proof: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while True:
        if m == end - start:
            if not whole:
                proof.append(subtree(start, end))
            break
        k = split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2. Fail closed on any malformed input."""
    if not 0 <= index < size:
        return False
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE or any(len(p) != HASH_SIZE for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2. A size of 0 is always refused (nothing to be consistent with); equal
    sizes need an empty proof and equal roots."""
    if first <= 0 or first > second:
        return False
    if first == second:
        return not proof and root1 == root2
    if not proof or any(len(h) != HASH_SIZE for h in (root1, root2, *proof)):
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, root1)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0
