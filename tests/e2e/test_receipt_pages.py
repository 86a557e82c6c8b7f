"""The receipt pages: each party's receipts, a receipt's history, and its lifecycle steps taken from
the page as the API takes them (the holder offers it in pledge, the bank accepts with the
registration number), each refused in the API's words."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.world import World


def test_the_holder_offers_an_issued_receipt_in_pledge_and_the_bank_accepts_it_from_the_page(
    client: TestClient, world: World
) -> None:
    receipt_id = world.receipts["issued"]
    csrf = sign_in_as(client, "borrower")
    page = client.get(f"/receipts/{receipt_id}").text
    assert 'data-action="request_pledge"' in page
    assert 'data-action="accept_pledge"' not in page
    offered = client.post(
        f"/receipts/{receipt_id}/request_pledge",
        data={"org_id": str(world.orgs["bank"]), "text": "追加质押"},
        headers=htmx(csrf),
    )
    assert offered.status_code == 200, offered.text
    assert offered.headers["HX-Refresh"] == "true"

    bank = TestClient(client.app, headers={"Accept-Language": "en"})
    bank_csrf = sign_in_as(bank, "bank")
    assert 'data-action="accept_pledge"' in bank.get(f"/receipts/{receipt_id}").text
    refused = bank.post(
        f"/receipts/{receipt_id}/accept_pledge", data={"registration_no": "123"}, headers=htmx(bank_csrf)
    )
    assert refused.status_code == 422
    assert "registration_no" in refused.text
    accepted = bank.post(
        f"/receipts/{receipt_id}/accept_pledge",
        data={"registration_no": "ZD2026113000042"},
        headers=htmx(bank_csrf),
    )
    assert accepted.status_code == 200, accepted.text
    assert bank.get(f"/api/v1/receipts/{receipt_id}").json()["status"] == "pledged"
    history = bank.get(f"/receipts/{receipt_id}").text
    assert 'data-action="receipt.accept_pledge"' in history


def test_a_reason_is_required_where_the_api_requires_one(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "bank2")  # the pledge of "pending" was offered to bank2
    answer = client.post(
        f"/receipts/{world.receipts['pending']}/reject_pledge", data={"text": ""}, headers=htmx(csrf)
    )
    assert answer.status_code == 422
    assert "reason" in answer.text
    assert client.get(f"/api/v1/receipts/{world.receipts['pending']}").json()["status"] == "pledge_pending"


def test_the_other_bank_cannot_see_a_receipt_pledged_to_the_first(client: TestClient, world: World) -> None:
    sign_in_as(client, "bank2")
    assert (
        client.get(f"/receipts/{world.receipts['pledged']}", headers={"Accept": "text/html"}).status_code
        == 404
    )
    assert f'href="/receipts/{world.receipts["pledged"]}"' not in client.get("/receipts").text


def test_a_step_the_page_does_not_offer_answers_404(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "borrower")
    answer = client.post(f"/receipts/{world.receipts['issued']}/execute_release", headers=htmx(csrf))
    assert answer.status_code == 404
