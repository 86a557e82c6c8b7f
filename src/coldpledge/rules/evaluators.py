"""Judges of the rules evaluated on readings, one class per rule (see ``stream.Evaluator``).

Readings are judged as stored: ``value_u`` in millionths of the metric's unit, so a temperature
of -19.2 °C is -19_200_000 and a line of -18_000 m°C compares as -18_000_000.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import CLEAR, HOLD, Hygiene, Level, from_ms
from coldpledge.rules.stream import MIN_LATENESS_MS, Point, Spread
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


# Point fields by position, made in C (bisect keys, and maps over a room's buffer).
_ts: Callable[[Point], int] = itemgetter(0)
_device: Callable[[Point], int] = itemgetter(1)
_value: Callable[[Point], int] = itemgetter(2)
_fault: Callable[[Point], int] = itemgetter(3)
_key: Callable[[Point], tuple[int, int]] = itemgetter(0, 1)


def _celsius(value_u: int) -> str:
    return f"{value_u / UNIT:.1f} °C"


class Suppression:
    """Readings whose excursions do not count for the temperature rules (issue 5): inside a
    defrost window, or within the start-up period of their device: ``startup_ignore_minutes``
    from its registration (``registered``: device -> ms) or from its first reading after a
    silence longer than ``device_offline_min_minutes``. A suppressed excursion judges HOLD: a
    condition already firing stays so, a pending one is withdrawn and nothing new starts."""

    def __init__(self, parameters: PolicyParameters, registered: Mapping[int, int] | None = None) -> None:
        self.windows = tuple(
            Window(w.weekdays, w.start_minute, w.end_minute, w.timezone) for w in parameters.defrost_windows
        )
        self.ignore_ms = parameters.startup_ignore_minutes * MINUTE_MS
        self.offline_ms = parameters.device_offline_min_minutes * MINUTE_MS
        self.registered = registered or {}
        self.active = bool(self.windows or self.ignore_ms)

    def __call__(self, buffer: list[Point], index: int) -> bool:
        point = buffer[index]
        ts, device = point[0], point[1]
        if self.windows and within_any(self.windows, from_ms(ts)):
            return True
        if not self.ignore_ms:
            return False
        registered = self.registered.get(device)
        if registered is not None and 0 <= ts - registered < self.ignore_ms:
            return True
        later = ts  # the earliest point of this device's unbroken run found so far
        for back in range(index - 1, -1, -1):
            earlier = buffer[back]
            if earlier[1] != device:
                continue
            if later - earlier[0] > self.offline_ms:
                break  # the run began at ``later``, back from a silence
            if ts - earlier[0] >= self.ignore_ms:
                return False
            later = earlier[0]
        else:
            # The run reaches back past what the state keeps: no silence seen, so no start-up
            # but the registration (checked above).
            return False
        return ts - later < self.ignore_ms


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

    def _one_device(self, buffer: list[Point], start: int) -> tuple[str] | None:
        device = buffer[start][1]
        for index in range(start + 1, len(buffer)):
            if buffer[index][1] != device:
                return None
        return (self.subject(buffer[start]),)


class TemperatureBand(_DeviceRule):
    """Above (or below) the warning line for its duration is major, the critical line critical.
    Faulty readings say nothing about the room and are left to the sensor-fault rule (HOLD)."""

    metrics = frozenset({TEMPERATURE})

    def __init__(self, parameters: PolicyParameters, suppression: Suppression | None = None) -> None:
        rule = parameters.temperature
        self.rule = RuleCode.TEMPERATURE_BAND.value
        self.suppressed = suppression if suppression is not None and suppression.active else None
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
        # No level is met at or inside these.
        self.met_above = min(self.warn_above, self.crit_above)
        self.met_below = max(self.warn_below, self.crit_below)

    def quiet(self, buffer: list[Point], start: int, spread: Spread | None = None) -> tuple[str] | None:
        if spread is not None:
            low, high, _ = spread
            if low is not None and high is not None and (high > self.met_above or low < self.met_below):
                return None
            return (self.subject(buffer[start]),)
        values = [point[2] for point in buffer[start:] if not point[3]]
        if values and (max(values) > self.met_above or min(values) < self.met_below):
            return None
        return self._one_device(buffer, start)

    def judge(self, buffer: list[Point], index: int) -> int:
        point = buffer[index]
        if point[3]:
            return HOLD
        value = point[2]
        if value > self.crit_above or value < self.crit_below:
            return HOLD if self.suppressed is not None and self.suppressed(buffer, index) else 2
        if value > self.warn_above or value < self.warn_below:
            return HOLD if self.suppressed is not None and self.suppressed(buffer, index) else 1
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

    def __init__(self, parameters: PolicyParameters, suppression: Suppression | None = None) -> None:
        self.rule = RuleCode.RATE_OF_RISE.value
        self.suppressed = suppression if suppression is not None and suppression.active else None
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
        if self._rise(buffer, index) <= self.limit:
            return CLEAR
        return HOLD if self.suppressed is not None and self.suppressed(buffer, index) else 1

    def quiet(self, buffer: list[Point], start: int, spread: Spread | None = None) -> tuple[str] | None:
        """No rise can pass the limit when the highest new value is within it of the lowest value
        any new point looks back to."""
        if spread is not None:
            low, high, _ = spread
            if low is None or high is None:
                return (self.subject(buffer[start]),)
            floor = high - self.limit  # a rise to `high` from a sound value below it passes the limit
            if low < floor:
                return None
            first = bisect_left(buffer, buffer[start][0] - self.span_ms, hi=start, key=_ts)
            # Every value looked back to, faulty ones too, in one step in C: nearly always enough.
            if first == start or min(map(_value, islice(buffer, first, start))) >= floor:
                return (self.subject(buffer[start]),)
            if any(point[2] < floor and not point[3] for point in buffer[first:start]):
                return None
            return (self.subject(buffer[start]),)
        values = [point[2] for point in buffer[start:] if not point[3]]
        if values:
            first = bisect_left(buffer, buffer[start][0] - self.span_ms, key=_ts)
            lowest = min(point[2] for point in buffer[first:] if not point[3])
            if max(values) - lowest > self.limit:
                return None
        return self._one_device(buffer, start)

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        rise = self._rise(buffer, index)
        return trigger_of(buffer[index]), f"rose {rise / UNIT:.1f} °C within 10 min"


class DoorOpen(_DeviceRule):
    metrics = frozenset({DOOR})

    def __init__(self, parameters: PolicyParameters, release_windows: Sequence[Window] = ()) -> None:
        """A door open inside one of ``release_windows`` (scheduled loading) does not count when
        the policy says so (``door_open_in_release_windows_ok``)."""
        self.rule = RuleCode.DOOR_OPEN_TOO_LONG.value
        self.loading = tuple(release_windows) if parameters.door_open_in_release_windows_ok else ()
        self.hygiene = Hygiene.of(parameters)
        self.levels = (Level("major", parameters.door_open_max_minutes * MINUTE_MS),)
        self.window_ms = MIN_LATENESS_MS
        self._subjects = {}

    def judge(self, buffer: list[Point], index: int) -> int:
        point = buffer[index]
        if point[3]:
            return HOLD
        if point[2] < UNIT:
            return CLEAR
        return HOLD if self.loading and within_any(self.loading, from_ms(point[0])) else 1

    def quiet(self, buffer: list[Point], start: int, spread: Spread | None = None) -> tuple[str] | None:
        if spread is not None:
            high = spread[1]
            return None if high is not None and high >= UNIT else (self.subject(buffer[start]),)
        if any(point[2] >= UNIT and not point[3] for point in buffer[start:]):
            return None
        return self._one_device(buffer, start)

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

    def quiet(self, buffer: list[Point], start: int, spread: Spread | None = None) -> tuple[str] | None:
        if spread is not None:
            return None if spread[2] else (self.subject(buffer[start]),)
        if any(point[3] for point in buffer[start:]):
            return None
        return self._one_device(buffer, start)

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


def median_replacing(values: list[int], old: int | None, new: int) -> int:
    """The median of sorted ``values`` with ``old`` (one of them, or None) taken out and ``new``
    put in, without building that list: a room of hundreds of probes would copy them all for every
    reading. Integer median; for an even count, the floor of the two middle values' mean."""
    skip = len(values) if old is None else bisect_left(values, old)
    at = bisect_left(values, new)
    if at > skip:
        at -= 1
    size = len(values) + (0 if old is None else -1) + 1

    def nth(k: int) -> int:
        if k == at:
            return new
        j = k if k < at else k - 1  # index among the values without ``old``
        return values[j] if j < skip else values[j + 1]

    middle = size // 2
    return nth(middle) if size % 2 else (nth(middle - 1) + nth(middle)) // 2


