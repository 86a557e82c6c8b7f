"""The room-level entry point the ingest path calls once per chunk of readings of one room."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from coldpledge.rules.conditions import EPOCH, Transition
from coldpledge.rules.evaluators import (
    DoorOpen,
    RateOfRise,
    SealedRoomActivity,
    SensorDisagreement,
    SensorFault,
    Suppression,
    TemperatureBand,
)
from coldpledge.rules.stream import Evaluator, Point, RuleState, Spread
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import Window

StateKey = tuple[str, str]  # (rule, scope): scope "device:7" or "room:12"
# The rules a (device, metric) feeds, each with its state's key and whether that is per device;
# whether any is; and the keys alone.
_Plan = tuple[tuple[tuple[Any, StateKey, bool], ...], bool, tuple[StateKey, ...]]


@dataclass(frozen=True)
class RoomContext:
    room_id: int
    temperature_class: TemperatureClass
    sealed: bool = False
    release_windows: Sequence[Window] = ()
    # The room's devices and their kinds (DeviceKind values); readings of other devices are ignored.
    devices: Mapping[int, str] = field(default_factory=dict)
    # When each device was registered (ms since the epoch), for the start-up ignore period.
    registered_ms: Mapping[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Group:
    """The points of one chunk a rule judges under one key, and what is known of them."""

    rule: Evaluator
    points: list[Point]
    spread: Spread | None
    ordered: bool  # sorted, one point a moment (a single device's series)
    distinct: bool  # no two points of one device and moment
    owned: bool = False  # ``points`` is this group's own list (else a series', not to be changed)

    def join(self, points: list[Point]) -> None:
        if not self.owned:
            self.points = [*self.points, *points]
            self.owned = True
        else:
            self.points.extend(points)


class RoomRules:
    """The reading rules of one room under one policy. Build it once per (room, policy version)
    and reuse it across chunks: it caches subject refs."""

    def __init__(self, parameters: PolicyParameters, context: RoomContext) -> None:
        room = f"room:{context.room_id}"
        self.context = context
        self.room_subject = room
        suppression = Suppression(parameters, context.registered_ms)
        device_rules: list[Any] = [
            TemperatureBand(parameters, suppression),
            RateOfRise(parameters, suppression),
            DoorOpen(parameters, context.release_windows),
            SensorFault(parameters),
        ]
        room_rules: list[Any] = [
            SensorDisagreement(parameters),
            SealedRoomActivity(parameters, room, sealed=context.sealed, windows=context.release_windows),
        ]
        # metric code -> the rules judging it, each with whether its state is per device (True) or
        # per room; a rule without metrics (sensor fault) judges every metric.
        self._everywhere = tuple((rule, True) for rule in device_rules if rule.metrics is None)
        by_metric: dict[int, list[tuple[Evaluator, bool]]] = {}
        for rule, per_device in [(r, True) for r in device_rules] + [(r, False) for r in room_rules]:
            for metric in rule.metrics or ():
                by_metric.setdefault(metric, []).append((rule, per_device))
        self._by_metric = {metric: (*rules, *self._everywhere) for metric, rules in by_metric.items()}
        self._device_refs: dict[int, str] = {}
        self._plans: dict[tuple[int, int], _Plan] = {}
        # Per-device rules of one metric: a chunk feeds such a rule's state from one series only.
        self._one_metric = frozenset(
            id(rule) for rule in device_rules if rule.metrics is not None and len(rule.metrics) == 1
        )

    def evaluate(
        self, states: Mapping[StateKey, RuleState], readings: Iterable[Sequence[Any]]
    ) -> tuple[dict[StateKey, RuleState], list[Transition]]:
        """Judge a chunk of the room's readings.

        ``readings`` are rows as the ingest stores them: ``(device_id, metric_code, ts, value_u,
        fault, ...)``, in any order. ``states`` are the stored states of the room's keys (missing
        keys start afresh; the given ones are updated in place). Returns the states this chunk
        changed, to be stored, and the transitions, in event-time order per key.
        """
        # Per (device, metric) first, with one dictionary step per reading; then per rule. Readings
        # of a chunk share few moments: each is turned into milliseconds once.
        series: dict[tuple[int, int], list[Point]] = {}
        moments: dict[datetime, int] = {}
        metrics_of: dict[int, int] = {}  # how many metrics each device has in the chunk
        for row in readings:
            device, metric, moment = row[0], row[1], row[2]
            ms = moments.get(moment)
            if ms is None:
                ms = moments[moment] = (moment - EPOCH) // _MS
            found = series.get((device, metric))
            if found is None:
                found = series[(device, metric)] = []
                metrics_of[device] = metrics_of.get(device, 0) + 1
            found.append((ms, device, row[3], row[4], metric))
        # A device's series is sorted once for all the rules it feeds, its spread taken once. A
        # group is "distinct" when no two of its points are of one device and moment: a device's
        # series whose moments differ, or a room rule's series of different devices, each so.
        #
        # A device's single reading of its only metric (most readings, at a moderate load: a chunk
        # then holds one reading of each device) is fed to its per-device states at once, without
        # a group: no other series of the chunk feeds those states.
        plans = self._plans
        one_metric = self._one_metric
        groups: dict[StateKey, _Group] = {}
        room_devices: dict[StateKey, set[int]] = {}  # the devices a room rule's group holds
        changed: dict[StateKey, RuleState] = {}
        transitions: list[Transition] = []
        for pair, points in series.items():
            found_plan = plans.get(pair)
            plan, with_spread, _ = self._plan(*pair) if found_plan is None else found_plan
            if not plan:
                continue  # not one of the room's devices
            device = pair[0]
            single = len(points) == 1
            if single:
                distinct = True
                if with_spread:
                    point = points[0]
                    spread: Spread | None = (None, None, True) if point[3] else (point[2], point[2], False)
                else:
                    spread = None
            else:
                points.sort()
                distinct = len(set(map(_ts, points))) == len(points)
                spread = _spread(points) if with_spread else None
            alone = single and metrics_of[device] == 1
            for rule, key, per_device in plan:
                if per_device and (alone or (single and id(rule) in one_metric)):
                    state = states.get(key)
                    if state is None:
                        state = RuleState()
                    state.feed(rule, points, transitions, spread, ordered=True, distinct=True)
                    changed[key] = state
                    continue
                group = groups.get(key)
                if per_device:
                    if group is None:
                        groups[key] = _Group(rule, points, spread, distinct, distinct)
                    else:  # a rule judging several metrics of the device: not one moment each
                        group.join(points)
                        group.spread = _join(group.spread, spread)
                        group.ordered = group.distinct = False
                elif group is None:
                    groups[key] = _Group(rule, points, None, False, distinct)
                    room_devices[key] = {device}
                else:
                    group.join(points)
                    seen = room_devices[key]
                    group.distinct = group.distinct and distinct and device not in seen
                    seen.add(device)
        for key, group in groups.items():
            state = states.get(key)
            if state is None:
                state = RuleState()
            state.feed(
                group.rule,
                group.points,
                transitions,
                group.spread,
                ordered=group.ordered,
                distinct=group.distinct,
            )
            changed[key] = state
        return changed, transitions

    def keys_for(self, readings: Iterable[Sequence[Any]]) -> set[StateKey]:
        """The (rule, subject) keys ``evaluate`` judges these readings under."""
        plans = self._plans
        keys: set[StateKey] = set()
        rows = readings if isinstance(readings, Sequence) else list(readings)
        for pair in set(zip(map(_first, rows), map(_second, rows), strict=True)):
            found = plans.get(pair)
            keys.update((self._plan(*pair) if found is None else found)[2])
        return keys

    def rules_for_metric(self, metric: int) -> tuple[tuple[Evaluator, bool], ...]:
        """The rules judging a reading of ``metric``, each with whether its state is per device."""
        return self._by_metric.get(metric, self._everywhere)

    def _plan(self, device: int, metric: int) -> _Plan:
        """The rules a reading of ``metric`` from ``device`` feeds, each with its state's key and
        whether that is the device's, and whether any is (then the run's spread is wanted); no
        rules for a device not the room's."""
        devices = self.context.devices
        if devices and device not in devices:
            plan: _Plan = ((), False, ())
        else:
            rules = self.rules_for_metric(metric)
            device_ref = self._device_ref(device)
            entries = tuple(
                (rule, (rule.rule, device_ref if per_device else self.room_subject), per_device)
                for rule, per_device in rules
            )
            plan = (entries, any(per_device for _, per_device in rules), tuple(key for _, key, _ in entries))
        self._plans[(device, metric)] = plan
        return plan

    def _device_ref(self, device: int) -> str:
        ref = self._device_refs.get(device)
        if ref is None:
            ref = self._device_refs[device] = f"device:{device}"
        return ref


