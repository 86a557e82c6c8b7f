"""What keeps the browser pages safe: a content security policy that allows nothing but our own
scripts, a sign-in that never sends anyone to another site, and errors shown as pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.pages import sign_in_as
from tests.world import PASSWORD


@pytest.mark.parametrize("path", ["/login", "/", "/warehouses"])
def test_pages_allow_scripts_and_styles_from_our_own_origin_only(client: TestClient, path: str) -> None:
    sign_in_as(client, "keeper")
    policy = client.get(path).headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_only_the_api_documentation_may_run_its_inline_start_up_script(client: TestClient) -> None:
    assert "script-src 'self' 'unsafe-inline'" in client.get("/docs").headers["content-security-policy"]


def test_pages_tell_htmx_not_to_evaluate_code_and_send_the_csrf_token_with_every_request(
    client: TestClient,
) -> None:
    csrf = sign_in_as(client, "keeper")
    home = client.get("/").text
    assert '"allowEval": false' in home
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in home


def test_no_page_loads_anything_from_another_host(client: TestClient) -> None:
    sign_in_as(client, "keeper")
    for path in ("/login", "/", "/warehouses"):
        html = client.get(path).text
        for source in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^(https?:)?//", source), f"{path} loads {source}"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_signing_in_never_sends_the_browser_to_another_site(client: TestClient, target: str) -> None:
    form = client.get("/login", params={"next": target})
    assert 'name="next_path" value="/"' in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    answer = client.post(
        "/login",
        data={"username": "keeper", "password": PASSWORD, "csrf_token": token.group(1), "next_path": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_a_page_missing_for_a_browser_is_an_html_page_and_for_an_api_client_json(client: TestClient) -> None:
    sign_in_as(client, "keeper")
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["code"] == "http_404"


def test_an_htmx_request_after_the_session_ended_is_sent_to_sign_in(client: TestClient) -> None:
    answer = client.get("/warehouses", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/login?next=%2Fwarehouses"
