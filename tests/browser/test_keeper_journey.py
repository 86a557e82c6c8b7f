"""The keeper's inbound in the real browser: goods arrive with a gate weigh ticket, are recorded
from the form, then weighed on the floor scale; the lot page shows the verified stock."""

from __future__ import annotations

import re
from pathlib import Path

from tests.browser.conftest import DESKTOP, OpenPage, screenshot


def test_the_keeper_records_an_inbound_with_a_weigh_ticket_and_weighs_the_lot(
    open_page: OpenPage, tmp_path: Path
) -> None:
    page = open_page("keeper", viewport=DESKTOP, locale="en-US")
    page.goto("/lots")
    page.click("a[href='/lots/new']")
    page.wait_for_url("**/lots/new")
    room = page.locator("select[name=room_id] option", has_text="YS-F18-B")
    page.select_option("select[name=room_id]", value=room.get_attribute("value"))
    page.fill("input[name=spec]", "Pork hind leg, frozen, 20 kg cartons")
    page.fill("input[name=origin_country]", "ES")
    page.fill("input[name=batch_number]", "BROWSER-0001")
    page.fill("input[name=declared_cartons]", "600")
    page.fill("input[name=declared_net_kg]", "12000")
    page.fill("input[name=vehicle_plate]", "沪A·D1234")
    page.fill("input[name=truck_gross_kg]", "26,300")
    page.fill("input[name=truck_tare_kg]", "14,050")
    page.fill("input[name=truck_ticket_no]", "GATE-BROWSER-1")
    screenshot(page, "inbound", tmp_path)
    page.click("#inbound button[type=submit]")
    page.wait_for_url(re.compile(r"/lots/\d+$"))
    assert page.locator("#operations", has_text="GATE-BROWSER-1").count() == 1

    page.fill("input[name=gross_kg]", "12,640")
    page.fill("input[name=tare_kg]", "600")
    page.fill("input[name=weigh_ticket_no]", "FS-BROWSER-1")
    page.click("#weigh button[type=submit]")
    page.wait_for_selector("#operations tr[data-kind='weigh']")
    assert page.locator("#verified-net").inner_text() == "12,040.0"

    # A weighing the API would refuse is refused in place, and the form keeps what was typed.
    page.fill("input[name=gross_kg]", "100")
    page.fill("input[name=tare_kg]", "200")
    page.fill("input[name=weigh_ticket_no]", "FS-BROWSER-2")
    page.click("#weigh button[type=submit]")
    page.locator("#weigh [role=alert]").wait_for()
    assert page.locator("input[name=weigh_ticket_no]").input_value() == "FS-BROWSER-2"
