"""The phone app's service worker: with no network a page says so instead of the browser's error,
and what the worker keeps on the phone is the app's own files, never a page with someone's work."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, OpenPage

SHELL = "coldpledge-shell-v1"


def test_with_no_network_the_phone_app_says_so_and_loads_again_when_it_is_back(open_page: OpenPage) -> None:
    page = open_page("inspector", viewport=PHONE, locale="en-US")
    page.goto("/m/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    page.context.set_offline(True)
    page.goto("/m/stocktake")
    expect(page.locator("#offline h1")).to_have_text("No network")
    expect(page.locator("#offline")).to_contain_text("sent when the network is back")

    page.context.set_offline(False)
    page.get_by_role("link", name="Try again").click()
    expect(page.locator("#offline")).to_have_count(0)
    expect(page.locator("h1")).to_contain_text("Stocktake")


def test_the_phone_keeps_the_app_s_files_and_no_page_with_someone_s_work(open_page: OpenPage) -> None:
    page = open_page("inspector", viewport=PHONE, locale="en-US")
    page.goto("/m/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.goto("/m/patrol")  # a page with the inspector's work orders on it, through the worker

    kept: list[str] = page.evaluate(
        """async (name) => {
            const cache = await caches.open(name);
            return (await cache.keys()).map((request) => new URL(request.url).pathname);
        }""",
        SHELL,
    )
    assert "/m/offline" in kept
    assert "/static/js/mobile.js" in kept
    assert [path for path in kept if not path.startswith("/static/") and path != "/m/offline"] == []
