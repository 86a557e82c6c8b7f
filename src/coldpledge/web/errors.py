"""Errors as JSON a client can act on: a stable code, a message in the caller's language and,
where one field is to blame, its name. Never a stack trace, never raw SQL."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from coldpledge.errors import N_, DomainError, Unauthenticated, Words
from coldpledge.i18n import current_locale, gettext
from coldpledge.web.validation import message_of

log = logging.getLogger(__name__)

# Parameters that are themselves words (a model name, a state) and so are translated too.
_WORD_PARAMS = frozenset(
    {
        "thing",
        "state_label",
        "status_label",
        "action",
        "party_type",
        "role",
        "kind",
        "temperature_class",
        "document",
    }
)


def translate(message: str, params: dict[str, Any]) -> str:
    words = {key: _parameter(key, value) for key, value in params.items()}
    return gettext(message).format(**words) if words else gettext(message)


def _parameter(key: str, value: Any) -> Any:
    if isinstance(value, Words):
        # Chinese lists things with the enumeration comma: 尚未过磅、尚未施封
        separator = "、" if current_locale() == "zh_Hans_CN" else ", "
        return separator.join(gettext(word) for word in value)
    if key in _WORD_PARAMS and isinstance(value, str):
        return gettext(value)
    return value


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, **{k: v for k, v in extra.items() if v is not None}}


def wants_html(request: Request) -> bool:
    """A browser page or an HTMX request (answered with HTML), not an API client (JSON)."""
    if request.url.path.startswith("/api/"):
        return False
    return "HX-Request" in request.headers or "text/html" in request.headers.get("accept", "")


def html_error(request: Request, status_code: int, detail: str) -> Response:
    """An error a person reads: for an HTMX request a fragment its form shows in place (the
    status kept, so nothing treats it as success), for a page the whole error page."""
    from coldpledge.web.templating import render, render_fragment

    if "HX-Request" in request.headers:
        return render_fragment(request, "_error.html", status_code=status_code, message=detail)
    return render(request, "error.html", status_code=status_code, message=detail, status=status_code)


def install(app: FastAPI) -> None:
    from coldpledge.web.deps import SignInRequired

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = "/login" if exc.next_path == "/" else f"/login?{urlencode({'next': exc.next_path})}"
        if "HX-Request" in request.headers:
            # A redirect would be followed by the XHR and its login form swapped into the page.
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        detail = translate(exc.message, exc.params)
        if wants_html(request):
            return html_error(request, exc.status, detail)
        # The same ``errors`` list as a validation error, so a client shows every 422 alike.
        errors = [{"field": exc.field, "message": detail, "type": exc.code}] if exc.field else None
        body = error_body(exc.code, detail, field=exc.field, errors=errors, **exc.extra())
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": _field_name(error.get("loc", ())),
                "message": message_of(error, gettext),
                "type": error.get("type"),
            }
            for error in exc.errors()
        ]
        fields = ", ".join(sorted({error["field"] for error in errors if error["field"]}))
        body = error_body(
            "validation_error",
            translate(N_("Some fields are not valid: {fields}."), {"fields": fields}),
            errors=errors,
        )
        if wants_html(request):
            lines = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
            return html_error(request, 422, f"{body['detail']} {lines}")
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: N_("Nothing here."), 405: N_("This method is not allowed here.")}
        detail = translate(messages[exc.status_code], {}) if exc.status_code in messages else str(exc.detail)
        if wants_html(request):
            return html_error(request, exc.status_code, detail)
        return JSONResponse(
            error_body(f"http_{exc.status_code}", detail), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error", translate(N_("Something went wrong on our side; it has been logged."), {})
            ),
            status_code=500,
        )


def _field_name(location: Any) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        # A missing or malformed body as a whole is reported as "body".
        parts = parts[1:] or parts[:1]
    return ".".join(parts)
