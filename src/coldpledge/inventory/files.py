"""Content-addressed file storage: a file is named by the SHA-256 of its bytes.

The same photo uploaded twice is stored once; a stored file can be checked against its name at any
time; only the hash enters the evidence log.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from coldpledge.errors import N_, PayloadTooLarge, UnsupportedMediaType

ACCEPTED_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"})
CHUNK = 1 << 16


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size_bytes: int
    content_type: str
    path: Path


class FileStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, stream: BinaryIO) -> StoredFile:
        """Store a stream. The type comes from the file's own bytes, never from what the client
        claims, and the size limit is enforced while reading, not after."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        handle, temp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as temp:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLarge(
                            N_("The file is larger than the limit of {limit} bytes."), limit=self.max_bytes
                        )
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    temp.write(chunk)
            if size == 0:
                raise UnsupportedMediaType(N_("The file is empty."))
            kind = filetype.guess(head)
            content_type = kind.mime if kind is not None else "application/octet-stream"
            if content_type not in ACCEPTED_TYPES:
                raise UnsupportedMediaType(
                    N_("Only photos (JPEG, PNG, WebP, HEIC) and PDFs are accepted, not {content_type}."),
                    content_type=content_type,
                )
            sha256 = digest.hexdigest()
            final = self.path_of(sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                os.unlink(temp_name)
            else:
                os.replace(temp_name, final)
            return StoredFile(sha256=sha256, size_bytes=size, content_type=content_type, path=final)
        finally:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
