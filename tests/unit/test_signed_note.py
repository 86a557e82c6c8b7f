"""Signed notes, checkpoints and cosignatures are exactly C2SP (signed-note, tlog-checkpoint,
tlog-cosignature) with Ed25519: the spec's own example verifies, Go's ``sumdb/note`` example key
signs byte for byte as Go does, and malformed or forged notes are refused."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from coldpledge.evidence import merkle
from coldpledge.evidence.note import (
    COSIGNATURE_V1,
    ED25519,
    EM_DASH,
    Checkpoint,
    NoteError,
    Signer,
    cosignature_time,
    key_id,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_skey,
    parse_vkey,
)

# --- C2SP signed-note example (c2sp.org/signed-note) -------------------------------------------

EXAMPLE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_PUBLIC_KEY = "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
EXAMPLE_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# --- Go golang.org/x/mod/sumdb/note documentation key ------------------------------------------

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_SEED = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_PUBLIC_KEY = "1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
PETER_LINE = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# --- derived regression vectors (ledger.md §3.1) ------------------------------------------------
# The checkpoint line was reproduced with Go's x/mod/sumdb/note 0.7.0 (Debian golang-golang-x-mod-dev)
# note.Sign; the cosignature with Go's crypto/ed25519 over the tlog-cosignature message.

ROOT_OF_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
CHECKPOINT_TEXT = "PeterNeumann\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
CHECKPOINT_LINE = (
    "— PeterNeumann "
    "x08gozdSgLMzAnw63LH1RGViJhUfW60EUGKY7Kmr004fQNOSqfrcd1hIk3BCtdcLWIqvGtX67sL24VN+44uTlxMnbAA=\n"
)
# The eight leaves of RFC 6962's test tree (transparency-dev/merkle), whose root is ROOT_OF_8.
KAT_LEAVES = [
    bytes.fromhex(x)
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
WITNESS_VKEY = "PeterNeumann+18b9780b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
COSIGNATURE_TIME = 1700000000
COSIGNATURE_LINE = (
    "— PeterNeumann "
    "GLl4CwAAAABlU/EAJb0xexeBW4UxAOtprcEtinJedY9lij95cWC/HnurEejaKtKZY7kyi0ABI79aA/xzZDqMLNTmimKdQbpkZ84mCw==\n"
)


def peter() -> Signer:
    return parse_skey(PETER_SKEY)


def witness_peter() -> Signer:
    return Signer("PeterNeumann", peter().private_key, COSIGNATURE_V1)


def signer_from_seed(name: str, seed: bytes, key_type: int = ED25519) -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(seed), key_type)


# --- known answers ----------------------------------------------------------------------------


def test_the_c2sp_example_note_verifies_with_the_example_key() -> None:
    verifier = parse_vkey(EXAMPLE_VKEY)
    note, signed_by = open_note(EXAMPLE_NOTE, [verifier])

    assert note.text == "This is an example message.\n"
    assert signed_by == [verifier]
    assert verifier.vkey == EXAMPLE_VKEY


def test_the_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key() -> None:
    assert key_id("example.com/foo", ED25519, bytes.fromhex(EXAMPLE_PUBLIC_KEY)).hex() == "530d903a"
    assert key_id("PeterNeumann", ED25519, bytes.fromhex(PETER_PUBLIC_KEY)).hex() == "c74f20a3"
    assert key_id("PeterNeumann", COSIGNATURE_V1, bytes.fromhex(PETER_PUBLIC_KEY)).hex() == "18b9780b"


def test_the_go_sumdb_note_example_key_signs_byte_for_byte_as_go_does() -> None:
    signer = peter()

    assert signer.private_key.private_bytes_raw().hex() == PETER_SEED
    assert signer.verifier.vkey == PETER_VKEY
    assert signer.skey == PETER_SKEY
    assert signer.sign(PETER_TEXT) == PETER_LINE
    note, _ = open_note(PETER_TEXT + "\n" + PETER_LINE, [parse_vkey(PETER_VKEY)])
    assert note.text == PETER_TEXT


def test_a_checkpoint_of_the_rfc_tree_of_eight_leaves_is_signed_as_go_signs_it() -> None:
    checkpoint = Checkpoint("PeterNeumann", 8, merkle.root_of([merkle.leaf_hash(d) for d in KAT_LEAVES]))

    assert checkpoint.root == ROOT_OF_8
    assert checkpoint.text == CHECKPOINT_TEXT
    assert peter().sign(checkpoint.text) == CHECKPOINT_LINE
    assert parse_checkpoint(CHECKPOINT_TEXT) == checkpoint


def test_a_witness_cosignature_is_the_c2sp_cosignature_v1_vector() -> None:
    witness = witness_peter()
    line = witness.cosign(CHECKPOINT_TEXT, COSIGNATURE_TIME)

    assert witness.verifier.vkey == WITNESS_VKEY
    assert line == COSIGNATURE_LINE
    blob = base64.b64decode(line.split()[-1])
    # key id ‖ big-endian uint64 time ‖ Ed25519 signature over "cosignature/v1\ntime <t>\n" + body
    assert (blob[:4].hex(), int.from_bytes(blob[4:12], "big"), len(blob)) == (
        "18b9780b",
        COSIGNATURE_TIME,
        76,
    )
    note, signed_by = open_note(CHECKPOINT_TEXT + "\n" + CHECKPOINT_LINE + line, [parse_vkey(WITNESS_VKEY)])
    assert signed_by[0].key_type == COSIGNATURE_V1
    assert cosignature_time(note.signatures[1]) == COSIGNATURE_TIME


def test_a_cosignature_for_another_time_does_not_verify() -> None:
    blob = bytearray(base64.b64decode(COSIGNATURE_LINE.split()[-1]))
    blob[11] ^= 1  # the last byte of the timestamp
    forged = f"{EM_DASH} PeterNeumann {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(CHECKPOINT_TEXT + "\n" + forged, [parse_vkey(WITNESS_VKEY)])


def test_a_note_signing_key_cannot_cosign() -> None:
    with pytest.raises(NoteError, match="cosignature key"):
        peter().cosign(CHECKPOINT_TEXT, COSIGNATURE_TIME)


# --- keys -------------------------------------------------------------------------------------


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1,
    max_size=40,
).filter(lambda name: not any(char.isspace() for char in name))


@given(names, st.binary(min_size=32, max_size=32), st.sampled_from([ED25519, COSIGNATURE_V1]))
def test_vkeys_and_skeys_round_trip(name: str, seed: bytes, key_type: int) -> None:
    signer = signer_from_seed(name, seed, key_type)

    assert parse_skey(signer.skey).skey == signer.skey
    verifier = parse_vkey(signer.verifier.vkey)
    assert (verifier.name, verifier.key_type, verifier.key_id) == (name, key_type, signer.verifier.key_id)
    assert verifier.vkey == signer.verifier.vkey


def test_a_key_whose_base64_holds_a_plus_sign_round_trips() -> None:
    # The key is split on its first two (vkey) or four (skey) '+' only: base64 has '+' too.
    candidates = (signer_from_seed("example.com/log", bytes([i]) * 32) for i in range(256))
    signer = next(s for s in candidates if "+" in s.verifier.vkey.split("+", 2)[2])

    assert parse_vkey(signer.verifier.vkey).vkey == signer.verifier.vkey
    assert "+" in PETER_SKEY.split("+", 4)[4]
    assert parse_skey(PETER_SKEY).skey == PETER_SKEY


@pytest.mark.parametrize(
    ("vkey", "complaint"),
    [
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key id"),
        ("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key id"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "Ed25519"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "base64"),
        ("example.com/foo+530d903a", "name\\+keyid\\+base64key"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "non-empty"),
        ("example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "without spaces"),
    ],
)
def test_a_malformed_or_mismatched_vkey_is_refused(vkey: str, complaint: str) -> None:
    with pytest.raises(NoteError, match=complaint):
        parse_vkey(vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "trailing\n", "\nleading"])
def test_a_key_name_with_spaces_plus_or_newlines_is_refused(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        Signer.generate(name)


def test_an_skey_with_a_wrong_key_id_is_refused() -> None:
    with pytest.raises(NoteError, match="key id"):
        parse_skey(PETER_SKEY.replace("c74f20a3", "c74f20a4"))


# --- verification rules -----------------------------------------------------------------------


def two_keys() -> tuple[Signer, Signer]:
    return signer_from_seed("alice.example", b"a" * 32), signer_from_seed("bob.example", b"b" * 32)


def test_a_signature_by_an_unknown_key_is_ignored() -> None:
    alice, bob = two_keys()
    message = PETER_TEXT + "\n" + bob.sign(PETER_TEXT) + alice.sign(PETER_TEXT)

    note, signed_by = open_note(message, [alice.verifier])

    assert signed_by == [alice.verifier]
    assert [s.name for s in note.signatures] == ["bob.example", "alice.example"]


def test_a_known_name_with_another_key_id_counts_as_unknown() -> None:
    alice, _ = two_keys()
    impostor = signer_from_seed("alice.example", b"i" * 32)
    message = PETER_TEXT + "\n" + impostor.sign(PETER_TEXT) + alice.sign(PETER_TEXT)

    assert open_note(message, [alice.verifier])[1] == [alice.verifier]


def test_a_bad_signature_by_a_known_key_rejects_the_note_even_beside_a_good_one() -> None:
    alice, bob = two_keys()
    line = bob.sign(PETER_TEXT)
    blob = bytearray(base64.b64decode(line.split()[-1]))
    blob[-1] ^= 0x01
    forged = f"{EM_DASH} bob.example {base64.b64encode(bytes(blob)).decode()}\n"

    with pytest.raises(NoteError, match=r"signature of bob\.example does not verify"):
        open_note(PETER_TEXT + "\n" + alice.sign(PETER_TEXT) + forged, [alice.verifier, bob.verifier])


def test_a_note_no_known_key_signed_is_rejected() -> None:
    alice, bob = two_keys()
    with pytest.raises(NoteError, match="no known key"):
        open_note(PETER_TEXT + "\n" + bob.sign(PETER_TEXT), [alice.verifier])
    with pytest.raises(NoteError, match="no known key"):
        open_note(EXAMPLE_NOTE, [])


def test_more_than_sixteen_signatures_are_accepted() -> None:
    # C2SP: verifiers must accept at least 16 signatures; a log with many witnesses exceeds that.
    signers = [signer_from_seed(f"witness{i}.example", bytes([i]) * 32) for i in range(20)]
    message = PETER_TEXT + "\n" + "".join(s.sign(PETER_TEXT) for s in signers)

    note, signed_by = open_note(message, [s.verifier for s in signers])

    assert len(note.signatures) == len(signed_by) == 20


def test_any_one_character_edit_of_the_text_is_rejected() -> None:
    verifier = parse_vkey(EXAMPLE_VKEY)
    text, signature = EXAMPLE_NOTE.split("\n\n")
    for position, char in enumerate(text):
        edited = text[:position] + ("x" if char != "x" else "y") + text[position + 1 :]
        with pytest.raises(NoteError):
            open_note(edited + "\n\n" + signature, [verifier])


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("Tab\there.\n\n" + PETER_LINE, "control character"),
        ("Carriage return\r\n\n" + PETER_LINE, "control character"),
        ("Nul\x00.\n\n" + PETER_LINE, "control character"),
        (PETER_TEXT + "\n" + PETER_LINE.replace(" x08go", "\x0bx08go", 1), "control character"),
        (PETER_TEXT + "\n" + PETER_LINE.rstrip("\n"), "end with a newline"),
        (PETER_TEXT + PETER_LINE, "blank line"),
        (PETER_TEXT + "\n", "must end with a newline"),
        (PETER_TEXT + "\n" + PETER_LINE.replace(EM_DASH, "-", 1), "malformed signature line"),
        (
            PETER_TEXT + "\n" + PETER_LINE.replace("PeterNeumann", "Peter+Neumann", 1),
            "malformed signature line",
        ),
        (PETER_TEXT + "\n" + PETER_LINE.replace(" x08go", "  x08go", 1), "malformed signature line"),
        (PETER_TEXT + "\n" + f"{EM_DASH} PeterNeumann x08gow==\n", "too short"),
        (PETER_TEXT + "\n" + f"{EM_DASH} PeterNeumann not*base64\n", "not valid base64"),
    ],
)
def test_a_malformed_note_is_refused(message: str, complaint: str) -> None:
    with pytest.raises(NoteError, match=complaint):
        open_note(message, [parse_vkey(PETER_VKEY)])


def test_the_last_blank_line_separates_text_from_signatures() -> None:
    # Text may hold blank lines of its own; the signatures follow the last one.
    text = "first paragraph\n\nsecond paragraph\n"
    note, _ = open_note(text + "\n" + peter().sign(text), [parse_vkey(PETER_VKEY)])
    assert note.text == text


def test_text_that_cannot_be_signed_is_refused_before_signing() -> None:
    with pytest.raises(NoteError, match="end with a newline"):
        peter().sign("no final newline")
    with pytest.raises(NoteError, match="control character"):
        peter().sign("tab\tinside\n")


def test_a_note_renders_back_to_the_text_it_was_parsed_from() -> None:
    message = CHECKPOINT_TEXT + "\n" + CHECKPOINT_LINE + COSIGNATURE_LINE
    assert parse_note(message).render() == message


# --- checkpoints ------------------------------------------------------------------------------

ROOT_B64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="


def test_a_checkpoint_may_carry_extension_lines_after_the_root() -> None:
    checkpoint = parse_checkpoint(f"example.com/log\n8\n{ROOT_B64}\nextension line\n")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == ("example.com/log", 8, ROOT_OF_8)


def test_the_largest_uint64_size_is_a_valid_checkpoint_size() -> None:
    assert parse_checkpoint(f"o\n{2**64 - 1}\n{ROOT_B64}\n").size == 2**64 - 1
    assert parse_checkpoint(f"o\n0\n{ROOT_B64}\n").size == 0


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (f"\n8\n{ROOT_B64}\n", "no origin"),
        (f"o\n08\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n00\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n-8\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n+8\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n 8\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n8 \n{ROOT_B64}\n", "plain decimal"),
        (f"o\n0x8\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n8.0\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n1_000\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n\uff18\n{ROOT_B64}\n", "plain decimal"),  # a full-width digit eight
        (f"o\n\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n{2**64}\n{ROOT_B64}\n", "plain decimal"),
        (f"o\n8\n{base64.b64encode(ROOT_OF_8[:31]).decode()}\n", "not 32 bytes"),
        (f"o\n8\n{base64.b64encode(ROOT_OF_8 + b'x').decode()}\n", "not 32 bytes"),
        ("o\n8\n\n", "not 32 bytes"),
        (f"o\n8\n{ROOT_B64.rstrip('=')}\n", "not valid base64"),
        (f"o\n8\n{ROOT_B64[:-2]}h=\n", "not canonical"),  # same 32 bytes, stray low bits
        (f"o\n8\n{ROOT_OF_8.hex()}\n", "not 32 bytes"),
        (f"o\n8\n{ROOT_B64}", "each on its own line"),
        ("o\n8\n", "each on its own line"),
    ],
)
def test_a_checkpoint_is_parsed_strictly(text: str, complaint: str) -> None:
    with pytest.raises(NoteError, match=complaint):
        parse_checkpoint(text)


def test_a_verifier_checks_only_its_own_signature_type() -> None:
    # A cosignature key (0x04) and a note key (0x01) of the same name and key differ in key id,
    # so a cosignature can never pass for the log's own signature, or the reverse.
    note_key, cosign_key = peter().verifier, witness_peter().verifier
    assert note_key.key_id != cosign_key.key_id
    with pytest.raises(NoteError, match="no known key"):
        open_note(CHECKPOINT_TEXT + "\n" + COSIGNATURE_LINE, [note_key])
    with pytest.raises(NoteError, match="no known key"):
        open_note(CHECKPOINT_TEXT + "\n" + CHECKPOINT_LINE, [cosign_key])
