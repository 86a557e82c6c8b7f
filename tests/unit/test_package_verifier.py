"""The offline verifier on small packages made in memory: what passes, and that every kind of
damage or tampering fails with a reason naming the file, entry, proof or signature."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO

import pytest

from coldpledge.evidence import merkle
from coldpledge.evidence.note import COSIGNATURE_V1, Checkpoint, Signer
from coldpledge.evidence.package import Contents, ExportError, assemble
from coldpledge.evidence.package_format import (
    FormatError,
    manifest_text,
    parse_manifest,
    parse_proof,
    read_zip,
    write_zip,
)
from coldpledge.evidence.package_report import render
from coldpledge.evidence.verify import Trust, Verification, verify_package

ORIGIN = "log.example.cn/evidence"
LOG = Signer.generate(ORIGIN)
WITNESS = Signer.generate("bank.example.cn/witness", COSIGNATURE_V1)
MADE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SALT = "00112233445566778899aabbccddeeff"


def payload(n: int) -> bytes:
    return json.dumps({"after": {"n": n}, "before": None, "reason": None}, separators=(",", ":")).encode()


def entry(n: int, subject: str, *related: str) -> bytes:
    record = {
        "v": 1,
        "type": "lot.weigh" if subject.startswith("lot:") else "receipt.issue",
        "subject": subject,
        "related": sorted(related),
        "at": f"2026-03-01T0{n}:00:00Z",
        "recorded_at": f"2026-03-01T0{n}:00:01Z",
        "actor": "user:7",
        "payload_sha256": hashlib.sha256(bytes.fromhex(SALT) + payload(n)).hexdigest(),
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


# A log of seven entries: the receipt R1 stands for lot L1; entries 1 and 5 are about others.
LEAVES = [
    entry(0, "lot:L1", "warehouse:W1"),
    entry(1, "lot:L9", "warehouse:W1"),
    entry(2, "lot:L1", "operation:2"),
    entry(3, "receipt:R1", "lot:L1"),
    entry(4, "receipt:R1", "lot:L1", "org:2"),
    entry(5, "receipt:R9", "lot:L9"),
    entry(6, "lot:L1", "attachment:" + "ab" * 32),
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
CHECKPOINT = Checkpoint(ORIGIN, len(LEAVES), merkle.root_of(HASHES))
NOTE = CHECKPOINT.text + "\n" + LOG.sign(CHECKPOINT.text) + WITNESS.cosign(CHECKPOINT.text, 1_772_352_000)
ABOUT_R1 = [0, 2, 3, 4, 6]


def contents(indices: list[int] = ABOUT_R1, **changes: object) -> Contents:
    fields: dict[str, object] = {
        "subject": "receipt:R1",
        "refs": ["lot:L1", "receipt:R1"],
        "checkpoint_note": NOTE,
        "log_vkey": LOG.verifier.vkey,
        "witness_vkeys": [WITNESS.verifier.vkey],
        "entries": [(i, LEAVES[i], proof(i)) for i in indices],
        "created_at": MADE,
        "disclosures": {i: (payload(i), SALT) for i in indices},
    }
    return Contents(**{**fields, **changes})  # type: ignore[arg-type]


def proof(index: int) -> list[bytes]:
    return merkle.inclusion_path(index, len(LEAVES), merkle.memory_subtree(HASHES))


@pytest.fixture(scope="module")
def package() -> bytes:
    data, _ = assemble(contents(), LOG)
    return data


def rezip(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """The package with its files changed and zipped again properly (CRCs right), so only the
    verifier's own checks can catch the change."""
    files, _ = read_zip(data)
    assert files is not None
    change(files)
    return write_zip(list(files.items()))


def flipped(data: bytes, at: int, bits: int = 0x01) -> bytes:
    return data[:at] + bytes([data[at] ^ bits]) + data[at + 1 :]


def failures(result: Verification) -> str:
    return "\n".join(finding.text("en") for finding in result.failures)


def data_offsets(data: bytes) -> dict[str, int]:
    """Where the bytes of each file start in the zip."""
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return {i.filename: i.header_offset + 30 + len(i.filename) for i in archive.infolist()}


# --- what passes ------------------------------------------------------------------------------


def test_a_package_verifies_with_its_own_keys_and_says_they_came_from_the_package(package: bytes) -> None:
    result = verify_package(package)

    assert result.ok, failures(result)
    assert [view.index for view in result.entries] == ABOUT_R1
    assert not result.log_key_pinned
    assert result.cosigned == [(WITNESS.name, datetime.fromtimestamp(1_772_352_000, UTC))]
    assert "taken from the package" in render(result, "en")
    assert "取自证据包内" in render(result, "zh")


