"""Judges of the rules evaluated on readings, one class per rule (see ``stream.Evaluator``).

Readings are judged as stored: ``value_u`` in millionths of the metric's unit, so a temperature
of -19.2 °C is -19_200_000 and a line of -18_000 m°C compares as -18_000_000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import CLEAR, HOLD, Hygiene, Level, from_ms
from coldpledge.rules.stream import MIN_LATENESS_MS, Point
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import Window, within_any

TEMPERATURE, DOOR, LOCK, WEIGHT, MOTION = 1, 3, 4, 5, 8
METRIC_NAMES = {1: "temperature", 2: "humidity", 3: "door", 4: "lock", 5: "weight", 8: "motion"}
UNIT = 1_000_000  # value_u per unit
U_PER_MC = 1_000
MINUTE_MS = 60_000
_NO_LINE_ABOVE = 1 << 62
_NO_LINE_BELOW = -(1 << 62)


def trigger_of(point: Point) -> dict[str, Any]:
    ts, device, value_u, fault, metric = point
    trigger: dict[str, Any] = {
        "device": device,
        "metric": METRIC_NAMES.get(metric, str(metric)),
        "ts": from_ms(ts).isoformat(),
        "value_u": value_u,
    }
    if metric == TEMPERATURE:
        trigger["value_mc"] = value_u // U_PER_MC
    if fault:
        trigger["fault"] = fault
    return trigger


def _celsius(value_u: int) -> str:
    return f"{value_u / UNIT:.1f} °C"


class _DeviceRule:
    """A rule whose subject is the device the reading comes from."""

    rule: str
    levels: Sequence[Level]
    hygiene: Hygiene
    window_ms: int
    _subjects: dict[int, str]

    def subject(self, point: Point) -> str:
        device = point[1]
        subject = self._subjects.get(device)
        if subject is None:
            subject = self._subjects[device] = f"device:{device}"
        return subject


class TemperatureBand(_DeviceRule):
    """Above (or below) the warning line for its duration is major, the critical line critical.
    Faulty readings say nothing about the room and are left to the sensor-fault rule (HOLD)."""

    metrics = frozenset({TEMPERATURE})

    def __init__(self, parameters: PolicyParameters) -> None:
        rule = parameters.temperature
        self.rule = RuleCode.TEMPERATURE_BAND.value
        self.hygiene = Hygiene.of(parameters)
        self.levels = (
            Level("major", rule.warning_minutes * MINUTE_MS),
            Level("critical", rule.critical_minutes * MINUTE_MS),
        )
        self.window_ms = MIN_LATENESS_MS
        self._subjects = {}
        crit_above = rule.critical_above_mc if rule.critical_above_mc is not None else None
        crit_below = rule.critical_below_mc if rule.critical_below_mc is not None else None
        warn_above = rule.warning_above_mc if rule.warning_above_mc is not None else crit_above
        warn_below = rule.warning_below_mc if rule.warning_below_mc is not None else crit_below
        self.crit_above = _NO_LINE_ABOVE if crit_above is None else crit_above * U_PER_MC
        self.crit_below = _NO_LINE_BELOW if crit_below is None else crit_below * U_PER_MC
        self.warn_above = _NO_LINE_ABOVE if warn_above is None else warn_above * U_PER_MC
        self.warn_below = _NO_LINE_BELOW if warn_below is None else warn_below * U_PER_MC
        margin = rule.hysteresis_mc * U_PER_MC
        self.clear_above = self.warn_above - margin
        self.clear_below = self.warn_below + margin

    def judge(self, buffer: list[Point], index: int) -> int:
        point = buffer[index]
        if point[3]:
            return HOLD
        value = point[2]
        if value > self.crit_above or value < self.crit_below:
            return 2
        if value > self.warn_above or value < self.warn_below:
            return 1
        if self.clear_below <= value <= self.clear_above:
            return CLEAR
        return HOLD

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        point = buffer[index]
        return trigger_of(point), f"temperature {_celsius(point[2])}"


class RateOfRise(_DeviceRule):
    """A rise of more than the limit within ten minutes: from the lowest reading in the last ten
    minutes to this one."""

    metrics = frozenset({TEMPERATURE})
    span_ms = 10 * MINUTE_MS

    def __init__(self, parameters: PolicyParameters) -> None:
        self.rule = RuleCode.RATE_OF_RISE.value
        self.hygiene = Hygiene.of(parameters)
        self.levels = (Level("major", 0),)
        self.window_ms = max(self.span_ms, MIN_LATENESS_MS)
        self._subjects = {}
        self.limit = parameters.temperature.rate_of_rise_mc_per_10min * U_PER_MC

    def _rise(self, buffer: list[Point], index: int) -> int:
        ts, device, value = buffer[index][0], buffer[index][1], buffer[index][2]
        horizon = ts - self.span_ms
        lowest = value
        for back in range(index - 1, -1, -1):
            earlier = buffer[back]
            if earlier[0] < horizon:
                break
            if earlier[1] == device and not earlier[3] and earlier[2] < lowest:
                lowest = earlier[2]
        return value - lowest

    def judge(self, buffer: list[Point], index: int) -> int:
        if buffer[index][3]:
            return HOLD
        return 1 if self._rise(buffer, index) > self.limit else CLEAR

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        rise = self._rise(buffer, index)
        return trigger_of(buffer[index]), f"rose {rise / UNIT:.1f} °C within 10 min"


class DoorOpen(_DeviceRule):
    metrics = frozenset({DOOR})

    def __init__(self, parameters: PolicyParameters) -> None:
        self.rule = RuleCode.DOOR_OPEN_TOO_LONG.value
        self.hygiene = Hygiene.of(parameters)
        self.levels = (Level("major", parameters.door_open_max_minutes * MINUTE_MS),)
        self.window_ms = MIN_LATENESS_MS
        self._subjects = {}

    def judge(self, buffer: list[Point], index: int) -> int:
        point = buffer[index]
        if point[3]:
            return HOLD
        return 1 if point[2] >= UNIT else CLEAR

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        return trigger_of(buffer[index]), "door open"


class SensorFault(_DeviceRule):
    """A sentinel or out-of-range value (the ingest marks it) makes the device's readings unusable."""

    metrics: frozenset[int] | None = None  # every metric

    def __init__(self, parameters: PolicyParameters) -> None:
        self.rule = RuleCode.SENSOR_FAULT.value
        self.hygiene = Hygiene.of(parameters)
        self.levels = (Level("major", 0),)
        self.window_ms = MIN_LATENESS_MS
        self._subjects = {}

    def judge(self, buffer: list[Point], index: int) -> int:
        return 1 if buffer[index][3] else CLEAR

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        return trigger_of(buffer[index]), "sensor fault"


