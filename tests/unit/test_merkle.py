"""The tree, its proofs and their verification are exactly RFC 9162 §2.1 (RFC 6962 hashing).

Evidence, strongest first: every probe of the official transparency-dev/merkle test data, the
known answers of ledger.md §1.6, a generator ⇄ verifier round trip for every 1 ≤ m ≤ n ≤ 128,
fuzzing that a damaged proof never verifies, mutants that show these tests catch the steps other
implementations got wrong, and proofs read from the stored tiles that equal the in-memory ones.
"""

from __future__ import annotations

import ast
import base64
import functools
import inspect
import json
import os
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from coldpledge.db import Base, make_engine, scratch_database
from coldpledge.evidence import merkle
from coldpledge.evidence.tiles import TileStore

PROBES = Path(__file__).parent.parent / "evidence_data" / "transparency_dev_merkle" / "testdata"
POSTGRES_URL = os.environ.get("COLDPLEDGE_TEST_DATABASE_URL")

# --- the official probe set -------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    name: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def want_valid(self) -> bool:
        return not self.data["wantErr"]

    def proof(self) -> list[bytes]:
        # A few probes store a missing proof as null; it means "no hashes".
        return [base64.b64decode(h) for h in self.data["proof"] or []]

    def accepted(
        self,
        inclusion: Callable[[int, int, bytes, Sequence[bytes], bytes], bool] = merkle.verify_inclusion,
        consistency: Callable[[int, int, bytes, bytes, Sequence[bytes]], bool] = merkle.verify_consistency,
    ) -> bool:
        d, b64 = self.data, base64.b64decode
        if self.kind == "inclusion":
            return inclusion(d["leafIdx"], d["treeSize"], b64(d["leafHash"]), self.proof(), b64(d["root"]))
        return consistency(d["size1"], d["size2"], b64(d["root1"]), b64(d["root2"]), self.proof())


def load_probes() -> list[Probe]:
    return [
        Probe(path.relative_to(PROBES).as_posix(), json.loads(path.read_text()))
        for path in sorted(PROBES.glob("**/*.json"))
    ]


ALL_PROBES = load_probes()


def test_the_whole_vendored_probe_set_is_there() -> None:
    # 98 inclusion and 98 consistency probes at transparency-dev/merkle 417fb0c3; a file lost in a
    # copy would otherwise just mean fewer parametrised cases.
    kinds = [probe.kind for probe in ALL_PROBES]
    assert (kinds.count("inclusion"), kinds.count("consistency"), len(kinds)) == (98, 98, 196)
    assert sum(probe.want_valid for probe in ALL_PROBES) >= 10


@pytest.mark.parametrize("probe", ALL_PROBES, ids=lambda probe: probe.name)
def test_every_official_probe_gets_the_verdict_transparency_dev_expects(probe: Probe) -> None:
    assert probe.accepted() is probe.want_valid, probe.data["desc"]


# --- known answers (ledger.md §1.6, from transparency-dev/merkle) -----------------------------

