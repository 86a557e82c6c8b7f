"""What the reading rules cost per reading by how many points each device brings to a chunk:
``RoomRules.evaluate`` alone (no database), one frozen room of probes under the frozen template,
each probe a reading a minute near -20 °C, chunks of 1, 5 or 25 minutes. The shapes alternate
round by round so that the machine's drift falls on all alike; worker CPU (``time.process_time``)
per reading, median of the rounds. JSON on standard output.

    PYTHONPATH=. .venv/bin/python -m benchmarks.rules_points [--probes 250] [--rounds 15]

At a high load the ingest worker takes big chunks, with many points of each device; at a
moderate one, small chunks with one point a device, which is where reading-to-alert latency is
decided. ``--grouping-only`` leaves the states unfed, to show what the grouping itself costs.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from coldpledge.iot.models import DeviceKind
from coldpledge.rules import stream
from coldpledge.rules.evaluators import U_PER_MC
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters

TEMPERATURE = 1
SHAPES = (1, 5, 25)  # points of each probe in a chunk: a minute of readings each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--probes", type=int, default=250, help="temperature probes in the room")
    parser.add_argument("--rounds", type=int, default=15, help="rounds, each every shape once")
    parser.add_argument("--grouping-only", action="store_true", help="do not feed the states")
    args = parser.parse_args()

    probes = range(1, args.probes + 1)
    context = RoomContext(
        room_id=1,
        temperature_class=TemperatureClass.FROZEN,
        devices=dict.fromkeys(probes, DeviceKind.TEMPERATURE.value),
    )
    rules = RoomRules(default_parameters(TemperatureClass.FROZEN), context)
    rng = random.Random(1)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    minute = [0]

    def chunk(minutes: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for _ in range(minutes):
            moment = start + timedelta(minutes=minute[0])
            minute[0] += 1
            rows.extend(
                (probe, TEMPERATURE, moment, round(rng.gauss(-20_000, 300)) * U_PER_MC, 0) for probe in probes
            )
        return rows

    states: dict[StateKey, RuleState] = {}
    for _ in range(4):  # past the rules' windows, as a running worker is
        states.update(rules.evaluate(states, chunk(25))[0])
    if args.grouping_only:
        stream.RuleState.feed = lambda *_args, **_kwargs: None  # type: ignore[method-assign]

    gc.freeze()
    per: dict[int, list[float]] = {shape: [] for shape in SHAPES}
    for _ in range(args.rounds):
        for shape in SHAPES:
            # As many readings per measurement whatever the shape: 25 minutes of the room.
            spent, readings = 0.0, 0
            for _ in range(25 // shape):
                rows = chunk(shape)
                began = time.process_time()
                changed, _transitions = rules.evaluate(states, rows)
                spent += time.process_time() - began
                states.update(changed)
                readings += len(rows)
            per[shape].append(spent * 1e6 / readings)
    result: dict[str, Any] = {
        "probes": args.probes,
        "rounds": args.rounds,
        "grouping_only": args.grouping_only,
        "cpu_us_per_reading": {
            f"{shape}_points_a_device": round(statistics.median(values), 2) for shape, values in per.items()
        },
    }
    one, many = per[1], per[25]
    result["one_over_25"] = round(statistics.median(one) / statistics.median(many), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
