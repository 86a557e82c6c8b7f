"""The page header: each role finds the pages it may use, grouped into menus by what they are
about, and no link to a page that would refuse it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.pages import sign_in_as


def header(client: TestClient) -> str:
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'<nav class="pages".*?</nav>', page.text, re.S)
    assert found, page.text
    return found.group(0)


def menu(nav: str, label: str) -> list[str]:
    found = re.search(rf"<summary>{label}</summary>(.*?)</details>", nav, re.S)
    assert found, nav
    return re.findall(r'href="([^"]+)"', found.group(1))


def test_the_operator_finds_financing_pages_in_one_menu_and_administration_on_the_bar(
    client: TestClient,
) -> None:
    sign_in_as(client, "admin")
    nav = header(client)
    assert menu(nav, "Financing")[:3] == ["/receipts", "/facilities", "/releases"]
    assert "/devices/dead-letters" in menu(nav, "Warehousing")
    assert '<a href="/admin">Administration</a>' in nav


def test_every_link_in_a_header_opens_for_the_one_who_sees_it(client: TestClient) -> None:
    for username in ("admin", "bank", "keeper", "supervisor", "inspector", "borrower"):
        client.cookies.clear()
        sign_in_as(client, username)
        links = re.findall(r'href="([^"]+)"', header(client))
        assert links, username
        for href in links:
            answer = client.get(href)
            assert answer.status_code == 200, (username, href, answer.status_code)


def test_a_bank_is_not_shown_the_dead_letters_nor_the_mobile_app(client: TestClient) -> None:
    sign_in_as(client, "bank")
    nav = header(client)
    assert "/devices/dead-letters" not in nav
    assert 'href="/m/"' not in nav
    assert "/facilities" in menu(nav, "Financing")
