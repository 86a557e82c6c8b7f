"""The reading rules of a room: a frozen room warming, a probe hidden in a cold box, a door left
open, activity in a sealed room, and a restart or a late reading changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from coldpledge.rules.conditions import Transition
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.windows import Window

Row = tuple[Any, ...]
States = dict[StateKey, RuleState]

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # a Sunday, 10:00 in Shanghai
TEMPERATURE, DOOR, LOCK = 1, 3, 4


def reading(minute: float, celsius: float, device: int = 7, metric: int = TEMPERATURE, fault: int = 0) -> Row:
    return (device, metric, T0 + timedelta(minutes=minute), round(celsius * 1_000_000), fault)


def frozen_room(**context: Any) -> RoomRules:
    return RoomRules(
        default_parameters(TemperatureClass.FROZEN),
        RoomContext(room_id=12, temperature_class=TemperatureClass.FROZEN, **context),
    )


def run(rules: RoomRules, rows: list[Row], states: States | None = None) -> tuple[States, list[Transition]]:
    states = {} if states is None else states
    changed, transitions = rules.evaluate(states, rows)
    states.update(changed)
    return states, transitions


def summary(transitions: list[Transition]) -> list[tuple[str, str, str, float]]:
    return [(t.rule, t.state, t.severity, (t.at - T0) / timedelta(minutes=1)) for t in transitions]


def warming_then_recovering() -> list[Row]:
    """-20 °C, the compressor fails at minute 10 and the room climbs 0.1 °C a minute to -12 °C,
    then recovers to -20 °C within ten minutes and stays there."""
    rows = [reading(m, -20.0) for m in range(10)]
    rows += [reading(10 + m, -20.0 + 0.1 * m) for m in range(81)]
    rows += [reading(91 + m, -12.0 - 0.8 * m) for m in range(11)]
    rows += [reading(102 + m, -20.0) for m in range(20)]
    return rows


def test_a_frozen_room_warns_above_minus_18_for_30_minutes_then_alarms_above_minus_15_for_10() -> None:
    _, transitions = run(frozen_room(), warming_then_recovering())
    band = [t for t in summary(transitions) if t[0] == "temperature_band"]
    # Above -18 °C from minute 31 (-17.9 °C), above -15 °C from minute 61 (-14.9 °C).
    assert band == [
        ("temperature_band", "pending", "major", 31),
        ("temperature_band", "firing", "major", 61),
        ("temperature_band", "firing", "critical", 71),
        # At or below -18.5 °C (the line less the margin) from minute 100, clear five minutes at 105.
        ("temperature_band", "resolved", "critical", 105),
    ]
    firing = next(t for t in transitions if t.state == "firing")
    assert firing.subject == "device:7"
    assert firing.trigger == {
        "device": 7,
        "metric": "temperature",
        "ts": (T0 + timedelta(minutes=61)).isoformat(),
        "value_u": -14_900_000,
        "value_mc": -14_900,
    }


def test_a_reading_hovering_inside_the_margin_keeps_the_condition_firing() -> None:
    rows = [reading(m, -17.0) for m in range(40)] + [reading(40 + m, -18.2) for m in range(30)]
    _, transitions = run(frozen_room(), rows)
    assert [t.state for t in transitions if t.rule == "temperature_band"] == ["pending", "firing"]


def test_a_short_excursion_goes_pending_and_back_without_firing() -> None:
    rows = [reading(m, -17.0) for m in range(10)] + [reading(10 + m, -20.0) for m in range(5)]
    _, transitions = run(frozen_room(), rows)
    assert summary(transitions) == [
        ("temperature_band", "pending", "major", 0),
        ("temperature_band", "resolved", "major", 10),
    ]


def test_a_fast_rise_fires_the_rate_of_rise_rule() -> None:
    rows = [reading(m, -20.0) for m in range(5)] + [reading(5 + m, -20.0 + 0.5 * m) for m in range(10)]
    _, transitions = run(frozen_room(), rows)
    rise = [t for t in summary(transitions) if t[0] == "rate_of_rise"]
    # -16.5 °C at minute 12 is 3.5 °C above minute 2's -20 °C; -17.0 °C at minute 11 is exactly 3.
    assert rise == [("rate_of_rise", "firing", "major", 12)]


def test_fed_a_reading_a_chunk_the_rate_of_rise_looks_back_to_sound_lows_and_not_to_faulty_ones() -> None:
    """One reading a chunk takes the rule's quick look back (the new reading's spread against the
    lowest earlier value); a faulty reading's value is no low to rise from."""
    rules, states, told = frozen_room(), States(), []
    rows = [reading(m, -20.0) for m in range(5)] + [reading(5 + m, -20.0 + 0.5 * m) for m in range(10)]
    for row in rows:
        told += run(rules, [row], states)[1]
    assert [t for t in summary(told) if t[0] == "rate_of_rise"] == [("rate_of_rise", "firing", "major", 12)]

    rules, states, told = frozen_room(), States(), []
    rows = [reading(m, -20.0) for m in range(5)] + [reading(5, -40.0, fault=1)]
    rows += [reading(6 + m, -19.5) for m in range(5)]
    for row in rows:
        told += run(rules, [row], states)[1]
    assert [t for t in summary(told) if t[0] == "rate_of_rise"] == []
    assert next(t for t in summary(told) if t[0] == "sensor_fault") == ("sensor_fault", "firing", "major", 5)


