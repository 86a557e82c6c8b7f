"""The phone app in the real browser, on phone-sized screens: the field inspector works a work order
through (acknowledge, GPS check-in, a photo from the camera, resolve), and what is sent while the
network is down is kept on the phone and arrives when it is back.

Each test raises its own work order through the services (the demo has none for the inspector), so
no other test's data is touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, ViewportSize, expect
from sqlalchemy import select

from coldpledge.alerts import workorders
from coldpledge.alerts.lifecycle import Severity, WorkOrderType
from coldpledge.alerts.models import WorkOrder, WorkOrderCheckIn, WorkOrderComment
from coldpledge.alerts.schemas import WorkOrderCreateIn
from coldpledge.parties.models import User
from coldpledge.parties.service import principal_for
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room
from tests.browser.conftest import PHONE, OpenPage, Site, Watch, screenshot
from tests.support import tiny_png

NARROW: ViewportSize = {"width": 360, "height": 740}
WAIT_MS = 15_000


def _new_order(site: Site, title: str) -> int:
    """A patrol in Yangshan's first frozen room, raised by the supervision manager; it goes to the
    inspector assigned to that virtual warehouse (何雨)."""
    with site.database.reading() as session:
        manager = principal_for(session.scalars(select(User).where(User.username == "supervisor")).one())
        room_id = session.scalars(select(Room.id).where(Room.code == "YS-F18-A")).one()
    data = WorkOrderCreateIn(kind=WorkOrderType.PATROL, severity=Severity.MAJOR, title=title, room_id=room_id)
    return workorders.create(UnitOfWork(site.database.write_session), manager, data).id


def _comments(site: Site, order_id: int) -> list[tuple[str, int]]:
    with site.database.reading() as session:
        rows = session.scalars(
            select(WorkOrderComment)
            .where(WorkOrderComment.work_order_id == order_id)
            .order_by(WorkOrderComment.id)
        )
        return [(row.text, len(row.attachments)) for row in rows]


def _fits(page: Page, viewport: ViewportSize) -> None:
    """Nothing wider than the screen: no sideways scrolling with a gloved thumb."""
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def _photo(seed: int) -> FilePayload:
    return {"name": "seal.png", "mimeType": "image/png", "buffer": tiny_png(seed)}


def _form(page: Page, action: str) -> str:
    return f"#work-order form[action$='/{action}']"


@pytest.mark.parametrize("viewport", [PHONE, NARROW], ids=["390px", "360px"])
def test_the_inspector_works_an_order_through_on_a_phone(
    open_page: OpenPage, site: Site, viewport: ViewportSize, tmp_path: Path
) -> None:
    order_id = _new_order(site, f"Night patrol, cold room 1 ({viewport['width']})")
    page = open_page("inspector", viewport=viewport, locale="en-US")

    page.goto("/m/")
    card = page.locator(f"li.order[data-order-id='{order_id}']")
    expect(card).to_contain_text("Major")
    expect(card).to_contain_text("Acknowledge by")
    _fits(page, viewport)
    if viewport == PHONE:
        screenshot(page, "mobile-work-orders", tmp_path)
    card.locator("a").click()
    page.wait_for_url(f"**/m/work-orders/{order_id}")
    _fits(page, viewport)
    order = page.locator("#work-order")

    page.click(f"{_form(page, 'acknowledge')} button")
    expect(order).to_have_attribute("data-acknowledged", "yes")
    page.click(f"{_form(page, 'check-in')} button")
    # The browser's position (Shanghai) is far from the Yangshan warehouse: the distance shows.
    expect(page.locator(".timeline")).to_contain_text("m from the warehouse")
    page.fill(f"{_form(page, 'comment')} textarea", "Door seal intact")
    page.set_input_files(f"{_form(page, 'comment')} input[type=file]", files=[_photo(viewport["width"])])
    expect(page.locator(f"{_form(page, 'comment')} img.preview")).to_be_visible()
    page.click(f"{_form(page, 'comment')} button")
    photo = page.locator(".timeline .photo img")
    expect(photo).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=photo.element_handle())
    expect(page.locator(".timeline")).to_contain_text("Door seal intact")
    _fits(page, viewport)
    if viewport == PHONE:
        screenshot(page, "mobile-work-order", tmp_path)
    page.click(f"{_form(page, 'start')} button")
    expect(order).to_have_attribute("data-status", "in_progress")
    page.fill(f"{_form(page, 'resolve')} textarea", "Patrolled; seals and temperatures in order")
    page.click(f"{_form(page, 'resolve')} button")

    expect(order).to_have_attribute("data-status", "pending_review")
    expect(page.locator(".resolution")).to_have_text("Patrolled; seals and temperatures in order")
    expect(page.locator(_form(page, "resolve"))).to_have_count(0)
    with site.database.reading() as session:
        stored = session.get_one(WorkOrder, order_id)
        visits = session.scalars(
            select(WorkOrderCheckIn).where(WorkOrderCheckIn.work_order_id == order_id)
        ).all()
        assert (stored.status.value, stored.resolution) == (
            "pending_review",
            "Patrolled; seals and temperatures in order",
        )
        assert [(v.latitude_e6, v.longitude_e6) for v in visits] == [(31_230_400, 121_473_700)]
    assert _comments(site, order_id) == [("Door seal intact", 1)]


def test_a_photo_sent_with_no_network_is_kept_on_the_phone_and_arrives_when_it_is_back(
    open_page: OpenPage, site: Site
) -> None:
    order_id = _new_order(site, "Patrol at the dock, no signal")
    page = open_page("inspector", viewport=PHONE, locale="en-US")
    page.goto(f"/m/work-orders/{order_id}")
    outbox = page.locator("#outbox")

    page.context.set_offline(True)
    page.fill(f"{_form(page, 'comment')} textarea", "Pallet 7 wrap torn")
    page.set_input_files(f"{_form(page, 'comment')} input[type=file]", files=[_photo(7)])
    page.click(f"{_form(page, 'comment')} button")

    expect(outbox).to_have_attribute("data-pending", "1")
    expect(outbox).to_be_visible()
    expect(page.locator(f"{_form(page, 'comment')} .answer")).to_contain_text("Saved on the phone")
    assert _comments(site, order_id) == []

    page.context.set_offline(False)

    expect(outbox).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    expect(page.locator(".timeline .photo img")).to_have_count(1)
    expect(page.locator(".timeline")).to_contain_text("Pallet 7 wrap torn")
    assert _comments(site, order_id) == [("Pallet 7 wrap torn", 1)]


def test_what_was_kept_on_the_phone_is_sent_on_the_next_page_load(
    open_page: OpenPage, site: Site, watch: Watch
) -> None:
    order_id = _new_order(site, "Patrol in the basement, no signal")
    page = open_page("inspector", viewport=PHONE, locale="en-US")
    page.goto(f"/m/work-orders/{order_id}")
    context = page.context
    context.set_offline(True)
    page.fill(f"{_form(page, 'comment')} textarea", "Compressor 2 noisy")
    page.click(f"{_form(page, 'comment')} button")
    expect(page.locator("#outbox")).to_have_attribute("data-pending", "1")
    page.close()
    context.set_offline(False)
    assert _comments(site, order_id) == []

    later = context.new_page()
    later.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    later.goto("/m/")

    expect(later.locator("#outbox")).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    expect(later.locator("#outbox")).to_contain_text("Sent what was saved on the phone")
    assert _comments(site, order_id) == [("Compressor 2 noisy", 0)]
