"""What the rules cost the ingest service, without MQTT: ``Ingestor.ingest`` on chunks of gateway
batches (50 readings a message), rules off and on, alternating chunk by chunk between two twin
sets of devices that send the same values, so both see the same database and the same load.
Worker CPU (``time.process_time``) and wall time per reading, medians over the chunks after the
first, and ``locked_ms``: how long a chunk holds its devices' locks (from taking them to commit),
the part of a chunk that the worker's writers take one at a time; JSON on standard output.

    PYTHONPATH=. .venv/bin/python -m benchmarks.ingest_rules [--database URL] [--gateways 21]
        [--steps 120] [--chunk 500] [--hot] [--profile FILE]

``--hot`` sends 5 sensors of the first gateway to -14 °C a third of the way through, so alerts
fire; ``--profile`` writes a cProfile of the rules-on chunks.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast

from benchmarks.common import migrated_database
from benchmarks.ingest import SENSORS_PER_GATEWAY, register, settled_log, site
from coldpledge.db import Database
from coldpledge.iot import payload
from coldpledge.iot.cli import INGEST_GC_THRESHOLDS
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import DeviceKind
from coldpledge.rules.service import judge_readings

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def streams(
    database: Database, rooms: list[int], gateways: int, steps: int, seed: int, start: datetime, hot: bool
) -> list[Incoming]:
    """Per minute, one message from each gateway, in time order."""
    rng = random.Random(seed)
    out: list[list[Incoming]] = []
    for g in range(gateways):
        room = rooms[g % len(rooms)]
        gateway = register(database, room, DeviceKind.GATEWAY)
        sensors = [
            register(database, room, DeviceKind.TEMPERATURE, signing=False, gateway=gateway)
            for _ in range(SENSORS_PER_GATEWAY)
        ]
        stream = []
        for step in range(steps):
            moment = start + timedelta(minutes=step)
            ts = payload.format_ts(moment)
            readings: list[dict[str, object]] = []
            for i, s in enumerate(sensors):
                v = round(rng.gauss(-20.0, 0.3), 2)
                if hot and g == 0 and i < 5 and step > steps // 3:
                    v = -14.0 + (step % 3) * 0.1
                readings.append(
                    {"device": s.code, "ts": ts, "metric": "temperature", "value": v, "unit": "Cel"}
                )
            stream.append(
                Incoming(
                    payload.encode(gateway.message(readings, sent_at=moment + timedelta(seconds=2))),
                    "mqtt",
                    gateway.topic,
                )
            )
        out.append(stream)
    ordered = [stream[step] for step in range(steps) for stream in out]
    return ordered


def noting_when(step: Callable[..., None], at: list[float]) -> Callable[..., None]:
    """``step``, noting in ``at[0]`` when it was called."""

    def noted(*args: object) -> None:
        at[0] = time.perf_counter()
        step(*args)

    return noted


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database", default=PG)
    p.add_argument("--gateways", type=int, default=21)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--profile", default=None)
    p.add_argument("--only", default="both", choices=("both", "off", "on"))
    p.add_argument("--hot", action="store_true")
    args = p.parse_args()
    with migrated_database(args.database) as database:
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.steps + 2)
        t0 = time.monotonic()
        # Twin sites: the rules-on rooms hold the 1,000 probes they judge, no more.
        off = streams(database, site(database, 4, "-off"), args.gateways, args.steps, 1, start, args.hot)
        on = streams(database, site(database, 4, "-on"), args.gateways, args.steps, 1, start, args.hot)
        settled_log(database)
        print("setup", round(time.monotonic() - t0, 1), file=sys.stderr)
        ing_off = Ingestor(database.write_session, rules=None)
        ing_on = Ingestor(database.write_session, rules=judge_readings)
        locked_at = [0.0]
        for ing in (ing_off, ing_on):
            ing._lock_devices = noting_when(ing._lock_devices, locked_at)  # type: ignore[method-assign]
        gc.freeze()
        gc.set_threshold(*INGEST_GC_THRESHOLDS)  # as ``coldpledge ingest`` runs
        per: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
        profiler = cProfile.Profile() if args.profile else None
        n = args.chunk
        for first in range(0, len(off), n):
            for name, ing, msgs in (("off", ing_off, off), ("on", ing_on, on)):
                if args.only not in ("both", name):
                    continue
                chunk = msgs[first : first + n]
                readings = len(chunk) * SENSORS_PER_GATEWAY
                if profiler and name == "on" and first > 0:
                    profiler.enable()
                c0, w0 = time.process_time(), time.perf_counter()
                ing.ingest(chunk)
                c1, w1 = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.disable()
                if first > 0:  # skip warm-up chunk
                    locked_ms = (w1 - locked_at[0]) * 1e3
                    per[name].append(((c1 - c0) * 1e6 / readings, (w1 - w0) * 1e6 / readings, locked_ms))
        res: dict[str, object] = {}
        for name, xs in per.items():
            if xs:
                res[name] = {
                    "cpu_us_per_reading": round(statistics.median(x[0] for x in xs), 2),
                    "wall_us_per_reading": round(statistics.median(x[1] for x in xs), 2),
                    "locked_ms": round(statistics.median(x[2] for x in xs), 1),
                    "chunks": len(xs),
                }
        if "on" in res and "off" in res:
            on, off = cast(dict[str, float], res["on"]), cast(dict[str, float], res["off"])
            res["cpu_ratio"] = round(on["cpu_us_per_reading"] / off["cpu_us_per_reading"], 3)
            res["wall_ratio"] = round(on["wall_us_per_reading"] / off["wall_us_per_reading"], 3)
        print(json.dumps(res))
        if profiler:
            profiler.dump_stats(args.profile)
            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