def median_bounds(values: list[int]) -> tuple[int, int] | None:
    """Bounds of ``median_replacing(values, old, new)`` for any ``old`` of sorted ``values`` (or
    None) and any ``new``: taking one value out and putting one in moves the k-th of the sorted
    values at most to a neighbour's place, so the middle ones stay within two places of the
    middle. None for fewer than three values, where ``new`` itself may be beyond them all."""
    if len(values) < 3:
        return None
    middle = len(values) // 2
    return values[max(0, middle - 2)], values[min(len(values) - 1, middle + 2)]


def _within(value: int, bounds: tuple[int, int] | None, margin: int) -> bool:
    """Whether every number between ``bounds`` is within ``margin`` of ``value``."""
    return bounds is not None and abs(value - bounds[0]) <= margin and abs(value - bounds[1]) <= margin


class SensorDisagreement:
    """A probe further than the limit from the room's median for that duration, with at least the
    minimum number of peers: the probe moved into a cold box while the room warms. The median is
    of every probe's latest reading within the rule's duration, the judged one's included (DESIGN
    §5: "differs from the room median"): with only two peers, their own median would be their mean,
    which the cold probe drags down until the honest probes look odd too. The subject is the odd
    probe."""

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
        return self._subject_of(point[1])

    def _subject_of(self, device: int) -> str:
        subject = self._subjects.get(device)
        if subject is None:
            subject = self._subjects[device] = f"device:{device}"
        return subject

    def _room_median(self, buffer: list[Point], index: int) -> int | None:
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
        values = sorted([*latest.values(), buffer[index][2]])
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) // 2

    def judge(self, buffer: list[Point], index: int) -> int:
        if buffer[index][3]:
            return HOLD
        median = self._room_median(buffer, index)
        if median is None:
            return HOLD
        difference = abs(buffer[index][2] - median)
        if difference > self.limit:
            return 1
        return CLEAR if difference <= self.clear_limit else HOLD

    # A state's buffer grows at its end and is cut at its front, chunk after chunk; what the rule
    # gathers over its lookback it keeps in the state's memo (``RuleState.memo``, emptied
    # whenever a point goes in before the end) and brings up to date with the new points alone,
    # instead of going over the lookback again for every chunk. What it keeps reaches back at
    # most one freshness further than the lookback: bounds over more points are looser, never
    # wrong.
    uses_memo = True

    def quiet(self, buffer: list[Point], start: int, memo: dict[str, Any] | None = None) -> list[str] | None:
        """No new point is met when every sound value a new point is compared with, its own
        included, lies within the clearing margin of every other: a peers' median is among them."""
        low, high = self._value_bounds(
            buffer, buffer[start][0] - self.freshness_ms, {} if memo is None else memo
        )
        if low is not None and high is not None and high - low > self.clear_limit:
            return None
        return [self._subject_of(device) for device in dict.fromkeys(map(_device, buffer[start:]))]

    def _kept_from(self, buffer: list[Point], first_ts: int, kept: Any) -> int | None:
        """Where to go on from a memo entry ``(since, upto, ...)``: the index after ``upto`` (the
        key of the last point it took in) when it still reaches back to ``first_ts`` and not too
        far; else None (gather afresh)."""
        if kept is None:
            return None
        since, upto = kept[0], kept[1]
        if since > first_ts or first_ts - since > self.freshness_ms:
            return None
        at = bisect_left(buffer, upto, key=_key)
        if at < len(buffer) and _key(buffer[at]) == upto:
            return at + 1
        return None

    def _value_bounds(
        self, buffer: list[Point], first_ts: int, memo: dict[str, Any]
    ) -> tuple[int | None, int | None]:
        """The least and greatest sound value from ``first_ts`` (or somewhat earlier) on."""
        kept: Any = memo.get("values")
        go_on = self._kept_from(buffer, first_ts, kept)
        if go_on is None:
            since, low, high = first_ts, None, None
            go_on = bisect_left(buffer, first_ts, key=_ts)
        else:
            since, _, low, high = kept
        added = buffer[go_on:]
        if added:
            if any(map(_fault, added)):
                values = [point[2] for point in added if not point[3]]
            else:
                values = list(map(_value, added))
            if values:
                least, greatest = min(values), max(values)
                low = least if low is None else min(low, least)
                high = greatest if high is None else max(high, greatest)
        memo["values"] = (since, _key(buffer[-1]), low, high)
        return low, high

    def judge_all(self, buffer: list[Point], start: int, memo: dict[str, Any] | None = None) -> list[int]:
        """``judge`` of every point from ``start`` in one sweep: the peers' latest values are kept
        sorted as the points go by, instead of gathered again for each point. A room whose every
        probe reports steadily is judged first from the probes' ranges (``_judge_by_ranges``)."""
        if start < len(buffer):
            found = self._judge_by_ranges(buffer, start, {} if memo is None else memo)
            if found is not None:
                return found
        return self._sweep(buffer, start)

    def _judge_by_ranges(self, buffer: list[Point], start: int, memo: dict[str, Any]) -> list[int] | None:
        """The judgements without the sweep, when they follow from bounds; else None.

        When every probe with a sound point in the lookback has one before the first new point,
        none further apart than the freshness and its last within it of the last new point, every
        probe is among the latest values at every new point, each somewhere in the range of its own
        sound values. The median is monotone in each value, so it lies between the median of the
        probes' least values and that of their greatest: a point clear of both bounds by the
        clearing margin is clear, one beyond the limit from both is met, one between the margin
        and the limit from both holds. Any other point, or any gap, and the sweep decides.

        The probes' ranges are kept in the memo (an empty one: gathered over the lookback): per
        probe its least and greatest sound value, its last moment and where its last gap longer
        than the freshness began, brought up to date with the new points. The checks are on the
        probes seen within the lookback: a gap that began in it, a probe that joins with the new
        points, one that falls silent before the last; kept ranges may reach a little further
        back, so the bounds are looser."""
        freshness = self.freshness_ms
        first_ts = buffer[start][0] - freshness
        kept: Any = memo.get("ranges")
        go_on = self._kept_from(buffer, first_ts, kept) if kept is not None and kept[2] == freshness else None
        if go_on is None or go_on > start:
            since = first_ts
            probes: dict[int, list[int]] = {}
            go_on = bisect_left(buffer, first_ts, key=_ts)
        else:
            since, probes = kept[0], kept[3]
        joined = False
        for index in range(go_on, len(buffer)):
            ts, device, value, fault, _ = buffer[index]
            if fault:
                continue
            probe = probes.get(device)
            if probe is None:
                probes[device] = [value, value, ts, _NO_LINE_BELOW]  # no gap yet
                joined = joined or index >= start
                continue
            if index >= start and probe[2] < first_ts:
                joined = True  # its last point before the chunk is older than the lookback
            if ts - probe[2] > freshness:
                probe[3] = probe[2]  # a gap from there
            if value < probe[0]:
                probe[0] = value
            elif value > probe[1]:
                probe[1] = value
            probe[2] = ts
        memo["ranges"] = (since, _key(buffer[-1]), freshness, probes)
        if joined:
            return None
        last_ts = buffer[-1][0]
        lows: list[int] = []
        highs: list[int] = []
        for low, high, last, gap in probes.values():
            if last < first_ts:
                continue  # not in the lookback
            if gap >= first_ts or last_ts - last > freshness:
                return None
            lows.append(low)
            highs.append(high)
        if len(lows) - 1 < self.min_peers:
            return None
        return self._judged_within(buffer, start, sorted(lows), sorted(highs))

    def _judged_within(
        self, buffer: list[Point], start: int, lows: list[int], highs: list[int]
    ) -> list[int] | None:
        """The judgements of the new points when every probe's value lies in its range (``lows``
        and ``highs``, sorted): see ``_judge_by_ranges``."""
        middle = len(lows) // 2
        if len(lows) % 2:
            median_low, median_high = lows[middle], highs[middle]
        else:
            median_low = (lows[middle - 1] + lows[middle]) // 2
            median_high = (highs[middle - 1] + highs[middle]) // 2
        limit, clear_limit = self.limit, self.clear_limit
        # The tests on the distances to both bounds, as lines on the value (median_low <=
        # median_high): within the clearing margin of both, from median_high - clear_limit to
        # median_low + clear_limit; beyond the limit from both, below median_low - limit or above
        # median_high + limit; and so on. Most points fall in the first: checked in C at once.
        clear_from, clear_to = median_high - clear_limit, median_low + clear_limit
        new = buffer[start:]
        if not any(map(_fault, new)):
            values = list(map(_value, new))
            if values and clear_from <= min(values) and max(values) <= clear_to:
                return [CLEAR] * len(values)
        met_below, met_above = median_low - limit, median_high + limit
        held_below, held_above = median_low - clear_limit, median_high + clear_limit
        near_from, near_to = median_high - limit, median_low + limit
        judged: list[int] = []
        for point in new:
            value = point[2]
            if point[3]:
                judged.append(HOLD)
            elif clear_from <= value <= clear_to:
                judged.append(CLEAR)
            elif value < met_below or value > met_above:
                judged.append(1)
            elif (value < held_below or value > held_above) and near_from <= value <= near_to:
                judged.append(HOLD)
            else:
                return None
        return judged

    def _sweep(self, buffer: list[Point], start: int) -> list[int]:
        freshness, limit, clear_limit, min_peers = (
            self.freshness_ms,
            self.limit,
            self.clear_limit,
            self.min_peers,
        )
        latest: dict[int, tuple[int, int]] = {}  # device -> (ts, value) of its latest sound point
        values: list[int] = []  # the values of ``latest``, sorted
        seen: deque[tuple[int, int]] = deque()  # (ts, device) as they came, to let them expire
        judged: list[int] = []
        if start >= len(buffer):
            return judged
        first = bisect_left(buffer, buffer[start][0] - freshness, hi=start, key=_ts)
        for index in range(first, len(buffer)):
            ts, device, value, fault, _ = buffer[index]
            if index >= start:
                horizon = ts - freshness
                while seen and seen[0][0] < horizon:
                    old_ts, old_device = seen.popleft()
                    entry = latest.get(old_device)
                    if entry is not None and entry[0] == old_ts:
                        del latest[old_device]
                        del values[bisect_left(values, entry[1])]
                if fault:
                    judged.append(HOLD)
                else:
                    own = latest.get(device)
                    peers = len(values) - (own is not None)
                    if peers < min_peers:
                        judged.append(HOLD)
                    elif value - values[0] <= clear_limit and values[-1] - value <= clear_limit:
                        judged.append(CLEAR)  # the peers' median is between the two
                    elif _within(value, median_bounds(values), clear_limit):
                        # A room with a few odd probes judges the others without the median.
                        judged.append(CLEAR)
                    else:
                        median = median_replacing(values, None if own is None else own[1], value)
                        difference = abs(value - median)
                        if difference > limit:
                            judged.append(1)
                        else:
                            judged.append(CLEAR if difference <= clear_limit else HOLD)
            if not fault:
                own = latest.get(device)
                if own is not None:
                    del values[bisect_left(values, own[1])]
                latest[device] = (ts, value)
                insort(values, value)
                seen.append((ts, device))
        return judged

    def describe(self, buffer: list[Point], index: int) -> tuple[dict[str, Any], str]:
        point = buffer[index]
        median = self._room_median(buffer, index)
        trigger = trigger_of(point)
        if median is None:
            return trigger, f"temperature {_celsius(point[2])}"
        trigger["room_median_mc"] = median // U_PER_MC
        return trigger, f"{_celsius(point[2])} against a room median of {_celsius(median)}"
