"""The evidence log's public API: anyone, signed in or not, reads checkpoints, entries and proofs
and checks them with the log's public key alone; a witness hands in cosignatures that are their own
credential. Bad requests are refused with a 4xx that says why, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import merkle
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.models import EvidenceLeaf
from coldpledge.evidence.note import COSIGNATURE_V1, Signer, open_note, parse_checkpoint, parse_vkey
from coldpledge.evidence.outbox import EvidenceOutbox

if TYPE_CHECKING:
    from tests.conftest import TestDB

API = "/api/v1/evidence"
HUGE = str(10**30)


def published(db: TestDB, *, first: int | None = None) -> int:
    """Sequence the outbox and sign a checkpoint of it, inside the test's transaction (with
    ``first``, sign one of the first that many entries before); returns the latest size."""
    signer = load_log_signer(db.settings)
    if first is not None:
        evidence_log.sequence(db.session, limit=first)
        evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    evidence_log.sequence_all(db.session)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    with db.session() as session:
        latest = evidence_log.latest_checkpoint(session)
        assert latest is not None
        return latest.tree_size


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    """A refusal with this status, a stable code and a reason a caller can read."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] in {"not_found", "invalid_input", "validation_error"}, body
    assert body["detail"], body
    return body


def hashes(response: httpx.Response) -> list[bytes]:
    assert response.status_code == 200, response.text
    return [bytes.fromhex(h) for h in response.json()["hashes"]]


# --- what an outsider sees -------------------------------------------------------------------------