H = bytes.fromhex
LEAF_INPUTS = [
    H(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAF_HASHES = [
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    H("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    H("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    H("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    H("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
NODES = {
    (0, 2): H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    (2, 4): H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    (4, 6): H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    (6, 8): H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    (0, 4): H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    (4, 8): H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    (0, 8): H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}
ROOTS = [
    H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
KAT_SUBTREE = merkle.memory_subtree(LEAF_HASHES)

INCLUSION_KATS = [
    (0, 1, []),
    (0, 8, [LEAF_HASHES[1], NODES[2, 4], NODES[4, 8]]),
    (5, 8, [LEAF_HASHES[4], NODES[6, 8], NODES[0, 4]]),
    (2, 3, [NODES[0, 2]]),
    (1, 5, [LEAF_HASHES[0], NODES[2, 4], LEAF_HASHES[4]]),
]
CONSISTENCY_KATS = [
    (1, 1, []),
    (1, 8, [LEAF_HASHES[1], NODES[2, 4], NODES[4, 8]]),
    (6, 8, [NODES[4, 6], NODES[6, 8], NODES[0, 4]]),
    (2, 5, [NODES[2, 4], LEAF_HASHES[4]]),
    (6, 7, [NODES[4, 6], LEAF_HASHES[6], NODES[0, 4]]),
    # Derived from the RFC algorithm over the same leaves (ledger.md §1.6), not in upstream files.
    (4, 8, [NODES[4, 8]]),
    (
        3,
        7,
        [
            LEAF_HASHES[2],
            LEAF_HASHES[3],
            NODES[0, 2],
            H("837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"),
        ],
    ),
]


def test_the_hasher_gives_the_rfc6962_known_answers() -> None:
    assert ROOTS[0] == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"") == LEAF_HASHES[0]
    assert merkle.leaf_hash(b"L123456") == H(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456") == H(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_the_leaf_hashes_and_inner_nodes_are_the_known_answers() -> None:
    assert [merkle.leaf_hash(data) for data in LEAF_INPUTS] == LEAF_HASHES
    assert {span: KAT_SUBTREE(*span) for span in NODES} == NODES


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_the_first_n_leaves_is_the_known_answer(size: int) -> None:
    assert merkle.root_of(LEAF_HASHES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_KATS)
def test_inclusion_paths_are_the_known_answers_and_verify(index: int, size: int, path: list[bytes]) -> None:
    assert merkle.inclusion_path(index, size, KAT_SUBTREE) == path
    assert merkle.verify_inclusion(index, size, LEAF_HASHES[index], path, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_KATS)
def test_consistency_proofs_are_the_known_answers_and_verify(
    first: int, second: int, proof: list[bytes]
) -> None:
    assert merkle.consistency_proof(first, second, KAT_SUBTREE) == proof
    assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


def test_the_tree_never_duplicates_the_last_leaf() -> None:
    # CVE-2012-2459: a tree that pads with a copy of its last leaf gives [a, b, c] and [a, b, c, c]
    # the same root. RFC 6962's left-full split does not.
    three = LEAF_HASHES[:3]
    assert merkle.root_of(three) != merkle.root_of([*three, three[-1]])


def test_generators_refuse_proofs_that_do_not_exist() -> None:
    for index, size in ((0, 0), (3, 3), (-1, 4)):
        with pytest.raises(ValueError, match="is not in a tree"):
            merkle.inclusion_path(index, size, KAT_SUBTREE)
    for first, second in ((0, 3), (4, 3), (-1, 2)):
        with pytest.raises(ValueError, match="no consistency proof"):
            merkle.consistency_proof(first, second, KAT_SUBTREE)


# --- exhaustive round trip --------------------------------------------------------------------

MAX_SIZE = 128
LEAVES = [merkle.leaf_hash(b"round trip %d" % i) for i in range(MAX_SIZE)]
# The hash of leaves [start, end) does not depend on the tree size, so one cache serves every size.
SUBTREE = functools.cache(merkle.memory_subtree(LEAVES))


def root(size: int) -> bytes:
    return SUBTREE(0, size)


def test_the_cached_test_tree_has_the_roots_of_root_of() -> None:
    assert [root(n) for n in (1, 2, 3, 5, 64, 127, 128)] == [
        merkle.root_of(LEAVES[:n]) for n in (1, 2, 3, 5, 64, 127, 128)
    ]


def test_every_inclusion_path_up_to_128_leaves_verifies_and_is_no_longer_than_log2_n() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            path = merkle.inclusion_path(index, size, SUBTREE)
            assert len(path) <= (size - 1).bit_length(), (index, size)
            assert merkle.verify_inclusion(index, size, LEAVES[index], path, root(size)), (index, size)


def test_every_consistency_proof_up_to_128_leaves_verifies() -> None:
    for second in range(1, MAX_SIZE + 1):
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(first, second, SUBTREE)
            assert (proof == []) is (first == second), (first, second)
            assert len(proof) <= (second - 1).bit_length() + 1, (first, second)
            assert merkle.verify_consistency(first, second, root(first), root(second), proof), (
                first,
                second,
            )


# --- fuzzing: a damaged proof never verifies --------------------------------------------------

FUZZ = settings(max_examples=300)
sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def inclusions(draw: st.DrawFn, *, min_size: int = 1) -> tuple[int, int, list[bytes]]:
    size = draw(st.integers(min_value=min_size, max_value=MAX_SIZE))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return index, size, merkle.inclusion_path(index, size, SUBTREE)


@st.composite
def consistencies(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    second = draw(st.integers(min_value=2, max_value=MAX_SIZE))
    first = draw(st.integers(min_value=1, max_value=second - 1))
    return first, second, merkle.consistency_proof(first, second, SUBTREE)


def flipped(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


bits = st.integers(min_value=0, max_value=8 * merkle.HASH_SIZE - 1)


@st.composite
def damaged(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """The proof with one bit flipped, cut short, lengthened or reordered."""
    how = draw(st.sampled_from(["flip", "drop", "cut", "insert", "stretch", "reorder"]))
    hashes = list(proof)
    if how == "insert" or not hashes:
        extra = draw(st.binary(min_size=1, max_size=64) | st.sampled_from([*proof, root(MAX_SIZE)]))
        hashes.insert(draw(st.integers(min_value=0, max_value=len(hashes))), extra)
        return hashes
    at = draw(st.integers(min_value=0, max_value=len(hashes) - 1))
    if how == "flip":
        hashes[at] = flipped(hashes[at], draw(bits))
    elif how == "drop":
        del hashes[at]
    elif how == "cut":
        hashes[at] = hashes[at][: draw(st.integers(min_value=0, max_value=merkle.HASH_SIZE - 1))]
    elif how == "stretch":
        hashes[at] += draw(st.binary(min_size=1, max_size=4))
    else:
        order = draw(st.permutations(range(len(hashes))))
        hashes = [hashes[i] for i in order]
        assume(hashes != proof)
    return hashes


@FUZZ
@given(inclusions(), st.data())
def test_a_damaged_inclusion_proof_is_rejected(
    case: tuple[int, int, list[bytes]], data: st.DataObject
) -> None:
    index, size, path = case
    hashes = data.draw(damaged(path))
    assert not merkle.verify_inclusion(index, size, LEAVES[index], hashes, root(size))


@FUZZ
@given(inclusions(), bits, st.booleans())
def test_an_inclusion_proof_for_another_leaf_or_root_is_rejected(
    case: tuple[int, int, list[bytes]], bit: int, change_root: bool
) -> None:
    index, size, path = case
    leaf, expected = LEAVES[index], root(size)
    if change_root:
        expected = flipped(expected, bit)
    else:
        leaf = flipped(leaf, bit)
    assert not merkle.verify_inclusion(index, size, leaf, path, expected)


@FUZZ
@given(inclusions(), st.integers(min_value=-2, max_value=MAX_SIZE + 2))
def test_an_inclusion_proof_does_not_verify_at_another_index(
    case: tuple[int, int, list[bytes]], other: int
) -> None:
    index, size, path = case
    assume(other != index)
    assert not merkle.verify_inclusion(other, size, LEAVES[index], path, root(size))


@FUZZ
@given(inclusions(), sizes)
def test_an_inclusion_proof_does_not_verify_at_another_size_with_that_sizes_root(
    case: tuple[int, int, list[bytes]], other: int
) -> None:
    index, size, path = case
    assume(other != size)
    assert not merkle.verify_inclusion(index, other, LEAVES[index], path, root(other))


def test_a_proof_binds_its_size_only_through_the_root_it_is_checked_against() -> None:
    # RFC 9162 by design, and the reason every caller takes size and root from one signed
    # checkpoint: leaf 0's path in a tree of 4 also "verifies" for size 3 against the root of 4.
    path = merkle.inclusion_path(0, 4, SUBTREE)
    assert merkle.verify_inclusion(0, 3, LEAVES[0], path, root(4))
    assert not merkle.verify_inclusion(0, 3, LEAVES[0], path, root(3))


@FUZZ
@given(consistencies(), st.data())
def test_a_damaged_consistency_proof_is_rejected(
    case: tuple[int, int, list[bytes]], data: st.DataObject
) -> None:
    first, second, proof = case
    hashes = data.draw(damaged(proof))
    assert not merkle.verify_consistency(first, second, root(first), root(second), hashes)


@FUZZ
@given(consistencies(), bits, st.booleans())
def test_a_consistency_proof_between_other_roots_is_rejected(
    case: tuple[int, int, list[bytes]], bit: int, change_first: bool
) -> None:
    first, second, proof = case
    root1, root2 = root(first), root(second)
    if change_first:
        root1 = flipped(root1, bit)
    else:
        root2 = flipped(root2, bit)
    assert not merkle.verify_consistency(first, second, root1, root2, proof)


@FUZZ
@given(consistencies(), st.integers(min_value=-1, max_value=MAX_SIZE), st.booleans())
def test_a_consistency_proof_does_not_verify_between_other_sizes_with_their_roots(
    case: tuple[int, int, list[bytes]], other: int, change_first: bool
) -> None:
    first, second, proof = case
    new_first, new_second = (other, second) if change_first else (first, other)
    assume((new_first, new_second) != (first, second))
    root1 = root(new_first) if new_first > 0 else merkle.EMPTY_ROOT
    root2 = root(new_second) if new_second > 0 else merkle.EMPTY_ROOT
    assert not merkle.verify_consistency(new_first, new_second, root1, root2, proof)


def test_equal_sizes_need_an_empty_proof_and_the_same_root() -> None:
    assert merkle.verify_consistency(5, 5, root(5), root(5), [])
    assert not merkle.verify_consistency(5, 5, root(5), root(5), [root(5)])
    assert not merkle.verify_consistency(5, 5, root(5), root(4), [])
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])


# --- mutants: the tests catch the steps implementations get wrong ------------------------------


class _Drop(ast.NodeTransformer):
    """Removes the statements ``doomed`` picks, counting them."""

    def __init__(self, doomed: Callable[[ast.stmt, bool], bool]) -> None:
        self.doomed = doomed
        self.in_for = False
        self.dropped = 0

    def visit_For(self, node: ast.For) -> ast.AST:
        self.in_for = True
        self.generic_visit(node)
        self.in_for = False
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field in ("body", "orelse"):
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                kept = [
                    s for s in statements if not (isinstance(s, ast.stmt) and self.doomed(s, self.in_for))
                ]
                self.dropped += len(statements) - len(kept)
                setattr(node, field, kept or [ast.Pass()])
        return super().generic_visit(node)


def mutant(function: Callable[..., bool], doomed: Callable[[ast.stmt, bool], bool]) -> Callable[..., bool]:
    """Our ``function`` recompiled without the statements ``doomed`` picks: derived from the real
    source, so the mutant follows any change to it, and fails to build if the step is gone."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    dropper = _Drop(doomed)
    tree = ast.fix_missing_locations(dropper.visit(tree))
    assert dropper.dropped == 1, f"expected to remove one statement from {function.__name__}"
    namespace: dict[str, Any] = dict(vars(merkle))
    exec(compile(tree, f"<mutant of {function.__name__}>", "exec"), namespace)  # noqa: S102 - our own source, transformed
    return cast(Callable[..., bool], namespace[function.__name__])


def is_inner_shift_loop(statement: ast.stmt, in_for: bool) -> bool:
    """Step 4.b.ii (6.b.ii for consistency): the right shift inside the proof loop."""
    return in_for and isinstance(statement, ast.While)


def is_prepend_first_root(statement: ast.stmt, in_for: bool) -> bool:
    """Consistency step 2: if ``first`` is a power of two, put its root in front of the path."""
    return isinstance(statement, ast.If) and "insert" in ast.unparse(statement.body[0])


def misjudged(**verifiers: Callable[..., bool]) -> list[str]:
    return [probe.name for probe in ALL_PROBES if probe.accepted(**verifiers) is not probe.want_valid]


def test_an_inclusion_verifier_without_the_inner_right_shift_fails_an_official_probe() -> None:
    inclusion = mutant(merkle.verify_inclusion, is_inner_shift_loop)

    assert misjudged() == []
    # Leaf 2 of 3: the step exists for the last leaf of a tree whose size is not a power of two.
    assert "inclusion/3/happy-path.json" in misjudged(inclusion=inclusion)


def test_a_consistency_verifier_without_the_inner_right_shift_fails_the_round_trip() -> None:
    # The official probes do not catch this one (at 417fb0c3 every consistency probe still gets
    # its expected verdict without step 6.b.ii), so the exhaustive round trip has to: the first
    # valid proof it rejects is 5 -> 6.
    consistency = mutant(merkle.verify_consistency, is_inner_shift_loop)
    rejected = [
        (first, second)
        for second in range(2, 17)
        for first in range(1, second)
        if not consistency(
            first, second, root(first), root(second), merkle.consistency_proof(first, second, SUBTREE)
        )
    ]
    assert rejected[:1] == [(5, 6)]


def test_a_verifier_that_forgets_to_prepend_a_power_of_two_root_fails_official_probes() -> None:
    consistency = mutant(merkle.verify_consistency, is_prepend_first_root)
    assert misjudged(consistency=consistency)


# --- proofs from the stored tiles -------------------------------------------------------------

BOUNDARIES = (255, 256, 257, 65535, 65536, 65537)
# Sizes after each append: uneven batches, one leaf at a time around the first tile boundary, one
# append that fills many tiles at once, and every boundary reached exactly.
STOPS = (1, 2, 3, 100, 254, 255, 256, 257, 300, 511, 700, 4097, 30000, 65534, 65535, 65536, 65537)
TILE_LEAVES = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(STOPS[-1])]


@pytest.fixture
def tile_engine() -> Iterator[Engine]:
    """A database of our own holding only the tiles table (PostgreSQL in the PostgreSQL pass)."""
    with scratch_database(POSTGRES_URL, prefix="coldpledge_tiles") as url:
        engine = make_engine(url)
        try:
            Base.metadata.tables["evidence_tiles"].create(engine)
            yield engine
        finally:
            engine.dispose()


def indices_near_boundaries(size: int) -> set[int]:
    near = {0, 1, size // 2, size - 2, size - 1}
    for boundary in BOUNDARIES:
        near |= {boundary - 2, boundary - 1, boundary}
    return {i for i in near if 0 <= i < size}


def test_proofs_from_stored_tiles_equal_the_in_memory_ones_across_tile_boundaries(
    tile_engine: Engine,
) -> None:
    reference = functools.cache(merkle.memory_subtree(TILE_LEAVES))
    size = 0
    for stop in STOPS:
        with Session(tile_engine) as session:
            size = TileStore(session).append(size, TILE_LEAVES[size:stop])
            session.commit()
        assert size == stop

        with Session(tile_engine) as session:  # a fresh store reads what was committed
            tiles = TileStore(session)
            assert tiles.root(stop) == reference(0, stop), stop
            if stop not in BOUNDARIES and stop != STOPS[-1]:
                continue
            for index in sorted(indices_near_boundaries(stop)):
                assert tiles.inclusion(index, stop) == merkle.inclusion_path(index, stop, reference), (
                    index,
                    stop,
                )
            for earlier in (s for s in STOPS if s <= stop):
                expected = merkle.consistency_proof(earlier, stop, reference)
                assert tiles.consistency(earlier, stop) == expected, (earlier, stop)
                assert merkle.verify_consistency(
                    earlier, stop, tiles.root(earlier), tiles.root(stop), expected
                )
