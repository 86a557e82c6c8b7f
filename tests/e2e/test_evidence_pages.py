"""The evidence pages: the latest checkpoint, a receipt's trail of log entries, and its evidence
package, which verifies offline against the log's pinned key; only for receipts the viewer sees."""

from __future__ import annotations

from fastapi.testclient import TestClient

from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.verify import Trust, verify_package
from tests.conftest import TestDB as Transaction
from tests.e2e.test_evidence_api import published
from tests.pages import htmx, sign_in_as
from tests.world import World


def receipt_code(client: TestClient, world: World, key: str) -> str:
    code: str = client.get(f"/api/v1/receipts/{world.receipts[key]}").json()["code"]
    return code


def test_the_bank_downloads_a_pledged_receipts_package_and_it_verifies_offline(
    client: TestClient, db: Transaction, world: World
) -> None:
    size = published(db)
    sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    home = client.get("/evidence").text
    assert f'data-tree-size="{size}"' in home
    assert f'href="/evidence/receipt/{code}"' in home
    trail = client.get(f"/evidence/receipt/{code}").text
    assert 'data-type="receipt.issue"' in trail
    assert 'data-type="receipt.accept_pledge"' in trail
    package = client.get(f"/evidence/receipt/{code}/package.zip")
    assert package.status_code == 200, package.text
    assert package.headers["content-type"] == "application/zip"
    assert f"evidence-receipt-{code}-{size}.zip" in package.headers["content-disposition"]
    pinned = Trust(log_key=load_log_signer(db.settings).verifier.vkey)
    verification = verify_package(package.content, pinned)
    assert verification.failures == []
    assert verification.checkpoint is not None
    assert verification.checkpoint.size == size


def test_before_any_checkpoint_the_package_is_refused_saying_why(client: TestClient, world: World) -> None:
    sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    answer = client.get(f"/evidence/receipt/{code}/package.zip", headers={"Accept": "text/html"})
    assert answer.status_code == 409
    assert "checkpoint" in answer.text


def test_another_banks_receipt_has_no_trail_and_no_package_for_this_bank(
    client: TestClient, db: Transaction, world: World
) -> None:
    published(db)
    sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    other = TestClient(client.app, headers={"Accept-Language": "en", "Accept": "text/html"})
    sign_in_as(other, "bank2")
    assert other.get(f"/evidence/receipt/{code}").status_code == 404
    assert other.get(f"/evidence/receipt/{code}/package.zip").status_code == 404
    assert other.get("/evidence/vehicle/ABC").status_code == 404


def test_the_certificate_of_a_receipts_package_is_a_pdf_made_from_that_package(
    client: TestClient, db: Transaction, world: World
) -> None:
    published(db)
    sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    certificate = client.get(f"/evidence/receipt/{code}/certificate.pdf")
    assert certificate.status_code == 200, certificate.text
    assert certificate.content.startswith(b"%PDF")
    assert f"certificate-receipt-{code}.pdf" in certificate.headers["content-disposition"]


def test_a_package_uploaded_on_the_page_gets_its_certificate_and_a_forged_one_the_reason(
    client: TestClient, db: Transaction, world: World
) -> None:
    published(db)
    csrf = sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    package = client.get(f"/evidence/receipt/{code}/package.zip").content

    certificate = client.post(
        "/evidence/certificate",
        files={"package": ("evidence.zip", package, "application/zip")},
        headers=htmx(csrf),
    )
    assert certificate.status_code == 200, certificate.text
    assert certificate.headers["content-type"] == "application/pdf"
    assert f"certificate-receipt-{code}" in certificate.headers["content-disposition"]

    forged = client.post(
        "/evidence/certificate",
        files={"package": ("evidence.zip", package[:-40] + b"\0" * 40, "application/zip")},
        headers=htmx(csrf),
    )
    assert forged.status_code == 422
    assert 'role="alert"' in forged.text


def test_a_package_posted_without_the_page_s_token_is_refused(
    client: TestClient, db: Transaction, world: World
) -> None:
    published(db)
    sign_in_as(client, "bank")
    code = receipt_code(client, world, "pledged")
    package = client.get(f"/evidence/receipt/{code}/package.zip").content
    answer = client.post(
        "/evidence/certificate", files={"package": ("evidence.zip", package, "application/zip")}
    )
    assert answer.status_code == 403
