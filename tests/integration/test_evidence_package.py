"""Evidence packages of world objects: exported from the log, checked by `coldpledge verify`
offline, and refused with a precise reason after any damage or tampering."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from coldpledge import cli
from coldpledge.audit.models import AuditEvent
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.models import EvidenceLeaf, EvidenceTimestamp
from coldpledge.evidence.note import COSIGNATURE_V1, Checkpoint, Signer
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.package import ExportError, Package, export_package
from coldpledge.evidence.package_format import read_zip, write_zip
from coldpledge.evidence.rfc3161 import request_token, verify_token
from coldpledge.evidence.verify import verify_package
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.receipts.models import Receipt
from tests.tsa import Authority, local_authority, make_root
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

runner = CliRunner()


@pytest.fixture
def signer(db: TestDB) -> Signer:
    """The log has taken in the whole world and signed a checkpoint of it."""
    evidence_log.sequence_all(db.session)
    signer = load_log_signer(db.settings)
    assert evidence_log.publish_checkpoint(db.session, signer, db.settings.origin) is not None
    return signer


@pytest.fixture
def receipt(db: TestDB, world: World) -> str:
    with db.session() as session:
        return f"receipt:{session.get_one(Receipt, world.receipts['pledged']).code}"


@pytest.fixture
def lot(db: TestDB, world: World) -> str:
    with db.session() as session:
        return f"lot:{session.get_one(Lot, world.lots['pledged']).code}"


@pytest.fixture
def package(db: TestDB, signer: Signer, receipt: str) -> Package:
    return exported(db, signer, receipt, disclose=True)


def exported(db: TestDB, signer: Signer, subject: str, **options: object) -> Package:
    with db.session() as session:
        return export_package(session, signer, subject, **options)  # type: ignore[arg-type]


class JoinedDatabase:
    """What the CLI reads through, inside the test's transaction."""

    def __init__(self, db: TestDB) -> None:
        self.db = db

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.db.session() as session:
            yield session


@pytest.fixture
def cli_on_test_database(db: TestDB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: db.settings)
    monkeypatch.setattr(cli, "_database", lambda settings: JoinedDatabase(db))


def verify(path: Path, *options: str) -> tuple[int, str, list[str]]:
    """`coldpledge verify` in English: exit code, report, and the FAIL lines."""
    result = runner.invoke(cli.app, ["verify", str(path), "--lang", "en", *options])
    return (
        result.exit_code,
        result.stdout,
        [line for line in result.stderr.splitlines() if line.startswith("FAIL ")],
    )


