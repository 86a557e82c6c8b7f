"""FastAPI dependencies: sessions, units of work, the signed-in principal, the language."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.db import MAX_ID
from coldpledge.errors import N_, PayloadTooLarge, PermissionDenied, Unauthenticated
from coldpledge.inventory.files import FileStore
from coldpledge.parties.policy import Principal
from coldpledge.parties.service import principal_for, user_from_bearer, web_session_for
from coldpledge.uow import Clock, UnitOfWork

SESSION_COOKIE = "coldpledge_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Runtime:
    """What the app needs from the outside world; tests swap the session factories."""

    settings: Settings
    read_session: Callable[[], Session]
    write_session: Callable[[], Session]
    clock: Clock
    files: FileStore

    def now(self) -> datetime:
        return self.clock()


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def ids_in_range(request: Request) -> None:
    """Refuse (422) an id in the path or the query string that no row can have.

    FastAPI checks only that ``lot_id`` is an integer; one beyond the database's integers would
    reach the query and fail there as a server error. Every route depends on this (``create_app``).
    """
    errors = []
    for source, params in (("path", request.path_params), ("query", request.query_params)):
        for name, value in params.items():
            if not name.endswith("_id"):
                continue
            try:
                number = int(value)
            except (TypeError, ValueError):
                continue  # not an integer at all: the route's own validation names it
            if abs(number) > MAX_ID:
                errors.append(
                    {
                        "type": "less_than_equal",
                        "loc": (source, name),
                        "msg": f"Input should be less than or equal to {MAX_ID}",
                        "input": value,
                        "ctx": {"le": MAX_ID},
                    }
                )
    if errors:
        raise RequestValidationError(errors)


def read_session(request: Request) -> Iterator[Session]:
    session = runtime(request).read_session()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def unit_of_work(request: Request) -> UnitOfWork:
    rt = runtime(request)
    return UnitOfWork(rt.write_session, clock=rt.clock)


ReadSession = Annotated[Session, Depends(read_session)]
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]


def current_principal(request: Request, session: ReadSession) -> Principal:
    """The caller: a bearer token (API clients) or a browser session cookie (pages, HTMX).

    A cookie is an ambient credential, so unsafe requests made with one must also carry the
    session's CSRF token in the ``X-CSRF-Token`` header.
    """
    try:
        return _identify(request, session)
    finally:
        # End the read transaction that looked the caller up. On SQLite it pins a snapshot: a
        # write committed later in this request would be invisible to the answer built after it.
        session.rollback()


def _identify(request: Request, session: Session) -> Principal:
    rt = runtime(request)
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        user = user_from_bearer(session, rt.settings, credentials.strip(), rt.now())
        if user is None:
            raise Unauthenticated(N_("The access token is invalid or has expired; sign in again."))
        return principal_for(user)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        web_session = web_session_for(session, cookie, rt.now())
        if web_session is None:
            raise Unauthenticated(N_("Your session has ended; sign in again."))
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != web_session.csrf_token:
            raise PermissionDenied(
                N_("The form is missing its security token; reload the page and try again.")
            )
        return principal_for(web_session.user)
    raise Unauthenticated(N_("Sign in first."))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# --- pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageUser:
    """Who is looking at a page, and the token its forms and HTMX requests must send back."""

    principal: Principal
    csrf_token: str
    organisation_name: str


class SignInRequired(Exception):
    """Raised by page dependencies when no session cookie is valid; answered by a redirect to
    the sign-in page that comes back here afterwards (see ``web.errors``)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_user(request: Request, session: ReadSession) -> PageUser:
    """The signed-in browser user, or a redirect to /login. Pages never take bearer tokens: a page
    is what a person in a browser sees."""
    rt = runtime(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        web_session = web_session_for(session, cookie, rt.now()) if cookie else None
        if web_session is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(path)
        if request.method not in SAFE_METHODS:
            # Forms post the token as a field, HTMX sends it as a header (base.html sets it).
            sent = request.headers.get(CSRF_HEADER) or ""
            if sent != web_session.csrf_token:
                raise PermissionDenied(
                    N_("The form is missing its security token; reload the page and try again.")
                )
        return PageUser(
            principal=principal_for(web_session.user),
            csrf_token=web_session.csrf_token,
            organisation_name=web_session.user.organisation.name,
        )
    finally:
        session.rollback()


PageUserDep = Annotated[PageUser, Depends(page_user)]


def within_upload_limit(request: Request, rt: Runtime) -> None:
    """Refuse (413) a body larger than the attachment limit from its declared length, before the
    file is read. The margin is for the form's other fields and the multipart framing."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > rt.settings.attachment_max_bytes + 64 * 1024:
        raise PayloadTooLarge(
            N_("The file is larger than the limit of {limit} bytes."), limit=rt.settings.attachment_max_bytes
        )
