"""Jinja2 with per-request translations (the language comes from a context variable)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from coldpledge.i18n import current_locale, gettext, ngettext
from coldpledge.web.navigation import nav_for

TEMPLATES = Path(__file__).parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC and shown on the warehouse's clock (China Standard Time)."""
    return value.astimezone(LOCAL_ZONE).strftime(fmt)


def yuan(fen: int) -> str:
    """Money is integer fen; people read yuan with two decimals and thousands separators."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


environment.filters["local_time"] = local_time
environment.filters["yuan"] = yuan
# Callables, not translations: each call looks up the current request's language.
environment.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = current_locale()
    user = context.get("user")
    if user is not None and "nav" not in context:
        context["nav"] = nav_for(user.principal)
    html = environment.get_template(template).render(
        request=request, locale=locale, html_lang="zh-CN" if locale == "zh_Hans_CN" else "en", **context
    )
    return HTMLResponse(html, status_code=status_code)


def render_fragment(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A piece of a page for HTMX to swap in; the same as ``render``, named for the reader."""
    return render(request, template, status_code=status_code, **context)
