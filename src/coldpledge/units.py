"""Conversions at the edge: people type degrees and coordinates, we store exact integers."""

from __future__ import annotations

from decimal import Decimal


def celsius_to_mc(value: Decimal) -> int:
    """-18.5 °C -> -18500 m°C; more than three decimals is refused rather than rounded."""
    milli = value * 1000
    if milli != milli.to_integral_value():
        raise ValueError(f"{value} °C has more precision than a thousandth of a degree")
    return int(milli)


def mc_to_celsius(value: int) -> float:
    return value / 1000


def degrees_to_e6(value: Decimal) -> int:
    return int((value * 1_000_000).to_integral_value())


def e6_to_degrees(value: int | None) -> float | None:
    return None if value is None else value / 1_000_000