def test_a_probe_moved_into_a_cold_box_while_the_room_warms_is_caught() -> None:
    rows = []
    for m in range(60):
        room = -20.0 + 0.15 * m  # past -15 °C at minute 34
        rows += [
            reading(m, room, device=1),
            reading(m, room + 0.2, device=2),
            reading(m, room - 0.1, device=3),
        ]
        rows.append(reading(m, -20.0 if m < 10 else -25.0, device=4))
    _, transitions = run(frozen_room(), rows)
    disagreement = [t for t in transitions if t.rule == "sensor_disagreement"]
    assert {t.subject for t in disagreement} == {"device:4"}
    pending, firing = disagreement
    assert (pending.state, firing.state, firing.severity) == ("pending", "firing", "critical")
    assert firing.at - pending.at == timedelta(minutes=15)
    assert firing.trigger["room_median_mc"] > -25_000 + 3_000
    assert {t.subject for t in transitions if t.rule == "temperature_band" and t.state == "firing"} == {
        "device:1",
        "device:2",
        "device:3",
    }


def test_a_door_open_for_more_than_10_minutes_fires() -> None:
    rows = [reading(m, 1, device=9, metric=DOOR) for m in range(12)] + [reading(12, 0, device=9, metric=DOOR)]
    _, transitions = run(frozen_room(), rows)
    assert [t for t in summary(transitions) if t[0] == "door_open_too_long"] == [
        ("door_open_too_long", "pending", "major", 0),
        ("door_open_too_long", "firing", "major", 10),
    ]


def test_a_door_opened_in_a_sealed_room_outside_a_release_window_is_critical_at_once() -> None:
    weekdays = Window("12345", 8 * 60, 18 * 60)  # Sunday is outside
    rows = [reading(0, 0, device=9, metric=DOOR), reading(3, 1, device=9, metric=DOOR)]
    _, transitions = run(frozen_room(sealed=True, release_windows=[weekdays]), rows)
    activity = [t for t in transitions if t.rule == "sealed_room_activity"]
    assert [(t.subject, t.state, t.severity, t.at) for t in activity] == [
        ("room:12", "firing", "critical", T0 + timedelta(minutes=3))
    ]


def test_a_door_opened_inside_a_release_window_or_in_an_unsealed_room_is_fine() -> None:
    every_day = Window("1234567", 0, 24 * 60)
    rows = [reading(3, 1, device=9, metric=DOOR)]
    for context in ({"sealed": True, "release_windows": [every_day]}, {"sealed": False}):
        _, transitions = run(frozen_room(**context), rows)
        assert not [t for t in transitions if t.rule == "sealed_room_activity"]


