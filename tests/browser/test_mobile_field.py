"""The phone app's field journeys in the real browser, on phone-sized screens: the inspector counts a
lot and sees the variance before sending it; the keeper scans a release instruction's QR code at the
dock (a photo read in the page by jsQR), weighs the goods out and confirms.

Each release test asks for and approves its own small partial release, of a pledged receipt that
secures no credit facility, so the demo's waiting release stays for the bank's own test.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import segno
from playwright.sync_api import FilePayload, Page, ViewportSize, expect
from sqlalchemy import exists, select

from coldpledge.db import utcnow
from coldpledge.financing.releasing import ReleaseBeyondCover
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import AttachmentLink, Lot, LotStatus, Operation, OperationKind, Seal
from coldpledge.inventory.schemas import UnsealIn
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal, Role
from coldpledge.parties.service import principal_for
from coldpledge.receipts import releases
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import LIVE_PLEDGE, OPEN_RELEASE, Pledge, Receipt, Release, ReleaseStatus
from coldpledge.receipts.schemas import NoteIn, ReleaseRequestIn
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room
from tests.browser.conftest import PHONE, OpenPage, Site, screenshot
from tests.support import tiny_png

NARROW: ViewportSize = {"width": 360, "height": 740}
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, NARROW], ids=["390px", "360px"])
PLATE, COLLECTOR_ID = "沪C·K3071", "310115198802143318"


def _fits(page: Page, viewport: ViewportSize) -> None:
    """Nothing wider than the screen: no sideways scrolling with a gloved thumb."""
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def _principal(
    site: Site, *, username: str | None = None, org_id: int | None = None, role: Role
) -> Principal:
    with site.database.reading() as session:
        query = select(User).where(User.role == role)
        if username is not None:
            query = query.where(User.username == username)
        if org_id is not None:
            query = query.where(User.organisation_id == org_id)
        return principal_for(session.scalars(query.order_by(User.id).limit(1)).one())


def _uow(site: Site) -> UnitOfWork:
    return UnitOfWork(site.database.write_session)


def _variance_bp(measured: int, reference: int) -> int:
    numerator = (measured - reference) * 10_000
    quotient, remainder = divmod(abs(numerator), reference)
    if remainder * 2 >= reference:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


# --- stocktake -------------------------------------------------------------------------------------


@VIEWPORTS
def test_the_inspector_sees_the_variance_before_sending_the_count(
    open_page: OpenPage, site: Site, viewport: ViewportSize, tmp_path: Path
) -> None:
    with site.database.reading() as session:
        room = session.scalars(select(Room).where(Room.code == "YS-F18-A")).one()
        lot = session.scalars(
            select(Lot)
            .where(Lot.room_id == room.id, Lot.status == LotStatus.IN_STOCK, Lot.weighed_at.is_not(None))
            .order_by(Lot.id)
        ).first()
        assert lot is not None
        room_id, lot_id, book_g, book_cartons = room.id, lot.id, lot.verified_net_weight_g, lot.cartons
    # Within the tolerance (0.5 %), so the count raises no alert another test would meet.
    counted_g = book_g - 10_000
    percent = f"{_variance_bp(counted_g, book_g) / 100:+.2f}"
    page = open_page("inspector", viewport=viewport, locale="en-US")

    page.goto("/m/")
    page.click(".field-menu a[href='/m/stocktake']")
    page.wait_for_url("**/m/stocktake")
    page.select_option("select[name=room_id]", value=str(room_id))
    page.click(".room-pick button[type=submit]")
    page.wait_for_url(f"**/m/stocktake?room_id={room_id}")
    section = page.locator(f"#lot-{lot_id}")
    expect(section).to_contain_text(f"{book_g / 1000:,.3f} kg")
    form = section.locator("form[data-count]")
    form.locator("input[name=counted_cartons]").fill(str(book_cartons - 1))
    form.locator("input[name=counted_kg]").fill(f"{counted_g / 1000:,.3f}")
    variance = form.locator("output.variance")
    # One carton short: beyond tolerance, shown before anything is sent.
    expect(variance).to_have_attribute("data-state", "beyond")
    expect(variance).to_contain_text("-1 cartons")
    form.locator("input[name=counted_cartons]").fill(str(book_cartons))

    expect(variance).to_have_text(
        f"Variance: +0 cartons (+0.00 %) · -10.000 kg ({percent} %) · Within tolerance"
    )
    expect(variance).to_have_attribute("data-state", "within")
    _fits(page, viewport)
    if viewport == PHONE:
        variance.scroll_into_view_if_needed()
        screenshot(page, "mobile-stocktake", tmp_path)
    form.locator("button[type=submit]").click()

    recorded = page.locator(f"#lot-{lot_id} .counted")
    expect(recorded).to_have_attribute("data-within", "yes")
    expect(recorded).to_contain_text("Count recorded")
    operation_id = int(recorded.get_attribute("data-operation-id") or 0)
    with site.database.reading() as session:
        operation = session.get_one(Operation, operation_id)
        assert (operation.kind, operation.lot_id) == (OperationKind.STOCKTAKE, lot_id)
        assert (operation.counted_g, operation.counted_cartons) == (counted_g, book_cartons)
        assert (operation.expected_g, operation.within_tolerance) == (book_g, True)
    _fits(page, viewport)


# --- releases at the dock --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    release_id: int
    code: str
    lot_id: int


def _pledged_receipts(site: Site) -> list[tuple[int, int, int]]:
    """Pledged receipts with no open release whose lot is in stock in an unsealed room: each with its
    holder's organisation and its bank's."""
    with site.database.reading() as session:
        rows = session.execute(
            select(Receipt.id, Receipt.holder_org_id, Pledge.pledgee_org_id)
            .join(Pledge, (Pledge.receipt_id == Receipt.id) & Pledge.status.in_(LIVE_PLEDGE))
            .join(Lot, Lot.id == Receipt.lot_id)
            .where(
                Receipt.status == ReceiptStatus.PLEDGED,
                Lot.status == LotStatus.IN_STOCK,
                ~exists().where(Release.receipt_id == Receipt.id, Release.status.in_(OPEN_RELEASE)),
                ~exists().where(Seal.room_id == Lot.room_id, Seal.removed_at.is_(None)),
            )
            .order_by(Receipt.id)
        ).all()
        return [(receipt, holder, bank) for receipt, holder, bank in rows]


def _approved_release(site: Site) -> Instruction:
    """200 kg of a pledged receipt asked for by its holder and approved by its bank (the first whose
    credit line stays covered without them); the lot's seal removed."""
    request = ReleaseRequestIn(
        quantity_g=200_000,
        cartons=8,
        vehicle_plate=PLATE,
        collector_name="周师傅",
        collector_id_no=COLLECTOR_ID,
        valid_until=utcnow() + timedelta(days=2),
    )
    for receipt_id, holder_org, bank_org in _pledged_receipts(site):
        holder = _principal(site, org_id=holder_org, role=Role.BORROWER_FINANCE)
        bank = _principal(site, org_id=bank_org, role=Role.BANK_RISK_OFFICER)
        try:
            release, _ = releases.request_release(_uow(site), holder, receipt_id, request)
        except ReleaseBeyondCover:
            continue  # a line under a margin call lets nothing go
        _, code = releases.approve(_uow(site), bank, release.id, NoteIn(note="浏览器测试：同意放货 200 kg"))
        break
    else:
        raise AssertionError("no pledged receipt of the demo can release 200 kg")
    with site.database.reading() as session:
        lot_id = session.get_one(Receipt, receipt_id).lot_id
        sealed = inventory.is_sealed(session, session.get_one(Lot, lot_id))
    if sealed:
        supervisor = _principal(site, username="supervisor", role=Role.SUPERVISION_MANAGER)
        reason = UnsealIn(reason=f"按放货指令 #{release.id} 出库")
        inventory.unseal_lot(_uow(site), supervisor, lot_id, reason)
    return Instruction(release.id, code, lot_id)


