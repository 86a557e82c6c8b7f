"""``coldpledge edge --config edge.toml``: the gateway as a long-running process (systemd, a container)."""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from coldpledge.clitools import fail
from coldpledge.iot.edge.buffer import ForeignBuffer
from coldpledge.iot.edge.config import ConfigError, load_config, load_private_key
from coldpledge.iot.edge.gateway import Gateway


def edge_command(
    config: Annotated[
        Path,
        typer.Option("--config", help="The gateway's TOML file; docs/edge.example.toml explains every key."),
    ],
) -> None:
    """Run the edge gateway: read devices, buffer readings on disk, publish signed batches until
    SIGTERM or Ctrl-C."""
    try:
        settings = load_config(config)
        key = load_private_key(settings.private_key)
    except ConfigError as error:
        raise fail(str(error), 2) from None
    try:
        gateway = Gateway(settings, key)
    except ForeignBuffer as error:
        raise fail(f"buffer: {error}", 2) from None
    except (sqlite3.Error, OSError) as error:
        raise fail(f"buffer: {settings.buffer}: {error}", 2) from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Modbus driver logs an unreachable device once; pymodbus would log every failed poll.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    gateway.run(stop)
