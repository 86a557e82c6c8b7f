"""The evidence pages in the real browser: a bank opens a pledged receipt's trail and downloads its
evidence package, which the offline verifier accepts against the log's pinned key."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

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


def test_a_package_handed_over_is_checked_on_the_evidence_page_and_its_certificate_saved(
    open_page: OpenPage, tmp_path: Path
) -> None:
    page = open_page("bank", viewport=DESKTOP, locale="en-US")
    page.goto("/evidence")
    page.locator("#receipts a").first.click()
    with page.expect_download() as package_download:
        page.click("#download-package")
    package = tmp_path / "package.zip"
    package_download.value.save_as(package)

    page.goto("/evidence")
    page.set_input_files("#package-form input[type=file]", str(package))
    with page.expect_download() as certificate_download:
        page.click("#package-form button")
    certificate = tmp_path / "certificate.pdf"
    certificate_download.value.save_as(certificate)
    assert certificate_download.value.suggested_filename.startswith("certificate-receipt-")
    assert certificate.read_bytes().startswith(b"%PDF")
    expect(page.locator("#package-form .answer")).to_contain_text("verifies")

    forged = tmp_path / "forged.zip"
    forged.write_bytes(b"PK\x03\x04 not a package")
    page.set_input_files("#package-form input[type=file]", str(forged))
    page.click("#package-form button")
    expect(page.locator("#package-form [data-errors] [role=alert]")).to_be_visible()
    expect(page.locator("#package-form .answer")).to_have_text("")
