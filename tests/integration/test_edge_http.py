"""The gateway's HTTP publisher: in order, retried while the platform is away, done once the
platform has answered for a message (stored, or kept there as a dead letter)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from coldpledge.iot.edge.buffer import PendingMessage
from coldpledge.iot.edge.config import HttpSettings
from coldpledge.iot.edge.http_publisher import HttpPublisher


class Platform:
    """A stand-in for POST /api/v1/telemetry that answers what the test tells it to."""

    def __init__(self) -> None:
        self.answers: list[int] = []  # statuses to give, in turn; 200 once they run out
        self.received: list[tuple[str, bytes, int]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = platform.answers.pop(0) if platform.answers else 200
                platform.received.append((self.headers["Authorization"], body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def platform() -> Iterator[Platform]:
    running = Platform()
    yield running
    running.server.shutdown()
    running.server.server_close()


def deliver(publisher: HttpPublisher, messages: list[PendingMessage], timeout: float = 20) -> list[int]:
    """Drive the publisher as the gateway's loop does, until every message is acknowledged."""
    acknowledged: list[int] = []
    deadline = time.monotonic() + timeout
    while len(acknowledged) < len(messages):
        assert time.monotonic() < deadline, f"acknowledged only {acknowledged}"
        for message in messages:
            if message.seq > publisher.cursor and publisher.room() > 0:
                publisher.send(message)
        acknowledged += publisher.poll(timeout=0.05)
    return acknowledged


def test_messages_go_in_order_with_the_token_and_are_retried_while_the_platform_fails(
    platform: Platform,
) -> None:
    platform.answers = [200, 503, 503]
    publisher = HttpPublisher(
        HttpSettings(url=platform.url, token=SecretStr("cpd_secret"), retry_max_seconds=1),
        max_inflight=10,
        messages_per_second=1000,
    )
    publisher.start()
    messages = [PendingMessage(seq, f'{{"seq":{seq}}}'.encode()) for seq in range(1, 6)]
    try:
        acknowledged = deliver(publisher, messages)
    finally:
        publisher.stop()
    assert sorted(acknowledged) == [1, 2, 3, 4, 5]
    stored = [body for _auth, body, status in platform.received if status == 200]
    assert stored == [message.payload for message in messages]  # each once, in seq order
    assert {auth for auth, _body, _status in platform.received} == {"Bearer cpd_secret"}
    assert [status for *_rest, status in platform.received].count(503) == 2


def test_a_message_the_platform_keeps_as_a_dead_letter_is_not_sent_again(platform: Platform) -> None:
    platform.answers = [422]
    publisher = HttpPublisher(
        HttpSettings(url=platform.url, token=SecretStr("cpd_secret")),
        max_inflight=10,
        messages_per_second=1000,
    )
    publisher.start()
    try:
        acknowledged = deliver(publisher, [PendingMessage(1, b"{}"), PendingMessage(2, b"{}")])
    finally:
        publisher.stop()
    assert sorted(acknowledged) == [1, 2]
    assert [status for *_rest, status in platform.received] == [422, 200]


def test_a_refused_token_is_retried_rather_than_dropped(platform: Platform) -> None:
    platform.answers = [401]
    publisher = HttpPublisher(
        HttpSettings(url=platform.url, token=SecretStr("cpd_old"), retry_max_seconds=1),
        max_inflight=10,
        messages_per_second=1000,
    )
    publisher.start()
    try:
        acknowledged = deliver(publisher, [PendingMessage(1, b"{}")])
    finally:
        publisher.stop()
    assert acknowledged == [1]
    assert [status for *_rest, status in platform.received] == [401, 200]