def test_a_package_verifies_against_pinned_log_and_witness_keys_with_a_quorum(package: bytes) -> None:
    trust = Trust(log_key=LOG.verifier.vkey, witness_keys=(WITNESS.verifier.vkey,), quorum=1)

    result = verify_package(package, trust)

    assert result.ok, failures(result)
    assert result.log_key_pinned
    assert result.witness_keys_pinned
    assert "given by you, --log-key" in render(result, "en")
    assert "由您指定，--log-key" in render(result, "zh")


def test_the_package_is_a_standard_zip_that_any_tool_reads(package: bytes) -> None:
    with zipfile.ZipFile(BytesIO(package)) as archive:
        assert archive.testzip() is None
        assert archive.namelist()[:2] == ["manifest.note", "checkpoint.note"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        proof_file = archive.read("proofs/3.tlog-proof").decode()
    assert proof_file.startswith("c2sp.org/tlog-proof@v1\nindex 3\n")
    assert proof_file.endswith("\n\n" + NOTE)


def test_disclosed_payloads_are_checked_against_their_commitments_and_shown(package: bytes) -> None:
    result = verify_package(package)

    assert all(view.disclosed is not None for view in result.entries)
    assert "n: null → 3" in render(result, "en")


def test_a_package_holding_commitments_only_verifies_without_payloads() -> None:
    data, _ = assemble(contents(disclosures=None), LOG)

    result = verify_package(data)

    assert result.ok, failures(result)
    assert all(view.disclosed is None for view in result.entries)
    assert not any(name.startswith("disclosed/") for name in zipfile.ZipFile(BytesIO(data)).namelist())


# --- one flipped byte anywhere ----------------------------------------------------------------


def test_every_single_flipped_bit_anywhere_in_a_package_is_caught(package: bytes) -> None:
    # Every byte, except that inside the two long reports (two thirds of the zip, all caught the
    # same way: by the file's CRC-32) every eleventh will do.
    starts, (files, _) = data_offsets(package), read_zip(package)
    assert files is not None
    reports = [
        range(starts[name], starts[name] + len(files[name])) for name in ("report.zh-CN.txt", "report.en.txt")
    ]
    positions = [at for at in range(len(package)) if at % 11 == 0 or not any(at in r for r in reports)]

    missed = [at for at in positions if verify_package(flipped(package, at)).ok]

    assert len(positions) > len(package) // 3
    assert missed == []


def test_a_flipped_byte_in_a_file_names_that_file(package: bytes) -> None:
    for name, start in data_offsets(package).items():
        result = verify_package(flipped(package, start + 3, 0xFF))

        assert not result.ok
        assert result.failures[0].where == name, failures(result)
        assert "damaged" in result.failures[0].en


def test_a_flipped_byte_in_a_header_the_zip_format_ignores_names_the_part_of_the_zip(package: bytes) -> None:
    date_of_checkpoint = data_offsets(package)["checkpoint.note"] - len("checkpoint.note") - 30 + 12

    result = verify_package(flipped(package, date_of_checkpoint))

    assert failures(result) == (
        f"zip: byte {date_of_checkpoint} (the local header of checkpoint.note) is not what the log wrote: "
        "the zip was altered"
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda data: data[: len(data) // 2], "zip: not a readable zip file", id="truncated"),
        pytest.param(lambda data: b"", "zip: not a readable zip file", id="empty"),
        pytest.param(lambda data: data + b"\x00", "zip: byte", id="extended"),
        pytest.param(
            lambda data: b"PK" + data, "zip: byte 2 (the local header of manifest.note)", id="shifted"
        ),
    ],
)
def test_a_truncated_extended_or_shifted_zip_fails_closed(
    package: bytes, damage: Callable[[bytes], bytes], reason: str
) -> None:
    result = verify_package(damage(package))

    assert not result.ok
    assert failures(result).startswith(reason)
    assert "nothing inside it was checked" in render(result, "en")
    assert "其中内容均未核验" in render(result, "zh")


def test_an_extra_unknown_file_fails(package: bytes) -> None:
    files, _ = read_zip(package)
    assert files is not None

    result = verify_package(write_zip([*files.items(), ("notes.txt", b"trust me\n")]))

    assert failures(result) == "notes.txt: is not a file an evidence package holds"


def test_a_file_twice_or_compressed_fails(package: bytes) -> None:
    files, _ = read_zip(package)
    assert files is not None
    twice = write_zip([*files.items(), ("entries/3.json", files["entries/3.json"])])
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)

    assert "entries/3.json: is in the zip twice" in failures(verify_package(twice))
    assert "manifest.note: is compressed" in failures(verify_package(buffer.getvalue()))


