"""Suppression windows (issue 5): a defrost cycle, loading inside a release window and a device
starting up do not raise the alerts they would otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from coldpledge.rules.conditions import Transition, to_ms
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters, WeeklyWindow, default_parameters
from coldpledge.warehouses.windows import Window

Row = tuple[Any, ...]
T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # a Sunday, 10:00 in Shanghai
TEMPERATURE, DOOR = 1, 3
SUNDAY_10_TO_11 = WeeklyWindow(weekdays="7", start_minute=600, end_minute=660)


def reading(minute: float, celsius: float, device: int = 7, metric: int = TEMPERATURE) -> Row:
    return (device, metric, T0 + timedelta(minutes=minute), round(celsius * 1_000_000), 0)


def room(parameters: PolicyParameters, **context: Any) -> RoomRules:
    return RoomRules(
        parameters, RoomContext(room_id=12, temperature_class=TemperatureClass.FROZEN, **context)
    )


def frozen(**changes: Any) -> PolicyParameters:
    return default_parameters(TemperatureClass.FROZEN).model_copy(update=changes)


def told(rules: RoomRules, rows: list[Row], chunk: int = 7) -> list[tuple[str, str, str, float]]:
    states: dict[StateKey, RuleState] = {}
    found: list[Transition] = []
    for first in range(0, len(rows), chunk):
        changed, transitions = rules.evaluate(states, rows[first : first + chunk])
        states.update(changed)
        found += transitions
    return [(t.rule, t.state, t.severity, (t.at - T0) / timedelta(minutes=1)) for t in found]


def defrost_cycle() -> list[Row]:
    """-20 °C, then 40 minutes at -12 °C from minute 5 (the defrost heaters), then -20 °C."""
    return (
        [reading(m, -20.0) for m in range(5)]
        + [reading(5 + m, -12.0) for m in range(40)]
        + [reading(45 + m, -20.0) for m in range(20)]
    )


def test_a_defrost_cycle_inside_its_window_raises_nothing() -> None:
    assert told(room(frozen(defrost_windows=[SUNDAY_10_TO_11])), defrost_cycle()) == []


def test_the_same_cycle_without_a_defrost_window_fires_band_and_rate_of_rise() -> None:
    rules = {t[0] for t in told(room(frozen()), defrost_cycle()) if t[1] == "firing"}
    assert rules == {"temperature_band", "rate_of_rise"}


def test_an_excursion_running_past_the_defrost_window_counts_from_the_end_of_the_window() -> None:
    # Sunday 10:00-10:20 is defrost; the room stays at -12 °C until 10:50.
    window = WeeklyWindow(weekdays="7", start_minute=600, end_minute=620)
    rows = [reading(m, -20.0) for m in range(5)] + [reading(5 + m, -12.0) for m in range(45)]
    band = [t for t in told(room(frozen(defrost_windows=[window])), rows) if t[0] == "temperature_band"]
    assert band[0] == ("temperature_band", "pending", "major", 20)
    assert ("temperature_band", "firing", "critical", 30) in band, "critical 10 minutes after the window"


def test_a_defrost_window_on_another_day_suppresses_nothing() -> None:
    monday = WeeklyWindow(weekdays="1", start_minute=600, end_minute=660)
    assert told(room(frozen(defrost_windows=[monday])), defrost_cycle()) == told(
        room(frozen()), defrost_cycle()
    )


def test_a_door_open_for_loading_inside_a_release_window_does_not_fire() -> None:
    door = [reading(m, 1.0, device=9, metric=DOOR) for m in range(30)]
    loading = [Window("7", 600, 660)]
    assert told(room(frozen(), release_windows=loading), door) == []
    strict = frozen(door_open_in_release_windows_ok=False)
    assert ("door_open_too_long", "firing", "major", 10) in told(room(strict, release_windows=loading), door)
    assert ("door_open_too_long", "firing", "major", 10) in told(room(frozen()), door), "no window"


def test_a_device_just_registered_is_not_judged_by_the_temperature_rules_for_its_start_up_period() -> None:
    # Registered at T0 and still cooling down: -10 °C for 20 minutes, then -20 °C.
    rows = [reading(m, -10.0) for m in range(20)] + [reading(20 + m, -20.0) for m in range(20)]
    parameters = frozen(startup_ignore_minutes=30)
    assert told(room(parameters, registered_ms={7: to_ms(T0)}), rows) == []
    assert told(room(frozen(), registered_ms={7: to_ms(T0)}), rows), "without the period it fires"


def test_a_device_back_from_a_silence_is_ignored_for_its_start_up_period_then_judged() -> None:
    # Sound readings, 30 minutes of silence, then -12 °C from minute 40 onwards.
    rows = [reading(m, -20.0) for m in range(10)] + [reading(40 + m, -12.0) for m in range(40)]
    parameters = frozen(startup_ignore_minutes=15)
    band = [t for t in told(room(parameters), rows) if t[0] == "temperature_band"]
    assert band[0] == ("temperature_band", "pending", "major", 55), "judged 15 minutes after it came back"
    assert ("temperature_band", "firing", "critical", 65) in band


def test_stored_policies_without_the_new_parameters_stay_valid_and_windows_are_checked() -> None:
    stored = default_parameters(TemperatureClass.FROZEN).model_dump(mode="json")
    for key in ("defrost_windows", "startup_ignore_minutes", "door_open_in_release_windows_ok"):
        stored.pop(key)
    parameters = PolicyParameters.model_validate(stored)
    assert parameters.defrost_windows == []
    assert parameters.startup_ignore_minutes == 0
    with pytest.raises(ValidationError):
        WeeklyWindow(weekdays="7", start_minute=660, end_minute=600)
    with pytest.raises(ValidationError):
        WeeklyWindow(weekdays="8", start_minute=0, end_minute=60)