def rezip(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """The package with files changed and zipped again properly, CRCs right: only the verifier's
    own checks can catch the change."""
    files, _ = read_zip(data)
    assert files is not None
    change(files)
    return write_zip(list(files.items()))


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


# --- what a package holds -----------------------------------------------------------------------


def test_a_receipt_package_holds_its_entries_and_those_of_the_lots_it_stands_for(
    package: Package, receipt: str, lot: str
) -> None:
    result = package.verification
    types = {view.record["type"] for view in result.entries}

    assert result.ok
    assert package.contents.refs == [lot, receipt]
    assert {
        "receipt.issue",
        "receipt.accept_pledge",
        "lot.inbound",
        "lot.weigh",
        "lot.inspect",
        "lot.seal",
    } <= types
    assert all({receipt, lot} & {view.record["subject"], *view.record["related"]} for view in result.entries)
    indices = [view.index for view in result.entries]
    assert indices == sorted(indices)


def test_photos_enter_only_by_their_content_hash(package: Package) -> None:
    [attach] = [view for view in package.verification.entries if view.record["type"] == "lot.attach"]
    [photo] = [ref for ref in attach.record["related"] if ref.startswith("attachment:")]

    assert attach.disclosed is not None
    assert attach.disclosed["after"]["_data"]["sha256"] == photo.removeprefix("attachment:")
    assert b"\x89PNG" not in package.data


def test_disclosed_payloads_are_the_audit_trail_and_match_their_commitments(
    db: TestDB, package: Package
) -> None:
    with db.session() as session:
        for view in package.verification.entries:
            event = session.scalars(
                select(AuditEvent)
                .join(EvidenceOutbox, EvidenceOutbox.audit_event_id == AuditEvent.id)
                .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
                .where(EvidenceLeaf.leaf_index == view.index)
            ).one()
            assert view.disclosed == {"before": event.before, "after": event.after, "reason": event.reason}


def test_without_disclosure_a_package_holds_commitments_only(
    db: TestDB, signer: Signer, receipt: str
) -> None:
    package = exported(db, signer, receipt)

    names = zipfile.ZipFile(BytesIO(package.data)).namelist()
    assert package.verification.ok
    assert not any(name.startswith("disclosed/") for name in names)
    assert all(view.disclosed is None for view in package.verification.entries)


def test_a_lot_package_holds_the_entries_about_that_lot(db: TestDB, signer: Signer, lot: str) -> None:
    package = exported(db, signer, lot)

    assert package.verification.ok
    assert package.contents.refs == [lot]
    assert all(lot in {v.record["subject"], *v.record["related"]} for v in package.verification.entries)


def test_entries_not_yet_in_a_checkpoint_are_left_out_listed_and_in_the_next_package(
    db: TestDB, world: World, signer: Signer, receipt: str
) -> None:
    inventory.stocktake(
        db.uow(),
        world.who("inspector"),
        world.lots["pledged"],
        StocktakeIn(counted_g=30_000_000, counted_cartons=1500),
    )
    evidence_log.sequence_all(db.session)

    before = exported(db, signer, receipt)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    after = exported(db, signer, receipt)

    assert before.verification.ok
    assert [item["type"] for item in before.contents.not_in_checkpoint] == ["lot.stocktake"]
    assert "1 newer entries are not in a signed checkpoint yet" in before.warnings[0]
    assert "lot.stocktake" in zipfile.ZipFile(BytesIO(before.data)).read("report.en.txt").decode()
    assert after.contents.not_in_checkpoint == []
    assert "lot.stocktake" in {view.record["type"] for view in after.verification.entries}


def test_a_package_can_be_proved_against_an_earlier_checkpoint(
    db: TestDB, world: World, signer: Signer, receipt: str
) -> None:
    with db.session() as session:
        earlier = evidence_log.tree_size(session)
    inventory.stocktake(
        db.uow(),
        world.who("inspector"),
        world.lots["pledged"],
        StocktakeIn(counted_g=30_000_000, counted_cartons=1500),
    )
    evidence_log.sequence_all(db.session)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)

    package = exported(db, signer, receipt, checkpoint_size=earlier)

    assert package.verification.ok
    assert package.verification.checkpoint is not None
    assert package.verification.checkpoint.size == earlier
    assert [item["type"] for item in package.contents.not_in_checkpoint] == ["lot.stocktake"]
    with pytest.raises(ExportError, match="the log signed no checkpoint of size 3"):
        exported(db, signer, receipt, checkpoint_size=3)


# --- exporting and verifying with the command line ----------------------------------------------


@pytest.mark.usefixtures("cli_on_test_database", "signer")
def test_coldpledge_verify_passes_an_exported_package_and_says_whose_keys_it_trusted(
    receipt: str, tmp_path: Path
) -> None:
    out = tmp_path / "receipt.zip"
    export = runner.invoke(cli.app, ["evidence", "export", "--subject", receipt, "--out", str(out)])
    assert export.exit_code == 0, export.output
    vkey = zipfile.ZipFile(out).read("keys/log.vkey").decode().strip()

    code, report, fails = verify(out)
    pinned_code, pinned_report, _ = verify(out, "--log-key", vkey)
    as_json = json.loads(runner.invoke(cli.app, ["verify", str(out), "--json"]).stdout)
    chinese = runner.invoke(cli.app, ["verify", str(out)]).stdout

    assert (code, fails) == (0, [])
    assert "Result: PASSED" in report
    assert "Log key (taken from the package, keys/log.vkey)" in report
    assert pinned_code == 0
    assert f"Log key (given by you, --log-key): {vkey}" in pinned_report
    assert as_json["ok"] is True
    assert as_json["log_key"] == {"vkey": vkey, "pinned": False}
    assert "核验结论: 通过" in chinese