def test_an_outsider_checks_checkpoint_entries_and_proofs_without_signing_in(
    client: TestClient, db: TestDB
) -> None:
    earlier = 40
    published(db, first=earlier)

    key = client.get(f"{API}/public-key")
    assert key.status_code == 200
    assert key.headers["content-type"].startswith("text/plain")
    latest = client.get(f"{API}/checkpoint")
    assert latest.status_code == 200
    assert latest.headers["content-type"].startswith("text/plain")
    assert latest.headers["cache-control"] == "no-cache"

    log_key = parse_vkey(key.text)
    note, signed_by = open_note(latest.text, [log_key])
    checkpoint = parse_checkpoint(note.text)
    assert [v.name for v in signed_by] == [db.settings.origin] == [checkpoint.origin]
    assert earlier < checkpoint.size

    for index in (0, 1, earlier - 1, earlier, checkpoint.size // 2, checkpoint.size - 1):
        entry = client.get(f"{API}/entries/{index}").json()
        leaf_input = base64.b64decode(entry["leaf_input"])
        leaf = hashlib.sha256(b"\x00" + leaf_input).digest()
        assert entry["index"] == index
        assert entry["leaf_hash"] == leaf.hex()
        assert json.loads(leaf_input)["v"] == 1
        proof = client.get(f"{API}/proof/inclusion", params={"index": index, "tree_size": checkpoint.size})
        assert proof.json()["index"] == index
        assert proof.json()["tree_size"] == checkpoint.size
        assert merkle.verify_inclusion(index, checkpoint.size, leaf, hashes(proof), checkpoint.root)

    # The earlier checkpoint is still served, and the latest extends it.
    old_note, _ = open_note(client.get(f"{API}/checkpoints/{earlier}").text, [log_key])
    old = parse_checkpoint(old_note.text)
    consistency = client.get(f"{API}/proof/consistency", params={"first": earlier, "second": checkpoint.size})
    assert (consistency.json()["first"], consistency.json()["second"]) == (earlier, checkpoint.size)
    assert merkle.verify_consistency(earlier, checkpoint.size, old.root, checkpoint.root, hashes(consistency))


def test_an_entry_is_exactly_the_outbox_entry_of_its_leaf(client: TestClient, db: TestDB) -> None:
    size = published(db)
    index = size // 3
    with db.session() as session:
        stored = session.scalar(
            select(EvidenceOutbox.entry)
            .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
            .where(EvidenceLeaf.leaf_index == index)
        )
    entry = client.get(f"{API}/entries/{index}").json()
    assert stored is not None
    assert base64.b64decode(entry["leaf_input"]) == bytes(stored)


def test_a_signed_in_caller_gets_the_same_answers_as_anyone(
    client: TestClient, db: TestDB, auth: Any
) -> None:
    published(db)
    for path in ("/checkpoint", "/public-key", "/witnesses", "/entries/0"):
        anonymous, signed_in = client.get(f"{API}{path}"), client.get(f"{API}{path}", headers=auth("bank"))
        assert anonymous.status_code == signed_in.status_code == 200, path
        assert anonymous.content == signed_in.content, path


# --- witnesses -------------------------------------------------------------------------------------


def cosigner(db: TestDB, name: str = "bank.example.cn/witness") -> Signer:
    signer = Signer.generate(name, COSIGNATURE_V1)
    evidence_log.register_witness(db.session, signer.verifier.vkey)
    return signer


def test_a_registered_witness_cosigns_and_everyone_sees_its_cosignature(
    client: TestClient, db: TestDB
) -> None:
    size = published(db)
    witness = cosigner(db)
    assert client.get(f"{API}/witnesses").json() == [{"name": witness.name, "vkey": witness.verifier.vkey}]

    body = open_note(client.get(f"{API}/checkpoint").text, [load_log_signer(db.settings).verifier])[0].text
    line = witness.cosign(body, int(time.time()))
    accepted = client.post(f"{API}/cosignatures", json={"tree_size": size, "cosignature": line})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status"] == "accepted"

    # The checkpoint now carries the cosignature, and it verifies with the witness key as listed.
    listed = parse_vkey(client.get(f"{API}/witnesses").json()[0]["vkey"])
    _note, signed_by = open_note(client.get(f"{API}/checkpoint").text, [listed])
    assert [v.name for v in signed_by] == [witness.name]
    # Handing the same cosignature in again changes nothing.
    again = client.post(f"{API}/cosignatures", json={"tree_size": size, "cosignature": line})
    assert again.status_code == 201
    assert client.get(f"{API}/checkpoint").text.count(witness.name) == 1


def test_a_cosignature_that_does_not_verify_is_refused_with_422(client: TestClient, db: TestDB) -> None:
    size = published(db)
    witness = cosigner(db)
    with db.session() as session:
        checkpoint = evidence_log.checkpoint_of_size(session, size)
        assert checkpoint is not None
        body = evidence_log.checkpoint_body(checkpoint).text
    impostor = Signer.generate(witness.name, COSIGNATURE_V1)  # same name, another key
    stranger = Signer.generate("stranger.example.cn/witness", COSIGNATURE_V1)
    now = int(time.time())
    other_body = body.replace(f"\n{size}\n", f"\n{size - 1}\n")
    lines = {
        "signed by another key under the witness's name": impostor.cosign(body, now),
        "signed by a witness the log does not know": stranger.cosign(body, now),
        "signed over another checkpoint": witness.cosign(other_body, now),
        "not a signature line": "— " + witness.name + " bm90IGEgc2lnbmF0dXJl",
    }
    for case, line in lines.items():
        response = client.post(f"{API}/cosignatures", json={"tree_size": size, "cosignature": line})
        assert refused(response, 422)["code"] == "invalid_input", case
        assert response.json()["field"] == "cosignature", case
    # A genuine cosignature of a size the log never signed is refused too.
    genuine = witness.cosign(body, now)
    never = client.post(f"{API}/cosignatures", json={"tree_size": size + 5, "cosignature": genuine})
    assert refused(never, 422)["code"] == "invalid_input"
    # Nothing refused was kept: the checkpoint still carries the log's signature alone.
    assert client.get(f"{API}/checkpoint").text.count("\u2014 ") == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"tree_size": 1},
        {"tree_size": "1", "cosignature": "— someone c2lnbmF0dXJlLWJ5dGVz"},
        {"tree_size": 0, "cosignature": "— someone c2lnbmF0dXJlLWJ5dGVz"},
        {"tree_size": -3, "cosignature": "— someone c2lnbmF0dXJlLWJ5dGVz"},
        {"tree_size": 10**30, "cosignature": "— someone c2lnbmF0dXJlLWJ5dGVz"},
        {"tree_size": 1.5, "cosignature": "— someone c2lnbmF0dXJlLWJ5dGVz"},
        {"tree_size": 1, "cosignature": "short"},
        {"tree_size": 1, "cosignature": "x" * 601},
    ],
    ids=lambda body: json.dumps(body)[:40],
)
def test_a_malformed_cosignature_request_is_a_422(client: TestClient, body: dict[str, Any]) -> None:
    refused(client.post(f"{API}/cosignatures", json=body), 422)


# --- before anything is signed ---------------------------------------------------------------------


