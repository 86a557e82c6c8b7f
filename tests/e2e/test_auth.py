"""Signing in: bearer tokens for API clients, cookie sessions for browsers, and what keeps each safe.

Time is driven through the app's own clock, so a lockout or an expiry is tested by moving the clock,
never by sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx2 as httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from coldpledge.config import Settings
from coldpledge.db import utcnow
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import PERMISSIONS, Role
from coldpledge.parties.security import TOKEN_AUDIENCE, issue_access_token
from tests.conftest import TestDB as Transaction
from tests.support import Clock
from tests.world import PASSWORD, World

WRONG = "Wrong username or password."


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())


@pytest.fixture
def clocked(db: Transaction, clock: Clock) -> Iterator[TestClient]:
    """A client of an app whose clock the test moves; sessions join the test's transaction."""
    with TestClient(db.app(clock=clock), headers={"Accept-Language": "en"}) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


# --- bearer tokens ----------------------------------------------------------------------------


def test_the_right_password_gives_a_bearer_token_that_works(client: TestClient, world: World) -> None:
    response = sign_in(client, "bank")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 60 * 60

    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "bank"
    assert me.json()["user_id"] == world.users["bank"]
    assert me.json()["organisation_id"] == world.orgs["bank"]
    assert me.json()["role"] == "bank_risk_officer"