# --- tampering that keeps the zip well-formed ---------------------------------------------------


def test_an_edited_entry_fails_naming_the_file_and_the_proof(package: bytes) -> None:
    def edit(files: dict[str, bytes]) -> None:
        files["entries/3.json"] = files["entries/3.json"].replace(b"user:7", b"user:8")

    result = verify_package(rezip(package, edit))

    assert "entries/3.json: its SHA-256 differs from the manifest" in failures(result)
    assert "entry 3, proofs/3.tlog-proof: the inclusion proof does not lead from leaf hash" in failures(
        result
    )


def test_a_removed_entry_fails(package: bytes) -> None:
    def remove(files: dict[str, bytes]) -> None:
        del files["entries/4.json"], files["proofs/4.tlog-proof"]

    result = verify_package(rezip(package, remove))

    assert "entries/4.json: is in the manifest but missing from the package" in failures(result)
    assert "entry 4 (entries/4.json): is missing" in failures(result)


def test_reordered_proof_hashes_fail(package: bytes) -> None:
    def reorder(files: dict[str, bytes]) -> None:
        head, blank, rest = files["proofs/3.tlog-proof"].decode().partition("\n\n")
        lines = head.split("\n")
        lines[2], lines[3] = lines[3], lines[2]
        files["proofs/3.tlog-proof"] = ("\n".join(lines) + blank + rest).encode()

    result = verify_package(rezip(package, reorder))

    assert "entry 3, proofs/3.tlog-proof: the inclusion proof does not lead" in failures(result)


def test_a_proof_for_another_index_fails(package: bytes) -> None:
    def swap(files: dict[str, bytes]) -> None:
        files["proofs/3.tlog-proof"] = files["proofs/4.tlog-proof"]

    result = verify_package(rezip(package, swap))

    assert "entry 3, proofs/3.tlog-proof: the proof says 'index 4', not index 3" in failures(result)


def test_a_checkpoint_from_another_log_fails() -> None:
    other = Signer.generate("other.example.cn/log")
    forged = Checkpoint(other.name, CHECKPOINT.size, CHECKPOINT.root)
    note = forged.text + "\n" + other.sign(forged.text)

    def swap(files: dict[str, bytes]) -> None:
        files["checkpoint.note"] = note.encode()
        for name in [n for n in files if n.startswith("proofs/")]:
            files[name] = files[name].decode().replace(NOTE, note).encode()

    data, _ = assemble(contents(), LOG)
    result = verify_package(rezip(data, swap))

    assert "checkpoint.note: its SHA-256 differs from the manifest" in failures(result)
    assert (
        f"checkpoint.note: is of log {other.name} at size 7, not of {ORIGIN} at size 7 as the manifest says"
        in failures(result)
    )
    assert f"checkpoint.note, log signature: the log key {ORIGIN} is not the key of log {other.name}" in (
        failures(result)
    )


def test_a_pinned_log_key_that_differs_fails_every_signature_it_should_have_made(package: bytes) -> None:
    impostor = Signer.generate(ORIGIN)

    result = verify_package(package, Trust(log_key=impostor.verifier.vkey))

    assert "keys/log.vkey: is not the pinned log key (--log-key)" in failures(result)
    assert "manifest.note: has no valid signature by the log key" in failures(result)
    assert f"checkpoint.note, log signature: not signed by the log key {impostor.verifier.vkey}" in failures(
        result
    )


def test_a_package_rebuilt_and_resigned_by_someone_else_fails_against_the_pinned_key() -> None:
    impostor = Signer.generate(ORIGIN)
    note = CHECKPOINT.text + "\n" + impostor.sign(CHECKPOINT.text)
    forged, _ = assemble(contents(checkpoint_note=note, log_vkey=impostor.verifier.vkey), impostor)

    trusting_the_package = verify_package(forged)
    pinned = verify_package(forged, Trust(log_key=LOG.verifier.vkey))

    # Internally consistent, and the report says the key came from the package; only pinning the
    # log's real key shows it is not the log's.
    assert trusting_the_package.ok
    assert "taken from the package" in render(trusting_the_package, "en")
    assert not pinned.ok
    assert "manifest.note: has no valid signature by the log key" in failures(pinned)


