"""Exact units at the edge, and codes that can be read aloud but not guessed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from coldpledge.codes import ALPHABET, lot_code, random_part, receipt_code
from coldpledge.units import celsius_to_mc, degrees_to_e6, e6_to_degrees, mc_to_celsius

# --- temperatures and coordinates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "milli"),
    [("-18", -18_000), ("-18.5", -18_500), ("4.125", 4_125), ("0", 0), ("-0.001", -1), ("60", 60_000)],
)
def test_degrees_become_exact_milli_degrees(celsius: str, milli: int) -> None:
    assert celsius_to_mc(Decimal(celsius)) == milli


@pytest.mark.parametrize("celsius", ["-18.0005", "4.1234", "0.0001"])
def test_more_precision_than_a_thousandth_of_a_degree_is_refused_not_rounded(celsius: str) -> None:
    with pytest.raises(ValueError, match="precision"):
        celsius_to_mc(Decimal(celsius))


def test_trailing_zeros_are_not_extra_precision() -> None:
    assert celsius_to_mc(Decimal("-18.50000")) == -18_500


def test_milli_degrees_read_back_as_degrees() -> None:
    assert mc_to_celsius(-18_500) == -18.5


def test_coordinates_become_micro_degrees_and_back() -> None:
    assert degrees_to_e6(Decimal("31.230416")) == 31_230_416
    assert degrees_to_e6(Decimal("-121.4737")) == -121_473_700
    assert e6_to_degrees(31_230_416) == pytest.approx(31.230416)
    assert e6_to_degrees(None) is None


# --- codes ----------------------------------------------------------------------------------------


def test_the_alphabet_is_crockford_base32() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert set(ALPHABET) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    # The letters people confuse with digits, or that spell words by accident, are left out.
    assert not set("ILOU") & set(ALPHABET)


def test_random_parts_use_only_the_alphabet_and_have_the_asked_length() -> None:
    for length in (1, 5, 10, 16):
        part = random_part(length)
        assert len(part) == length
        assert set(part) <= set(ALPHABET)


def test_codes_do_not_repeat_over_many_draws() -> None:
    draws = [receipt_code("SH-YS") for _ in range(20_000)]
    assert len(set(draws)) == len(draws)


def test_many_draws_use_the_whole_alphabet() -> None:
    # A generator stuck on part of the alphabet would make codes far easier to guess.
    seen = set("".join(random_part(10) for _ in range(2_000)))
    assert seen == set(ALPHABET)


def test_a_receipt_code_names_the_warehouse_and_ten_random_characters() -> None:
    assert re.fullmatch(r"WR-SH-YS-[0-9A-HJKMNP-TV-Z]{10}", receipt_code("SH-YS"))


def test_a_lot_code_carries_the_business_date_in_china() -> None:
    # 17:00 UTC on 30 November is already 1 December in Shanghai.
    code = lot_code("SH-YS", datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    assert re.fullmatch(r"LOT-SH-YS-261201-[0-9A-HJKMNP-TV-Z]{5}", code)
