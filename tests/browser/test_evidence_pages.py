"""The evidence pages in the real browser: a bank opens a pledged receipt's trail and downloads its
evidence package, which the offline verifier accepts against the log's pinned key."""

from __future__ import annotations

from pathlib import Path

from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.verify import Trust, verify_package
from tests.browser.conftest import DESKTOP, OpenPage, Site


def test_a_bank_downloads_a_receipts_evidence_package_that_verifies_offline(
    open_page: OpenPage, site: Site, tmp_path: Path
) -> None:
    page = open_page("bank", viewport=DESKTOP, locale="en-US")
    page.goto("/evidence")
    assert int(page.locator("[data-tree-size]").get_attribute("data-tree-size") or 0) > 0
    page.locator("#receipts a").first.click()
    page.wait_for_selector("#trail tbody tr[data-type]")
    with page.expect_download() as download_info:
        page.click("#download-package")
    saved = tmp_path / "package.zip"
    download_info.value.save_as(saved)
    verification = verify_package(
        saved.read_bytes(), Trust(log_key=load_log_signer(site.settings).verifier.vkey)
    )
    assert verification.failures == []
    assert len(verification.entries) > 0
