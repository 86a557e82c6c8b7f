"""Signing in through the real browser: each demo role lands on its home page with its own pages
in the header, in Chinese by default and in English by the switch."""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenPage

ROLES = ["admin", "bank", "borrower", "keeper", "supervisor", "inspector"]


@pytest.mark.parametrize("username", ROLES)
def test_each_demo_role_signs_in_and_sees_its_home_page_in_chinese(
    open_page: OpenPage, username: str
) -> None:
    page = open_page(username)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text().startswith("欢迎")
    assert page.locator("button[type=submit]").inner_text() == "退出登录"


def test_the_language_switch_turns_the_pages_to_english_and_keeps_them_so(open_page: OpenPage) -> None:
    page = open_page("bank")
    page.click("text=English")
    assert page.locator("h1").inner_text().startswith("Welcome")
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"


def test_a_page_opened_signed_out_comes_back_to_it_after_signing_in(open_page: OpenPage) -> None:
    page = open_page(None)
    response = page.goto("/screens/inventory")
    assert response is not None
    assert "/login?next=" in page.url
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "coldpledge-demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/screens/inventory")


def test_a_wrong_password_is_refused_with_a_message_and_the_name_kept(open_page: OpenPage) -> None:
    page = open_page(None)
    page.goto("/login")
    page.fill("input[name=username]", "bank")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误。"
    assert page.locator("input[name=username]").input_value() == "bank"
