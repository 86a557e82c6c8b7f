"""A lender's day in the real browser: the borrower asks for money on its facility's page, the bank
approves and pays it out, then approves the release its borrower asked for and hands over the
one-time code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.browser.conftest import DESKTOP, OpenPage, screenshot


def test_the_bank_approves_and_pays_out_a_drawdown_and_approves_a_release(
    open_page: OpenPage, tmp_path: Path
) -> None:
    borrower = open_page("borrower2", viewport=DESKTOP, locale="en-US")
    borrower.goto("/facilities")
    borrower.locator("#facilities tbody tr a").first.click()
    borrower.wait_for_url("**/facilities/*")
    facility_url = borrower.url
    maturity = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    borrower.fill("input[name=amount_yuan]", "10,000.00")
    borrower.fill("input[name=maturity_date]", maturity)
    borrower.fill("input[name=purpose]", "browser test: freight")
    borrower.click("form.inline-form button[type=submit]")
    asked = borrower.locator("#drawdowns tbody tr", has_text="browser test: freight")
    asked.wait_for()
    assert asked.get_attribute("data-status") == "requested"

    bank = open_page("bank2", viewport=DESKTOP, locale="en-US")
    bank.goto(facility_url)
    row = bank.locator("#drawdowns tbody tr", has_text="browser test: freight")
    row.locator("button.step-approve").click()
    approved = "#drawdowns tbody tr[data-status='approved']"
    bank.locator(approved, has_text="browser test: freight").locator("button.step-disburse").click()
    bank.locator("#drawdowns tbody tr[data-status='active']", has_text="browser test: freight").wait_for()
    screenshot(bank, "facility", tmp_path)

    bank.goto("/releases")
    waiting = bank.locator("#waiting tbody tr[data-release]").first
    waiting.locator("button.step-approve").click()
    code = bank.locator(".release-code")
    code.wait_for()
    assert len(code.inner_text().strip()) >= 4
    assert bank.locator(".approved .qr svg").count() == 1
