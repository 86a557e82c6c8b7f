"""Publishing sealed messages over HTTP: ``POST /api/v1/telemetry`` with the gateway's token.

For sites without a broker (and the demo). It keeps the MQTT publisher's contract: messages go in
sequence order, at most ``messages_per_second``, and one is acknowledged (and leaves the buffer)
only when the platform has answered for it: 200 (stored, or stored before), or 4xx other than 401,
403 and 429 (the platform kept it as a dead letter; sending the same bytes again cannot help).
Anything else (no answer, 5xx, 401, 403, 429) means not delivered: the message and those after it
go again, after a pause that grows while the failures last.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from coldpledge.iot.edge.buffer import PendingMessage
from coldpledge.iot.edge.config import HttpSettings
from coldpledge.iot.edge.publisher import RateLimit

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})


@dataclass(frozen=True)
class _Answer:
    seq: int
    delivered: bool


class HttpPublisher:
    def __init__(
        self,
        settings: HttpSettings,
        *,
        max_inflight: int,
        messages_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._endpoint = settings.url.rstrip("/") + "/api/v1/telemetry"
        self._max_inflight = max_inflight
        self._rate = RateLimit(messages_per_second, clock=clock)
        self._clock = clock
        self._outbox: queue.SimpleQueue[PendingMessage | None] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[_Answer] = queue.SimpleQueue()
        self._inflight: set[int] = set()
        self._up = True
        self._paused_until = 0.0
        self._backoff = 1.0
        self._worker = threading.Thread(target=self._post_loop, name="edge http", daemon=True)
        self.cursor = 0

    @property
    def connected(self) -> bool:
        return self._up

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._outbox.put(None)
        self._worker.join(timeout=self._settings.timeout_seconds + 5)

    def unacknowledged(self) -> list[int]:
        return sorted(self._inflight)

    def room(self) -> int:
        if self._clock() < self._paused_until:
            return 0
        return max(0, min(self._max_inflight - len(self._inflight), self._rate.available()))

    def send(self, message: PendingMessage) -> bool:
        if message.seq in self._inflight:
            self.cursor = max(self.cursor, message.seq)
            return True
        self._inflight.add(message.seq)
        self._outbox.put(message)
        self.cursor = max(self.cursor, message.seq)
        self._rate.take()
        return True

    def poll(self, timeout: float) -> list[int]:
        try:
            answers = [self._answers.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                answers.append(self._answers.get_nowait())
            except queue.Empty:
                break
        accepted = []
        for answer in answers:
            self._inflight.discard(answer.seq)
            if answer.delivered:
                accepted.append(answer.seq)
                self._up = True
                self._backoff = 1.0
            elif self.cursor >= answer.seq:
                # Everything from here on goes again, in order, after a pause.
                self.cursor = answer.seq - 1
                self._up = False
                self._paused_until = self._clock() + self._backoff
                self._backoff = min(self._backoff * 2, self._settings.retry_max_seconds)
        return accepted

    def _post_loop(self) -> None:
        failed_from: int | None = None
        while True:
            message = self._outbox.get()
            if message is None:
                return
            if failed_from is not None and message.seq > failed_from:
                # Posted out of order after a failure would reorder the stream: hand it back.
                self._answers.put(_Answer(message.seq, delivered=False))
                continue
            failed_from = None
            delivered = self._post(message)
            if not delivered:
                failed_from = message.seq
            self._answers.put(_Answer(message.seq, delivered))

    def _post(self, message: PendingMessage) -> bool:
        request = urllib.request.Request(  # noqa: S310 - the configured platform, http(s) only
            self._endpoint,
            data=message.payload,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._settings.token.get_secret_value()}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._settings.timeout_seconds):  # noqa: S310
                return True
        except urllib.error.HTTPError as error:
            error.close()  # it holds the connection of the answer
            if error.code < 500 and error.code not in RETRY_STATUSES:
                log.warning(
                    "the platform refused message %d (%s): kept there as a dead letter",
                    message.seq,
                    error.code,
                )
                return True
            log.warning("message %d not delivered: HTTP %s; retrying", message.seq, error.code)
            return False
        except (urllib.error.URLError, OSError) as error:
            log.debug("cannot reach %s (%s); retrying", self._endpoint, error)
            return False
