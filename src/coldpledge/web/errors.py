"""Errors as JSON a client can act on: a stable code, a message in the caller's language and,
where one field is to blame, its name. Never a stack trace, never raw SQL."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coldpledge.errors import N_, DomainError, Unauthenticated, Words
from coldpledge.i18n import current_locale, gettext

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


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        detail = translate(exc.message, exc.params)
        # The same ``errors`` list as a validation error, so a client shows every 422 alike.
        errors = [{"field": exc.field, "message": detail, "type": exc.code}] if exc.field else None
        body = error_body(exc.code, detail, field=exc.field, errors=errors, **exc.extra())
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(error.get("loc", ())),
                "message": error.get("msg", ""),
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
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: N_("Nothing here."), 405: N_("This method is not allowed here.")}
        detail = translate(messages[exc.status_code], {}) if exc.status_code in messages else str(exc.detail)
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
