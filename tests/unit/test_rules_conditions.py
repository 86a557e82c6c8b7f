"""Condition states: pending, firing, hysteresis on clear, flapping held firing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.rules.conditions import CLEAR, HOLD, Condition, Hygiene, Level, Transition
from coldpledge.rules.stream import _blank

LEVELS = (Level("major", 10 * 60_000), Level("critical", 20 * 60_000))
HYGIENE = Hygiene(clear_ms=5 * 60_000, flap_window_ms=60 * 60_000, flap_max=4)


def drive(
    judgements: list[tuple[int, int]], condition: Condition | None = None
) -> list[tuple[str, str, int]]:
    condition = condition or Condition()
    out: list[Transition] = []
    for minute, met in judgements:
        condition.step("r", "room:1", minute * 60_000, met, LEVELS, HYGIENE, lambda: ({}, ""), out)
    return [(t.state, t.severity, t.at.minute + 60 * t.at.hour) for t in out]


def test_a_condition_fires_after_its_duration_and_escalates_after_the_longer_one() -> None:
    assert drive([(m, 2) for m in range(21)]) == [
        ("pending", "major", 0),
        ("firing", "major", 10),
        ("firing", "critical", 20),
    ]


def test_a_firing_condition_resolves_only_after_being_clear_for_the_clear_time() -> None:
    judgements = [(m, 1) for m in range(11)] + [
        (11, CLEAR),
        (12, HOLD),
        (13, CLEAR),
        (17, CLEAR),
        (18, CLEAR),
    ]
    assert drive(judgements) == [("pending", "major", 0), ("firing", "major", 10), ("resolved", "major", 18)]


def test_a_flapping_condition_is_held_firing_instead_of_flipping() -> None:
    judgements = []
    for cycle in range(4):
        base = cycle * 20
        judgements += [(base + m, 1) for m in range(11)] + [(base + 11, CLEAR), (base + 16, CLEAR)]
    told = drive(judgements)
    # Three flips (firing, resolved, firing) in the hour, a fourth would be a storm: held firing.
    assert [state for state, _, _ in told] == ["pending", "firing", "resolved", "pending", "firing"]


def test_a_condition_survives_a_json_round_trip() -> None:
    condition = Condition()
    out: list[Transition] = []
    condition.step("r", "room:1", 0, 1, LEVELS, HYGIENE, lambda: ({}, ""), out)
    assert Condition.from_json(condition.to_json()) == condition


def test_whether_a_settled_state_is_blank_is_told_alike_written_out_and_by_each_condition() -> None:
    # ``RuleState.settled`` asks ``_blank`` of thousands of states a chunk; it trusts that a
    # condition's ``since`` starts with a moment whenever any level is met.
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 30), st.sampled_from([CLEAR, HOLD, 1, 2])), max_size=60))
    def check(steps: list[tuple[int, int]]) -> None:
        condition, minute = Condition(), 0
        out: list[Transition] = []
        for gap, met in steps:
            minute += gap
            condition.step("r", "room:1", minute * 60_000, met, LEVELS, HYGIENE, lambda: ({}, ""), out)
            assert any(start is not None for start in condition.since) == (
                bool(condition.since) and condition.since[0] is not None
            )
            assert _blank({"room:1": condition}) == condition.blank()

    check()
