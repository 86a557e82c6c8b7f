"""The gateway's run loop.

Each driver samples on its own thread, so a Modbus device timing out never delays the others, and
stores what it read in the buffer with the capture time. The gateway's thread seals readings into
signed messages, hands pending messages to the publisher, and deletes a message from the buffer when
the broker has acknowledged it. Whatever the broker has not acknowledged stays in the buffer and goes
again, after a reconnect or a restart, with the same bytes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coldpledge.iot.edge.buffer import Buffer
from coldpledge.iot.edge.config import EdgeConfig, ModbusDriverSettings, SimulatorDriverSettings
from coldpledge.iot.edge.driver import Driver, Measurement
from coldpledge.iot.edge.http_publisher import HttpPublisher
from coldpledge.iot.edge.modbus import ModbusDriver
from coldpledge.iot.edge.publisher import Publisher
from coldpledge.iot.edge.simulator import SimulatorDriver

log = logging.getLogger(__name__)

# How long the loop waits for an acknowledgement before looking at the buffer again.
TICK_SECONDS = 0.02
# On stop, how long to wait for a driver in the middle of a slow read (a Modbus timeout).
DRIVER_JOIN_SECONDS = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_drivers(config: EdgeConfig) -> list[Driver]:
    drivers: list[Driver] = []
    for index, settings in enumerate(config.drivers):
        if isinstance(settings, SimulatorDriverSettings):
            drivers.append(SimulatorDriver(settings, name=f"drivers[{index}] simulator"))
        elif isinstance(settings, ModbusDriverSettings):
            drivers.append(
                ModbusDriver(settings, name=f"drivers[{index}] modbus {settings.host}:{settings.port}")
            )
    return drivers


class BacklogReport:
    """The gateway's own reading: how many readings wait in its buffer (device health)."""

    name = "backlog"

    def __init__(self, buffer: Buffer, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._buffer = buffer

    def read(self, now: datetime) -> list[Measurement]:
        return [Measurement(None, "backlog", float(self._buffer.backlog().readings))]

    def close(self) -> None:
        """Nothing to release; the buffer belongs to the gateway."""


class Gateway:
    """One run of the gateway: ``run`` until the stop event is set."""

    def __init__(
        self,
        config: EdgeConfig,
        key: Ed25519PrivateKey,
        *,
        drivers: Sequence[Driver] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self._key = key
        self._clock = clock
        self.buffer = Buffer(config.buffer, gateway=config.gateway)
        self.drivers: list[Driver] = list(drivers) if drivers is not None else build_drivers(config)
        self.publisher: Publisher | HttpPublisher
        if config.mqtt is not None:
            self.publisher = Publisher(
                config.mqtt,
                topic=config.topic,
                client_id=config.mqtt.client_id or config.gateway,
                max_inflight=config.max_inflight,
                messages_per_second=config.replay_messages_per_second,
            )
        else:
            assert config.http is not None, "the configuration names one way to send"
            self.publisher = HttpPublisher(
                config.http,
                max_inflight=config.max_inflight,
                messages_per_second=config.replay_messages_per_second,
            )
        self.destination = config.mqtt.url if config.mqtt else config.http.url if config.http else ""
        self._unsealed_since: float | None = None

    def run(self, stop: threading.Event) -> None:
        sampling = threading.Event()
        samplers = [
            threading.Thread(
                target=self._sample, args=(driver, sampling), name=f"edge {driver.name}", daemon=True
            )
            for driver in [*self.drivers, BacklogReport(self.buffer, self.config.backlog_report_seconds)]
        ]
        backlog = self.buffer.backlog()
        log.info(
            "gateway %s: %d drivers, publishing to %s on %s; %d readings in the buffer",
            self.config.gateway,
            len(self.drivers),
            self.config.topic,
            self.destination,
            backlog.readings,
        )
        self.publisher.start()
        for sampler in samplers:
            sampler.start()
        try:
            while not stop.is_set():
                self._settle()
                self._seal()
                self._send()
        finally:
            sampling.set()
            deadline = time.monotonic() + DRIVER_JOIN_SECONDS
            for sampler in samplers:
                sampler.join(timeout=max(0.0, deadline - time.monotonic()))
            for driver in self.drivers:
                driver.close()
            self._seal(everything=True)
            self._drain()
            self.publisher.stop()
            backlog = self.buffer.backlog()
            log.info("gateway stopped; %d readings wait in the buffer", backlog.readings)
            self.buffer.close()

    def _sample(self, driver: Driver, stop: threading.Event) -> None:
        due = time.monotonic()
        while not stop.is_set():
            now = self._clock()
            try:
                measurements = driver.read(now)
            except Exception:
                # A driver's bug must not silence the other drivers; its next poll may well work.
                log.exception("%s: reading failed", driver.name)
                measurements = []
            try:
                self.buffer.capture(now, measurements)
            except (sqlite3.Error, ValueError):
                log.exception("%s: cannot store readings", driver.name)
            # A poll slower than its interval skips ticks rather than bunching up readings.
            due = max(due + driver.interval_seconds, time.monotonic())
            stop.wait(due - time.monotonic())

    def _settle(self) -> None:
        accepted = self.publisher.poll(timeout=TICK_SECONDS)
        if accepted:
            self.buffer.acknowledge(accepted)

    def _seal(self, *, everything: bool = False) -> None:
        """Seal full batches at once, and a partial batch once its oldest reading has waited
        ``flush_interval_seconds``."""
        batch = self.config.batch_readings
        now = time.monotonic()
        if self.buffer.unsealed == 0:
            self._unsealed_since = None
            return
        if self._unsealed_since is None:
            self._unsealed_since = now
        due = everything or now - self._unsealed_since >= self.config.flush_interval_seconds
        if self.buffer.unsealed < batch and not due:
            return
        while self.buffer.unsealed >= batch or (due and self.buffer.unsealed > 0):
            self.buffer.seal(key=self._key, sent_at=self._clock(), limit=batch)
        self._unsealed_since = now if self.buffer.unsealed else None

    def _send(self) -> None:
        room = self.publisher.room()
        if room == 0 or self.buffer.last_seq <= self.publisher.cursor:
            return
        for message in self.buffer.pending(room, after=self.publisher.cursor):
            if not self.publisher.send(message):
                break

    def _drain(self) -> None:
        deadline = time.monotonic() + self.config.shutdown_drain_seconds
        while time.monotonic() < deadline and self.publisher.connected and self.buffer.backlog().messages:
            self._settle()
            self._send()
