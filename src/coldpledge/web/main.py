"""The ASGI application for uvicorn: ``uvicorn coldpledge.web.main:app``."""

from __future__ import annotations

from coldpledge.web.app import create_app, freeze_startup_heap

app = create_app()
freeze_startup_heap()
