"""A rule state stored without its points and rebuilt from the stored readings judges as the state
kept whole in memory: the same buffer, the same conditions, the same transitions, after any chunk,
with readings late (some past what is replayed), shuffled, repeated, faulty, and several metrics of
one device at one moment (``RuleState.durable`` and ``RuleState.restore``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.rules.conditions import Transition, to_ms
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import Point, RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters

Row = tuple[Any, ...]
States = dict[StateKey, RuleState]

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
TEMPERATURE, HUMIDITY, DOOR, LOCK, WEIGHT = 1, 2, 3, 4, 5
LEVELS_C = [-21.0, -19.0, -18.2, -17.5, -16.0, -14.0, -12.0, 85.0]  # 85.0: a probe's sentinel
# Devices 1-3 probes (device 3 reports humidity at the same moments), 4 a door with a lock.
DEVICES = {1: "temperature", 2: "temperature", 3: "temperature", 4: "door"}


def rules() -> RoomRules:
    return RoomRules(
        default_parameters(TemperatureClass.FROZEN),
        RoomContext(room_id=12, temperature_class=TemperatureClass.FROZEN, sealed=True, devices=DEVICES),
    )


def rows_of(levels: list[int], seconds: list[int]) -> list[Row]:
    rows: list[Row] = []
    for minute, level in enumerate(levels):
        at = T0 + timedelta(minutes=minute, seconds=seconds[minute % len(seconds)])
        for device in (1, 2, 3):
            celsius = LEVELS_C[(level + device) % len(LEVELS_C)]
            rows.append((device, TEMPERATURE, at, round(celsius * 1e6), 1 if celsius == 85.0 else 0))
        rows.append((3, HUMIDITY, at, (60 + level) * 1_000_000, 0))
        rows.append((4, DOOR, at, (level % 2) * 1_000_000, 0))
        rows.append((4, LOCK, at, (level % 3 > 0) * 1_000_000, 0))
    return rows


def routed(engine: RoomRules, rows: list[Row]) -> dict[StateKey, list[Point]]:
    """The stored readings as points, per (rule, subject) that judges them."""
    found: dict[StateKey, list[Point]] = defaultdict(list)
    for device, metric, ts, value_u, fault in rows:
        point = (to_ms(ts), device, value_u, fault, metric)
        for rule, per_device in engine.rules_for_metric(metric):
            found[(rule.rule, f"device:{device}" if per_device else engine.room_subject)].append(point)
    return found


def told(transitions: list[Transition]) -> list[Row]:
    return sorted(
        (
            (t.rule, t.subject, t.state, t.severity, t.at, str(t.trigger), t.detail, t.flapping)
            for t in transitions
        ),
        key=lambda t: t[:2],
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, len(LEVELS_C) - 1), min_size=5, max_size=120),
    st.lists(st.integers(0, 59), min_size=1, max_size=5),
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.lists(st.integers(1, 30), max_size=20),
    st.randoms(use_true_random=False),
)
def test_states_rebuilt_from_the_stored_readings_judge_as_the_states_kept(
    levels: list[int], seconds: list[int], delays: list[int], cuts: list[int], shuffler: Random
) -> None:
    rows = rows_of(levels, seconds)
    # Arrival: in order, but every so often a run of readings an hour late (past what is replayed,
    # for the room's rules) or a few minutes late, and now and then a reading delivered twice.
    arrival: list[tuple[float, Row]] = []
    for index, row in enumerate(rows):
        delay = [0, 3, 60, 0][delays[index % len(delays)]]
        arrival.append((index + delay * 6 + shuffler.random(), row))
        if shuffler.random() < 0.03:
            arrival.append((index + 5.5, row))
    arrival.sort(key=lambda item: item[0])
    chunks: list[list[Row]] = []
    at = 0
    for size in [*cuts, len(arrival)]:
        if at < len(arrival):
            chunks.append([row for _, row in arrival[at : at + size]])
            at += size

    engine = rules()
    kept: States = {}
    rebuilt: States = {}
    stored: set[tuple[int, int, datetime]] = set()
    table: list[Row] = []
    for chunk in chunks:
        # What the ingest hands the rules: the rows the table did not hold yet.
        fresh: list[Row] = []
        for row in chunk:
            if row[:3] not in stored:
                stored.add(row[:3])
                fresh.append(row)
        shuffler.shuffle(fresh)
        # A worker that remembers nothing: durable forms through JSON, points from the table.
        points = routed(engine, table)
        revived: States = {}
        for key, state in rebuilt.items():
            durable = msgspec.json.decode(msgspec.json.encode(state.durable()))
            revived[key] = RuleState.restore(durable, shuffler.sample(points[key], len(points[key])))
            assert revived[key] == state, key
        changed, transitions = engine.evaluate(kept, fresh)
        kept.update(changed)
        changed, again = engine.evaluate(revived, fresh)
        rebuilt = {**revived, **changed}
        assert told(again) == told(transitions)
        table.extend(fresh)
    assert rebuilt == kept


def test_a_state_stored_whole_before_the_buffers_were_left_out_is_read_with_its_buffer() -> None:
    engine = rules()
    states: States = {}
    changed, _ = engine.evaluate(states, rows_of([0, 4, 4, 5, 5, 5, 0], [0]))
    for state in changed.values():
        assert RuleState.restore(state.to_json(), []) == state


def test_what_is_stored_changes_only_when_a_condition_moves() -> None:
    # Ten quiet hours of three probes at -21 °C: the durable form changes when a window passes
    # (checkpoint and base), not with every chunk.
    engine = rules()
    states: States = {}
    before: dict[StateKey, bytes] = {}
    writes = chunks = 0
    for minute in range(600):
        at = T0 + timedelta(minutes=minute)
        changed, transitions = engine.evaluate(
            states, [(d, TEMPERATURE, at, -21_000_000, 0) for d in (1, 2, 3)]
        )
        assert transitions == [] or minute == 0
        states.update(changed)
        for key, state in changed.items():
            chunks += 1
            encoded = msgspec.json.encode(state.durable())
            if state.dirty:
                writes += encoded != before.get(key)
                before[key] = encoded
                state.dirty = False
            else:
                assert encoded == before[key], "a state not marked dirty did not change"
    assert writes < chunks / 5
