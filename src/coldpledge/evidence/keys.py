"""The log's signing key: read from the key file; created on first use outside production."""

from __future__ import annotations

import os
from pathlib import Path

from coldpledge.config import Settings
from coldpledge.evidence.note import Signer, parse_skey


class KeyFileMissing(RuntimeError):
    """Production must be given its key; a key made up on the spot would orphan every checkpoint
    signed before."""


def load_log_signer(settings: Settings) -> Signer:
    path = Path(settings.log_key_file)
    if path.exists():
        signer = parse_skey(path.read_text())
        if signer.name != settings.origin:
            raise KeyFileMissing(
                f"{path} holds the key of {signer.name!r}, but this log is {settings.origin!r}: "
                "set COLDPLEDGE_LOG_ORIGIN to match, or point COLDPLEDGE_LOG_KEY_FILE at its key"
            )
        return signer
    if settings.env == "prod":
        raise KeyFileMissing(
            f"the log signing key {path} does not exist; create it with "
            f"`coldpledge evidence keygen --name {settings.origin} --out {path}` and keep it safe"
        )
    signer = Signer.generate(settings.origin)
    write_private(path, signer.skey + "\n")
    return signer


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