def _qr_photo(text: str) -> FilePayload:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=4)
    return {"name": "instruction.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


@VIEWPORTS
def test_the_keeper_scans_the_release_qr_code_weighs_the_goods_out_and_confirms(
    open_page: OpenPage, site: Site, viewport: ViewportSize, tmp_path: Path
) -> None:
    instruction = _approved_release(site)
    page = open_page("keeper", viewport=viewport, locale="en-US")

    page.goto("/m/")
    page.click(".field-menu a[href='/m/releases/execute']")
    page.wait_for_url("**/m/releases/execute")
    page.set_input_files(
        "#scan input[data-qr]",
        files=[_qr_photo(f"coldpledge:release:{instruction.release_id}:{instruction.code}")],
    )

    dock = page.locator(f"#dock[data-release-id='{instruction.release_id}']")
    expect(dock).to_have_attribute("data-status", "approved")
    expect(dock).to_contain_text("200.000 kg")
    form = dock.locator("form.outbound")
    expect(form.locator("input[name=release_code]")).to_have_value(instruction.code)
    form.locator("input[name=vehicle_plate]").fill(PLATE)
    form.locator("input[name=collector_id_no]").fill(COLLECTOR_ID)
    form.locator("input[name=gross_kg]").fill("1,450.5")
    form.locator("input[name=tare_kg]").fill("1,250.5")
    expect(form.locator("output.net")).to_have_text("Net 200.000 kg")
    form.locator("input[name=weigh_ticket_no]").fill(f"WB-M-{instruction.release_id}")
    form.locator("input[name=cartons]").fill("8")
    truck: FilePayload = {
        "name": "truck.png",
        "mimeType": "image/png",
        "buffer": tiny_png(instruction.release_id),
    }
    form.locator("input[name=photo]").set_input_files(files=[truck])
    expect(form.locator("img.preview")).to_be_visible()
    _fits(page, viewport)
    if viewport == PHONE:
        screenshot(page, "mobile-release", tmp_path)
    form.locator("button[type=submit]").click()

    expect(page.locator("#dock")).to_have_attribute("data-status", "executed")
    expect(page.locator("#dock .executed")).to_contain_text("Net 200.000 kg")
    _fits(page, viewport)
    with site.database.reading() as session:
        release = session.get_one(Release, instruction.release_id)
        assert (release.status, release.executed_net_g) == (ReleaseStatus.EXECUTED, 200_000)
        outbound = session.scalars(
            select(Operation).where(Operation.release_id == instruction.release_id)
        ).one()
        assert (outbound.kind, outbound.lot_id, outbound.cartons) == (
            OperationKind.OUTBOUND,
            instruction.lot_id,
            8,
        )
        photos = session.scalars(
            select(AttachmentLink).where(AttachmentLink.operation_id == outbound.id)
        ).all()
        assert len(photos) == 1


def test_a_code_typed_by_hand_when_the_print_is_damaged(open_page: OpenPage, site: Site) -> None:
    instruction = _approved_release(site)
    page = open_page("keeper", viewport=PHONE, locale="en-US")
    page.goto("/m/releases/execute")

    page.fill("#scan input[name=release_id]", str(instruction.release_id))
    page.click("#scan button[type=submit]")
    form = page.locator(f"#dock[data-release-id='{instruction.release_id}'] form.outbound")
    expect(form.locator("input[name=release_code]")).to_have_value("")
    form.locator("input[name=release_code]").fill("WRONG-CODE")
    form.locator("input[name=vehicle_plate]").fill(PLATE)
    form.locator("input[name=collector_id_no]").fill(COLLECTOR_ID)
    form.locator("input[name=gross_kg]").fill("1450.5")
    form.locator("input[name=tare_kg]").fill("1250.5")
    form.locator("input[name=weigh_ticket_no]").fill("WB-HAND-1")
    form.locator("input[name=cartons]").fill("8")
    form.locator("button[type=submit]").click()

    expect(form.locator(".answer")).to_contain_text("The release code is wrong.")
    form.locator("input[name=release_code]").fill(instruction.code.lower())
    form.locator("button[type=submit]").click()

    expect(page.locator("#dock")).to_have_attribute("data-status", "executed")
    with site.database.reading() as session:
        assert session.get_one(Release, instruction.release_id).status is ReleaseStatus.EXECUTED