def test_a_faulty_reading_fires_the_sensor_fault_rule_and_not_the_band() -> None:
    rows = [reading(0, -20.0), reading(1, 85.0, fault=1), reading(2, -20.0)]
    _, transitions = run(frozen_room(), rows)
    assert summary(transitions) == [("sensor_fault", "firing", "major", 1)]


def test_a_late_reading_within_the_window_gives_the_transitions_of_an_in_order_run() -> None:
    rows = warming_then_recovering()
    in_order = summary(run(frozen_room(), rows)[1])
    # Minute 30 (-18.0 °C, on the line) is held back and minute 31 comes in a chunk of its own:
    # the pending starts at 31 either way; and minute 100, late by two minutes, still moves the
    # resolution to 105.
    held = {T0 + timedelta(minutes=30), T0 + timedelta(minutes=100)}
    rules, states = frozen_room(), States()
    transitions: list[Transition] = []
    on_time = [row for row in rows if row[2] not in held]
    for cut in range(0, len(on_time), 3):
        for moment in sorted(held):
            if on_time[cut][2] > moment + timedelta(minutes=2):
                transitions += run(rules, [row for row in rows if row[2] == moment], states)[1]
                held.discard(moment)
        transitions += run(rules, on_time[cut : cut + 3], states)[1]
    assert summary(transitions) == in_order


def test_a_late_reading_breaking_a_pending_run_restarts_its_duration() -> None:
    rules, states = frozen_room(), States()
    run(rules, [reading(m, -17.0) for m in range(25) if m != 10], states)
    run(rules, [reading(10, -20.0)], states)
    _, transitions = run(rules, [reading(m, -17.0) for m in range(25, 45)], states)
    # Pending again from minute 11, so firing at 41 and not at 30.
    assert summary(transitions) == [("temperature_band", "firing", "major", 41)]


def test_a_late_reading_that_breaks_a_firing_condition_withdraws_it() -> None:
    rules, states = frozen_room(), States()
    _, told = run(rules, [reading(m, -17.0) for m in range(32) if m != 20], states)
    _, transitions = run(rules, [reading(20, -20.0)], states)
    assert [t.state for t in told] == ["pending", "firing"]
    # The firing told at minute 30 is resolved at the moment the late reading broke it.
    assert summary(transitions) == [
        ("temperature_band", "resolved", "major", 20),
        ("temperature_band", "pending", "major", 21),
    ]


def test_a_reading_older_than_the_buffer_is_counted_and_ignored() -> None:
    rules, states = frozen_room(), States()
    run(rules, [reading(m, -20.0) for m in range(120)], states)
    _, transitions = run(rules, [reading(1, -5.0)], states)
    assert transitions == []
    assert states[("temperature_band", "device:7")].late_ignored == 1


def test_a_restart_between_chunks_loses_no_pending_duration() -> None:
    rows = warming_then_recovering()
    whole = summary(run(frozen_room(), rows)[1])
    states: States = {}
    transitions: list[Transition] = []
    for cut in range(0, len(rows), 11):
        revived = {key: RuleState.from_json(state.to_json()) for key, state in states.items()}
        states, found = run(frozen_room(), rows[cut : cut + 11], revived)
        transitions += found
    assert summary(transitions) == whole


def test_ten_thousand_readings_of_a_busy_room_go_through_every_rule() -> None:
    rules, states = frozen_room(sealed=True), States()
    transitions: list[Transition] = []
    rows = []
    for second in range(0, 2_500 * 6, 6):
        minute = second / 60
        for device in range(1, 5):
            rows.append(reading(minute, -20.0 + (device % 2) * 0.3, device=device))
    for cut in range(0, len(rows), 500):
        transitions += run(rules, rows[cut : cut + 500], states)[1]
    assert len(rows) == 10_000
    assert transitions == []
    # Ten readings a minute per probe, at most about three and a half 15-minute windows kept.
    assert max(len(state.buffer) for state in states.values()) <= 4 * 15 * 10 * 4
