"""Event-time evaluation holds up under restarts, shuffled chunks and late readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.rules.conditions import Transition
from coldpledge.rules.evaluators import SensorDisagreement, median_bounds, median_replacing
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters

Row = tuple[Any, ...]
States = dict[StateKey, RuleState]

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
LEVELS_C = [-21.0, -19.0, -18.2, -17.5, -16.0, -14.0, -12.0]  # around the frozen lines


def rules() -> RoomRules:
    return RoomRules(
        default_parameters(TemperatureClass.FROZEN),
        RoomContext(room_id=12, temperature_class=TemperatureClass.FROZEN),
    )


def rows_of(levels: list[int], probes: int) -> list[Row]:
    return [
        (
            device,
            1,
            T0 + timedelta(minutes=minute),
            round(LEVELS_C[(level + device) % len(LEVELS_C)] * 1e6),
            0,
        )
        for minute, level in enumerate(levels)
        for device in range(1, probes + 1)
    ]


def told(transitions: list[Transition]) -> list[Row]:
    """What was told, per (rule, subject) in order; the keys of one chunk come in no fixed order."""
    return sorted(((t.rule, t.subject, t.state, t.severity, t.at) for t in transitions), key=lambda t: t[:2])


def feed(chunks: list[list[Row]], *, round_trip: bool = False) -> tuple[States, list[Transition]]:
    engine, states, transitions = rules(), States(), list[Transition]()
    for chunk in chunks:
        if round_trip:
            states = {key: RuleState.from_json(state.to_json()) for key, state in states.items()}
        changed, found = engine.evaluate(states, chunk)
        states.update(changed)
        transitions += found
    return states, transitions


def chunked(rows: list[Row], sizes: list[int]) -> list[list[Row]]:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(rows[at : at + size])
        at += size
    chunks.append(rows[at:])
    return [chunk for chunk in chunks if chunk]


series = st.lists(st.integers(0, len(LEVELS_C) - 1), min_size=5, max_size=150)
sizes = st.lists(st.integers(1, 40), max_size=30)


@settings(max_examples=60, deadline=None)
@given(series, st.integers(1, 4), sizes)
def test_a_restart_between_any_two_chunks_loses_nothing(
    levels: list[int], probes: int, cuts: list[int]
) -> None:
    rows = rows_of(levels, probes)
    assert told(feed(chunked(rows, cuts), round_trip=True)[1]) == told(feed([rows])[1])


HUMIDITY = 2


def mixed_rows(levels: list[int], faults: list[bool], probes: int) -> list[Row]:
    """``rows_of``, with faulty readings among them and every other probe also reading humidity
    (judged by the sensor-fault rule alone, whose state then takes both of the probe's metrics)."""
    rows = []
    for minute, level in enumerate(levels):
        moment = T0 + timedelta(minutes=minute)
        for device in range(1, probes + 1):
            fault = int(faults[(minute * probes + device) % len(faults)])
            rows.append((device, 1, moment, round(LEVELS_C[(level + device) % len(LEVELS_C)] * 1e6), fault))
            if device % 2 == 0:
                rows.append(
                    (device, HUMIDITY, moment, 85_000_000, int(faults[(minute + device) % len(faults)]))
                )
    return rows


@settings(max_examples=60, deadline=None)
@given(series, st.lists(st.booleans(), min_size=1, max_size=40), st.integers(1, 4), sizes)
def test_readings_of_several_metrics_and_faults_give_in_small_chunks_what_they_give_in_one(
    levels: list[int], faults: list[bool], probes: int, cuts: list[int]
) -> None:
    """Small chunks hold one reading of a device's metric, which is fed to the device's states
    without grouping; one chunk holds them all, grouped."""
    rows = mixed_rows(levels, faults, probes)
    assert told(feed(chunked(rows, cuts))[1]) == told(feed([rows])[1])


@settings(max_examples=60, deadline=None)
@given(series, st.integers(1, 4), sizes, st.randoms(use_true_random=False))
def test_readings_shuffled_within_their_chunks_give_the_in_order_transitions(
    levels: list[int], probes: int, cuts: list[int], shuffler: Random
) -> None:
    rows = rows_of(levels, probes)
    chunks = chunked(rows, cuts)
    for chunk in chunks:
        shuffler.shuffle(chunk)
    assert told(feed(chunks)[1]) == told(feed([rows])[1])


@settings(max_examples=60, deadline=None)
@given(series, st.integers(1, 3), st.lists(st.integers(0, 5), min_size=150, max_size=150))
def test_readings_late_by_a_few_minutes_end_in_the_in_order_conditions(
    levels: list[int], probes: int, delays: list[int]
) -> None:
    """Each minute's readings arrive up to five minutes late. What was told may have moved, but
    the conditions end as in order, and what is left open (pending or firing) is the same."""
    rows = rows_of(levels, probes)
    arrivals: dict[int, list[Row]] = {}
    for row in rows:
        minute = int((row[2] - T0) / timedelta(minutes=1))
        arrivals.setdefault(minute + delays[minute], []).append(row)
    late_states, late = feed([arrivals[m] for m in sorted(arrivals)])
    states, in_order = feed([[row] for row in rows])
    assert {k: s.conditions for k, s in late_states.items()} == {k: s.conditions for k, s in states.items()}

    def open_told(transitions: list[Transition]) -> dict[tuple[str, str], str]:
        """Per (rule, subject), the last told state when it leaves something open."""
        last = {(t.rule, t.subject): t.state for t in transitions}
        return {key: state for key, state in last.items() if state != "resolved"}

    assert open_told(late) == open_told(in_order)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.integers(-30_000_000, 10_000_000), min_size=1, max_size=12),
    st.booleans(),
    st.data(),
    st.integers(-30_000_000, 10_000_000),
)
def test_the_room_median_with_a_probe_s_new_value_is_the_median_of_that_list(
    values: list[int], replace: bool, data: st.DataObject, new: int
) -> None:
    values.sort()
    old = data.draw(st.sampled_from(values)) if replace else None
    room = list(values)
    if old is not None:
        room.remove(old)
    room = sorted([*room, new])
    middle = len(room) // 2
    expected = room[middle] if len(room) % 2 else (room[middle - 1] + room[middle]) // 2
    assert median_replacing(values, old, new) == expected
    bounds = median_bounds(values)
    assert bounds is None or bounds[0] <= expected <= bounds[1]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 40),
    st.lists(
        st.tuples(
            st.integers(0, 40),  # minute
            st.integers(1, 40),  # probe
            # On a half-degree grid, so that values lie exactly at the clearing margin (2.5 °C)
            # and one order statistic away from it.
            st.integers(0, 18).map(lambda k: -24_000_000 + k * 500_000),
            st.integers(0, 6),
            st.booleans(),
        ),
        min_size=1,
        max_size=300,
    ),
    st.data(),
)
def test_the_room_sweep_judges_every_point_as_the_point_by_point_judgement_does(
    probes: int, drawn: list[tuple[int, int, int, int, bool]], data: st.DataObject
) -> None:
    """``SensorDisagreement.judge_all`` (sorted peers, bounds on the median) against ``judge``
    (the room's latest values gathered again for each point), on rooms with a few odd probes."""
    rule = SensorDisagreement(default_parameters(TemperatureClass.FROZEN))
    points = {
        (minute * 60_000, (probe % probes) + 1): (level, int(fault and noise == 0))
        for minute, probe, level, noise, fault in drawn
    }
    buffer = sorted((ts, device, value, fault, 1) for (ts, device), (value, fault) in points.items())
    start = data.draw(st.integers(0, len(buffer) - 1))
    assert rule.judge_all(buffer, start) == [rule.judge(buffer, i) for i in range(start, len(buffer))]


