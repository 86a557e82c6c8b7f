"""The warehouse pages in the real browser: a keeper walks from the rooms to one room's chart."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import DESKTOP, OpenPage, screenshot


def test_a_keeper_opens_a_room_from_the_warehouse_list_and_sees_its_temperature_chart(
    open_page: OpenPage, tmp_path: Path
) -> None:
    page = open_page("keeper", viewport=DESKTOP, locale="en-US")
    page.goto("/warehouses")
    rooms = page.locator("li.room")
    assert rooms.count() > 0
    rooms.first.locator("a").click()
    page.wait_for_url("**/rooms/*")
    chart = page.locator("#room-chart")
    chart.locator("canvas").first.wait_for()
    page.wait_for_selector("#room-chart[data-ready='1']")
    assert int(chart.get_attribute("data-points") or 0) > 0
    screenshot(page, "room", tmp_path)
    page.click("button.range[data-hours='168']")
    page.wait_for_selector("#room-chart[data-ready='1']")
    assert int(chart.get_attribute("data-points") or 0) > 0
