"""Event-time evaluation of one rule over one scope (a device or a room), with late readings.

A state keeps the points of the last few windows in event-time order. A point newer than all
seen is judged at once; an older one is inserted in order and the live part of the buffer is
replayed from the base (the conditions as they stood before it), so a late reading moves the
condition as if it had come in time. A point older than the base is counted in ``late_ignored``
and left out of live conditions (the periodic rules still see it in storage).

The base advances by checkpoints: the conditions are copied before the first point a window past
the base, and that copy becomes the base once the newest point is another window on. So a reading
up to one window late (never less than ``MIN_LATENESS_MS``) is always replayed, each point is
judged once on the normal path, and a state holds at most about three windows of points.

Transitions already emitted are remembered while they are inside the buffer, so a replay emits
only what is new (see ``RuleState._reconcile``). A transition told before a late reading moved it
keeps the moment it was told with.

What a restart needs is the conditions, not the points: the buffer holds stored readings, so a
state is stored without it (``RuleState.durable``) and rebuilt from the readings from its
``floor`` on (``RuleState.restore``). For that the buffer is kept a function of what is stored:
the stored readings of the state's scope from the floor on, less the few it left out, which it
names (``left_out``: readings too late to count, and a reading that came after another of the
same moment and device but would sort before it).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any, Protocol

import msgspec

from coldpledge.rules.conditions import (
    FIRING,
    INACTIVE,
    Condition,
    Hygiene,
    Level,
    Transition,
    TransitionState,
    from_ms,
    to_ms,
)

# (ts_ms, device_id, value_u, fault, metric)
Point = tuple[int, int, int, int, int]

# Of a run of one device's new points, taken once for every rule they feed: the least and the
# greatest sound value (None when none is sound) and whether any is faulty.
Spread = tuple[int | None, int | None, bool]

MIN_LATENESS_MS = 15 * 60_000

_encode = msgspec.json.Encoder().encode  # tuples become arrays


class Evaluator(Protocol):
    rule: str
    levels: Sequence[Level]
    hygiene: Hygiene
    window_ms: int  # lookback the judgement needs and lateness tolerated, whichever is longer

    def subject(self, point: Point) -> str: ...  # of the point's device alone (``_step_judged``)

    def judge(self, buffer: list[Point], index: int) -> int: ...

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]: ...

    # Optional, for speed (the ingest path judges every reading):
    #   quiet(buffer, start[, spread]) -> when no point from ``start`` on is met (judge <= 0), the
    #       subjects of those points in the order they first come; else None (a cheap bound may
    #       say None when unsure). ``spread`` is passed only to rules whose subject is the device,
    #       when the new points are one device's and their ``Spread`` bounds them;
    #   judge_all(buffer, start) -> [judge(buffer, i) for i from start], in one pass.
    #   uses_memo = True -> quiet and judge_all take the state's ``memo`` as a third argument.


@dataclass(slots=True)
class RuleState:
    buffer: list[Point] = field(default_factory=list)
    conditions: dict[str, Condition] = field(default_factory=dict)
    base_key: tuple[int, int] | None = None  # every point before it is inside ``base``
    base: dict[str, Condition] = field(default_factory=dict)
    checkpoint: tuple[tuple[int, int], dict[str, Condition]] | None = None
    emitted: list[tuple[str, str, str, int]] = field(default_factory=list)  # subject, state, severity, ms
    late_ignored: int = 0
    # Points fed but not in the buffer though inside its span (see the module's docstring).
    left_out: list[Point] = field(default_factory=list)
    # Whether ``durable`` may differ from what it was when last cleared: set by every change but
    # the points appended to the buffer, cleared by whoever stores the state.
    dirty: bool = field(default=True, compare=False)
    # What the rule keeps of the buffer between chunks (evaluators with ``uses_memo``): good while
    # points are only appended and cut from the front, so dropped when one goes in before the end.
    # Never stored: a state read again starts without it.
    memo: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "buffer": [list(point) for point in self.buffer],
            "conditions": {subject: c.to_json() for subject, c in self.conditions.items()},
            "base_key": list(self.base_key) if self.base_key is not None else None,
            "base": {subject: c.to_json() for subject, c in self.base.items()},
            "checkpoint": (
                None
                if self.checkpoint is None
                else [list(self.checkpoint[0]), {s: c.to_json() for s, c in self.checkpoint[1].items()}]
            ),
            "emitted": [list(item) for item in self.emitted],
            "late_ignored": self.late_ignored,
            "left_out": [list(point) for point in self.left_out],
        }

    def encode(self) -> str:
        """``to_json`` as JSON text, made in C."""
        return _encode(self.plain()).decode()

    def plain(self) -> dict[str, Any]:
        """``to_json`` with tuples where it has lists: the same JSON, made faster."""
        return self._plain(_condition_document)

    def _plain(self, condition: Callable[[Condition], Any]) -> dict[str, Any]:
        def conditions(found: dict[str, Condition]) -> dict[str, Any]:
            return {subject: condition(c) for subject, c in found.items()}

        checkpoint = self.checkpoint
        return {
            "buffer": self.buffer,
            "conditions": conditions(self.conditions),
            "base_key": self.base_key,
            "base": conditions(self.base),
            "checkpoint": None if checkpoint is None else (checkpoint[0], conditions(checkpoint[1])),
            "emitted": self.emitted,
            "late_ignored": self.late_ignored,
            "left_out": self.left_out,
        }

    def durable(self) -> dict[str, Any]:
        """What a restart needs that the stored readings cannot give back: ``plain`` without the
        buffer but with its ``floor``, the moment of its first point (None while it is empty),
        and each condition as an array (``status, since, fired, clear_since, flips, flapping``):
        a third of the bytes."""
        # Written out rather than ``_plain`` less its buffer: the ingest path stores thousands of
        # states a chunk. The keys come in ``_plain``'s order.
        row = _condition_row
        checkpoint = self.checkpoint
        return {
            "conditions": {subject: row(c) for subject, c in self.conditions.items()},
            "base_key": self.base_key,
            "base": {subject: row(c) for subject, c in self.base.items()},
            "checkpoint": (
                None
                if checkpoint is None
                else (checkpoint[0], {subject: row(c) for subject, c in checkpoint[1].items()})
            ),
            "emitted": self.emitted,
            "late_ignored": self.late_ignored,
            "left_out": self.left_out,
            "floor": self.buffer[0][0] if self.buffer else None,
        }

    def settled(self) -> bool:
        """Whether nothing is pending, firing or remembered: every condition blank (current, at
        the base and at the checkpoint), nothing told within the buffer, nothing left out. Two
        settled states of one rule and scope fed the same points differ only in where their
        windows start, and restored from either (with the stored readings from its floor on) the
        state judges what follows alike: the older one only holds more quiet points, which its
        next step past a window lets go. So a settled state need not be stored again for every
        window it moves (``rules.service``). The judgements look back no further than their
        rule's window, but for the start-up suppression, which looks back as far as the buffer
        reaches: from the older state it may still see a device's return from a silence that the
        newer one has let go. And the older state's base is older: a reading more than a window
        late, which the newer would leave out, it replays. Both err on the lenient side."""
        if self.emitted or self.left_out:
            return False
        checkpoint = self.checkpoint
        return _blank(self.conditions) and _blank(self.base) and (checkpoint is None or _blank(checkpoint[1]))

    @classmethod
    def restore(cls, data: dict[str, Any], points: Iterable[Point]) -> RuleState:
        """The state ``durable`` gave ``data``, its buffer rebuilt from ``points``: the stored
        readings of its rule and scope, in any order, from ``floor`` on at least (earlier ones are
        dropped) and without those fed since. Of the points of one moment and device, the first
        in order is kept, as ``feed`` keeps it (the others it kept out are in ``left_out``)."""
        if "buffer" in data:  # stored whole, before the buffers were left out of storage
            state = cls.from_json(data)
            state.dirty = False
            return state
        state = cls.from_json({**data, "buffer": ()})
        floor = data["floor"]
        if floor is not None:
            omitted = Counter(state.left_out)
            buffer = state.buffer
            for point in sorted(points):
                if point[0] < floor:
                    continue
                if omitted and omitted[point] > 0:
                    omitted[point] -= 1
                    continue
                if buffer and buffer[-1][0] == point[0] and buffer[-1][1] == point[1]:
                    continue
                buffer.append(point)
        state.dirty = False
        return state

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleState:
        """The state ``to_json`` (or ``durable``, with conditions as arrays) gave ``data``."""
        checkpoint = data["checkpoint"]
        base_key = data["base_key"]
        return cls(
            buffer=[(p[0], p[1], p[2], p[3], p[4]) for p in data["buffer"]],
            conditions={s: _condition_of(c) for s, c in data["conditions"].items()},
            base_key=(base_key[0], base_key[1]) if base_key is not None else None,
            base={s: _condition_of(c) for s, c in data["base"].items()},
            checkpoint=(
                None
                if checkpoint is None
                else (
                    (checkpoint[0][0], checkpoint[0][1]),
                    {s: _condition_of(c) for s, c in checkpoint[1].items()},
                )
            ),
            emitted=[(e[0], e[1], e[2], e[3]) for e in data["emitted"]],
            late_ignored=data["late_ignored"],
            left_out=[(p[0], p[1], p[2], p[3], p[4]) for p in data.get("left_out", ())],
        )

    def feed(
        self,
        evaluator: Evaluator,
        points: Sequence[Point],
        out: list[Transition],
        spread: Spread | None = None,
        *,
        ordered: bool = False,
        distinct: bool = False,
    ) -> None:
        """Judge ``points`` (any order) and append the transitions they make to ``out``.
        ``spread``, when given, bounds the sound values of ``points``, all of one device;
        ``ordered`` says they are sorted, no two of one moment; ``distinct``, that no two are of
        one device and moment."""
        buffer = self.buffer
        start = len(buffer)
        if spread is not None and points:
            run = points if ordered else sorted(points)
            # ``_follows``, written out: the buffer's last point is at or after the base, so
            # coming after it is enough; an empty buffer has only the base to come after.
            first = run[0]
            if buffer:
                last = buffer[-1]
                follows = first[0] > last[0] or (first[0] == last[0] and first[1] > last[1])
            else:
                follows = self.base_key is None or (first[0], first[1]) >= self.base_key
            if follows and (ordered or distinct or len(set(map(_ts, run))) == len(run)):
                # The common case, in as few steps as it takes: a device's new points, all newer
                # than any seen, none met and the device's condition inactive.
                buffer.extend(run)
                subjects = evaluator.quiet(buffer, start, spread)  # type: ignore[attr-defined]
                if subjects is None:
                    self._judge(evaluator, start, out, replayed=False, skip_quiet=True)
                else:
                    condition = self.conditions.get(subjects[0])
                    # What ``_settle`` would do when nothing is left for it to do: nothing.
                    if (
                        condition is None or self.checkpoint is None or condition.status != INACTIVE
                    ) and not self._settle(evaluator, start, subjects[0]):
                        self._judge(evaluator, start, out, replayed=False, skip_quiet=True)
                checkpoint = self.checkpoint
                if checkpoint is not None and buffer[-1][0] - checkpoint[0][0] >= evaluator.window_ms:
                    self._advance(evaluator)
                return
        ordered_points = sorted(points) if len(points) > 1 else points
        replay = False
        if ordered_points and self._follows(ordered_points) and (distinct or self._distinct(ordered_points)):
            buffer.extend(ordered_points)
        else:
            replay = self._place(ordered_points)
        if replay:
            self.dirty = True
            self.memo = None
            self.conditions = {subject: c.copy() for subject, c in self.base.items()}
            self.checkpoint = None
            start = 0 if self.base_key is None else bisect_left(buffer, self.base_key, key=_key)
        self._judge(evaluator, start, out, replayed=replay)
        self._advance(evaluator)

    def _follows(self, ordered: Sequence[Point]) -> bool:
        """Whether sorted ``ordered`` all come after the buffer and after the base."""
        first = ordered[0]
        key = (first[0], first[1])
        buffer = self.buffer
        if buffer and key <= (buffer[-1][0], buffer[-1][1]):
            return False
        return self.base_key is None or key >= self.base_key

    @staticmethod
    def _distinct(ordered: Sequence[Point]) -> bool:
        """Whether no two of sorted ``ordered`` are of one device and moment."""
        return len(ordered) == 1 or len(set(map(_key, ordered))) == len(ordered)

    def _settle(self, evaluator: Evaluator, start: int, subject: str) -> bool:
        """``_quiet`` for the new points from ``start`` on, all of ``subject`` and none met: what
        the point-by-point loop would do, when the subject's condition is inactive (else False)."""
        conditions = self.conditions
        condition = conditions.get(subject)
        if condition is not None and condition.status != INACTIVE:
            return False
        if self.checkpoint is None:
            buffer = self.buffer
            origin = self.base_key[0] if self.base_key is not None else buffer[0][0]
            checkpoint_at = origin + evaluator.window_ms
            if buffer[-1][0] >= checkpoint_at:
                at = bisect_left(buffer, checkpoint_at, lo=start, key=_ts)
                if at > start and condition is None:  # made before the checkpoint
                    condition = conditions[subject] = Condition()
                point = buffer[at]
                self.checkpoint = ((point[0], point[1]), {s: c.copy() for s, c in conditions.items()})
                self.dirty = True
        if subject not in conditions:
            conditions[subject] = Condition()
            self.dirty = True
        return True

    def _place(self, ordered: Sequence[Point]) -> bool:
        """Put sorted ``ordered`` into the buffer one by one; whether any went in before its end
        (the live part must be replayed)."""
        buffer = self.buffer
        replay = False
        for point in ordered:
            key = (point[0], point[1])
            if self.base_key is not None and key < self.base_key:
                self.late_ignored += 1
                if buffer and point[0] >= buffer[0][0]:
                    self.left_out.append(point)
                self.dirty = True
                continue
            if not buffer or key > (buffer[-1][0], buffer[-1][1]):
                buffer.append(point)
                continue
            index = bisect_left(buffer, key, key=_key)
            if index < len(buffer) and _key(buffer[index]) == key:
                # Delivered twice, or another metric of the same device and moment: the first is
                # kept. A rebuilt buffer keeps the least of them, so one less than it is named.
                if point < buffer[index]:
                    self.left_out.append(point)
                    self.dirty = True
                continue
            buffer.insert(index, point)
            replay = True
        return replay

    def _judge(
        self,
        evaluator: Evaluator,
        start: int,
        out: list[Transition],
        *,
        replayed: bool,
        skip_quiet: bool = False,
    ) -> None:
        buffer, conditions = self.buffer, self.conditions
        rule, levels, hygiene = evaluator.rule, evaluator.levels, evaluator.hygiene
        origin = self.base_key[0] if self.base_key is not None else (buffer[0][0] if buffer else 0)
        checkpoint_at = origin + evaluator.window_ms
        fresh: list[Transition] = []
        quiet_path = not replayed and not skip_quiet and start < len(buffer)
        if quiet_path and self._quiet(evaluator, start, checkpoint_at):
            return
        # Evaluators that judge a run of points in one pass (``judge_all``) do so; the others point
        # by point. A point judged not met leaves an inactive condition as it is (``Condition.step``
        # would only reset its already empty ``since``), so only the other points step.
        judge_all: Callable[..., list[int]] | None = getattr(evaluator, "judge_all", None)
        judged = None
        if judge_all is not None:
            judged = (
                judge_all(buffer, start, self._memo()) if _uses_memo(evaluator) else judge_all(buffer, start)
            )
        if judged is not None:
            self._step_judged(evaluator, start, checkpoint_at, judged, fresh)
        judge = evaluator.judge
        subject_of = evaluator.subject
        for index in range(start, len(buffer) if judged is None else start):
            point = buffer[index]
            if self.checkpoint is None and point[0] >= checkpoint_at:
                self.checkpoint = ((point[0], point[1]), {s: c.copy() for s, c in conditions.items()})
                self.dirty = True
            subject = subject_of(point)
            condition = conditions.get(subject)
            if condition is None:
                condition = conditions[subject] = Condition()
                self.dirty = True
            met = judged[index - start] if judged is not None else judge(buffer, index)
            if met <= 0 and condition.status == INACTIVE:
                continue
            self.dirty = True
            condition.step(
                rule, subject, point[0], met, levels, hygiene, _describer(evaluator, buffer, index), fresh
            )
        if replayed:
            self._reconcile(rule, levels, fresh, out)
        else:
            self.emitted.extend((t.subject, t.state, t.severity, to_ms(t.at)) for t in fresh)
            out.extend(fresh)

    def _step_judged(
        self, evaluator: Evaluator, start: int, checkpoint_at: int, judged: list[int], fresh: list[Transition]
    ) -> None:
        """The point-by-point loop of ``_judge`` for points judged all at once, stepping only the
        points that can move a condition: a room's rule walks thousands a chunk, nearly all of a
        probe that is neither met nor anything but inactive. A subject is a function of the
        point's device (a device's, or the room's), and a condition leaves ``INACTIVE`` only on a
        point judged met: so a point neither met nor of a device met here or not inactive before
        would be passed over. The conditions the loop would make, and the checkpoint it would
        take, are made as it would, in the same order."""
        buffer, conditions = self.buffer, self.conditions
        rule, levels, hygiene = evaluator.rule, evaluator.levels, evaluator.hygiene
        subject_of = evaluator.subject
        devices = list(map(_device, buffer[start:]))
        # Any point of a device names its subject: one made up stands in for them.
        subjects = {device: subject_of((0, device, 0, 0, 0)) for device in dict.fromkeys(devices)}
        moving = {device for device, subject in subjects.items() if _live(conditions.get(subject))}
        moving.update(compress(devices, map(_POSITIVE, judged)))
        steps = list(compress(range(len(devices)), map(moving.__contains__, devices)))
        # The subjects without a condition yet, by their first point: the loop makes theirs there.
        unmade = {device for device, subject in subjects.items() if subject not in conditions}
        to_make: list[tuple[int, str]] = []
        if unmade:
            for offset, device in enumerate(devices):
                if device in unmade:
                    unmade.discard(device)
                    to_make.append((offset, subjects[device]))
        to_make.reverse()  # popped from the end, first point first
        checkpoint_offset = None
        if self.checkpoint is None:
            at = bisect_left(buffer, checkpoint_at, lo=start, key=_ts) - start
            if at < len(devices):
                checkpoint_offset = at
        for offset in steps:
            if checkpoint_offset is not None and offset >= checkpoint_offset:
                self._make_conditions(to_make, checkpoint_offset)
                self._take_checkpoint(buffer[start + checkpoint_offset])
                checkpoint_offset = None
            if to_make:
                self._make_conditions(to_make, offset + 1)
            met = judged[offset]
            subject = subjects[devices[offset]]
            condition = conditions[subject]
            if met <= 0 and condition.status == INACTIVE:
                continue
            self.dirty = True
            index = start + offset
            condition.step(
                rule,
                subject,
                buffer[index][0],
                met,
                levels,
                hygiene,
                _describer(evaluator, buffer, index),
                fresh,
            )
        if checkpoint_offset is not None:
            self._make_conditions(to_make, checkpoint_offset)
            self._take_checkpoint(buffer[start + checkpoint_offset])
        self._make_conditions(to_make, len(devices))

    def _memo(self) -> dict[str, Any]:
        if self.memo is None:
            self.memo = {}
        return self.memo

    def _make_conditions(self, to_make: list[tuple[int, str]], upto: int) -> None:
        """Make the conditions of ``to_make`` (first offset, subject; latest first) whose first
        point comes before ``upto``, as the point-by-point loop would on reaching it."""
        while to_make and to_make[-1][0] < upto:
            self.conditions[to_make.pop()[1]] = Condition()
            self.dirty = True

    def _take_checkpoint(self, point: Point) -> None:
        self.checkpoint = ((point[0], point[1]), {s: c.copy() for s, c in self.conditions.items()})
        self.dirty = True

    def _quiet(self, evaluator: Evaluator, start: int, checkpoint_at: int) -> bool:
        """The common case in one step: new points, in order, none of them met
        (``evaluator.quiet``), and the conditions of their subjects inactive. Nothing moves but
        the checkpoint, taken where the point-by-point loop would take it, and the conditions the
        loop would make."""
        quiet: Callable[..., Sequence[str] | None] | None = getattr(evaluator, "quiet", None)
        if quiet is None:
            return False
        subjects = (
            quiet(self.buffer, start, self._memo()) if _uses_memo(evaluator) else quiet(self.buffer, start)
        )
        if subjects is None:
            return False
        conditions = self.conditions
        for subject in subjects:
            condition = conditions.get(subject)
            if condition is not None and condition.status != INACTIVE:
                return False
        if self.checkpoint is None:
            at = bisect_left(self.buffer, checkpoint_at, lo=start, key=_ts)
            if at < len(self.buffer):
                subject_of = evaluator.subject
                for point in self.buffer[start:at]:  # made before the checkpoint
                    subject = subject_of(point)
                    if subject not in conditions:
                        conditions[subject] = Condition()
                point = self.buffer[at]
                self.checkpoint = ((point[0], point[1]), {s: c.copy() for s, c in conditions.items()})
                self.dirty = True
        for subject in subjects:
            if subject not in conditions:
                conditions[subject] = Condition()
                self.dirty = True
        return True

    def _reconcile(
        self, rule: str, levels: Sequence[Level], fresh: list[Transition], out: list[Transition]
    ) -> None:
        """After a replay, tell only what was not told: per subject, the replayed transitions that
        repeat the told ones in kind (state and severity) are not repeated, even when the late
        reading moved their moment; from the first difference on they are new. When the replay
        told less than was told before, the subject's state as now found is told again if it
        differs from the last told (a firing withdrawn is resolved, a resolution withdrawn fires)."""
        told: dict[str, list[tuple[str, str, str, int]]] = {}
        for item in self.emitted:
            told.setdefault(item[0], []).append(item)
        matched: dict[str, int] = {}
        diverged: set[str] = set()
        emitted: list[tuple[str, str, str, int]] = []
        for transition in fresh:
            subject = transition.subject
            earlier = told.get(subject, [])
            position = matched.get(subject, 0)
            if subject not in diverged and position < len(earlier):
                item = earlier[position]
                if (item[1], item[2]) == (transition.state, transition.severity):
                    matched[subject] = position + 1
                    emitted.append(item)
                    continue
            diverged.add(subject)
            emitted.append((subject, transition.state, transition.severity, to_ms(transition.at)))
            out.append(transition)
        for subject, earlier in told.items():
            left = earlier[matched.get(subject, 0) :]
            if not left or subject in diverged:
                continue
            last = left[-1]
            condition = self.conditions.get(subject)
            status = INACTIVE if condition is None else condition.status
            state: TransitionState
            if status == INACTIVE:
                state, severity = "resolved", last[2]
            elif status == FIRING and condition is not None:
                state, severity = "firing", levels[max(condition.fired, 0)].severity
            else:
                state, severity = "pending", levels[0].severity
            if (last[1], last[2]) == (state, severity):
                continue
            at = self.buffer[-1][0]
            emitted.append((subject, state, severity, at))
            out.append(
                Transition(
                    rule,
                    subject,
                    state,
                    severity,
                    from_ms(at),
                    {},
                    "corrected: a late reading changed the condition",
                )
            )
        emitted.sort(key=lambda item: item[3])
        self.emitted = emitted

    def _advance(self, evaluator: Evaluator) -> None:
        if self.checkpoint is None or not self.buffer:
            return
        key, conditions = self.checkpoint
        if self.buffer[-1][0] - key[0] < evaluator.window_ms:
            return
        self.base_key, self.base, self.checkpoint = key, conditions, None
        # The first point at or after the moment (device ids are not negative).
        keep_from = bisect_left(self.buffer, key[0] - evaluator.window_ms, key=_ts)
        del self.buffer[:keep_from]
        if self.emitted:
            self.emitted = [item for item in self.emitted if item[3] >= key[0]]
        if self.left_out:
            floor = self.buffer[0][0]
            self.left_out = [point for point in self.left_out if point[0] >= floor]
        self.dirty = True


