"""``coldpledge ingest``: the MQTT consumer (DESIGN §3–4).

It subscribes with a persistent session (MQTT 5, ``clean_start`` off, a long session expiry) at
QoS 1 and acknowledges a message only after the transaction that stored it has committed (paho's
manual acknowledgement). Killed at any instant, the worker loses nothing: the broker redelivers
every unacknowledged message, and the ingest service recognises what is already stored.

It is a pipeline of ``writers`` threads (``COLDPLEDGE_INGEST_WRITERS``, ``--writers``): each takes
the next chunk from the inbox that paho's network thread fills, stores it in a transaction of its
own and acknowledges it. So the database round trip of one chunk overlaps the parsing and the
signature checks of the next, which are this process's CPU work; with one writer, one of them
always waited for the other. Two chunks in flight may name the same device: the ingest service
takes per-device advisory locks (PostgreSQL; SQLite has one writer at a time), so their rollups are
merged one after the other, never both from the same old value. Chunks are taken one writer at a
time and numbered as taken (``AckTurns``), and each is acknowledged only after every earlier one,
so the PUBACKs go out in the order the messages arrived, as MQTT requires (3.1.1 and 5, §4.6),
whichever transaction commits first.

A chunk that fails for a database reason is retried as a whole with backoff. A message that makes
the service raise anything else is isolated and kept as a dead letter, so one poisonous message
never stops the stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DBAPIError, OperationalError

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import Conflict
from coldpledge.iot.ingest import Incoming, IngestMetrics, Ingestor
from coldpledge.iot.retention import maintain
from coldpledge.rules.service import rules_for

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600  # the broker keeps our queue through a week-long outage
MAINTENANCE_SECONDS = 3600


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise ValueError(f"an MQTT URL looks like mqtt://user:password@host:1883, not {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        parts.hostname, parts.port or (8883 if tls else 1883), parts.username, parts.password, tls
    )


# How long a chunk waits for the one taken before it to have its readings judged
# (``IngestWorker._store``).
LAST_STEP_PATIENCE_S = 2.0


class AckTurns:
    """Tickets for chunks, drawn in the order they are taken from the inbox, and the turns in which
    their messages are acknowledged: a ticket's turn comes when every earlier ticket is done, that
    is acknowledged or given up. (The same turns, with tickets drawn from another, order the
    judging of the chunks' readings: ``IngestWorker.last_steps``.)"""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._drawn = 0
        self._turn = 0  # the lowest ticket not done
        self._done_early: set[int] = set()  # given up before their turn (stopping, or a failure)

    def draw(self) -> int:
        with self._condition:
            ticket = self._drawn
            self._drawn += 1
            return ticket

    def wait_turn(self, ticket: int, stop: threading.Event, timeout: float | None = None) -> bool:
        """True when it is ``ticket``'s turn (or past it); False when ``stop`` is set first, since
        the earlier chunks may never be acknowledged then and the broker redelivers what is not,
        or when ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._turn < ticket:
                if stop.is_set():
                    return False
                wait = 0.1
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return False
                # An Event cannot wake a Condition: look at stop a few times a second.
                self._condition.wait(timeout=wait)
            return True

    def done(self, ticket: int) -> None:
        with self._condition:
            if ticket < self._turn:
                return  # done before
            self._done_early.add(ticket)
            while self._turn in self._done_early:
                self._done_early.remove(self._turn)
                self._turn += 1
            self._condition.notify_all()


@dataclass(frozen=True)
class _Delivery:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


class IngestWorker:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        mqtt_url: str | None = None,
        client_id: str | None = None,
        shared_group: str | None = None,
        metrics: IngestMetrics | None = None,
        session_expiry: int = SESSION_EXPIRY_SECONDS,
        writers: int | None = None,
    ) -> None:
        url = mqtt_url or settings.mqtt_url
        if not url:
            raise ValueError("no broker: set COLDPLEDGE_MQTT_URL or pass --mqtt-url")
        self.broker = parse_mqtt_url(url)
        self.database = database
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.ingestor = Ingestor(database.write_session, metrics=self.metrics, rules=rules_for(settings))
        group = shared_group or settings.mqtt_shared_group
        self.topic = f"$share/{group}/{settings.mqtt_topic}" if group else settings.mqtt_topic
        self.client_id = client_id or settings.mqtt_client_id
        self.session_expiry = session_expiry
        self.writers = settings.ingest_writers if writers is None else writers
        if not 1 <= self.writers <= 16:
            raise ValueError(f"an ingest worker has 1 to 16 writers, not {self.writers}")
        # How many unacknowledged messages the broker may send us at once: every writer's chunk, and
        # three more chunks' worth arriving meanwhile.
        self.receive_maximum = min(65_535, max(100, settings.ingest_chunk_messages * (self.writers + 3)))
        # Bounded as well, whatever the broker does: Mosquitto 2.0.11 was seen sending a consumer that
        # acknowledges as it goes 10,000-37,000 messages past its Receive Maximum when it held a
        # backlog (benchmarks/ingest.py, 2 million readings: the worker grew to 340 MB). When the
        # inbox is full, paho's network thread waits, and TCP holds the broker back.
        self.inbox: queue.Queue[_Delivery] = queue.Queue(maxsize=self.receive_maximum)
        self._stopping = threading.Event()
        self._taking = threading.Lock()  # one writer at a time takes a chunk and its ticket
        self.turns = AckTurns()
        # The chunks' readings judged (ahead of their last steps: the devices' locks, rollups and
        # the rules' writes), in the order the chunks were taken: see ``_store``.
        self.last_steps = AckTurns()
        self.last_step_patience_s = LAST_STEP_PATIENCE_S
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.generation += 1
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        log.info("connected to %s:%s", self.broker.host, self.broker.port)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("the broker refused the subscription to %s: %s", self.topic, reasons)
            return
        self.subscribed.set()
        log.info("subscribed to %s", self.topic)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self.connected.clear()
        # Deliveries of the lost connection are redelivered by the broker under the new one; their
        # acknowledgements would name packet ids of a session that moved on.
        self.generation += 1
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        delivery = _Delivery(message.mid, message.qos, message.topic, bytes(message.payload), self.generation)
        while not self._stopping.is_set():
            try:
                self.inbox.put(delivery, timeout=0.5)
                return
            except queue.Full:
                continue
        # Stopping with the inbox full: never acknowledged, so the broker sends it again.

    def run(self, stop: threading.Event, *, maintenance: bool = True) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.session_expiry
        properties.ReceiveMaximum = self.receive_maximum
        if maintenance:
            self._maintain()
        self.client.connect_async(
            self.broker.host, self.broker.port, keepalive=30, clean_start=False, properties=properties
        )
        self.client.loop_start()
        writers = [
            threading.Thread(target=self._write, args=(stop,), name=f"ingest-writer-{n}", daemon=True)
            for n in range(1, self.writers + 1)
        ]
        for writer in writers:
            writer.start()
        last_maintenance = time.monotonic()
        last_report = time.monotonic()
        try:
            while not stop.wait(1.0):
                if maintenance and time.monotonic() - last_maintenance > MAINTENANCE_SECONDS:
                    self._maintain()
                    last_maintenance = time.monotonic()
                if time.monotonic() - last_report > 10:
                    log.info("ingest: %s", self.metrics.snapshot())
                    last_report = time.monotonic()
        finally:
            stop.set()  # however this thread leaves, the writers leave with it
            self._stopping.set()  # and paho's thread stops waiting for room in the inbox
            for writer in writers:
                writer.join()
            self.client.disconnect()
            self.client.loop_stop()

    def _write(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._write_chunk(stop)
            except Exception:  # a dead writer would leave the worker one short, unnoticed
                log.exception("an ingest writer failed; it carries on with the next chunk")

    def _write_chunk(self, stop: threading.Event) -> None:
        with self._taking:
            chunk = [] if stop.is_set() else self._take_chunk(stop)
            if not chunk:
                return
            ticket = self.turns.draw()
        try:
            # A chunk retrying while the database is down holds back the acknowledgements of all
            # later ones, and with them the broker's flow once the receive maximum is reached: the
            # backpressure we want, since nothing after it may be acknowledged first.
            if self._store(chunk, stop, ticket) and self.turns.wait_turn(ticket, stop):
                self._acknowledge(chunk)
        finally:
            # Even unacknowledged (stopping, or a failure): later chunks must not wait for this one.
            # What is not acknowledged the broker sends again when the session resumes.
            self.last_steps.done(ticket)
            self.turns.done(ticket)

    def _take_chunk(self, stop: threading.Event) -> list[_Delivery]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        chunk = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.settings.ingest_chunk_wait_ms / 1000
        while (
            len(chunk) < self.settings.ingest_chunk_messages
            and size < self.settings.ingest_chunk_bytes
            and not stop.is_set()
        ):
            remaining = deadline - time.monotonic()
            try:
                delivery = self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait()
            except queue.Empty:
                break
            chunk.append(delivery)
            size += len(delivery.payload)
        return chunk

    def _store(self, chunk: list[_Delivery], stop: threading.Event, ticket: int) -> bool:
        """Store the chunk; False when stopping first (then nothing may be acknowledged: the
        broker redelivers after restart).

        Two writers' chunks hold readings of the same devices, the later chunk's newer. Should the
        later one reach the rules first, every reading of the earlier would come late, and every
        rule state replay its window (``rules.stream``): so a chunk's readings are judged (ahead
        of its last step, ``Ingestor.ingest``) only after the chunk taken before it has had its
        own judged, or given up. For speed only, and so not for ever: a chunk whose earlier one is
        held up (say behind a row the later one has just inserted) goes on after
        ``LAST_STEP_PATIENCE_S``, and its readings are judged late, correctly."""

        @contextmanager
        def in_turn() -> Iterator[None]:
            self.last_steps.wait_turn(ticket, stop, timeout=self.last_step_patience_s)
            try:
                yield
            finally:
                self.last_steps.done(ticket)

        delay = 0.5
        while not stop.is_set():
            try:
                self.ingestor.ingest([Incoming(d.payload, "mqtt", d.topic) for d in chunk], in_turn=in_turn)
                return True
            except (OperationalError, DBAPIError) as error:
                if _is_data_error(error):
                    self._isolate(chunk)
                    return True
                log.warning("database unavailable (%s); retrying the chunk in %.1f s", error, delay)
                stop.wait(delay)
                delay = min(delay * 2, 30)
            except Conflict as error:
                if not _lost_a_race(error):
                    log.exception("ingest failed; isolating the chunk's messages")
                    self._isolate(chunk)
                    return True
                # A deadlock or serialization failure with another writer or worker: the other
                # transaction won, and the whole chunk is simply tried again.
                log.info("ingest transaction lost a race with another writer; retrying the chunk")
                stop.wait(0.05)
            except Exception:  # a bug must not stop the stream: find the message and set it aside
                log.exception("ingest failed; isolating the chunk's messages")
                self._isolate(chunk)
                return True
        return False

    def _isolate(self, chunk: list[_Delivery]) -> None:
        for delivery in chunk:
            incoming = Incoming(delivery.payload, "mqtt", delivery.topic)
            try:
                self.ingestor.ingest([incoming])
            except Exception:
                self.ingestor.dead_letter(incoming, "internal_error", traceback.format_exc(limit=3))

    def _acknowledge(self, chunk: list[_Delivery]) -> None:
        for delivery in chunk:
            if delivery.qos > 0 and delivery.generation == self.generation:
                self.client.ack(delivery.mid, delivery.qos)

    def _maintain(self) -> None:
        try:
            done = maintain(self.database, self.settings)
            log.info("telemetry maintenance: %s", done)
        except Exception:
            log.exception("telemetry maintenance failed; ingestion goes on")


def _lost_a_race(error: Conflict) -> bool:
    """The unit of work reports a deadlock or serialization failure as a ``Conflict``."""
    cause = error.__cause__
    return isinstance(cause, DBAPIError) and getattr(cause.orig, "sqlstate", None) in {"40001", "40P01"}


def _is_data_error(error: DBAPIError) -> bool:
    """A value the database refuses (class 22, 23 on PostgreSQL): retrying cannot help."""
    state = getattr(error.orig, "sqlstate", None) or ""
    return state.startswith(("22", "23"))


def serve_metrics(metrics: IngestMetrics, port: int) -> ThreadingHTTPServer:
    """Prometheus text format on ``http://127.0.0.1:PORT/metrics``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            snapshot = metrics.snapshot()
            lines = [f"coldpledge_ingest_{name}_total {snapshot[name]}" for name in _COUNTERS]
            lines += [
                f'coldpledge_ingest_dead_letters_total{{reason="{reason}"}} {count}'
                for reason, count in sorted(snapshot["dead_letters"].items())
            ]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="ingest-metrics").start()
    return server


_COUNTERS = (
    "messages",
    "readings",
    "duplicate_messages",
    "duplicate_readings",
    "faults",
    "chunks",
    "rules_failed",
)


def run_worker(
    database: Database, settings: Settings, stop: threading.Event, **options: Any
) -> Callable[[], dict[str, Any]]:
    worker = IngestWorker(database, settings, **options)
    worker.run(stop)
    return worker.metrics.snapshot
