"""The periodic rules the scheduler runs on values from the database."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from coldpledge.iot.coldchain import DELTA_H_J_PER_MOL, GAS_CONSTANT, ZERO_CELSIUS_K
from coldpledge.rules.catalogue import CATALOGUE, RuleCode
from coldpledge.rules.conditions import Transition
from coldpledge.rules.periodic import (
    business_days_between,
    evaluate_cumulative_excursion,
    evaluate_device_offline,
    evaluate_door_left_open,
    evaluate_excursion_minutes,
    evaluate_expiry,
    evaluate_ltv,
    evaluate_mkt,
    evaluate_mkt_value,
    evaluate_price_stale,
    evaluate_stock_below_floor,
    evaluate_stocktake_variance,
    evaluate_stuck,
    evaluate_weight_without_release,
    mkt_from_arrhenius_mean,
)
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # a Wednesday
FROZEN = default_parameters(TemperatureClass.FROZEN)
MINUTE = timedelta(minutes=1)


def states(outcome: tuple[Any, list[Transition]]) -> list[tuple[str, str]]:
    return [(t.state, t.severity) for t in outcome[1]]


def test_every_rule_of_the_design_is_in_the_catalogue_with_a_label() -> None:
    assert set(CATALOGUE) == set(RuleCode)
    assert RuleCode.SENSOR_DISAGREEMENT.label == "Sensor disagrees with its room"
    for spec in CATALOGUE.values():
        for name in spec.parameters:
            owner = FROZEN.temperature if name.startswith("temperature.") else FROZEN
            assert hasattr(owner, name.removeprefix("temperature.")), name


def test_a_device_silent_for_three_intervals_is_offline_and_back_when_it_reports() -> None:
    interval = timedelta(minutes=2)  # silent beyond 3 × 2 = 6 minutes
    quiet = evaluate_device_offline("device:7", NOW - 7 * MINUTE, interval, FROZEN, NOW)
    assert states(quiet) == [("firing", "major")]
    fine = evaluate_device_offline("device:7", NOW - 5 * MINUTE, interval, FROZEN, NOW)
    assert states(fine) == []
    # Resolved once it has been clear for the policy's five minutes.
    back = evaluate_device_offline("device:7", NOW, interval, FROZEN, NOW + MINUTE, quiet[0])
    assert states(back) == []
    later = evaluate_device_offline("device:7", NOW + 5 * MINUTE, interval, FROZEN, NOW + 6 * MINUTE, back[0])
    assert states(later) == [("resolved", "major")]


def test_a_fast_sampling_device_gets_the_five_minute_floor() -> None:
    outcome = evaluate_device_offline("device:7", NOW - 4 * MINUTE, timedelta(seconds=10), FROZEN, NOW)
    assert states(outcome) == []


def test_more_than_an_hour_out_of_band_in_a_day_is_a_cumulative_excursion() -> None:
    start = NOW - timedelta(hours=24)
    series = [(start + m * MINUTE, -17_000 if 100 <= m < 170 else -20_000) for m in range(24 * 60)]
    outcome = evaluate_cumulative_excursion("device:7", series, MINUTE, FROZEN, NOW)
    assert states(outcome) == [("firing", "major")]
    assert outcome[1][0].trigger["out_of_band_minutes"] > 60


def test_a_day_warmer_than_minus_18_in_kinetic_mean_fires_the_mkt_rule() -> None:
    start = NOW - timedelta(hours=24)
    warm = [(start + m * MINUTE, -17_500) for m in range(24 * 60)]
    cold = [(start + m * MINUTE, -20_000) for m in range(24 * 60)]
    assert states(evaluate_mkt("device:7", warm, MINUTE, FROZEN, NOW)) == [("firing", "major")]
    assert states(evaluate_mkt("device:7", cold, MINUTE, FROZEN, NOW)) == []


def test_a_probe_that_does_not_move_while_its_neighbours_do_is_stuck() -> None:
    assert states(evaluate_stuck("device:4", 0, [800, 1_200], FROZEN, NOW)) == [("firing", "major")]
    assert states(evaluate_stuck("device:4", 0, [50, 20], FROZEN, NOW)) == []


def test_a_weight_drop_not_matched_by_a_release_is_critical() -> None:
    bad = evaluate_weight_without_release("room:12", 20_000_000, 19_800_000, 0, FROZEN, NOW)
    assert states(bad) == [("firing", "critical")]
    released = evaluate_weight_without_release("room:12", 20_000_000, 19_800_000, 200_000, FROZEN, NOW)
    assert states(released) == []


def test_stock_below_the_floor_and_a_stocktake_variance_fire() -> None:
    floored = FROZEN.model_copy(update={"min_control_quantity_g": 10_000_000})
    assert states(evaluate_stock_below_floor("receipt:9", 9_000_000, 0, floored, NOW)) == [
        ("firing", "critical")
    ]
    assert states(evaluate_stocktake_variance("lot:3", 994_000, 1_000_000, FROZEN, NOW)) == [
        ("firing", "major")
    ]
    assert states(evaluate_stocktake_variance("lot:3", 996_000, 1_000_000, FROZEN, NOW)) == []


def test_an_expiry_within_the_warning_days_is_minor_and_once_past_major() -> None:
    soon = evaluate_expiry("device:7", "calibration", date(2026, 12, 20), FROZEN, NOW)
    assert states(soon) == [("firing", "minor")]
    past = evaluate_expiry(
        "device:7", "calibration", date(2026, 12, 20), FROZEN, NOW + timedelta(days=20), soon[0]
    )
    assert states(past) == [("firing", "major")]


def test_ltv_over_the_warning_then_the_liquidation_line() -> None:
    warned, liquidating, transitions = evaluate_ltv("facility:5", 8_200, FROZEN, NOW)
    assert [(t.rule, t.state) for t in transitions] == [("ltv_warning", "firing")]
    _, _, transitions = evaluate_ltv("facility:5", 9_100, FROZEN, NOW + MINUTE, warned, liquidating)
    assert [(t.rule, t.state, t.severity) for t in transitions] == [("ltv_liquidation", "firing", "critical")]


def test_a_price_older_than_three_business_days_is_stale() -> None:
    friday = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    assert business_days_between(friday.date(), NOW.date()) == 3
    assert states(evaluate_price_stale("commodity:1", friday, FROZEN, NOW)) == []
    assert states(evaluate_price_stale("commodity:1", friday, FROZEN, NOW + timedelta(days=1))) == [
        ("firing", "major")
    ]


def test_minutes_out_of_band_counted_elsewhere_fire_past_the_allowance_and_clear_below_it() -> None:
    over = evaluate_excursion_minutes("device:7", 61.0, FROZEN, NOW)
    assert states(over) == [("firing", "major")]
    assert over[1][0].trigger == {"out_of_band_minutes": 61.0}
    assert states(evaluate_excursion_minutes("device:7", 60.0, FROZEN, NOW)) == []


def test_an_mkt_computed_elsewhere_fires_above_the_line_and_no_data_holds() -> None:
    warm = evaluate_mkt_value("device:7", -17_900, FROZEN, NOW)
    assert states(warm) == [("firing", "major")]
    held = evaluate_mkt_value("device:7", None, FROZEN, NOW + timedelta(hours=1), warm[0])
    assert states(held) == []
    assert held[0].status == "firing"
    cold = evaluate_mkt_value("device:7", -20_000, FROZEN, NOW + timedelta(hours=2), held[0])
    later = evaluate_mkt_value("device:7", -20_000, FROZEN, NOW + timedelta(hours=3), cold[0])
    assert states(later) == [("resolved", "major")]


def test_the_mkt_of_a_mean_arrhenius_factor_gives_a_constant_temperature_back() -> None:
    factor = math.exp(-DELTA_H_J_PER_MOL / (GAS_CONSTANT * (ZERO_CELSIUS_K - 18.5)))
    assert abs(mkt_from_arrhenius_mean(factor) - -18.5) < 1e-9


def test_a_probe_with_too_little_data_is_not_called_stuck_nor_cleared() -> None:
    stuck = evaluate_stuck("device:4", 0, [800], FROZEN, NOW)
    held = evaluate_stuck("device:4", None, [800], FROZEN, NOW + timedelta(hours=1), stuck[0])
    assert states(held) == []
    assert held[0].status == "firing"


def test_an_unknown_value_is_not_judged_against_the_value_floor() -> None:
    floored = FROZEN.model_copy(update={"min_control_value_fen": 100_000_00})
    assert states(evaluate_stock_below_floor("virtual_warehouse:VW", 9_000_000, None, floored, NOW)) == []
    assert states(evaluate_stock_below_floor("virtual_warehouse:VW", 9_000_000, 1, floored, NOW)) == [
        ("firing", "critical")
    ]


def test_a_door_open_past_the_limit_fires_at_that_moment_and_resolves_at_its_closing() -> None:
    opened = NOW - 15 * MINUTE
    early, told, spell = evaluate_door_left_open("device:3", opened, opened, FROZEN, opened + 9 * MINUTE)
    assert told == []
    assert spell == opened
    fired, told, spell = evaluate_door_left_open("device:3", opened, opened, FROZEN, NOW, early, spell)
    assert [(t.state, t.severity, t.at) for t in told] == [("firing", "major", opened + 10 * MINUTE)]
    assert told[0].trigger["open_minutes"] == 10
    again, told, spell = evaluate_door_left_open(
        "device:3", opened, opened, FROZEN, NOW + MINUTE, fired, spell
    )
    assert told == [], "still the same spell"
    closed_at = NOW + 2 * MINUTE
    shut, told, spell = evaluate_door_left_open(
        "device:3", None, closed_at, FROZEN, NOW + 3 * MINUTE, again, spell
    )
    assert [(t.state, t.at) for t in told] == [("resolved", closed_at)], "no clear delay for a contact"
    assert spell is None
    assert shut.status == "inactive"


def test_a_door_shut_and_opened_again_unseen_ends_one_spell_and_starts_the_next() -> None:
    first = NOW - 30 * MINUTE
    fired, _, spell = evaluate_door_left_open("device:3", first, first, FROZEN, first + 12 * MINUTE)
    second = first + 14 * MINUTE
    after, told, spell = evaluate_door_left_open(
        "device:3", second, second, FROZEN, second + MINUTE, fired, spell
    )
    assert [(t.state, t.at) for t in told] == [("resolved", second)]
    assert spell == second
    _, told, _ = evaluate_door_left_open(
        "device:3", second, second, FROZEN, second + 11 * MINUTE, after, spell
    )
    assert [(t.state, t.at) for t in told] == [("firing", second + 10 * MINUTE)]
