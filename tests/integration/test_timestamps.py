"""Checkpoints are timestamped by an RFC 3161 authority, and anyone can check the tokens.

The authority is real: ``openssl ts`` behind a small HTTP server on 127.0.0.1 (tests/tsa.py). The
log lives in a scratch database of its own, because stamping is done by the log's worker through
real connections and commits; the shared test database stays as the other tests expect it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import runner
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.models import EvidenceCheckpoint, EvidenceTimestamp
from coldpledge.evidence.rfc3161 import TimestampError, request_token, verify_token
from coldpledge.evidence.timestamps import TimestampNotConfigured, stamp_latest, tokens_of
from coldpledge.migrate import upgrade
from coldpledge.parties import service as parties
from coldpledge.parties.policy import SYSTEM, PartyType
from coldpledge.parties.schemas import OrganisationIn
from coldpledge.uow import UnitOfWork
from tests.tsa import Authority, Behaviour, local_authority, make_root, openssl


@pytest.fixture(scope="module")
def running_authority() -> Iterator[Authority]:
    with local_authority() as authority:
        yield authority


@pytest.fixture
def authority(running_authority: Authority) -> Iterator[Authority]:
    running_authority.behaviour = "sign"
    yield running_authority
    running_authority.behaviour = "sign"


@pytest.fixture(scope="module")
def log_database(settings: Settings) -> Iterator[Database]:
    with scratch_database(os.environ.get("COLDPLEDGE_TEST_DATABASE_URL"), prefix="coldpledge_tsa") as url:
        database = Database(url)
        try:
            upgrade(database.engine)
            yield database
        finally:
            database.dispose()


@pytest.fixture
def stamping(settings: Settings, log_database: Database, authority: Authority) -> Settings:
    return settings.model_copy(
        update={
            "database_url": log_database.url,
            "tsa_url": authority.url,
            "tsa_roots_file": authority.roots,
            # The runner signs whenever the tree grew, however recently it last signed, and
            # every checkpoint may be stamped (production stamps at most every 5 minutes).
            "checkpoint_interval_seconds": 0.001,
            "tsa_interval_seconds": 0,
        }
    )


def published(database: Database, settings: Settings) -> EvidenceCheckpoint:
    """Something happens on the platform (a new organisation), the log takes it in and signs."""
    parties.create_organisation(
        UnitOfWork(database.write_session),
        SYSTEM,
        OrganisationIn(name=f"冷链仓储 {uuid.uuid4().hex[:8]}", party_type=PartyType.KEEPER),
    )
    evidence_log.sequence_all(database.write_session)
    checkpoint = evidence_log.publish_checkpoint(
        database.write_session, load_log_signer(settings), settings.origin
    )
    assert checkpoint is not None
    return checkpoint


def kept(database: Database, checkpoint: EvidenceCheckpoint) -> list[EvidenceTimestamp]:
    with database.session() as session:  # closed, not rolled back: the rows stay loaded
        return tokens_of(session, checkpoint.id)


@dataclass(frozen=True)
class Stamped:
    note: bytes
    token: bytes
    roots: bytes


@pytest.fixture
def stamped(log_database: Database, stamping: Settings, authority: Authority) -> Stamped:
    checkpoint = published(log_database, stamping)
    stamp = stamp_latest(log_database, stamping)
    assert stamp is not None
    return Stamped(checkpoint.note.encode(), stamp.token, authority.roots.read_bytes())


def changed(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# --- stamping ----------------------------------------------------------------------------------


def test_a_checkpoint_gets_a_token_proving_it_existed_no_later_than_gen_time(
    log_database: Database, stamping: Settings, authority: Authority
) -> None:
    checkpoint = published(log_database, stamping)

    stamp = stamp_latest(log_database, stamping)

    assert stamp is not None
    [row] = kept(log_database, checkpoint)
    assert (row.authority, row.token, row.gen_time) == (authority.url, stamp.token, stamp.gen_time)
    gen_time = verify_token(row.token, checkpoint.note.encode("utf-8"), authority.roots.read_bytes())
    assert gen_time == row.gen_time
    assert gen_time.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - gen_time) < timedelta(seconds=10)
    assert gen_time <= row.received_at


def test_openssl_accepts_the_kept_token_as_well(stamped: Stamped, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_bytes(stamped.note)
    (tmp_path / "token.tsr").write_bytes(stamped.token)
    (tmp_path / "roots.pem").write_bytes(stamped.roots)

    said = openssl(
        "ts", "-verify", "-data", "note.txt", "-in", "token.tsr", "-CAfile", "roots.pem", cwd=tmp_path
    )  # fmt: skip

    assert b"Verification: OK" in said


def test_the_request_is_over_sha256_with_a_nonce_and_asks_for_the_certificate(
    authority: Authority, tmp_path: Path
) -> None:
    _token, nonce = request_token(authority.url, b"a checkpoint note\n")
    (tmp_path / "query.tsq").write_bytes(authority.queries[-1])

    said = openssl("ts", "-query", "-in", "query.tsq", "-text", cwd=tmp_path).decode()

    assert "Hash Algorithm: sha256" in said
    [shown] = [line.split("0x")[1] for line in said.splitlines() if line.startswith("Nonce:")]
    assert int(shown, 16) == nonce
    assert "Certificate required: yes" in said


def test_stamping_does_nothing_when_the_latest_checkpoint_already_has_a_token(
    log_database: Database, stamping: Settings, authority: Authority
) -> None:
    checkpoint = published(log_database, stamping)
    assert stamp_latest(log_database, stamping) is not None
    asked = len(authority.queries)

    again = stamp_latest(log_database, stamping)

    assert again is None
    assert len(authority.queries) == asked
    assert len(kept(log_database, checkpoint)) == 1


def test_a_newer_checkpoint_waits_for_the_stamping_interval_so_tokens_are_not_bought_every_second(
    log_database: Database, stamping: Settings, authority: Authority
) -> None:
    every_five_minutes = stamping.model_copy(update={"tsa_interval_seconds": 300})
    published(log_database, stamping)
    assert stamp_latest(log_database, stamping) is not None
    newer = published(log_database, every_five_minutes)
    asked = len(authority.queries)

    assert stamp_latest(log_database, every_five_minutes) is None
    assert len(authority.queries) == asked
    assert kept(log_database, newer) == []
    # Without the interval, the newer checkpoint would have been stamped at once.
    assert stamp_latest(log_database, stamping) is not None


def test_stamping_does_nothing_where_no_authority_is_configured(
    log_database: Database, stamping: Settings, authority: Authority
) -> None:
    checkpoint = published(log_database, stamping)
    asked = len(authority.queries)

    assert stamp_latest(log_database, stamping.model_copy(update={"tsa_url": None})) is None

    assert len(authority.queries) == asked
    assert kept(log_database, checkpoint) == []


@pytest.mark.parametrize("roots", ["unset", "missing", "not pem"])
def test_an_authority_without_roots_to_check_its_tokens_is_refused_clearly(
    log_database: Database, stamping: Settings, authority: Authority, tmp_path: Path, roots: str
) -> None:
    checkpoint = published(log_database, stamping)
    asked = len(authority.queries)
    (tmp_path / "not.pem").write_text("this is not a certificate\n")
    roots_file = {"unset": None, "missing": tmp_path / "missing.pem", "not pem": tmp_path / "not.pem"}[roots]

    with pytest.raises(TimestampNotConfigured, match="COLDPLEDGE_TSA_ROOTS_FILE"):
        stamp_latest(log_database, stamping.model_copy(update={"tsa_roots_file": roots_file}))

    assert len(authority.queries) == asked
    assert kept(log_database, checkpoint) == []


def test_a_token_from_an_authority_we_do_not_trust_is_never_kept(
    log_database: Database, stamping: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = published(log_database, stamping)
    stranger = make_root(tmp_path, "Stranger Root")

    with caplog.at_level(logging.WARNING, logger="coldpledge.evidence.timestamps"):
        stamp = stamp_latest(log_database, stamping.model_copy(update={"tsa_roots_file": stranger.cert}))

    assert stamp is None
    assert kept(log_database, checkpoint) == []
    assert "does not chain to the trusted roots" in caplog.text


def test_an_authority_that_cannot_be_reached_leaves_the_checkpoint_unstamped(
    log_database: Database, stamping: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = published(log_database, stamping)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}/tsa"

    with caplog.at_level(logging.WARNING, logger="coldpledge.evidence.timestamps"):
        stamp = stamp_latest(log_database, stamping.model_copy(update={"tsa_url": nobody}))

    assert stamp is None
    assert kept(log_database, checkpoint) == []
    assert "could not reach the timestamp authority" in caplog.text


def test_a_failing_authority_never_stops_a_round_and_the_next_round_stamps(
    log_database: Database, stamping: Settings, authority: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    published(log_database, stamping)  # the log is not empty; the round below has more to sign
    parties.create_organisation(
        UnitOfWork(log_database.write_session),
        SYSTEM,
        OrganisationIn(name=f"冷链仓储 {uuid.uuid4().hex[:8]}", party_type=PartyType.KEEPER),
    )
    authority.behaviour = "error"

    with caplog.at_level(logging.WARNING, logger="coldpledge.evidence.timestamps"):
        sequenced = runner.step(log_database, stamping)

    with log_database.session() as session:
        checkpoint = evidence_log.latest_checkpoint(session)
        assert checkpoint is not None
        assert checkpoint.tree_size == evidence_log.tree_size(session)
    assert sequenced == 1
    assert kept(log_database, checkpoint) == []
    assert "HTTP 500" in caplog.text

    authority.behaviour = "sign"
    runner.step(log_database, stamping)

    [stamp] = kept(log_database, checkpoint)
    verify_token(stamp.token, checkpoint.note.encode(), authority.roots.read_bytes())


# --- asking an authority -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("error", "answered HTTP 500"),
        ("reject", r"did not grant a timestamp \(status rejection: Message digest algorithm"),
        ("garbage", "is not an RFC 3161 timestamp response"),
        ("hollow", "granted but sent no token"),
    ],
)
def test_a_request_that_gets_no_token_says_why(
    authority: Authority, behaviour: Behaviour, reason: str
) -> None:
    authority.behaviour = behaviour

    with pytest.raises(TimestampError, match=reason):
        request_token(authority.url, b"a checkpoint note\n")


# --- checking a token ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["origin", "tree size", "root hash", "signature", "last newline"])
def test_a_token_does_not_verify_over_a_note_with_one_byte_changed(stamped: Stamped, where: str) -> None:
    lines = stamped.note.split(b"\n")
    at = {
        "origin": 0,
        "tree size": len(lines[0]) + 1,
        "root hash": len(lines[0]) + len(lines[1]) + 2,
        "signature": len(stamped.note) - 5,
        "last newline": len(stamped.note) - 1,
    }[where]

    with pytest.raises(TimestampError, match="the checkpoint note was altered"):
        verify_token(stamped.token, changed(stamped.note, at), stamped.roots)


def test_a_token_does_not_verify_against_another_root_ca(stamped: Stamped, tmp_path: Path) -> None:
    other = make_root(tmp_path, "Other Root").cert.read_bytes()

    with pytest.raises(TimestampError, match="does not chain to the trusted roots"):
        verify_token(stamped.token, stamped.note, other)
    # Trusting both roots is fine: the token needs one of them.
    assert verify_token(stamped.token, stamped.note, other + stamped.roots)


def test_a_token_does_not_verify_with_another_request_s_nonce(authority: Authority) -> None:
    note = b"a checkpoint note\n"
    token, nonce = request_token(authority.url, note)
    roots = authority.roots.read_bytes()

    assert verify_token(token, note, roots, nonce=nonce)
    with pytest.raises(TimestampError, match="nonce differs"):
        verify_token(token, note, roots, nonce=nonce + 1)


@pytest.mark.parametrize(
    "extended_key_usage",
    [None, "critical, codeSigning", "timeStamping"],
    ids=["no EKU", "codeSigning only", "timeStamping not critical"],
)
def test_a_token_signed_without_the_timestamping_purpose_is_refused(extended_key_usage: str | None) -> None:
    note = b"a checkpoint note\n"
    with local_authority(extended_key_usage=extended_key_usage) as improper:
        token, nonce = request_token(improper.url, note)

        with pytest.raises(TimestampError, match="not a timestamping certificate"):
            verify_token(token, note, improper.roots.read_bytes(), nonce=nonce)


def test_a_token_made_the_same_way_with_a_proper_certificate_verifies() -> None:
    """The control for the test above: the re-signing path itself yields good tokens, so those
    refusals are the certificate's purpose and nothing else."""
    note = b"a checkpoint note\n"
    with local_authority(resign=True) as proper:
        token, nonce = request_token(proper.url, note)

        assert verify_token(token, note, proper.roots.read_bytes(), nonce=nonce)


