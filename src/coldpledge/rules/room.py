"""The room-level entry point the ingest path calls once per chunk of readings of one room."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from coldpledge.rules.stream import Evaluator, Point, RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import Window

StateKey = tuple[str, str]  # (rule, scope): scope "device:7" or "room:12"


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

    def evaluate(
        self, states: Mapping[StateKey, RuleState], readings: Iterable[Sequence[Any]]
    ) -> tuple[dict[StateKey, RuleState], list[Transition]]:
        """Judge a chunk of the room's readings.

        ``readings`` are rows as the ingest stores them: ``(device_id, metric_code, ts, value_u,
        fault, ...)``, in any order. ``states`` are the stored states of the room's keys (missing
        keys start afresh; the given ones are updated in place). Returns the states this chunk
        changed, to be stored, and the transitions, in event-time order per key.
        """
        devices = self.context.devices
        by_metric = self._by_metric
        everywhere = self._everywhere
        # Per (device, metric) first, with one dictionary step per reading; then per rule.
        series: dict[tuple[int, int], list[Point]] = {}
        for row in readings:
            device, metric = row[0], row[1]
            if devices and device not in devices:
                continue
            found = series.get((device, metric))
            if found is None:
                found = series[(device, metric)] = []
            found.append(((row[2] - EPOCH) // _MS, device, row[3], row[4], metric))
        groups: dict[StateKey, tuple[Evaluator, list[Point]]] = {}
        for (device, metric), points in series.items():
            for rule, per_device in by_metric.get(metric, everywhere):
                key = (rule.rule, self._device_ref(device) if per_device else self.room_subject)
                group = groups.get(key)
                # One list per group; a rule judging several metrics of a device (or a room rule,
                # several devices) gets them joined. ``feed`` only reads the lists.
                groups[key] = (rule, points) if group is None else (rule, [*group[1], *points])
        changed: dict[StateKey, RuleState] = {}
        transitions: list[Transition] = []
        for key, (rule, points) in groups.items():
            state = states.get(key)
            if state is None:
                state = RuleState()
            state.feed(rule, points, transitions)
            changed[key] = state
        return changed, transitions

    def rules_for_metric(self, metric: int) -> tuple[tuple[Evaluator, bool], ...]:
        """The rules judging a reading of ``metric``, each with whether its state is per device."""
        return self._by_metric.get(metric, self._everywhere)

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


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // _MS
