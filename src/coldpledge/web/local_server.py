"""The app served by uvicorn on a free local port in a background thread, for as long as a `with`
block lasts. The browser tests and the benchmarks use it (a real HTTP server, as a browser sees
it); production runs `coldpledge serve`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.web.app import create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(settings: Settings, database: Database, *, name: str = "coldpledge-local") -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of the app on ``database``."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database=database),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            # The screens' event streams never end by themselves; don't wait long for them.
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
