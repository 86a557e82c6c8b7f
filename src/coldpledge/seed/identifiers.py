"""Identifiers that look like the real ones because they follow the real rules: unified social
credit codes and container numbers carry correct check characters, customs declarations the
office-year-direction-sequence layout. Invented for the demo; none belongs to a real party."""

from __future__ import annotations

import random
from datetime import date

# GB 32100-2015: the 31 characters a unified social credit code may use, and the weights of its
# check character.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997: the organisation code inside it has a check character of its own.
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999: weights of the first 17 digits of a resident identity number, and the check map.
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
# ISO 6346 letter values skip multiples of 11.
_CONTAINER_LETTERS = dict(
    zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [v for v in range(10, 39) if v % 11], strict=False)
)


def credit_code(division: str, serial: str) -> str:
    """The 统一社会信用代码 of an enterprise (``91``) registered in the six-digit administrative
    ``division``, around the eight-digit organisation ``serial``."""
    if len(division) != 6 or not division.isdigit() or len(serial) != 8 or not serial.isdigit():
        raise ValueError("division needs 6 digits and serial 8")
    body = f"91{division}{serial}{_org_code_check(serial)}"
    total = sum(_USCC_ALPHABET.index(char) * weight for char, weight in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def _org_code_check(serial: str) -> str:
    check = 11 - sum(int(char) * weight for char, weight in zip(serial, _ORG_CODE_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def container_number(owner: str, serial: int) -> str:
    """An ISO 6346 container number: three-letter owner code, ``U`` for freight, six digits and
    the check digit."""
    body = f"{owner}U{serial:06d}"
    total = sum(
        (_CONTAINER_LETTERS[char] if char.isalpha() else int(char)) * 2**position
        for position, char in enumerate(body)
    )
    return f"{body}{total % 11 % 10}"


def customs_declaration(office: str, year: int, rng: random.Random) -> str:
    """An import declaration number (报关单号): customs office, year, ``1`` for import, sequence."""
    return f"{office}{year}1{rng.randrange(10**8, 10**9):09d}"


def resident_id(division: str, born: date, rng: random.Random) -> str:
    """A resident identity number of an invented person: division, birth date, sequence, check."""
    body = f"{division}{born:%Y%m%d}{rng.randrange(100, 1000)}"
    total = sum(int(char) * weight for char, weight in zip(body, _RESIDENT_ID_WEIGHTS, strict=True))
    return body + _RESIDENT_ID_CHECK[total % 11]


def digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))