def _blank(conditions: dict[str, Condition]) -> bool:
    """``Condition.blank`` of them all, written out: the ingest asks it of thousands of states a
    chunk. A condition's ``since`` is empty, all None, or starts with a moment (level 0 is met
    whenever a higher one is)."""
    for c in conditions.values():
        if (
            c.status != INACTIVE
            or c.fired != -1
            or c.clear_since is not None
            or c.flips
            or c.flapping
            or (c.since and c.since[0] is not None)
        ):
            return False
    return True


def _condition_document(c: Condition) -> dict[str, Any]:
    return {
        "status": c.status,
        "since": c.since,
        "fired": c.fired,
        "clear_since": c.clear_since,
        "flips": c.flips,
        "flapping": c.flapping,
    }


def _condition_row(c: Condition) -> tuple[Any, ...]:
    return (c.status, c.since, c.fired, c.clear_since, c.flips, c.flapping)


def _condition_of(data: dict[str, Any] | list[Any]) -> Condition:
    if isinstance(data, dict):
        return Condition.from_json(data)
    return Condition(data[0], list(data[1]), data[2], data[3], list(data[4]), data[5])


_key: Callable[[Point], tuple[int, int]] = itemgetter(0, 1)
_ts: Callable[[Point], int] = itemgetter(0)
_device: Callable[[Point], int] = itemgetter(1)
_POSITIVE: Callable[[int], bool] = (0).__lt__


def _uses_memo(evaluator: Evaluator) -> bool:
    return getattr(evaluator, "uses_memo", False)


def _live(condition: Condition | None) -> bool:
    return condition is not None and condition.status != INACTIVE


def _describer(
    evaluator: Evaluator, buffer: list[Point], index: int
) -> Callable[[], tuple[dict[str, Any], str]]:
    return lambda: evaluator.describe(buffer, index)
