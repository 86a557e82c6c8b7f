"""RFC 8785 canonical JSON, made in C whenever that gives the same bytes.

``rfc8785.dumps`` walks the document in Python: about 6 µs for each message an ingest chunk lists
in its evidence payload, a fifth of what the worker spends on a one-reading message. msgspec
encodes with sorted keys in C, and its output is the RFC 8785 form as long as the document holds
none of what the two write differently:

- floats (RFC 8785 prints numbers as ECMAScript does, 1e21 or 1 where Python prints 1e+21 or 1.0);
- integers outside ±(2^53 - 1), which RFC 8785 refuses;
- values that are not JSON but that msgspec encodes anyway (datetimes, decimals, bytes, tuples,
  sets, enums of other values, non-text keys), which RFC 8785 refuses;
- keys with characters beyond U+FFFF, which RFC 8785 orders by UTF-16 code units.

A round trip through the decoder, which refuses floats, must give back a document equal to the one
given; the bytes must hold no 16-digit number and no 4-byte UTF-8 sequence. Anything else takes
``rfc8785``, which gives the same answer or the same error as before. A Hypothesis test holds the
two equal (tests/property/test_canonical_json.py).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import rfc8785

_encode = msgspec.json.Encoder(order="sorted").encode


def _refuse_float(_text: str) -> Any:
    raise ValueError("a float")


_decode_without_floats = msgspec.json.Decoder(float_hook=_refuse_float).decode
# A number of 16 digits or more, where msgspec's compact output can start a number. Digits inside
# a string may match too, which only sends that document the slow way.
_LONG_NUMBER = re.compile(rb"(?:^|[\[:,])-?[0-9]{16}")
_ASTRAL = re.compile(rb"[\xf0-\xf4]")


def dumps(document: Any) -> bytes:
    """The RFC 8785 canonical form of ``document``; raises as ``rfc8785.dumps`` does."""
    encoded = _fast(document)
    return encoded if encoded is not None else bytes(rfc8785.dumps(document))


def _fast(document: Any) -> bytes | None:
    try:
        encoded = _encode(document)
        same = _decode_without_floats(encoded) == document
    except (TypeError, ValueError, OverflowError, msgspec.MsgspecError):
        return None
    if same and not _LONG_NUMBER.search(encoded) and not _ASTRAL.search(encoded):
        return encoded
    return None
