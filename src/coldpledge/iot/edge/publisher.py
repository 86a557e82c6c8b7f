"""Publishing sealed messages over MQTT v5 with QoS 1.

Paho keeps every message it was handed until the broker acknowledges it, and re-sends those after a
reconnect; the buffer keeps them across restarts. This class decides what to hand over: messages in
sequence order, at most ``max_inflight`` unacknowledged, at most ``messages_per_second`` (so a
backlog after a long outage does not flood the broker or the platform behind it), and only while
connected (so paho's memory holds at most ``max_inflight`` messages, whatever the outage's length).

Paho calls back on its own network thread. The callbacks only queue what happened; the gateway's
thread, which also publishes, applies it in order, so a PUBACK is never matched before its
``publish()`` has returned the message id.

After a reconnect paho re-sends the unacknowledged messages, but only after telling us it is
connected; new messages wait until those are acknowledged, so the broker sees them in order.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessageInfo
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coldpledge.iot.edge.buffer import PendingMessage
from coldpledge.iot.edge.config import MqttSettings

log = logging.getLogger(__name__)

# The token bucket holds a tenth of a second of sending: enough to absorb the loop's timing jitter.
BURST_SECONDS = 0.1
# A broker refusing messages (quota exceeded, not authorised) is given this long before the next try.
REFUSED_PAUSE_SECONDS = 5.0
# The broker should acknowledge re-sent messages within a round trip; should one never be, new
# messages go after this long rather than never (its own copy goes again on the next reconnect).
RESEND_WAIT_SECONDS = 10.0


class RateLimit:
    """A token bucket: ``available()`` messages may go now; each ``take()`` spends one."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._burst = max(1.0, per_second * BURST_SECONDS)
        self._clock = clock
        self._tokens = self._burst
        self._updated = clock()

    def available(self) -> int:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self.per_second)
        self._updated = now
        return int(self._tokens)

    def take(self) -> None:
        self._tokens -= 1


@dataclass(frozen=True)
class _Acknowledged:
    mid: int
    reason: ReasonCode


@dataclass(frozen=True)
class _LinkChanged:
    up: bool
    reason: ReasonCode


class Publisher:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        topic: str,
        client_id: str,
        max_inflight: int,
        messages_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._max_inflight = max_inflight
        self._rate = RateLimit(messages_per_second, clock=clock)
        self._clock = clock
        self._events: queue.SimpleQueue[_Acknowledged | _LinkChanged] = queue.SimpleQueue()
        self._up = False
        self._inflight: dict[int, int] = {}  # message id → seq
        self._inflight_seqs: set[int] = set()
        self._paused_until = 0.0
        self._resending: set[int] = set()  # seqs paho re-sends after a reconnect
        self._resending_until = 0.0
        # The highest seq handed over; the next one comes from above it.
        self.cursor = 0

        client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=settings.reconnect_max_seconds)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    @property
    def connected(self) -> bool:
        return self._up

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting, backing off, until ``stop``."""
        self._client.connect_async(self._settings.host, self._settings.port, self._settings.keepalive_seconds)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def unacknowledged(self) -> list[int]:
        """Sequence numbers handed to the broker connection and not yet acknowledged."""
        return sorted(self._inflight_seqs)

    def room(self) -> int:
        """How many messages may be handed over now."""
        now = self._clock()
        if not self._up or now < self._paused_until:
            return 0
        if self._resending and now < self._resending_until:
            return 0  # paho is re-sending older messages; new ones would overtake them
        return max(0, min(self._max_inflight - len(self._inflight), self._rate.available()))

    def send(self, message: PendingMessage) -> bool:
        """Hand ``message`` over; False when paho would not take it (send the rest later, in order)."""
        if message.seq in self._inflight_seqs:
            # Met again after a refusal rewound the cursor; paho still holds it.
            self.cursor = max(self.cursor, message.seq)
            return True
        info: MQTTMessageInfo = self._client.publish(self._topic, message.payload, qos=1)
        # Without a connection paho queues a QoS 1 message and sends it on reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("message %d not handed to MQTT (%s); retrying", message.seq, info.rc)
            return False
        self.cursor = max(self.cursor, message.seq)
        self._inflight[info.mid] = message.seq
        self._inflight_seqs.add(message.seq)
        self._rate.take()
        return True

    def poll(self, timeout: float) -> list[int]:
        """Apply what happened on the connection since the last call, waiting up to ``timeout`` for
        something to happen; the sequence numbers the broker has accepted."""
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        accepted: list[int] = []
        for event in events:
            if isinstance(event, _LinkChanged):
                self._link_changed(event)
                continue
            seq = self._inflight.pop(event.mid, None)
            if seq is None:
                continue  # paho reports a message once; this is only being careful
            self._inflight_seqs.discard(seq)
            self._resending.discard(seq)
            if event.reason.is_failure:
                # Still in the buffer: rewind so it goes again, after a pause.
                log.warning("broker refused message %d: %s", seq, event.reason)
                self.cursor = min(self.cursor, seq - 1)
                self._paused_until = self._clock() + REFUSED_PAUSE_SECONDS
            else:
                accepted.append(seq)
        return accepted

    def _link_changed(self, event: _LinkChanged) -> None:
        if event.up:
            log.info(
                "connected to %s; %d unacknowledged messages go again",
                self._settings.url,
                len(self._inflight),
            )
            self._resending = set(self._inflight_seqs)
            self._resending_until = self._clock() + RESEND_WAIT_SECONDS
        elif self._up:
            log.warning(
                "disconnected from %s (%s); buffering until it is back", self._settings.url, event.reason
            )
        self._up = event.up

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self._settings.url, reason)
        else:
            self._events.put(_LinkChanged(up=True, reason=reason))

    def _on_connect_fail(self, client: Client, userdata: Any) -> None:
        log.debug("cannot reach %s; retrying", self._settings.url)

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.put(_LinkChanged(up=False, reason=reason))

    def _on_publish(
        self, client: Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties | None
    ) -> None:
        self._events.put(_Acknowledged(mid, reason))
