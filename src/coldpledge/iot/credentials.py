"""Device credentials: HTTP tokens, MQTT passwords in Mosquitto's format, public keys, broker files.

Pure apart from the random numbers. Secrets are shown once, at registration or rotation, and kept
only as hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from coldpledge.errors import N_, InvalidInput

TOKEN_PREFIX = "cpd_"  # noqa: S105 - a prefix, not a secret; recognisable in logs and secret scanners
# Mosquitto 2's mosquitto_passwd writes PBKDF2-HMAC-SHA512 with 101 iterations and a 12-byte salt
# ("$7$"); the broker checks devices against the file we render in that format.
MOSQUITTO_ITERATIONS = 101


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(24)


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_ITERATIONS)
    return f"$7${MOSQUITTO_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def mosquitto_check(password: str, stored: str) -> bool:
    _, kind, iterations, salt, digest = stored.split("$")
    if kind != "7":
        return False
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(computed, base64.b64decode(digest))


def public_key_from_pem(pem: bytes) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given as PEM (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidInput(N_("The public key is not a PEM public key."), field="public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(N_("The public key must be an Ed25519 key."), field="public_key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class BrokerAccount:
    username: str
    password_hash: str
    topic_prefix: str  # coldpledge/v1/{org}/{warehouse}/{device}


def mosquitto_password_file(accounts: Iterable[BrokerAccount], *, ingest_user: str, ingest_hash: str) -> str:
    lines = [f"{ingest_user}:{ingest_hash}"]
    lines += [f"{account.username}:{account.password_hash}" for account in accounts]
    return "\n".join(lines) + "\n"


def mosquitto_acl_file(accounts: Iterable[BrokerAccount], *, ingest_user: str) -> str:
    """Each device may publish only under its own topics; the ingest worker may read them all."""
    parts = [f"user {ingest_user}\ntopic read coldpledge/v1/#\n"]
    parts += [f"user {account.username}\ntopic write {account.topic_prefix}/#\n" for account in accounts]
    return "\n".join(parts)