@pytest.mark.usefixtures("cli_on_test_database", "signer")
@pytest.mark.parametrize("subject", ["alert:999999999", "facility:SH-YS-01", "receipt:NO-SUCH-RECEIPT"])
def test_exporting_a_subject_nothing_mentions_is_a_clear_error(subject: str, tmp_path: Path) -> None:
    result = runner.invoke(
        cli.app, ["evidence", "export", "--subject", subject, "--out", str(tmp_path / "x.zip")]
    )

    assert result.exit_code == 1
    assert f"nothing in the evidence log mentions {subject}" in result.output
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.usefixtures("cli_on_test_database", "signer")
def test_a_subject_that_is_not_type_and_ref_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        cli.app, ["evidence", "export", "--subject", "WR-123", "--out", str(tmp_path / "x.zip")]
    )

    assert result.exit_code == 1
    assert "is not a subject: write it as type:ref" in result.output


def test_before_the_first_checkpoint_the_export_says_to_wait_for_it(db: TestDB, receipt: str) -> None:
    evidence_log.sequence_all(db.session)

    with pytest.raises(ExportError, match="the log has not signed a checkpoint yet"):
        exported(db, load_log_signer(db.settings), receipt)


def test_the_verifier_runs_with_the_database_unreachable_and_never_loads_it(
    package: Package, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.zip"
    path.write_bytes(package.data)
    environment = {**os.environ, "COLDPLEDGE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere"}
    command = Path(sys.executable).parent / "coldpledge"
    probe = (
        "import sys\n"
        "from coldpledge.evidence.verify import verify_package\n"
        f"assert verify_package(open({str(path)!r}, 'rb').read()).ok\n"
        "loaded = {'sqlalchemy', 'coldpledge.db', 'coldpledge.config', 'psycopg'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )

    verified = subprocess.run(  # noqa: S603 - our own command, our own arguments
        [command, "verify", path, "--lang", "en"],
        env=environment,
        capture_output=True,
        check=False,
        timeout=60,
    )
    alone = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], env=environment, capture_output=True, check=False, timeout=60
    )

    assert verified.returncode == 0, verified.stderr.decode()
    assert "Result: PASSED" in verified.stdout.decode()
    assert alone.returncode == 0, alone.stderr.decode()


# --- one flipped byte, and deliberate tampering -------------------------------------------------


