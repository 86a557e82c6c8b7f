"""The ASGI application for uvicorn: ``uvicorn coldpledge.web.main:app``."""

from __future__ import annotations

from coldpledge.web.app import create_app

app = create_app()
