"""Helpers for the supervision scenarios (tests/integration/test_supervision_scenarios.py): a world
of its own in a database of its own, a device-side MQTT publisher, and the ingest worker in a thread.

The scenarios commit everything they do (the worker, the scheduler and the API each commit in
their own transactions), so they run on a fresh database built like the shared one: what they
raise never shows up for the personas of the other tests.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.db import Database, make_engine, scratch_database, utcnow
from coldpledge.iot.worker import IngestWorker
from coldpledge.migrate import upgrade
from coldpledge.parties.security import issue_access_token
from coldpledge.uow import UnitOfWork
from coldpledge.web.app import create_app
from tests import world as world_module
from tests.iot import Sender, reading


@dataclass
class Site:
    """A migrated database with the test world in it, and an API living by ``clock``."""

    database: Database
    settings: Settings
    world: world_module.World
    offset: timedelta = field(default=timedelta(0))

    def clock(self) -> datetime:
        """The wall clock, moved on by ``offset``: the people act later than the readings arrive."""
        return utcnow() + self.offset

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session whose objects stay readable afterwards (detached, not expired)."""
        with self.database.reading() as session:
            yield session
            session.expunge_all()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database.write_session)

    @contextmanager
    def client(self) -> Iterator[TestClient]:
        app = create_app(self.settings, database=self.database, clock=self.clock)
        with TestClient(app, headers={"Accept-Language": "en"}) as client:
            yield client

    def auth(self, username: str) -> dict[str, str]:
        token = issue_access_token(self.settings, user_id=self.world.users[username], now=self.clock())
        return {"Authorization": f"Bearer {token.token}"}


@contextmanager
def private_site(settings: Settings, server_url: str | None) -> Iterator[Site]:
    """A fresh database (on the PostgreSQL server of ``server_url``, else SQLite), migrated, with
    the shared test world built in it through the real services; dropped afterwards."""
    with scratch_database(server_url, prefix="coldpledge_scenario") as url:
        own = settings.model_copy(update={"database_url": url})
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        database = Database(url)
        try:
            world = world_module.build(lambda: UnitOfWork(database.write_session), own)
            yield Site(database, own, world)
        finally:
            database.dispose()


@contextmanager
def worker_thread(database: Database, settings: Settings, url: str) -> Iterator[IngestWorker]:
    """The real ingest worker (rules on) subscribed to the broker at ``url``, in a thread."""
    worker = IngestWorker(database, settings, mqtt_url=url, client_id=f"scenario-{uuid.uuid4().hex[:8]}")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"maintenance": False}, daemon=True)
    thread.start()
    assert worker.subscribed.wait(10), "the worker did not subscribe"
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)


class Publisher:
    """Devices' side: one paho client publishing at QoS 1 and waiting for every PUBACK."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(100)
        self.client.connect(host, port)
        self.client.loop_start()

    def readings(self, series: list[tuple[Sender, list[float]]], start: datetime) -> int:
        """One temperature reading a minute per device from ``start``, one message each, in
        event-time order across devices, as the room's probes send them; how many were sent."""
        infos: list[Any] = []
        length = max(len(values) for _, values in series)
        for minute in range(length):
            ts = start + timedelta(minutes=minute)
            for sender, values in series:
                if minute < len(values):
                    body = sender.raw([reading(ts, values[minute])], sent_at=ts)
                    infos.append(self.client.publish(sender.topic, body, qos=1))
        for info in infos:
            info.wait_for_publish(timeout=60)
        return len(infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
