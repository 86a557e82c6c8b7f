"""Browser pages: sign-in and sign-out, the home page, and the public receipt ID card (/r/{code})."""

from __future__ import annotations

import hmac
import io
import secrets
from typing import Annotated
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from coldpledge.errors import DomainError, NotFound
from coldpledge.i18n import gettext
from coldpledge.parties import service as parties
from coldpledge.receipts import queries
from coldpledge.web.deps import SESSION_COOKIE, PageUserDep, ReadSession, Runtime, RuntimeDep, Uow
from coldpledge.web.errors import translate
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "coldpledge_login_csrf"
LOCAL = ZoneInfo("Asia/Shanghai")


def _local_path(next_path: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host (an open
    redirect would lend our sign-in page to a phishing link)."""
    if next_path and next_path.startswith("/") and not next_path.startswith(("//", "/\\")):
        return next_path
    return "/"


@router.get("/login")
def login_form(request: Request, rt: RuntimeDep, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", csrf_token=token, next_path=_local_path(next))
    # Double-submit token: a form posted from another site cannot know it.
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=rt.settings.secure_cookies
    )
    return response


@router.post("/login")
def login(
    request: Request,
    uow: Uow,
    rt: RuntimeDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=64)],
    next_path: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    destination = _local_path(next_path)
    if not expected or not hmac.compare_digest(expected, csrf_token):
        message = gettext("The form expired; please try again.")
        return _login_again(request, rt, username, message, 403, destination)
    try:
        token, _csrf = parties.open_web_session(uow, rt.settings, username, password)
    except DomainError as error:
        message = translate(error.message, error.params)
        return _login_again(request, rt, username, message, error.status, destination)
    response = RedirectResponse(destination, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=rt.settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=rt.settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _login_again(
    request: Request, rt: Runtime, username: str, error: str, status_code: int, next_path: str
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        csrf_token=token,
        error=error,
        username=username,
        next_path=next_path,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=rt.settings.secure_cookies
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        web_session = parties.web_session_for(session, cookie, rt.now())
        if web_session is not None and hmac.compare_digest(web_session.csrf_token, csrf_token):
            parties.close_web_session(uow, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, user: PageUserDep) -> Response:
    return render(request, "home.html", user=user, role_label=user.principal.role.label)


@router.get("/r/{code}")
def receipt_card(code: str, request: Request, session: ReadSession, rt: RuntimeDep) -> Response:
    """The receipt's public ID card (仓单身份证), reached by scanning its QR code. No sign-in."""
    try:
        card = queries.public_card(session, code)
    except NotFound as missing:
        return render(request, "not_found.html", status_code=404, message=translate(missing.message, {}))
    return render(
        request,
        "receipt_card.html",
        card=card,
        issued_at=f"{card.issued_at.astimezone(LOCAL):%Y-%m-%d}" if card.issued_at else None,  # type: ignore[attr-defined]
        status_changed_at=f"{card.status_changed_at.astimezone(LOCAL):%Y-%m-%d %H:%M}",  # type: ignore[attr-defined]
        qr_svg=_qr_svg(f"{rt.settings.public_base_url.rstrip('/')}/r/{card.code}"),
    )


@router.get("/r/{code}/qr.svg")
def receipt_qr(code: str, session: ReadSession, rt: RuntimeDep) -> Response:
    card = queries.public_card(session, code)
    svg = _qr_svg(f"{rt.settings.public_base_url.rstrip('/')}/r/{card.code}")
    return Response(svg, media_type="image/svg+xml")


def _qr_svg(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()
