"""Human-readable, unguessable identifiers for lots and receipts.

Random rather than sequential, because receipt codes appear on a public page: a sequence would let
anyone walk through every receipt on the platform.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from coldpledge.calendar import BUSINESS_TZ

# Crockford's base32: no I, L, O or U, so codes survive being read aloud or copied by hand.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_part(length: int = 8) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def lot_code(warehouse_code: str, at: datetime) -> str:
    return f"LOT-{warehouse_code}-{at.astimezone(BUSINESS_TZ):%y%m%d}-{random_part(5)}"


def receipt_code(warehouse_code: str) -> str:
    return f"WR-{warehouse_code}-{random_part(10)}"
