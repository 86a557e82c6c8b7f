"""Proofs served by the API verify with an independent RFC 9162 implementation.

The independent implementation is Google's Certificate Transparency verifier in Go
(``github.com/google/certificate-transparency/go/merkletree``), as Debian packages it in
golang-github-google-certificate-transparency-dev; tests/interop/ctverify is our small driver for
it. It walks the tree level by level, not with RFC 9162's bit tricks, and hashes each leaf's bytes
itself: agreeing with it is not agreeing with ourselves.

Without Go or that library the test skips, except in CI (``CI=true``), where it fails: a check
that silently never runs proves nothing. `.ci/run` installs both.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import merkle
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.note import open_note, parse_checkpoint, parse_vkey
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.tiles import TileStore
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import StocktakeIn
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

GOPATH = Path("/usr/share/gocode")  # where Debian installs Go libraries
CT_MERKLETREE = GOPATH / "src/github.com/google/certificate-transparency/go/merkletree"
SOURCE = Path(__file__).parent.parent / "interop" / "ctverify"
PACKAGES = "golang-go golang-github-google-certificate-transparency-dev"
API = "/api/v1/evidence"

Request = dict[str, Any]


def unavailable(reason: str) -> NoReturn:
    message = f"{reason}; install it with `apt-get install {PACKAGES}`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the proof interoperability test cannot run in CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def ctverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go verifier, built from tests/interop/ctverify against Debian's library."""
    go = shutil.which("go")
    if go is None:
        unavailable("the Go toolchain (`go`) is not installed")
    if not (CT_MERKLETREE / "merkle_verifier.go").is_file():
        unavailable(f"Google's Certificate Transparency Go library is not in {CT_MERKLETREE}")
    folder = tmp_path_factory.mktemp("ctverify")
    binary = folder / "ctverify"
    environment = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",  # the 2016 library predates modules: GOPATH mode
        "GOCACHE": str(folder / "cache"),
        "GOENV": "off",  # nobody's personal go env (proxies, flags) changes the build
        "GOFLAGS": "",
        "CGO_ENABLED": "0",  # the verifier is pure Go; only an unused wrapper needs C++ and OpenSSL
    }
    built = subprocess.run(  # noqa: S603 - the go found on PATH, fixed arguments, no shell
        [go, "build", "-o", str(binary), "."],
        cwd=SOURCE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building the Go verifier failed:\n{built.stderr}", pytrace=False)
    return binary


def go_verdicts(binary: Path, requests: list[Request]) -> list[bool]:
    """Ask the Go verifier about every request at once; True where it accepts the proof."""
    ran = subprocess.run(  # noqa: S603 - the verifier this module just built, no shell
        [str(binary)],
        input="".join(json.dumps(request) + "\n" for request in requests),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    verdicts = [json.loads(line) for line in ran.stdout.splitlines()]
    assert len(verdicts) == len(requests)
    return [bool(verdict["ok"]) for verdict in verdicts]


def inclusion_request(index: int, size: int, leaf_input: bytes, hashes: list[str], root: bytes) -> Request:
    return {
        "kind": "inclusion",
        "index": index,
        "tree_size": size,
        "leaf_input": base64.b64encode(leaf_input).decode(),
        "hashes": hashes,
        "root": root.hex(),
    }


def consistency_request(first: int, second: int, root1: bytes, root2: bytes, hashes: list[str]) -> Request:
    return {
        "kind": "consistency",
        "first": first,
        "second": second,
        "first_root": root1.hex(),
        "second_root": root2.hex(),
        "hashes": hashes,
    }


# --- the log, as an outsider sees it through the API ------------------------------------------


@dataclass
class ServedLog:
    client: TestClient
    size: int
    signed_roots: dict[int, bytes]  # from checkpoints whose signature was verified
    leaf_inputs: dict[int, bytes] = field(default_factory=dict)

    def leaf_input(self, index: int) -> bytes:
        """The exact bytes of leaf ``index``; the Go verifier hashes them itself."""
        if index not in self.leaf_inputs:
            entry = self.client.get(f"{API}/entries/{index}").json()
            assert entry["index"] == index
            self.leaf_inputs[index] = base64.b64decode(entry["leaf_input"])
        return self.leaf_inputs[index]

    def inclusion(self, index: int, size: int) -> list[str]:
        answer = self.client.get(f"{API}/proof/inclusion", params={"index": index, "tree_size": size})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["index"], body["tree_size"]) == (index, size)
        return list(body["hashes"])

    def consistency(self, first: int, second: int) -> list[str]:
        answer = self.client.get(f"{API}/proof/consistency", params={"first": first, "second": second})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["first"], body["second"]) == (first, second)
        return list(body["hashes"])


