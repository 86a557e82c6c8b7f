"""A simulated cold room and its sensors, for demos, load tests and scenario tests.

The room is one thermal mass: heat leaks in through the walls toward the ambient temperature
(Newton's law), a compressor with on/off hysteresis around the set point pulls it down, an electric
heater defrosts the evaporator every few hours, doors open at random and let warm air in. Probes
drift slowly and are noisy; humidity follows the compressor, the doors and the defrosts.

Everything is driven by an explicit time argument, never the wall clock, and the physics advances
in fixed one-second steps counted from the start, so a run depends only on the seed and the moments
asked for: tests can live 24 hours in a second, and the same seed gives the same room.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from coldpledge.iot.edge.config import RoomProfile, SimulatorDriverSettings
from coldpledge.iot.edge.driver import Measurement

STEP_SECONDS = 1.0
# An open door exchanges the air toward the ambient temperature at this rate (per hour): a one-minute
# opening of a frozen store in a warm hall lifts the air by one or two degrees.
DOOR_EXCHANGE_PER_HOUR = 2.0
DOOR_OPEN_SECONDS = (20.0, 120.0)
HUMIDITY_TIME_CONSTANT_SECONDS = 600.0
HUMIDITY_NOISE = 0.5
WEIGHT_NOISE_KG = 0.5


@dataclass(frozen=True)
class RoomState:
    elapsed_seconds: float
    air: float  # the true air temperature, °C; probes add drift and noise
    humidity: float
    compressor_on: bool
    compressor_failed: bool
    defrosting: bool
    door_open: bool


class ColdRoom:
    def __init__(self, profile: RoomProfile, *, seed: int, start: datetime) -> None:
        self.profile = profile
        self.start = start
        self._random = random.Random(seed)  # noqa: S311 - simulated physics, not secrets
        self._air = profile.set_point + self._random.uniform(-profile.band, profile.band)
        self._humidity = profile.humidity
        self._compressor_on = False
        self._compressor_failed = False
        self._door_closes_at: float | None = None
        self._defrost_every = profile.defrost_every_hours * 3600
        # Rooms started together should not all defrost at the same minute.
        self._defrost_phase = self._random.uniform(0, self._defrost_every)
        self._elapsed = 0.0

    @property
    def state(self) -> RoomState:
        return RoomState(
            elapsed_seconds=self._elapsed,
            air=self._air,
            humidity=self._humidity,
            compressor_on=self._compressor_on,
            compressor_failed=self._compressor_failed,
            defrosting=self._defrosting(),
            door_open=self._door_closes_at is not None,
        )

    def fail_compressor(self) -> None:
        """From now on the compressor never starts again: the room warms toward the ambient."""
        self._compressor_failed = True
        self._compressor_on = False

    def advance(self, moment: datetime) -> RoomState:
        """The room at ``moment``. A moment earlier than the last one (a clock stepped back) gives
        the current state rather than rewinding."""
        target = (moment - self.start).total_seconds()
        while self._elapsed + STEP_SECONDS <= target:
            self._step()
        return self.state

    def _defrosting(self) -> bool:
        position = (self._elapsed + self._defrost_phase) % self._defrost_every
        return position < self.profile.defrost_minutes * 60

    def _step(self) -> None:
        p = self.profile
        if (
            p.compressor_fails_after_hours is not None
            and self._elapsed >= p.compressor_fails_after_hours * 3600
        ):
            self.fail_compressor()
        if self._door_closes_at is not None and self._elapsed >= self._door_closes_at:
            self._door_closes_at = None
        if (
            self._door_closes_at is None
            and self._random.random() < p.door_openings_per_hour * STEP_SECONDS / 3600
        ):
            self._door_closes_at = self._elapsed + self._random.uniform(*DOOR_OPEN_SECONDS)
        door_open = self._door_closes_at is not None
        defrosting = self._defrosting()

        if self._compressor_failed or defrosting:
            self._compressor_on = False
        elif self._air >= p.set_point + p.band:
            self._compressor_on = True
        elif self._air <= p.set_point - p.band:
            self._compressor_on = False

        per_hour = (p.ambient - self._air) / p.insulation_hours
        if door_open:
            per_hour += (p.ambient - self._air) * DOOR_EXCHANGE_PER_HOUR
        if defrosting:
            per_hour += p.defrost_heat_per_hour
        if self._compressor_on:
            per_hour -= p.pull_down_per_hour
        self._air += per_hour * STEP_SECONDS / 3600

        # The evaporator dries the air while it runs; warm air through a door and melting ice wet it.
        if door_open or defrosting:
            humidity_target = 98.0
        elif self._compressor_on:
            humidity_target = p.humidity - 8.0
        else:
            humidity_target = p.humidity
        self._humidity += (humidity_target - self._humidity) * STEP_SECONDS / HUMIDITY_TIME_CONSTANT_SECONDS
        self._elapsed += STEP_SECONDS


class SimulatorDriver:
    """The sensors of one simulated room. The room starts at the first reading."""

    def __init__(self, settings: SimulatorDriverSettings, *, name: str = "simulator") -> None:
        self.name = name
        self.interval_seconds = settings.interval_seconds
        self._settings = settings
        self.room: ColdRoom | None = None
        # One generator per sensor, so adding a sensor does not change what the others report.
        self._noise = {
            sensor.code: random.Random(f"{settings.seed}:{sensor.code}")  # noqa: S311 - sensor noise
            for sensor in settings.sensors
        }

    def read(self, now: datetime) -> list[Measurement]:
        if self.room is None:
            self.room = ColdRoom(self._settings.room, seed=self._settings.seed, start=now)
        state = self.room.advance(now)
        days = state.elapsed_seconds / 86_400
        readings: list[Measurement] = []
        for sensor in self._settings.sensors:
            noise = self._noise[sensor.code]
            for metric in sensor.metrics:
                readings.append(Measurement(sensor.code, metric, self._value(metric, state, noise, days)))
        return readings

    def close(self) -> None:
        """Nothing to release; the driver interface asks every driver for it."""

    def _value(self, metric: str, state: RoomState, noise: random.Random, days: float) -> float:
        profile = self._settings.room
        if metric == "temperature":
            probe = state.air + profile.drift_per_day * days + noise.gauss(0, profile.noise)
            return round(probe, 1)
        if metric == "humidity":
            return round(min(100.0, max(0.0, state.humidity + noise.gauss(0, HUMIDITY_NOISE))), 1)
        if metric == "door":
            return 1.0 if state.door_open else 0.0
        if metric == "weight":
            return round(profile.load_kg + noise.gauss(0, WEIGHT_NOISE_KG), 1)
        raise ValueError(f"the simulator has no {metric} sensor")
