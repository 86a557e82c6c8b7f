"""Typed domain errors. Each carries a stable code and a message a user can act on.

Messages are English source strings marked with ``N_`` so Babel extracts them; the web edge
translates them into the caller's language and fills in the parameters.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    return message


class Words(tuple[str, ...]):
    """Several translatable words as one message parameter; the web edge translates each and joins
    them the way the caller's language lists things."""

    def __str__(self) -> str:
        return ", ".join(self)


class DomainError(Exception):
    status = 400
    code = "domain_error"

    def __init__(self, message: str, /, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.field = field
        self.params = params

    def extra(self) -> dict[str, Any]:
        """Machine-readable details added to the error body."""
        return {}


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, message: str, /, *, state: str, allowed_actions: list[str], **params: Any) -> None:
        super().__init__(message, state=state, **params)
        self.state = state
        self.allowed_actions = allowed_actions

    def extra(self) -> dict[str, Any]:
        return {"state": self.state, "allowed_actions": self.allowed_actions}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


class Unavailable(DomainError):
    """The platform cannot answer right now for a reason on its side (a missing key, a service
    down); the caller may try again later."""

    status = 503
    code = "unavailable"