def probe_point(rng: Random, minute: int, device: int, odd: dict[int, int], fault_rate: float) -> Any:
    """A probe's reading of that minute: about -20 °C (or its odd level), on a half-degree grid so
    that some lie exactly at the margin and the limit, now and then faulty."""
    return (
        minute * 60_000,
        device,
        odd.get(device, -20_000_000) + rng.choice([-1, 0, 0, 0, 1]) * 500_000,
        int(rng.random() < fault_rate),
        1,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(3, 30),
    st.integers(5, 40),
    st.lists(st.integers(0, 18), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_a_steady_room_judged_from_its_probes_ranges_agrees_with_point_by_point_judging(
    probes: int, minutes: int, odd_levels: list[int], seed: int, data: st.DataObject
) -> None:
    """Every probe reporting every minute (the rooms' usual state, where ``judge_all`` takes its
    bounds from the probes' ranges), a few of them odd, values on a half-degree grid so that some
    lie exactly at the margin and the limit."""
    rule = SensorDisagreement(default_parameters(TemperatureClass.FROZEN))
    rng = Random(seed)
    odd = {device: -24_000_000 + level * 500_000 for device, level in enumerate(odd_levels, start=1)}
    buffer = sorted(
        probe_point(rng, minute, device, odd, 0.02)
        for minute in range(minutes)
        for device in range(1, probes + 1)
    )
    start = data.draw(st.integers(0, len(buffer) - 1))
    assert rule.judge_all(buffer, start) == [rule.judge(buffer, i) for i in range(start, len(buffer))]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(3, 12),
    st.integers(10, 60),
    st.lists(st.integers(0, 18), min_size=0, max_size=3),
    st.integers(0, 2**32 - 1),
)
def test_a_room_judged_chunk_after_chunk_from_what_it_kept_judges_as_from_its_whole_buffer(
    probes: int, minutes: int, odd_levels: list[int], seed: int
) -> None:
    """``quiet`` and ``judge_all`` with the state's memo, the buffer growing chunk by chunk and cut
    at its front as a state's is, the memo now and then lost: ``judge_all`` judges every point as
    ``judge`` does, and ``quiet`` says quiet only where the gathering over the whole lookback
    does, and names the same subjects. Probes fall silent for a while, join late and report
    faults, so that the gaps and joins the ranges must notice happen."""
    rule = SensorDisagreement(default_parameters(TemperatureClass.FROZEN))
    rng = Random(seed)
    odd = {device: -24_000_000 + level * 500_000 for device, level in enumerate(odd_levels, start=1)}
    silent = {
        # Around the freshness (15 min), so that some gaps fit inside a lookback and a chunk.
        device: (lambda at: (at, at + rng.randint(14, 19)))(rng.randint(0, minutes))
        for device in range(1, probes + 1)
        if rng.random() < 0.3
    }
    joins = {device: rng.randint(0, minutes // 2) for device in range(1, probes + 1) if rng.random() < 0.2}
    points = [
        probe_point(rng, minute, device, odd, 0.03)
        for minute in range(minutes)
        for device in range(1, probes + 1)
        if rng.random() < 0.9
        and minute >= joins.get(device, 0)
        and not (device in silent and silent[device][0] <= minute < silent[device][1])
    ]
    buffer: list[Any] = []
    memo: dict[str, Any] = {}
    at = 0
    while at < len(points):
        chunk = points[at : at + rng.randint(1, probes * rng.choice((1, 3, 20)))]
        at += len(chunk)
        start = len(buffer)
        buffer.extend(chunk)
        if rng.random() < 0.1:
            memo = {}  # a replay, or a state read again
        expected = [rule.judge(buffer, i) for i in range(start, len(buffer))]
        if rng.random() < 0.7:
            kept_quiet = rule.quiet(buffer, start, memo)
            if kept_quiet is not None:
                assert kept_quiet == rule.quiet(buffer, start)
                assert all(judged <= 0 for judged in expected)
        assert rule.judge_all(buffer, start, memo) == expected
        # As ``RuleState._advance`` cuts a state's buffer: what is more than two windows old.
        horizon = buffer[-1][0] - 2 * rule.window_ms
        while buffer and buffer[0][0] < horizon and rng.random() < 0.8:
            buffer.pop(0)
