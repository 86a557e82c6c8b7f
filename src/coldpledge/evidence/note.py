"""C2SP signed notes, checkpoints and cosignatures, with Ed25519. Pure: no I/O.

- signed-note (c2sp.org/signed-note): text ending in a newline, a blank line, then signature lines
  ``— <name> base64(key id ‖ signature)``; key id = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4].
- tlog-checkpoint (c2sp.org/tlog-checkpoint): origin, tree size, base64 root hash.
- tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519 type 0x04: a witness signs
  ``cosignature/v1\\ntime <t>\\n`` + the checkpoint body; the blob is key id ‖ t (uint64) ‖ sig.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_SIGNATURES = 16
# Matched with fullmatch: ``$`` would also match before a trailing newline ("name\n").
_NAME = re.compile(r"[^\s+]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
MAX_TREE_SIZE = 2**64 - 1  # tree sizes are uint64 everywhere else (Go, RFC 9162)


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify. The message says which."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


# --- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures (type 0x01) or cosignatures (type 0x04)."""

    name: str
    key_type: int
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, _raw_public(self.public_key))

    @property
    def vkey(self) -> str:
        """The C2SP verifier key text: ``<name>+<hex key id>+base64(type ‖ public key)``."""
        raw = bytes([self.key_type]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{_b64(raw)}"


def parse_vkey(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise NoteError("a verifier key looks like name+keyid+base64key")
    name, hex_id, encoded = parts
    _check_name(name)
    raw = _unb64(encoded, "the verifier key")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError("only Ed25519 verifier keys (type 0x01 or 0x04) are supported")
    verifier = Verifier(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
    if verifier.key_id.hex() != hex_id.lower():
        raise NoteError(f"the key id of {name} does not match its key")
    return verifier


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes (type 0x01) or cosignatures (type 0x04)."""

    name: str
    private_key: Ed25519PrivateKey
    key_type: int = ED25519

    @classmethod
    def generate(cls, name: str, key_type: int = ED25519) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate(), key_type)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_type, self.private_key.public_key())

    @property
    def skey(self) -> str:
        """The Go ``sumdb/note`` private key text: ``PRIVATE+KEY+<name>+<hex id>+base64(type ‖ seed)``.
        Keep it secret; it is what the key file holds."""
        seed = self.private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{_b64(bytes([self.key_type]) + seed)}"

    def sign(self, text: str) -> str:
        """The signature line over ``text`` (a note body ending in a newline)."""
        _check_text(text)
        signature = self.private_key.sign(text.encode())
        return f"{EM_DASH} {self.name} {_b64(self.verifier.key_id + signature)}\n"

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """A tlog-cosignature/v1 line over a checkpoint body at ``timestamp`` (Unix seconds)."""
        if self.key_type != COSIGNATURE_V1:
            raise NoteError("cosignatures need a cosignature key (type 0x04)")
        signature = self.private_key.sign(cosignature_message(checkpoint_text, timestamp))
        blob = self.verifier.key_id + struct.pack(">Q", timestamp) + signature
        return f"{EM_DASH} {self.name} {_b64(blob)}\n"


def parse_skey(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("a private key looks like PRIVATE+KEY+name+keyid+base64key")
    _private, _key, name, hex_id, encoded = parts
    _check_name(name)
    raw = _unb64(encoded, "the private key")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError("only Ed25519 private keys (type 0x01 or 0x04) are supported")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]), raw[0])
    if signer.verifier.key_id.hex() != hex_id.lower():
        raise NoteError(f"the key id of {name} does not match its key")
    return signer


# --- notes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes  # after the key id: the Ed25519 signature, or timestamp ‖ signature
    line: str


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(signature.line for signature in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("the note text must end with a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise NoteError("the note text contains a control character")


def parse_note(message: str) -> Note:
    """Split a signed note into its text and signature lines (nothing verified yet)."""
    text, separator, signed = message.rpartition("\n\n")
    if not separator:
        raise NoteError("a signed note needs a blank line between the text and its signatures")
    text += "\n"
    _check_text(text)
    if any(ord(char) < 0x20 and char != "\n" for char in signed):
        raise NoteError("a signature line contains a control character")
    if not signed.endswith("\n"):
        raise NoteError("the last signature line must end with a newline")
    signatures = []
    for line in signed[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != EM_DASH or not _NAME.fullmatch(name) or not encoded or " " in encoded:
            raise NoteError(f"malformed signature line {line!r}")
        blob = _unb64(encoded, f"the signature of {name}")
        if len(blob) < 5:
            raise NoteError(f"the signature of {name} is too short")
        signatures.append(Signature(name, blob[:4], blob[4:], line + "\n"))
    if not signatures:
        raise NoteError("the note has no signatures")
    if len(signatures) > 100:
        raise NoteError("the note has too many signatures")
    return Note(text, tuple(signatures))


def open_note(message: str, known: list[Verifier]) -> tuple[Note, list[Verifier]]:
    """Verify a note against known keys, the C2SP way: signatures by unknown keys are ignored, a
    known key whose signature fails rejects the note, and at least one known key must sign.
    Returns the note and the keys that verified it."""
    note = parse_note(message)
    verified: list[Verifier] = []
    for signature in note.signatures:
        for verifier in known:
            if verifier.name != signature.name or verifier.key_id != signature.key_id:
                continue
            if not _valid(verifier, note.text, signature):
                raise NoteError(f"the signature of {verifier.name} does not verify")
            verified.append(verifier)
    if not verified:
        raise NoteError("no known key signed this note")
    return note, verified


def _valid(verifier: Verifier, text: str, signature: Signature) -> bool:
    try:
        if verifier.key_type == ED25519:
            verifier.public_key.verify(signature.signature, text.encode())
            return True
        if len(signature.signature) != 8 + 64:
            return False
        (timestamp,) = struct.unpack(">Q", signature.signature[:8])
        verifier.public_key.verify(signature.signature[8:], cosignature_message(text, timestamp))
        return True
    except InvalidSignature:
        return False


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode()


def cosignature_time(signature: Signature) -> int:
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    return int(timestamp)


# --- checkpoints ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    @property
    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The body of a tlog-checkpoint note, strictly: no leading zeros, a 32-byte root."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash, each on its own line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("the checkpoint has no origin")
    if not _DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise NoteError(f"the checkpoint size {size!r} is not a plain decimal number below 2^64")
    root_hash = _unb64(root, "the checkpoint root hash")
    if len(root_hash) != 32:
        raise NoteError("the checkpoint root hash is not 32 bytes")
    if _b64(root_hash) != root:
        # Base64 with stray bits in its last character decodes to the same hash; only the
        # canonical spelling is accepted, so one root has one checkpoint text.
        raise NoteError("the checkpoint root hash is not canonical base64")
    return Checkpoint(origin, int(size), root_hash)
