"""Helpers for page tests through the TestClient: sign in as a browser does (form, cookie) and
send what HTMX sends (the session's CSRF token as a header)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.world import PASSWORD


def sign_in_as(client: TestClient, username: str) -> str:
    """Sign ``client`` in through the sign-in form; return the session's CSRF token. The client
    keeps the session cookie, so later requests are that user's."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text)
    assert csrf, home.text
    return csrf.group(1)


def htmx(csrf_token: str) -> dict[str, str]:
    """The headers of an HTMX request from a signed-in page."""
    return {"HX-Request": "true", "X-CSRF-Token": csrf_token}
