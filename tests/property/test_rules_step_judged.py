"""A room rule judged all at once steps only the points that can move a condition
(``RuleState._step_judged``): it must end where stepping every point ends, conditions, checkpoint
and transitions alike, whatever the room's probes do and however late their readings come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.rules.conditions import INACTIVE, Condition, Transition
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import Evaluator, RuleState, _describer
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
VALUES_C = [-20.0, -19.6, -18.4, -16.5, -15.0, -12.0]


def every_point(
    state: RuleState,
    evaluator: Evaluator,
    start: int,
    checkpoint_at: int,
    judged: list[int],
    out: list[Transition],
) -> None:
    """The point-by-point loop ``_judge`` ran before: every point, a condition made for each."""
    buffer, conditions = state.buffer, state.conditions
    for index in range(start, len(buffer)):
        point = buffer[index]
        if state.checkpoint is None and point[0] >= checkpoint_at:
            state.checkpoint = ((point[0], point[1]), {s: c.copy() for s, c in conditions.items()})
            state.dirty = True
        subject = evaluator.subject(point)
        condition = conditions.get(subject)
        if condition is None:
            condition = conditions[subject] = Condition()
            state.dirty = True
        met = judged[index - start]
        if met <= 0 and condition.status == INACTIVE:
            continue
        state.dirty = True
        condition.step(
            evaluator.rule,
            subject,
            point[0],
            met,
            evaluator.levels,
            evaluator.hygiene,
            _describer(evaluator, buffer, index),
            out,
        )


def run(chunks: list[list[tuple[Any, ...]]]) -> list[Any]:
    rules = RoomRules(
        default_parameters(TemperatureClass.FROZEN),
        RoomContext(room_id=12, temperature_class=TemperatureClass.FROZEN),
    )
    states: dict[StateKey, RuleState] = {}
    found: list[Any] = []
    for chunk in chunks:
        changed, transitions = rules.evaluate(states, chunk)
        states.update(changed)
        found.append(
            [(t.rule, t.subject, t.state, t.severity, t.at, t.trigger, t.detail) for t in transitions]
        )
        found.append(sorted((key, state.to_json(), state.dirty) for key, state in changed.items()))
    return found


@settings(max_examples=150, deadline=None)
@given(
    probes=st.integers(2, 7),
    minutes=st.lists(
        st.tuples(st.integers(0, 3), st.lists(st.integers(0, len(VALUES_C) - 1), min_size=7, max_size=7)),
        min_size=5,
        max_size=60,
    ),
    chunk=st.integers(1, 12),
    late=st.lists(st.integers(0, 59), max_size=6),
    joins=st.lists(st.integers(0, 30), min_size=7, max_size=7),
)
def test_stepping_only_the_points_that_can_move_a_condition_ends_where_stepping_every_point_does(
    probes: int, minutes: list[tuple[int, list[int]]], chunk: int, late: list[int], joins: list[int]
) -> None:
    rows = []
    minute = 0
    for step, (gap, levels) in enumerate(minutes):
        minute += 1 + gap * 4  # gaps past the rule's freshness now and then
        for device in range(1, probes + 1):
            if step < joins[device - 1]:
                continue  # a probe put in later
            fault = int(levels[device - 1] == 0 and device == probes)
            rows.append(
                (device, 1, T0 + timedelta(minutes=minute), round(VALUES_C[levels[device - 1]] * 1e6), fault)
            )
    for index in late:  # a few readings held back three chunks
        if index < len(rows):
            rows.append(rows.pop(index))
    chunks = [rows[first : first + chunk * probes] for first in range(0, len(rows), chunk * probes)]
    fast = run(chunks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RuleState, "_step_judged", every_point)
        slow = run(chunks)
    assert fast == slow