def test_a_token_whose_chain_is_not_in_der_order_still_verifies(stamped: Stamped, tmp_path: Path) -> None:
    """SignedData.certificates is a DER SET OF; OpenSSL, like many authorities, sends the chain
    signer first instead. The order is not signed and means nothing, so it must not matter."""
    (tmp_path / "response.tsr").write_bytes(stamped.token)
    openssl("ts", "-reply", "-in", "response.tsr", "-token_out", "-out", "token.der", cwd=tmp_path)
    listed = openssl("pkcs7", "-inform", "DER", "-in", "token.der", "-print_certs", cwd=tmp_path)
    sent = [cert.public_bytes(Encoding.DER) for cert in x509.load_pem_x509_certificates(listed)]
    assert len(sent) == 2
    assert sent != sorted(sent)  # the case this test is about

    assert verify_token(stamped.token, stamped.note, stamped.roots)


@pytest.mark.parametrize(
    "token", [b"", b"<html>busy</html>", bytes.fromhex("30053003020100")], ids=["empty", "html", "no token"]
)
def test_something_that_is_no_token_is_refused(stamped: Stamped, token: bytes) -> None:
    with pytest.raises(TimestampError):
        verify_token(token, stamped.note, stamped.roots)


def test_a_truncated_or_extended_token_is_refused(stamped: Stamped) -> None:
    for token in (stamped.token[:-1], stamped.token + b"\x00"):
        with pytest.raises(TimestampError, match="not an RFC 3161 timestamp response"):
            verify_token(token, stamped.note, stamped.roots)


def test_roots_that_are_not_certificates_are_refused(stamped: Stamped) -> None:
    with pytest.raises(TimestampError, match="not PEM certificates"):
        verify_token(stamped.token, stamped.note, b"-----BEGIN NOTHING-----\n")
