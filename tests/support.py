"""Small helpers shared by the tests: sample files and times."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx2 import Response

from coldpledge.calendar import business_date


def tiny_png(seed: int = 0) -> bytes:
    """A valid 2x2 PNG; ``seed`` changes a pixel so different seeds give different files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    pixels = b"".join(b"\x00" + bytes([seed % 256, 80, 160] * 2) for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def tiny_pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def now() -> datetime:
    return datetime.now(UTC)


def in_days(days: float) -> datetime:
    return now() + timedelta(days=days)


def today() -> date:
    """Today on the warehouse's calendar (China Standard Time)."""
    return business_date(now())


@dataclass
class Clock:
    """A clock the test moves by hand; an app built with it (``db.app(clock=...)``) lives by it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def ok(response: Response, status: int = 200) -> Any:
    """The JSON of a response that must have ``status``; otherwise fail showing the body."""
    assert response.status_code == status, response.text
    return response.json()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds (a worker's commits, a broker's delivery), failing with
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
