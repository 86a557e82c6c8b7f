"""Jinja2 with per-request translations (the language comes from a context variable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from coldpledge.i18n import current_locale, translated_environment
from coldpledge.reports.format import local_time, yuan
from coldpledge.web.navigation import grouped, nav_for

TEMPLATES = Path(__file__).parent / "templates"

environment = translated_environment(TEMPLATES)
environment.filters["local_time"] = local_time
environment.filters["yuan"] = yuan
environment.globals["nav_menu"] = grouped


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
