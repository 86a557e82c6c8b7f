"""Helpers for the notification tests: a notification made as the alerts service makes one, a
local webhook receiver that answers what it is told, and a local SMTP sink."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.notify.models import Delivery, InboxItem
from coldpledge.notify.service import notify
from coldpledge.uow import UnitOfWork
from tests.support import now


def tell(
    write_session: Any,
    user_ids: list[int],
    *,
    kind: str = "alert.firing",
    title: str = "Temperature above the limit",
    at: datetime | None = None,
) -> tuple[int, int | None]:
    """Notify ``user_ids`` in a committed unit of work; the newest inbox item's and delivery's ids."""
    with UnitOfWork(write_session) as uow:
        notify(
            uow,
            user_ids=user_ids,
            kind=kind,
            subject_ref="room:1",
            title=title,
            body="YS-F18 reads -12.5 °C; the limit is -15.0 °C.",
            severity="major",
            at=at or now(),
        )
        ids = _newest(uow.session)
        uow.commit()
    return ids


def _newest(session: Session) -> tuple[int, int | None]:
    item = session.scalar(select(func.max(InboxItem.id)))
    assert item is not None
    return item, session.scalar(select(func.max(Delivery.id)))


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 answering each POST with the next status of ``answers``
    (the last one again when they run out)."""

    answers: list[int]
    received: list[Received] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiver(*answers: int) -> Iterator[Receiver]:
    state = Receiver(list(answers) or [200])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(body, {key.lower(): value for key, value in self.headers.items()}))
            status = state.answers.pop(0) if len(state.answers) > 1 else state.answers[0]
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/coldpledge"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)


@contextmanager
def smtp_sink() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 (aiosmtpd) keeping every message it is handed."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self, box: Mailbox) -> None:
            self.box = box

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.box.messages.append(message)
            return "250 2.0.0 Message accepted for delivery"

    # The controller checks that it is up by connecting to its port, so it needs the number first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox(port=port)
    controller = Controller(Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