def test_one_flipped_byte_in_any_file_fails_naming_that_file(package: Package) -> None:
    with zipfile.ZipFile(BytesIO(package.data)) as archive:
        members = [
            (i.filename, i.header_offset + 30 + len(i.filename), i.file_size)
            for i in archive.infolist()
            if i.file_size  # an empty file (no witnesses yet) has no byte to flip
        ]

    for name, start, size in members:
        result = verify_package(flipped(package.data, start + size // 2))

        assert not result.ok
        assert [finding.where for finding in result.failures] == [name]


def test_one_flipped_byte_anywhere_in_the_zip_fails_with_a_reason(package: Package) -> None:
    data = package.data
    directory_size, directory_start = struct.unpack("<II", data[-10:-2])
    # The whole central directory and end record, and a sample of everything before them.
    offsets = [*range(0, directory_start, 97), *range(directory_start, len(data), 3), len(data) - 1]

    for at in offsets:
        result = verify_package(flipped(data, at))

        assert not result.ok, f"byte {at} flipped and the package still verified"
        assert result.failures[0].where, f"byte {at}: no reason given"
    assert directory_start + directory_size == len(data) - 22


def _remove_entry(files: dict[str, bytes]) -> None:
    index = min(int(name.split("/")[1].split(".")[0]) for name in files if name.startswith("entries/"))
    for name in [n for n in files if n.split("/")[-1].split(".")[0] == str(index)]:
        del files[name]


def _reorder_proof(files: dict[str, bytes]) -> None:
    name = min(n for n in files if n.startswith("proofs/"))
    head, blank, rest = files[name].decode().partition("\n\n")
    lines = head.split("\n")
    lines[2], lines[3] = lines[3], lines[2]
    files[name] = ("\n".join(lines) + blank + rest).encode()


def _edit_disclosed(files: dict[str, bytes]) -> None:
    name = min(n for n in files if n.startswith("disclosed/") and n.endswith(".json"))
    files[name] = files[name].replace(b'"reason":null', b'"reason":"edited"')


def _edit_entry(files: dict[str, bytes]) -> None:
    # The first entry a person made (entries of the rules, such as alerts in the room, name no user).
    name = min(n for n in files if n.startswith("entries/") and b'"actor":"user:' in files[n])
    files[name] = files[name].replace(b'"actor":"user:', b'"actor":"user:1')


def _edit_report(files: dict[str, bytes]) -> None:
    files["report.zh-CN.txt"] = files["report.zh-CN.txt"].replace("通过".encode(), "核准".encode(), 1)


def _add_file(files: dict[str, bytes]) -> None:
    files["timestamps/9.tsr"] = b"0"


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        pytest.param(
            _remove_entry, ["is in the manifest but missing from the package", "): is missing"], id="removed"
        ),
        pytest.param(
            _reorder_proof, [".tlog-proof: the inclusion proof does not lead from leaf hash"], id="reordered"
        ),
        pytest.param(_edit_disclosed, [".json: does not match the entry's payload_sha256"], id="disclosed"),
        pytest.param(
            _edit_entry,
            [".json: its SHA-256 differs from the manifest", "inclusion proof does not"],
            id="entry",
        ),
        pytest.param(_edit_report, ["report.zh-CN.txt: its SHA-256 differs from the manifest"], id="report"),
        pytest.param(_add_file, ["timestamps/9.tsr: is not a file this manifest describes"], id="added"),
    ],
)
def test_tampering_that_keeps_the_zip_well_formed_fails_precisely(
    package: Package, tmp_path: Path, tamper: Callable[[dict[str, bytes]], None], named: list[str]
) -> None:
    path = tmp_path / "tampered.zip"
    path.write_bytes(rezip(package.data, tamper))

    code, report, fails = verify(path)

    assert code == 1
    assert "Result: FAILED" in report
    for words in named:
        assert any(words in line for line in fails), (words, fails)


def test_a_swapped_checkpoint_from_another_log_fails(package: Package, tmp_path: Path) -> None:
    other = Signer.generate("other.example.cn/evidence")
    original = zipfile.ZipFile(BytesIO(package.data)).read("checkpoint.note").decode()
    checkpoint = package.verification.checkpoint
    assert checkpoint is not None
    forged = Checkpoint(other.name, checkpoint.size, checkpoint.root)
    note = forged.text + "\n" + other.sign(forged.text)

    def swap(files: dict[str, bytes]) -> None:
        for name in files:
            if name == "checkpoint.note" or name.startswith("proofs/"):
                files[name] = files[name].decode().replace(original, note).encode()

    path = tmp_path / "swapped.zip"
    path.write_bytes(rezip(package.data, swap))
    code, _report, fails = verify(path)

    assert code == 1
    assert "FAIL checkpoint.note: its SHA-256 differs from the manifest: the file was altered" in fails
    assert any(f"checkpoint.note: is of log {other.name}" in line for line in fails)
    assert any("checkpoint.note, log signature: the log key" in line for line in fails)


