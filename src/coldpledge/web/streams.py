"""Server-sent events for the big screens: a fresh snapshot of what the screen shows, at once and
then every few seconds, for as long as the browser listens and the viewer's session lasts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from coldpledge.parties.service import web_session_for
from coldpledge.web.deps import SESSION_COOKIE, Runtime

Snapshot = Callable[[Session], dict[str, Any]]


def event(name: str, data: dict[str, Any]) -> str:
    """One SSE message; JSON on one line, so no ``data:`` continuation is needed."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def snapshot_stream(
    request: Request, rt: Runtime, build: Snapshot, *, name: str = "snapshot", interval_s: float = 5.0
) -> StreamingResponse:
    """Stream ``build(session)`` as ``name`` events. The query runs in the thread pool with its own
    read session each time; the stream ends when the browser goes away or the session that
    opened it is signed out or expires (a screen left on a wall does not outlive its login)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")

    def still_signed_in(session: Session) -> bool:
        return web_session_for(session, cookie, rt.now()) is not None

    def one() -> dict[str, Any] | None:
        session = rt.read_session()
        try:
            if not still_signed_in(session):
                return None
            return build(session)
        finally:
            session.rollback()
            session.close()

    async def events() -> AsyncIterator[str]:
        # The browser reconnects after this many milliseconds if the connection drops.
        yield f"retry: {int(interval_s * 1000)}\n\n"
        while not await request.is_disconnected():
            data = await run_in_threadpool(one)
            if data is None:
                yield event("signed-out", {})
                return
            yield event(name, data)
            await asyncio.sleep(interval_s)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