def test_an_edited_disclosed_payload_or_salt_fails(package: bytes) -> None:
    def edit_payload(files: dict[str, bytes]) -> None:
        files["disclosed/4.json"] = files["disclosed/4.json"].replace(b'"n":4', b'"n":5')

    def edit_salt(files: dict[str, bytes]) -> None:
        files["disclosed/6.salt"] = b"ff" + files["disclosed/6.salt"][2:]

    assert "entry 4, disclosed/4.json: does not match the entry's payload_sha256" in failures(
        verify_package(rezip(package, edit_payload))
    )
    assert "entry 6, disclosed/6.json: does not match the entry's payload_sha256" in failures(
        verify_package(rezip(package, edit_salt))
    )


def test_a_cosignature_that_does_not_verify_names_the_witness() -> None:
    # The witness's own key and name, over another checkpoint: the line looks right and is not.
    elsewhere = Checkpoint(ORIGIN, CHECKPOINT.size + 1, CHECKPOINT.root).text
    note = CHECKPOINT.text + "\n" + LOG.sign(CHECKPOINT.text) + WITNESS.cosign(elsewhere, 1_772_352_000)

    with pytest.raises(ExportError, match=f"checkpoint.note, cosignature of {WITNESS.name}: does not verify"):
        assemble(contents(checkpoint_note=note), LOG)


def test_a_quorum_counts_only_cosignatures_by_the_witnesses_given(package: bytes) -> None:
    stranger = Signer.generate("stranger.example.cn/witness", COSIGNATURE_V1)

    with_stranger = verify_package(package, Trust(witness_keys=(stranger.verifier.vkey,), quorum=1))
    too_many = verify_package(package, Trust(witness_keys=(WITNESS.verifier.vkey,), quorum=2))

    assert f"checkpoint.note, cosignature of {WITNESS.name}: not counted" in "\n".join(
        finding.text("en") for finding in with_stranger.passed
    )
    assert "checkpoint.note, cosignatures: 0 witnesses cosigned; the quorum asked for is 1" in failures(
        with_stranger
    )
    assert "1 witnesses cosigned; the quorum asked for is 2" in failures(too_many)


def test_an_entry_about_something_else_is_refused() -> None:
    with pytest.raises(ExportError, match="entry 5: mentions none of lot:L1, receipt:R1"):
        assemble(contents([3, 5]), LOG)


def test_a_lot_no_entry_of_the_receipt_links_to_is_refused() -> None:
    refs = ["lot:L1", "lot:L9", "receipt:R1"]

    with pytest.raises(ExportError, match="no entry about receipt:R1 links it to lot:L9"):
        assemble(contents([1, 3], refs=refs), LOG)


def test_a_package_with_no_entry_does_not_verify() -> None:
    with pytest.raises(ExportError, match="no entry mentions receipt:R1"):
        assemble(contents([]), LOG)


# --- strict parsing -----------------------------------------------------------------------------


def test_the_manifest_is_parsed_strictly(package: bytes) -> None:
    files, _ = read_zip(package)
    assert files is not None
    manifest = parse_manifest(files["manifest.note"].decode().split("\n\n")[0] + "\n")

    for change in (
        {"extra": 1},
        {"tree_size": True},
        {"tree_size": "7"},
        {"entries": [3, 2]},
        {"entries": [2, 2]},
        {"refs": ["lot:L1"]},
        {"format": "coldpledge.evidence-package/v2"},
        {"files": {"checkpoint.note": "AB" * 32}},
        {"timestamps": [{"file": "../etc/passwd", "authority": "x"}]},
    ):
        with pytest.raises(FormatError):
            parse_manifest(manifest_text({**manifest, **change}))


@pytest.mark.parametrize(
    "text",
    [
        "c2sp.org/tlog-proof@v1\nextra AAAA\nindex 3\n",
        "c2sp.org/tlog-proof@v1\nindex 03\n",
        "c2sp.org/tlog-proof@v2\nindex 3\n",
        "c2sp.org/tlog-proof@v1\nindex 3\nAAAA\n",
        "c2sp.org/tlog-proof@v1\nindex 3\n" + "A" * 43 + "=\n\n",
    ],
)
def test_a_proof_is_parsed_strictly(text: str) -> None:
    with pytest.raises(FormatError):
        parse_proof((text + "\n" + NOTE).encode(), 3, NOTE)


def test_the_zip_layout_is_the_same_bytes_every_time() -> None:
    members = [("checkpoint.note", b"1"), ("keys/log.vkey", b"")]
    data = write_zip(members)

    assert write_zip(members) == data
    assert data[:4] == b"PK\x03\x04"
    assert struct.unpack("<HH", data[10:14]) == (0, (1 << 5) | 1)  # 00:00 on 1980-01-01
    assert read_zip(data) == (dict(members), [])