def test_a_pinned_log_key_that_differs_fails_naming_each_signature(package: Package, tmp_path: Path) -> None:
    path = tmp_path / "receipt.zip"
    path.write_bytes(package.data)
    impostor = Signer.generate(package.verification.manifest["origin"])

    code, _report, fails = verify(path, "--log-key", impostor.verifier.vkey)

    assert code == 1
    assert "FAIL keys/log.vkey: is not the pinned log key (--log-key)" in fails
    assert any(line.startswith("FAIL manifest.note: has no valid signature by the log key") for line in fails)
    assert f"FAIL checkpoint.note, log signature: not signed by the log key {impostor.verifier.vkey}" in fails


# --- witnesses and timestamps -------------------------------------------------------------------


def test_cosignatures_travel_with_the_package_and_a_quorum_can_be_required(
    db: TestDB, signer: Signer, receipt: str, tmp_path: Path
) -> None:
    bank = Signer.generate("bank.example.cn/witness", COSIGNATURE_V1)
    evidence_log.register_witness(db.session, bank.verifier.vkey)
    with db.session() as session:
        latest = evidence_log.latest_checkpoint(session)
        assert latest is not None
        body = evidence_log.checkpoint_body(latest)
    evidence_log.add_cosignature(
        db.session, body.size, bank.cosign(body.text, int(datetime.now(UTC).timestamp()))
    )
    path = tmp_path / "receipt.zip"
    path.write_bytes(exported(db, signer, receipt).data)
    key_file = tmp_path / "bank.vkey"
    key_file.write_text(bank.verifier.vkey + "\n")

    met = verify(path, "--witness-key", str(key_file), "--quorum", "1")
    unmet = verify(path, "--witness-key", bank.verifier.vkey, "--quorum", "2")

    assert met[0] == 0
    assert f"{bank.name} cosigned: it had seen this checkpoint no later than" in met[1]
    assert unmet[0] == 1
    assert unmet[2] == ["FAIL checkpoint.note, cosignatures: 1 witnesses cosigned; the quorum asked for is 2"]


@pytest.fixture(scope="module")
def authority() -> Iterator[Authority]:
    with local_authority() as running:
        yield running


def test_a_timestamped_checkpoint_travels_with_its_token_and_a_tampered_token_fails(
    db: TestDB, signer: Signer, receipt: str, authority: Authority, tmp_path: Path
) -> None:
    roots = authority.roots.read_bytes()
    with db.session() as session:
        latest = evidence_log.latest_checkpoint(session)
        assert latest is not None
        token, nonce = request_token(authority.url, latest.note.encode())
        gen_time = verify_token(token, latest.note.encode(), roots, nonce=nonce)
        session.add(
            EvidenceTimestamp(
                checkpoint_id=latest.id,
                authority=authority.url,
                token=token,
                gen_time=gen_time,
                received_at=gen_time,
            )
        )
        session.commit()

    package = exported(db, signer, receipt, tsa_roots=roots)
    without_roots = exported(db, signer, receipt)
    path, tampered = tmp_path / "stamped.zip", tmp_path / "tampered.zip"
    path.write_bytes(package.data)
    tampered.write_bytes(
        rezip(package.data, lambda files: files.update({"timestamps/1.tsr": flipped(token, 60)}))
    )
    other_roots = tmp_path / "other-roots.pem"
    other_roots.write_bytes(make_root(tmp_path, "Another Root").cert.read_bytes())

    assert package.verification.stamped == [(authority.url, gen_time)]
    code, report, _ = verify(path, "--tsa-roots", str(authority.roots))
    assert code == 0
    assert f"existed no later than {gen_time.isoformat()}" in report
    assert "Timestamp authority roots: given by you (--tsa-roots)" in report
    code, _, fails = verify(tampered)
    assert code == 1
    assert any(
        line.startswith(f"FAIL timestamps/1.tsr: the token of {authority.url} does not verify")
        for line in fails
    )
    code, _, fails = verify(path, "--tsa-roots", str(other_roots))
    assert code == 1
    assert any(line.startswith("FAIL timestamps/1.tsr:") for line in fails)
    assert "timestamps/1.tsr" not in zipfile.ZipFile(BytesIO(without_roots.data)).namelist()
    assert "left out: without the authority's root certificates" in without_roots.warnings[0]