def test_before_the_first_checkpoint_there_is_nothing_to_read_but_the_key(client: TestClient) -> None:
    assert client.get(f"{API}/public-key").status_code == 200
    assert client.get(f"{API}/witnesses").json() == []
    assert refused(client.get(f"{API}/checkpoint"), 404)["code"] == "not_found"
    assert refused(client.get(f"{API}/checkpoints/1"), 404)["code"] == "not_found"
    assert refused(client.get(f"{API}/entries/0"), 404)["code"] == "not_found"
    refused(client.get(f"{API}/proof/inclusion", params={"index": 0, "tree_size": 1}), 422)
    refused(client.get(f"{API}/proof/consistency", params={"first": 1, "second": 1}), 422)


# --- bad requests: 4xx with a reason, never 500 ----------------------------------------------------


@pytest.fixture
def size(db: TestDB) -> int:
    return published(db)


def test_asking_for_an_entry_that_does_not_exist_is_a_404(client: TestClient, size: int) -> None:
    for index in (size, size + 1, -1, 2**53 + 1, 2**63, HUGE):
        assert refused(client.get(f"{API}/entries/{index}"), 404)["code"] == "not_found", index


def test_asking_for_a_checkpoint_the_log_never_signed_is_a_404(client: TestClient, size: int) -> None:
    for tree_size in (0, -1, size - 1, size + 1, 2**53 + 1, 2**63, HUGE):
        assert refused(client.get(f"{API}/checkpoints/{tree_size}"), 404)["code"] == "not_found", tree_size


@pytest.mark.parametrize("path", ["/entries/abc", "/entries/1.5", "/entries/0x10", "/checkpoints/abc"])
def test_a_position_that_is_not_an_integer_is_a_422(client: TestClient, size: int, path: str) -> None:
    refused(client.get(f"{API}{path}"), 422)


def inclusion_params(size: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("index beyond the tree", {"index": size, "tree_size": size}),
        ("index beyond the tree size asked", {"index": 5, "tree_size": 5}),
        ("tree_size 0", {"index": 0, "tree_size": 0}),
        ("tree_size beyond the tree", {"index": 0, "tree_size": size + 1}),
        ("negative index", {"index": -1, "tree_size": size}),
        ("negative tree_size", {"index": 0, "tree_size": -1}),
        ("huge index", {"index": HUGE, "tree_size": size}),
        ("huge tree_size", {"index": 0, "tree_size": HUGE}),
        ("index just past 2^53", {"index": 2**53 + 1, "tree_size": size}),
        ("index not an integer", {"index": "abc", "tree_size": size}),
        ("fractional tree_size", {"index": 0, "tree_size": "1.5"}),
        ("no index", {"tree_size": size}),
        ("no tree_size", {"index": 0}),
    ]


def test_a_bad_inclusion_proof_request_is_a_422_that_says_why(client: TestClient, size: int) -> None:
    for case, params in inclusion_params(size):
        body = refused(client.get(f"{API}/proof/inclusion", params=params), 422)
        assert body["code"] in {"invalid_input", "validation_error"}, case


def test_a_bad_consistency_proof_request_is_a_422_that_says_why(client: TestClient, size: int) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("first after second", {"first": 3, "second": 2}),
        ("first 0", {"first": 0, "second": size}),
        ("second beyond the tree", {"first": 1, "second": size + 1}),
        ("both beyond the tree", {"first": size + 1, "second": size + 2}),
        ("negative first", {"first": -1, "second": size}),
        ("huge second", {"first": 1, "second": HUGE}),
        ("second just past 2^53", {"first": 1, "second": 2**53 + 1}),
        ("not an integer", {"first": "one", "second": size}),
        ("fractional", {"first": 1, "second": "2.5"}),
        ("no second", {"first": 1}),
    ]
    for case, params in cases:
        body = refused(client.get(f"{API}/proof/consistency", params=params), 422)
        assert body["code"] in {"invalid_input", "validation_error"}, case


def test_a_refused_proof_names_the_bounds_the_log_has(client: TestClient, size: int) -> None:
    body = refused(client.get(f"{API}/proof/inclusion", params={"index": 0, "tree_size": size + 1}), 422)
    assert str(size) in body["detail"]
    body = refused(client.get(f"{API}/proof/consistency", params={"first": 3, "second": 2}), 422)
    assert "first" in body["detail"]


def test_a_production_server_without_its_log_key_says_so_instead_of_making_one_up(
    db: TestDB, tmp_path: Path
) -> None:
    with TestClient(db.app(env="prod", log_key_file=tmp_path / "absent.key")) as client:
        answer = client.get("/api/v1/evidence/public-key", headers={"Accept-Language": "en"})

    assert answer.status_code == 503
    assert answer.json()["code"] == "unavailable"
    assert not (tmp_path / "absent.key").exists()