def test_me_lists_the_permissions_of_the_role(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    permissions = client.get("/api/v1/me", headers=auth("inspector")).json()["permissions"]
    assert permissions == sorted(PERMISSIONS[Role.INSPECTOR])
    assert "lot:stocktake" in permissions
    assert "receipt:accept_pledge" not in permissions


def test_usernames_are_not_case_sensitive(client: TestClient) -> None:
    assert sign_in(client, "  Bank ").status_code == 200


def test_a_wrong_password_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = sign_in(client, "bank", "not-the-password")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"
    assert response.json()["detail"] == WRONG
    assert "access_token" not in response.json()


def test_an_unknown_user_gets_the_very_same_answer_as_a_wrong_password(client: TestClient) -> None:
    wrong_password = sign_in(client, "bank", "not-the-password")
    unknown_user = sign_in(client, "nobody-here", "not-the-password")
    assert unknown_user.status_code == wrong_password.status_code == 401
    assert unknown_user.json() == wrong_password.json()
    assert unknown_user.headers["WWW-Authenticate"] == "Bearer"


def test_a_sign_in_without_a_password_is_refused_with_the_missing_field(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "bank"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["password"]


def test_five_failures_lock_the_account_even_against_the_right_password(
    clocked: TestClient, clock: Clock
) -> None:
    for _ in range(5):
        assert sign_in(clocked, "borrower", "guess-guess-guess").status_code == 401
    locked = sign_in(clocked, "borrower")
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert "access_token" not in locked.json()

    clock.advance(minutes=14, seconds=59)
    assert sign_in(clocked, "borrower").status_code == 429


def test_the_lock_lifts_after_the_lockout_and_the_user_works_again(clocked: TestClient, clock: Clock) -> None:
    for _ in range(5):
        sign_in(clocked, "borrower", "guess-guess-guess")
    assert sign_in(clocked, "borrower").status_code == 429

    clock.advance(minutes=15)
    response = sign_in(clocked, "borrower")
    assert response.status_code == 200, response.text
    me = clocked.get("/api/v1/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200, me.text


def test_four_failures_and_a_success_start_the_count_afresh(clocked: TestClient) -> None:
    for _ in range(4):
        sign_in(clocked, "borrower", "guess-guess-guess")
    assert sign_in(clocked, "borrower").status_code == 200
    for _ in range(4):
        sign_in(clocked, "borrower", "guess-guess-guess")
    assert sign_in(clocked, "borrower").status_code == 200


def test_one_account_locking_leaves_the_others_alone(clocked: TestClient) -> None:
    for _ in range(5):
        sign_in(clocked, "borrower", "guess-guess-guess")
    assert sign_in(clocked, "borrower").status_code == 429
    assert sign_in(clocked, "borrower2").status_code == 200


def test_an_invented_username_is_locked_out_just_like_a_real_one(clocked: TestClient) -> None:
    # Otherwise a guesser could tell real usernames by which ones ever answer 429.
    answers = {}
    for username in ("borrower", "nobody-by-this-name"):
        for _ in range(5):
            assert sign_in(clocked, username, "guess-guess-guess").status_code == 401
        answers[username] = sign_in(clocked, username, "guess-guess-guess")
    assert answers["borrower"].status_code == answers["nobody-by-this-name"].status_code == 429
    assert answers["borrower"].json()["code"] == answers["nobody-by-this-name"].json()["code"]


def test_a_token_stops_working_when_it_expires_on_the_apps_clock(clocked: TestClient, clock: Clock) -> None:
    token = sign_in(clocked, "bank").json()["access_token"]
    clock.advance(minutes=59)
    assert clocked.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(minutes=1)
    expired = clocked.get("/api/v1/me", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_is_401(client: TestClient, settings: Settings, world: World) -> None:
    token = issue_access_token(settings, user_id=world.users["bank"], now=utcnow() - timedelta(hours=2))
    response = client.get("/api/v1/me", headers=bearer(token.token))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_issued_in_the_future_is_401(client: TestClient, settings: Settings, world: World) -> None:
    # A token minted ahead of its time (a forged or skewed clock) is no good until then.
    token = issue_access_token(settings, user_id=world.users["bank"], now=utcnow() + timedelta(minutes=10))
    assert client.get("/api/v1/me", headers=bearer(token.token)).status_code == 401


def test_a_token_from_a_replica_whose_clock_is_a_few_seconds_ahead_is_accepted(
    client: TestClient, settings: Settings, world: World
) -> None:
    token = issue_access_token(settings, user_id=world.users["bank"], now=utcnow() + timedelta(seconds=10))
    assert client.get("/api/v1/me", headers=bearer(token.token)).status_code == 200


def test_a_token_signed_with_another_key_is_401(client: TestClient, settings: Settings, world: World) -> None:
    forger = settings.model_copy(update={"secret_key": SecretStr("someone-else-entirely-" * 2)})
    token = issue_access_token(forger, user_id=world.users["admin"], now=utcnow())
    assert client.get("/api/v1/me", headers=bearer(token.token)).status_code == 401


def test_an_unsigned_token_is_401(client: TestClient, world: World) -> None:
    now = int(utcnow().timestamp())
    claims = {"sub": str(world.users["admin"]), "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + 600}
    token = jwt.encode(claims, key="", algorithm="none")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_token_for_another_audience_is_401(client: TestClient, settings: Settings, world: World) -> None:
    now = int(utcnow().timestamp())
    claims = {"sub": str(world.users["admin"]), "aud": "some-other-api", "iat": now, "exp": now + 600}
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer not-a-jwt", "Basic YmFuazpwYXNz", ""])
def test_a_missing_or_garbled_credential_is_401(client: TestClient, authorization: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_deactivated_users_valid_token_is_401(
    client: TestClient, db: Transaction, auth: Callable[[str], dict[str, str]], world: World
) -> None:
    headers = auth("bankviewer")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with db.session() as session:
        session.get_one(User, world.users["bankviewer"]).is_active = False
        session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(client, "bankviewer").json()["detail"] == WRONG


def test_the_users_of_a_deactivated_organisation_are_shut_out(
    client: TestClient, db: Transaction, auth: Callable[[str], dict[str, str]], world: World
) -> None:
    headers = auth("guarantor")
    with db.session() as session:
        session.get_one(Organisation, world.orgs["guarantor"]).is_active = False
        session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(client, "guarantor").status_code == 401


# --- browser sessions -------------------------------------------------------------------------


def login_form(client: TestClient) -> str:
    """Open the sign-in page; return the CSRF token of its form."""
    page = client.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def browser_login(client: TestClient, username: str) -> httpx.Response:
    token = login_form(client)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def page_csrf(client: TestClient) -> str:
    """The signed-in session's CSRF token, as the home page renders it in the sign-out form."""
    home = client.get("/")
    assert home.status_code == 200, home.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert found, home.text
    return found.group(1)


def test_the_sign_in_page_sets_an_http_only_csrf_cookie_matching_its_hidden_field(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    cookie = set_cookies(page)["coldpledge_login_csrf"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    field = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page.text)
    assert field is not None
    assert field.group(1) == client.cookies["coldpledge_login_csrf"]


def test_a_sign_in_form_without_the_matching_token_is_refused(client: TestClient) -> None:
    login_form(client)
    forged = client.post(
        "/login",
        data={"username": "bank", "password": PASSWORD, "csrf_token": "made-up-by-another-site"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "coldpledge_session" not in set_cookies(forged)


def test_a_sign_in_form_posted_without_ever_opening_the_page_is_refused(client: TestClient) -> None:
    response = client.post(
        "/login", data={"username": "bank", "password": PASSWORD, "csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "coldpledge_session" not in set_cookies(response)


def test_a_wrong_password_in_the_browser_shows_the_form_again(client: TestClient) -> None:
    token = login_form(client)
    response = client.post(
        "/login",
        data={"username": "bank", "password": "not-the-password", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert WRONG in response.text
    assert "coldpledge_session" not in set_cookies(response)


def test_signing_in_in_the_browser_sets_a_strict_session_cookie_and_goes_home(client: TestClient) -> None:
    response = browser_login(client, "bank")
    assert response.headers["location"] == "/"
    cookie = set_cookies(response)["coldpledge_session"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()

    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "bank"
    assert "Alice" in client.get("/").text


def test_an_unsafe_request_with_a_session_cookie_needs_the_csrf_header(
    client: TestClient, world: World
) -> None:
    browser_login(client, "inspector")
    lot = world.lots["free"]
    body = {"counted_g": 10_000_000, "counted_cartons": 500}

    without = client.post(f"/api/v1/lots/{lot}/stocktake", json=body)
    assert without.status_code == 403
    assert without.json()["code"] == "permission_denied"

    wrong = client.post(f"/api/v1/lots/{lot}/stocktake", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403

    right = client.post(
        f"/api/v1/lots/{lot}/stocktake", json=body, headers={"X-CSRF-Token": page_csrf(client)}
    )
    assert right.status_code == 201, right.text
    assert right.json()["kind"] == "stocktake"


def test_a_session_ends_after_its_hours_on_the_apps_clock(clocked: TestClient, clock: Clock) -> None:
    browser_login(clocked, "bank")
    clock.advance(hours=11, minutes=59)
    assert clocked.get("/api/v1/me").status_code == 200
    clock.advance(minutes=1)
    ended = clocked.get("/api/v1/me")
    assert ended.status_code == 401
    assert clocked.get("/", follow_redirects=False).headers["location"] == "/login"


def test_signing_out_revokes_the_session_on_the_server(client: TestClient) -> None:
    browser_login(client, "bank")
    cookie = client.cookies["coldpledge_session"]
    csrf = page_csrf(client)

    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"

    # Even a copy of the cookie kept by someone else no longer works.
    client.cookies.set("coldpledge_session", cookie)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_sign_out_without_the_csrf_token_does_not_end_the_session(client: TestClient) -> None:
    browser_login(client, "bank")
    cookie = client.cookies["coldpledge_session"]
    client.post("/logout", data={}, follow_redirects=False)
    client.cookies.set("coldpledge_session", cookie)
    assert client.get("/api/v1/me").status_code == 200


def test_a_made_up_session_cookie_is_401(client: TestClient) -> None:
    client.cookies.set("coldpledge_session", "not-a-session")
    assert client.get("/api/v1/me").status_code == 401


@pytest.fixture
def https(db: Transaction) -> Iterator[TestClient]:
    """A client of an app deployed behind HTTPS, whose cookies must never travel over plain HTTP."""
    app = db.app(secure_cookies=True)
    with TestClient(app, base_url="https://testserver", headers={"Accept-Language": "en"}) as client:
        yield client


def test_behind_https_every_cookie_of_signing_in_is_secure(https: TestClient) -> None:
    page = https.get("/login")
    assert "Secure" in set_cookies(page)["coldpledge_login_csrf"]

    token = login_form(https)
    failed = https.post(
        "/login",
        data={"username": "bank", "password": "not-the-password", "csrf_token": token},
        follow_redirects=False,
    )
    assert failed.status_code == 401
    assert "Secure" in set_cookies(failed)["coldpledge_login_csrf"]

    signed_in = browser_login(https, "bank")
    assert "Secure" in set_cookies(signed_in)["coldpledge_session"]
