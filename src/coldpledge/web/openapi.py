"""OpenAPI helpers: every route declares the error answers it can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    code: str
    detail: str
    field: str | None = None


class TransitionErrorOut(ErrorOut):
    state: str
    allowed_actions: list[str]


_DESCRIPTIONS = {
    401: "Not signed in, or the token has expired",
    403: "Visible, but this role may not do it",
    404: "No such object, or it is outside the caller's scope",
    409: "The object's current state forbids it",
    413: "The upload is too large",
    415: "The upload is not an accepted file type",
    422: "Some fields are not valid",
    429: "Too many failed sign-ins",
    503: "The server cannot answer this yet (for instance, a key is not configured)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": TransitionErrorOut if code == 409 else ErrorOut, "description": _DESCRIPTIONS[code]}
        for code in codes
    }