class SealedRoomActivity:
    """Door opened, lock opened, motion seen or a weight change beyond the tolerance while the room
    is sealed and no release window is open: critical at once. One condition for the room."""

    metrics = frozenset({DOOR, LOCK, WEIGHT, MOTION})

    def __init__(
        self, parameters: PolicyParameters, room_subject: str, *, sealed: bool, windows: Sequence[Window]
    ) -> None:
        self.rule = RuleCode.SEALED_ROOM_ACTIVITY.value
        self.hygiene = Hygiene.of(parameters)
        self.levels = (Level("critical", 0),)
        self.window_ms = MIN_LATENESS_MS
        self.room_subject = room_subject
        self.sealed = sealed
        self.windows = tuple(windows)
        self.tolerance_bp = parameters.weight_drop_tolerance_bp

    def subject(self, point: Point) -> str:
        return self.room_subject

    def _activity(self, buffer: list[Point], index: int) -> bool:
        _, device, value, fault, metric = buffer[index]
        if fault:
            return False
        if metric == DOOR:
            return value >= UNIT
        if metric == LOCK:
            return value < UNIT
        if metric == MOTION:
            return value > 0
        for back in range(index - 1, -1, -1):
            earlier = buffer[back]
            if earlier[1] == device and earlier[4] == WEIGHT and not earlier[3]:
                return abs(value - earlier[2]) * 10_000 > abs(earlier[2]) * self.tolerance_bp
        return False

    def judge(self, buffer: list[Point], index: int) -> int:
        if not self.sealed or not self._activity(buffer, index):
            return CLEAR
        if self.windows and within_any(self.windows, from_ms(buffer[index][0])):
            return CLEAR
        return 1

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        point = buffer[index]
        return trigger_of(point), f"{METRIC_NAMES.get(point[4], 'activity')} in a sealed room"


class SensorDisagreement:
    """A probe further than the limit from the median of its peers (their latest readings within
    the rule's duration) for that duration, with at least the minimum number of peers: the probe
    moved into a cold box while the room warms. The subject is the odd probe."""

    metrics = frozenset({TEMPERATURE})

    def __init__(self, parameters: PolicyParameters) -> None:
        self.rule = RuleCode.SENSOR_DISAGREEMENT.value
        self.hygiene = Hygiene.of(parameters)
        minutes = parameters.sensor_disagreement_minutes * MINUTE_MS
        self.levels = (Level("critical", minutes),)
        self.window_ms = max(minutes, MIN_LATENESS_MS)
        self.freshness_ms = minutes
        self.limit = parameters.sensor_disagreement_mc * U_PER_MC
        self.clear_limit = max(self.limit - parameters.temperature.hysteresis_mc * U_PER_MC, 0)
        self.min_peers = parameters.sensor_disagreement_min_peers
        self._subjects: dict[int, str] = {}

    def subject(self, point: Point) -> str:
        device = point[1]
        subject = self._subjects.get(device)
        if subject is None:
            subject = self._subjects[device] = f"device:{device}"
        return subject

    def _peer_median(self, buffer: list[Point], index: int) -> int | None:
        ts, device = buffer[index][0], buffer[index][1]
        horizon = ts - self.freshness_ms
        latest: dict[int, int] = {}
        for back in range(index - 1, -1, -1):
            earlier = buffer[back]
            if earlier[0] < horizon:
                break
            if earlier[1] != device and not earlier[3] and earlier[1] not in latest:
                latest[earlier[1]] = earlier[2]
        if len(latest) < self.min_peers:
            return None
        values = sorted(latest.values())
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) // 2

    def judge(self, buffer: list[Point], index: int) -> int:
        if buffer[index][3]:
            return HOLD
        median = self._peer_median(buffer, index)
        if median is None:
            return HOLD
        difference = abs(buffer[index][2] - median)
        if difference > self.limit:
            return 1
        return CLEAR if difference <= self.clear_limit else HOLD

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        point = buffer[index]
        median = self._peer_median(buffer, index)
        trigger = trigger_of(point)
        if median is None:
            return trigger, f"temperature {_celsius(point[2])}"
        trigger["peer_median_mc"] = median // U_PER_MC
        return trigger, f"{_celsius(point[2])} against a room median of {_celsius(median)}"