def evaluate_room(
    parameters: PolicyParameters,
    context: RoomContext,
    states: Mapping[StateKey, RuleState],
    readings: Iterable[Sequence[Any]],
) -> tuple[dict[StateKey, RuleState], list[Transition]]:
    """One-shot form of ``RoomRules(parameters, context).evaluate(states, readings)``."""
    return RoomRules(parameters, context).evaluate(states, readings)


_MS = timedelta(milliseconds=1)
_first = itemgetter(0)  # of a stored row: the device; of a point: the moment
_second = itemgetter(1)  # of a stored row: the metric
_ts = itemgetter(0)
_value = itemgetter(2)
_fault = itemgetter(3)


def _spread(points: list[Point]) -> Spread:
    if not any(map(_fault, points)):
        values = list(map(_value, points))
        return (min(values), max(values), False)
    sound = [point[2] for point in points if not point[3]]
    if not sound:
        return (None, None, True)
    return (min(sound), max(sound), True)


def _join(a: Spread | None, b: Spread | None) -> Spread | None:
    if a is None or b is None:
        return None
    lows = [x for x in (a[0], b[0]) if x is not None]
    highs = [x for x in (a[1], b[1]) if x is not None]
    return (min(lows) if lows else None, max(highs) if highs else None, a[2] or b[2])


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // _MS
