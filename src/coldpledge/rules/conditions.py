"""Condition states per (rule, subject), Grafana style: inactive → pending → firing → resolved.

A rule judges each observation into a number: ``CLEAR`` (well back inside the limits), ``HOLD``
(not met, but inside the hysteresis margin) or ``k >= 1``, the number of its levels met (levels
are nested: a critical line crossed is a warning line crossed too). A level fires once it has been
met continuously for its duration, measured in event time from the first observation that met it.

Hysteresis on clear is both a margin and a time: the rule says CLEAR only past the margin, and a
firing condition resolves only once it has been CLEAR for ``clear_ms``. A condition that flipped
between firing and resolved ``flap_max`` times within ``flap_window_ms`` is marked flapping and
held firing until it has been clear for a whole window, rather than emitting a storm.

All times inside are integer milliseconds since the epoch, so a state is plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

TransitionState = Literal["pending", "firing", "resolved"]

CLEAR = -1
HOLD = 0

INACTIVE = "inactive"
PENDING = "pending"
FIRING = "firing"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("rules compare aware datetimes only")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class Transition:
    rule: str
    subject: str
    state: TransitionState
    severity: str  # "minor" | "major" | "critical"
    at: datetime  # event time, from the observations, never the wall clock
    trigger: dict[str, Any]  # the reading or fact that caused it, JSON-ready
    detail: str
    flapping: bool = False  # a firing held through a flapping spell


@dataclass(frozen=True, slots=True)
class Level:
    severity: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Hygiene:
    clear_ms: int
    flap_window_ms: int
    flap_max: int

    @classmethod
    def of(cls, parameters: Any) -> Hygiene:
        """From PolicyParameters' clear_minutes, flap_window_minutes and flap_max_flips."""
        return cls(
            parameters.clear_minutes * 60_000,
            parameters.flap_window_minutes * 60_000,
            parameters.flap_max_flips,
        )


# (state, severity, at_ms) -> the trigger and the detail of a transition; built only on emission.
Describe = Callable[[], tuple[dict[str, Any], str]]


@dataclass(slots=True)
class Condition:
    """The condition of one rule on one subject."""

    status: str = INACTIVE
    since: list[int | None] = field(default_factory=list)  # per level: met since (ms)
    fired: int = -1  # index of the highest level fired in this episode
    clear_since: int | None = None
    flips: list[int] = field(default_factory=list)  # firing/resolved moments within the flap window
    flapping: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "since": list(self.since),
            "fired": self.fired,
            "clear_since": self.clear_since,
            "flips": list(self.flips),
            "flapping": self.flapping,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Condition:
        return cls(
            data["status"],
            list(data["since"]),
            data["fired"],
            data["clear_since"],
            list(data["flips"]),
            data["flapping"],
        )

    def blank(self) -> bool:
        """Whether the condition holds nothing: inactive, met since never, no recent flip. Such a
        condition and a missing one judge what follows alike."""
        return (
            self.status == INACTIVE
            and self.fired == -1
            and self.clear_since is None
            and not self.flips
            and not self.flapping
            and all(start is None for start in self.since)
        )

    def copy(self) -> Condition:
        return Condition(
            self.status, list(self.since), self.fired, self.clear_since, list(self.flips), self.flapping
        )

    def step(
        self,
        rule: str,
        subject: str,
        at: int,
        met: int,
        levels: Sequence[Level],
        hygiene: Hygiene,
        describe: Describe,
        out: list[Transition],
    ) -> None:
        """Move by one judged observation at ``at`` (ms), appending any transition to ``out``."""
        if met > 0:
            self.clear_since = None
            since = self.since
            if len(since) != len(levels):
                since[:] = [None] * len(levels)
            reached = -1
            for index, level in enumerate(levels):
                if index < met:
                    if since[index] is None:
                        since[index] = at
                    start = since[index]
                    if start is not None and at - start >= level.duration_ms:
                        reached = index
                else:
                    since[index] = None
            if self.status == INACTIVE:
                self.status = PENDING
                if reached < 0:
                    self._emit(rule, subject, "pending", levels[0].severity, at, describe, out)
            if reached > self.fired:
                if self.status != FIRING:
                    self._flip(at, hygiene)
                self.status = FIRING
                self.fired = reached
                self._emit(rule, subject, "firing", levels[reached].severity, at, describe, out)
            return
        if self.since and self.since[0] is not None:
            self.since[:] = [None] * len(self.since)
        if self.status == PENDING:
            self.status = INACTIVE
            self._emit(rule, subject, "resolved", levels[0].severity, at, describe, out)
        elif self.status == FIRING:
            if met == HOLD:
                self.clear_since = None
                return
            if self.clear_since is None:
                self.clear_since = at
            needed = hygiene.flap_window_ms if self.flapping else hygiene.clear_ms
            if at - self.clear_since < needed:
                return
            self._prune(at, hygiene)
            if not self.flapping and len(self.flips) + 1 >= hygiene.flap_max:
                self.flapping = True
                if at - self.clear_since < hygiene.flap_window_ms:
                    return
            severity = levels[max(self.fired, 0)].severity
            self._flip(at, hygiene)
            self.status = INACTIVE
            self.fired = -1
            self.clear_since = None
            flapping, self.flapping = self.flapping, False
            self._emit(rule, subject, "resolved", severity, at, describe, out, flapping=flapping)

    def _flip(self, at: int, hygiene: Hygiene) -> None:
        self._prune(at, hygiene)
        self.flips.append(at)

    def _prune(self, at: int, hygiene: Hygiene) -> None:
        horizon = at - hygiene.flap_window_ms
        if self.flips and self.flips[0] < horizon:
            self.flips[:] = [flip for flip in self.flips if flip >= horizon]

    def _emit(
        self,
        rule: str,
        subject: str,
        state: TransitionState,
        severity: str,
        at: int,
        describe: Describe,
        out: list[Transition],
        *,
        flapping: bool = False,
    ) -> None:
        trigger, detail = describe()
        out.append(
            Transition(
                rule, subject, state, severity, from_ms(at), trigger, detail, flapping or self.flapping
            )
        )


def judge_once(
    condition: Condition | None,
    rule: str,
    subject: str,
    at: datetime,
    met: int,
    levels: Sequence[Level],
    hygiene: Hygiene,
    trigger: dict[str, Any],
    detail: str,
) -> tuple[Condition, list[Transition]]:
    """One judgement of a periodic rule: the condition after it and the transitions it makes."""
    state = condition.copy() if condition is not None else Condition()
    out: list[Transition] = []
    state.step(rule, subject, to_ms(at), met, levels, hygiene, lambda: (trigger, detail), out)
    return state, out