# Leaves sequenced before each checkpoint: uneven, so checkpoints of sizes 1, 2, 3, 8 (a power of
# two), 13, 100 and either side of the first full tile (256 leaves) exist besides the final one.
STEPS = (1, 1, 1, 5, 5, 87, 155, 1, 1)
ENTRIES = 262  # the shared world logs about 110; stocktakes make up the rest


def log_entries_up_to(db: TestDB, world: World, total: int) -> None:
    with db.session() as session:
        logged = session.scalar(select(func.count()).select_from(EvidenceOutbox)) or 0
    for extra in range(total - logged):
        inventory.stocktake(
            db.uow(),
            world.who("inspector"),
            world.lots["free"],
            StocktakeIn(counted_g=10_000_000 + extra, counted_cartons=500),
        )


@pytest.fixture
def served(db: TestDB, world: World, client: TestClient) -> ServedLog:
    log_entries_up_to(db, world, ENTRIES)
    signer = load_log_signer(db.settings)
    sizes = []
    for step in STEPS:
        evidence_log.sequence(db.session, limit=step)
        signed = evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
        assert signed is not None
        sizes.append(signed.tree_size)
    evidence_log.sequence_all(db.session)
    last = evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    assert last is not None
    sizes.append(last.tree_size)
    assert sizes == sorted(set(sizes)), "every step signs a larger tree"

    verifier = parse_vkey(client.get(f"{API}/public-key").text)
    signed_roots = {}
    for size in sizes:
        note, _ = open_note(client.get(f"{API}/checkpoints/{size}").text, [verifier])
        checkpoint = parse_checkpoint(note.text)
        assert (checkpoint.origin, checkpoint.size) == (db.settings.origin, size)
        signed_roots[size] = checkpoint.root
    latest = parse_checkpoint(open_note(client.get(f"{API}/checkpoint").text, [verifier])[0].text)
    assert latest.size == last.tree_size
    return ServedLog(client, latest.size, signed_roots)


def sampled(size: int, every: int) -> list[int]:
    """Every ``every``-th leaf, and the last three (where the tree's right edge is ragged)."""
    return sorted(set(range(0, size, every)) | set(range(max(0, size - 3), size)))


def test_the_go_verifier_accepts_the_inclusion_proofs_the_api_serves(
    ctverify: Path, served: ServedLog, db: TestDB
) -> None:
    # Every leaf of most signed checkpoints (the final one and the one just past the first full
    # tile included), many leaves of the others, against their signed roots; and some leaves of
    # sizes never signed, against the roots the stored tiles give.
    with db.session() as session:
        tiles = TileStore(session)
        unsigned = {n: tiles.root(n) for n in (129, 200)}
    every_leaf = {1, 2, 3, 8, 13, 257, served.size}
    cases = [
        (index, size)
        for size in sorted(served.signed_roots)
        for index in sampled(size, 1 if size in every_leaf else 4)
    ]
    cases += [(index, size) for size in sorted(unsigned) for index in sampled(size, 8)]
    roots = {**unsigned, **served.signed_roots}
    requests = [
        inclusion_request(index, size, served.leaf_input(index), served.inclusion(index, size), roots[size])
        for index, size in cases
    ]

    verdicts = go_verdicts(ctverify, requests)

    # Every leaf of the final checkpoint. (How many leaves the log has depends on what earlier
    # tests left in the shared database to sequence, so the count is no fixed multiple of it.)
    assert {index for index, size in cases if size == served.size} == set(range(served.size))
    assert len(requests) > 500
    assert [case for case, ok in zip(cases, verdicts, strict=True) if not ok] == []


