"""The simulated cold room: a compressor holding its band, defrosts, doors, drift and failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from coldpledge.iot.edge.config import RoomProfile, SimulatedSensor, SimulatorDriverSettings
from coldpledge.iot.edge.simulator import RoomState, SimulatorDriver

T0 = datetime(2026, 11, 29, tzinfo=UTC)
PROBE = "TMP-3XK9PA"
DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Sample:
    second: int
    values: dict[str, float]
    state: RoomState


def frozen_store(seed: int = 7, **profile: float) -> SimulatorDriver:
    settings = SimulatorDriverSettings(
        kind="simulator",
        seed=seed,
        room=RoomProfile(**profile),
        sensors=(
            SimulatedSensor(code=PROBE, metrics=("temperature", "humidity")),
            SimulatedSensor(code="DOR-4M7Q2T", metrics=("door",)),
            SimulatedSensor(code="SCL-8N3P5R", metrics=("weight",)),
        ),
    )
    return SimulatorDriver(settings)


def run(driver: SimulatorDriver, minutes: int, *, every_seconds: int = 60) -> list[Sample]:
    samples = []
    for second in range(0, minutes * 60, every_seconds):
        readings = driver.read(T0 + timedelta(seconds=second))
        assert driver.room is not None
        samples.append(Sample(second, {r.metric: r.value for r in readings}, driver.room.state))
    return samples


def run_from(driver: SimulatorDriver, *, start_minute: int, minutes: int) -> list[float]:
    temperatures: list[float] = []
    for minute in range(start_minute, start_minute + minutes, 10):
        readings = driver.read(T0 + timedelta(minutes=minute))
        temperatures.extend(r.value for r in readings if r.metric == "temperature")
    return temperatures


def test_the_compressor_holds_a_frozen_room_inside_its_band_apart_from_defrosts_and_doors() -> None:
    # Every 15 s: the shortest door opening (20 s) cannot slip between two samples.
    samples = run(frozen_store(set_point=-18.0, band=1.0), DAY_MINUTES, every_seconds=15)
    # After a defrost or a door the compressor needs a while to pull the room back down.
    disturbed = {
        sample.second + after
        for sample in samples
        if sample.state.defrosting or sample.state.door_open
        for after in range(0, (50 if sample.state.defrosting else 25) * 60, 15)
    }
    quiet = [sample for sample in samples if sample.second not in disturbed]

    assert len(quiet) > len(samples) * 0.4
    # Noise and a day of drift on top of the band, at 0.1 °C resolution.
    assert all(-19.3 <= sample.values["temperature"] <= -16.7 for sample in quiet)
    switches = sum(a.state.compressor_on != b.state.compressor_on for a, b in pairwise(samples))
    assert switches >= 2 * 24  # it cycles, rather than running flat out
    assert sum(sample.state.compressor_on for sample in quiet) < 0.6 * len(quiet)


def test_a_defrost_raises_the_temperature_several_degrees_then_the_room_recovers() -> None:
    samples = run(frozen_store(door_openings_per_hour=0), DAY_MINUTES)
    start = next(i for i, sample in enumerate(samples) if sample.state.defrosting and i > 0)
    end = next(i for i in range(start, len(samples)) if not samples[i].state.defrosting)
    before = samples[start - 1].values["temperature"]

    peak = max(sample.values["temperature"] for sample in samples[start : end + 1])
    assert peak - before >= 4.0
    assert samples[end].values["humidity"] > samples[start - 1].values["humidity"]
    recovered = samples[end + 60 : end + 90]
    assert all(sample.values["temperature"] <= -16.7 for sample in recovered)


def test_an_open_door_shows_on_the_door_contact_and_warms_the_room_briefly() -> None:
    samples = run(frozen_store(door_openings_per_hour=4, defrost_minutes=0), 6 * 60)
    opened = [i for i, sample in enumerate(samples) if sample.values["door"] == 1 and i > 0]
    assert opened
    first = opened[0]
    assert samples[first + 1].values["temperature"] > samples[first - 1].values["temperature"]
    assert all(sample.values["door"] in (0, 1) for sample in samples)


def test_the_same_seed_gives_the_same_room_and_another_seed_another() -> None:
    def day(seed: int) -> list[dict[str, float]]:
        return [sample.values for sample in run(frozen_store(seed=seed), DAY_MINUTES, every_seconds=300)]

    assert day(11) == day(11)
    assert day(11) != day(12)


def test_the_room_depends_on_the_moments_read_not_on_how_often() -> None:
    often, seldom = frozen_store(), frozen_store()
    for minute in range(0, 600, 1):
        often.read(T0 + timedelta(minutes=minute))
    seldom.read(T0)
    seldom.read(T0 + timedelta(minutes=599))

    assert often.room is not None
    assert seldom.room is not None
    assert often.room.state == seldom.room.state


def test_a_failed_compressor_lets_the_room_warm_steadily() -> None:
    samples = run(
        frozen_store(compressor_fails_after_hours=1, door_openings_per_hour=0, defrost_minutes=0), 7 * 60
    )
    after_failure = [sample.values["temperature"] for sample in samples[90::60]]

    assert all(sample.state.compressor_failed and not sample.state.compressor_on for sample in samples[61:])
    assert all(later > earlier for earlier, later in pairwise(after_failure))
    assert after_failure[-1] - after_failure[0] > 8.0


def test_the_failure_switch_takes_effect_at_once() -> None:
    driver = frozen_store(door_openings_per_hour=0, defrost_minutes=0)
    driver.read(T0)
    assert driver.room is not None
    driver.room.fail_compressor()

    later = run_from(driver, start_minute=1, minutes=120)
    assert later[-1] - later[0] > 2.0


def test_the_probe_drifts_slowly_and_readings_have_sensible_resolution() -> None:
    samples = run(
        frozen_store(drift_per_day=1.0, door_openings_per_hour=0, defrost_minutes=0),
        3 * DAY_MINUTES,
        every_seconds=300,
    )
    first_hours = [s.values["temperature"] - s.state.air for s in samples[: 12 * 12]]
    last_hours = [s.values["temperature"] - s.state.air for s in samples[-12 * 12 :]]

    shift = sum(last_hours) / len(last_hours) - sum(first_hours) / len(first_hours)
    assert 2.3 < shift < 2.7  # 1 °C a day for the two and a half days between the two halves' middles
    for sample in samples:
        assert round(sample.values["temperature"], 1) == sample.values["temperature"]
        assert 0 <= sample.values["humidity"] <= 100
        assert abs(sample.values["weight"] - 12_000) < 5
