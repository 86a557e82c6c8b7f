"""Simplified Chinese first, English second: every answer speaks the caller's language.

The language comes from ``?lang=`` (remembered in a cookie), else the ``coldpledge_lang`` cookie,
else Accept-Language, else Chinese. The test client sends ``Accept-Language: en`` unless a test
says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.world import World

Auth = Callable[[str], dict[str, str]]
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
UNKNOWN_RECEIPT = 987_654_321


@pytest.fixture
def browser(client: TestClient) -> TestClient:
    """A client that, like a fresh browser with no language preference, sends no Accept-Language."""
    del client.headers["Accept-Language"]
    return client


def issued_receipt_code(client: TestClient, auth: Auth, world: World) -> str:
    response = client.get(f"/api/v1/receipts/{world.receipts['issued']}", headers=auth("keeper"))
    assert response.status_code == 200, response.text
    code = response.json()["code"]
    assert isinstance(code, str)
    return code


# --- API errors ---------------------------------------------------------------------------------


def test_an_unknown_receipt_is_reported_in_chinese_to_a_chinese_reader(
    client: TestClient, auth: Auth
) -> None:
    response = client.get(f"/api/v1/receipts/{UNKNOWN_RECEIPT}", headers={**auth("bank"), **CHINESE})

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": f"未找到仓单 {UNKNOWN_RECEIPT}。"}


def test_chinese_is_the_language_when_the_caller_names_none(browser: TestClient, auth: Auth) -> None:
    response = browser.get(f"/api/v1/receipts/{UNKNOWN_RECEIPT}", headers=auth("bank"))

    assert response.status_code == 404
    assert response.json()["detail"] == f"未找到仓单 {UNKNOWN_RECEIPT}。"


def test_an_english_reader_gets_the_same_error_in_english_with_the_same_code(
    client: TestClient, auth: Auth
) -> None:
    path = f"/api/v1/receipts/{UNKNOWN_RECEIPT}"
    chinese = client.get(path, headers={**auth("bank"), **CHINESE}).json()
    english = client.get(path, headers={**auth("bank"), **ENGLISH}).json()

    assert english == {"code": "not_found", "detail": f"The receipt {UNKNOWN_RECEIPT} was not found."}
    assert english["code"] == chinese["code"]


def test_lang_in_the_query_wins_over_accept_language(browser: TestClient, auth: Auth) -> None:
    path = f"/api/v1/receipts/{UNKNOWN_RECEIPT}"

    english = browser.get(path, params={"lang": "en"}, headers={**auth("bank"), **CHINESE})
    chinese = browser.get(path, params={"lang": "zh-CN"}, headers={**auth("bank"), **ENGLISH})

    assert english.json()["detail"] == f"The receipt {UNKNOWN_RECEIPT} was not found."
    assert chinese.json()["detail"] == f"未找到仓单 {UNKNOWN_RECEIPT}。"


def test_an_illegal_step_names_the_state_and_the_step_in_the_readers_words(
    client: TestClient, auth: Auth, world: World
) -> None:
    path = f"/api/v1/receipts/{world.receipts['issued']}/issue"
    chinese = client.post(path, json={}, headers={**auth("keeper"), **CHINESE})
    english = client.post(path, json={}, headers={**auth("keeper"), **ENGLISH})

    assert chinese.status_code == english.status_code == 409
    assert chinese.json()["detail"] == "处于「已签发」状态的仓单不能执行「签发」。"
    assert english.json()["detail"] == "The receipt is Issued: “Issue” is not possible in that state."
    # What a program reads does not depend on the language.
    for field in ("code", "state", "allowed_actions"):
        assert chinese.json()[field] == english.json()[field]
    assert chinese.json()["code"] == "illegal_transition"
    assert chinese.json()["state"] == "issued"


def test_invalid_fields_are_reported_in_the_readers_language(client: TestClient, auth: Auth) -> None:
    chinese = client.post("/api/v1/receipts", json={}, headers={**auth("keeper"), **CHINESE})
    english = client.post("/api/v1/receipts", json={}, headers={**auth("keeper"), **ENGLISH})

    assert chinese.status_code == english.status_code == 422
    assert chinese.json()["code"] == english.json()["code"] == "validation_error"
    assert chinese.json()["detail"].startswith("以下字段无效：")
    assert "lot_id" in chinese.json()["detail"]
    assert english.json()["detail"].startswith("Some fields are not valid: ")
    assert "lot_id" in english.json()["detail"]


def test_a_role_refusal_names_the_thing_in_chinese(client: TestClient, auth: Auth, world: World) -> None:
    # Victor at the bank may look at the receipt pledged to his bank but never act on it.
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/freeze",
        json={"reason": "风险排查"},
        headers={**auth("bankviewer"), **CHINESE},
    )

    assert response.status_code == 403
    assert response.json() == {"code": "permission_denied", "detail": "您的角色无权对仓单执行此操作。"}


# --- pages ----------------------------------------------------------------------------------------


def test_the_sign_in_page_is_chinese_by_default_and_english_on_request(browser: TestClient) -> None:
    chinese = browser.get("/login")
    english = browser.get("/login", params={"lang": "en"})

    assert '<html lang="zh-CN">' in chinese.text
    assert "<h1>登录</h1>" in chinese.text
    assert "用户名" in chinese.text
    assert "Sign in" not in chinese.text
    assert '<html lang="en">' in english.text
    assert "<h1>Sign in</h1>" in english.text
    assert "Username" in english.text
    assert "登录" not in english.text


def test_the_chosen_language_is_remembered_for_the_next_request(browser: TestClient) -> None:
    chosen = browser.get("/login", params={"lang": "en"})
    assert chosen.cookies.get("coldpledge_lang") == "en"

    # No ?lang= and a browser that prefers Chinese: the cookie keeps the reader in English.
    following = browser.get("/login", headers=CHINESE)
    assert "<h1>Sign in</h1>" in following.text

    browser.get("/login", params={"lang": "zh-CN"})
    assert "<h1>登录</h1>" in browser.get("/login", headers=ENGLISH).text


def test_the_public_receipt_card_is_chinese_by_default(browser: TestClient, auth: Auth, world: World) -> None:
    code = issued_receipt_code(browser, auth, world)

    card = browser.get(f"/r/{code}")

    assert card.status_code == 200
    assert "<h1>仓单身份证</h1>" in card.text
    assert "已签发" in card.text
    assert "签发方" in card.text
    assert "Warehouse receipt ID card" not in card.text


def test_the_public_receipt_card_is_english_with_lang_en(
    browser: TestClient, auth: Auth, world: World
) -> None:
    code = issued_receipt_code(browser, auth, world)

    card = browser.get(f"/r/{code}", params={"lang": "en"})

    assert card.status_code == 200
    assert "<h1>Warehouse receipt ID card</h1>" in card.text
    assert ">Issued<" in card.text
    assert "Issuer" in card.text
    assert "仓单身份证" not in card.text


def test_an_unknown_receipt_code_says_so_in_chinese(browser: TestClient) -> None:
    card = browser.get("/r/NO-SUCH-CODE")

    assert card.status_code == 404
    assert "没有与此编码对应的已签发仓单。" in card.text


# --- concurrency ------------------------------------------------------------------------------------


def test_concurrent_requests_in_different_languages_never_mix(client: TestClient) -> None:
    """The language lives in a context variable, one per request; a module-level setting would let
    one request's language leak into another's answer while both are in flight."""
    expected = {
        "zh-CN": ("<h1>登录</h1>", "此处没有内容。"),
        "en": ("<h1>Sign in</h1>", "Nothing here."),
    }

    def ask(index: int) -> tuple[str, bool]:
        language = "zh-CN" if index % 2 else "en"
        heading, nothing_here = expected[language]
        headers = {"Accept-Language": language}
        if index % 3:
            # Rendered in a worker thread (a sync endpoint), after the middleware chose the language.
            ok = heading in client.get("/login", headers=headers).text
        else:
            # Answered by the error handler on the event loop.
            ok = client.get("/api/v1/no-such-thing", headers=headers).json()["detail"] == nothing_here
        return language, ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(96)))

    assert [language for language, ok in answers if not ok] == []
    assert {language for language, _ok in answers} == {"zh-CN", "en"}