def test_the_go_verifier_accepts_the_consistency_proofs_the_api_serves(
    ctverify: Path, served: ServedLog, db: TestDB
) -> None:
    # Between every two signed checkpoints, from every size of the log to the latest checkpoint,
    # and from small sizes to either side of the first full tile. Roots of signed sizes come from
    # their checkpoints, the others from the stored tiles (which must agree where both exist).
    with db.session() as session:
        tiles = TileStore(session)
        roots = {n: tiles.root(n) for n in range(1, served.size + 1)}
    for size, signed_root in served.signed_roots.items():
        assert roots[size] == signed_root
    roots.update(served.signed_roots)
    signed = sorted(served.signed_roots)
    pairs = {(m, n) for m in signed for n in signed if m <= n}
    pairs |= {(m, served.size) for m in range(1, served.size + 1)}
    pairs |= {(m, n) for m in range(1, 40) for n in (129, 200, 255, 256, 257)}
    cases = sorted(pairs)
    requests = [consistency_request(m, n, roots[m], roots[n], served.consistency(m, n)) for m, n in cases]

    verdicts = go_verdicts(ctverify, requests)

    assert len(requests) > served.size
    assert [pair for pair, ok in zip(cases, verdicts, strict=True) if not ok] == []


def flip(hashes: list[str], at: int) -> list[str]:
    changed = bytearray(bytes.fromhex(hashes[at]))
    changed[0] ^= 0x80
    return [*hashes[:at], changed.hex(), *hashes[at + 1 :]]


def test_the_go_verifier_rejects_tampered_proofs(ctverify: Path, served: ServedLog) -> None:
    # Without this, a harness that said "ok" to everything would pass the two tests above.
    size, index = served.size, served.size // 3
    root, leaf = served.signed_roots[size], served.leaf_input(index)
    path = served.inclusion(index, size)
    first = max(m for m in served.signed_roots if m < size and m & (m - 1))  # not a power of two
    root1 = served.signed_roots[first]
    proof = served.consistency(first, size)
    good = [
        inclusion_request(index, size, leaf, path, root),
        consistency_request(first, size, root1, root, proof),
    ]
    tampered = {
        "inclusion: a flipped bit in the path": inclusion_request(index, size, leaf, flip(path, 1), root),
        "inclusion: the last hash missing": inclusion_request(index, size, leaf, path[:-1], root),
        "inclusion: an extra hash": inclusion_request(index, size, leaf, [*path, path[0]], root),
        "inclusion: two hashes swapped": inclusion_request(
            index, size, leaf, [path[1], path[0], *path[2:]], root
        ),
        "inclusion: another leaf's bytes": inclusion_request(index, size, leaf + b" ", path, root),
        "inclusion: the neighbour's index": inclusion_request(index ^ 1, size, leaf, path, root),
        "inclusion: another signed root": inclusion_request(index, size, leaf, path, root1),
        "consistency: a flipped bit": consistency_request(first, size, root1, root, flip(proof, 0)),
        "consistency: the last hash missing": consistency_request(first, size, root1, root, proof[:-1]),
        "consistency: an extra hash": consistency_request(first, size, root1, root, [*proof, proof[0]]),
        "consistency: another old root": consistency_request(first, size, root, root, proof),
        "consistency: another new root": consistency_request(first, size, root1, root1, proof),
    }

    verdicts = go_verdicts(ctverify, [*good, *tampered.values()])

    assert verdicts[:2] == [True, True]
    assert [what for what, ok in zip(tampered, verdicts[2:], strict=True) if ok] == []


def test_the_go_verifier_agrees_with_the_rfc_known_answers(ctverify: Path) -> None:
    # ledger.md §1.6: leaf 2 of 3 (the case verifiers that skip RFC 9162's step 4.b.ii get wrong)
    # and the consistency proof 6 -> 8, from transparency-dev/merkle.
    leaf2 = bytes.fromhex("10")
    root3 = bytes.fromhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77")
    root6 = bytes.fromhex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef")
    root8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    path = ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]
    proof = [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert merkle.verify_inclusion(2, 3, merkle.leaf_hash(leaf2), [bytes.fromhex(h) for h in path], root3)

    verdicts = go_verdicts(
        ctverify,
        [
            inclusion_request(2, 3, leaf2, path, root3),
            consistency_request(6, 8, root6, root8, proof),
            consistency_request(6, 8, root6, root8, [proof[0], proof[2], proof[1]]),
        ],
    )

    assert verdicts == [True, True, False]
