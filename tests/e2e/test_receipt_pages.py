"""The receipt pages: each party's receipts, a receipt's history, and its lifecycle steps taken from
the page as the API takes them (the holder offers it in pledge, the bank accepts with the
registration number), each refused in the API's words."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.world import World

Auth = Callable[[str], dict[str, str]]


def collection(**changes: str) -> dict[str, str]:
    """Who collects, in what vehicle, until when: as typed on the page (Shanghai time, no zone)."""
    until = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)
    form = {
        "vehicle_plate": "沪B·67890",
        "collector_name": "李师傅",
        "collector_id_no": "310101198505051234",
        "valid_until": until.strftime("%Y-%m-%dT%H:%M"),
    }
    form.update(changes)
    return form


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


def test_the_holder_asks_for_a_partial_release_of_a_pledged_receipt_from_its_page(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id = world.receipts["pledged"]
    csrf = sign_in_as(client, "borrower")
    page = client.get(f"/receipts/{receipt_id}").text
    assert 'id="request-release"' in page
    assert 'id="request-delivery"' not in page  # a pledged receipt is not delivered whole
    asked = client.post(
        f"/receipts/{receipt_id}/request_release",
        data={**collection(), "quantity_kg": "2,500", "cartons": "120"},
        headers=htmx(csrf),
    )
    assert asked.status_code == 201, asked.text
    release_id = int(re.search(r'data-release="(\d+)"', asked.text).group(1))  # type: ignore[union-attr]
    assert 'class="release-code"' not in asked.text  # the bank's approval brings the code
    release = client.get(f"/api/v1/releases/{release_id}", headers=auth("borrower")).json()
    assert release["quantity_g"] == 2_500_000
    assert release["cartons"] == 120
    assert release["kind"] == "partial_release"
    assert release["status"] == "requested"
    assert release["vehicle_plate"].startswith("沪B")
    assert f'data-release="{release_id}"' in client.get(f"/receipts/{receipt_id}").text


def test_a_release_request_is_refused_on_the_page_in_the_apis_words(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id = world.receipts["pledged"]
    csrf = sign_in_as(client, "borrower")
    whole = client.get(f"/api/v1/receipts/{receipt_id}").json()["quantity_g"]
    page = client.post(
        f"/receipts/{receipt_id}/request_release",
        data={**collection(), "quantity_kg": str(whole / 1000)},
        headers=htmx(csrf),
    )
    until = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).isoformat()
    api = client.post(
        f"/api/v1/receipts/{receipt_id}/request-release",
        json={
            "quantity_g": whole,
            "vehicle_plate": "沪B·67890",
            "collector_name": "李师傅",
            "collector_id_no": "310101198505051234",
            "valid_until": until,
        },
        headers=auth("borrower"),
    )
    assert page.status_code == api.status_code == 422
    assert api.json()["detail"] in page.text
    assert 'role="alert"' in page.text
    bad_id = client.post(
        f"/receipts/{receipt_id}/request_release",
        data={**collection(collector_id_no="12"), "quantity_kg": "10"},
        headers=htmx(csrf),
    )
    assert bad_id.status_code == 422
    assert "collector_id_no" in bad_id.text


def test_the_holder_requests_delivery_and_sees_the_one_time_code_once(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id = world.receipts["issued"]
    csrf = sign_in_as(client, "borrower")
    assert 'id="request-delivery"' in client.get(f"/receipts/{receipt_id}").text
    asked = client.post(f"/receipts/{receipt_id}/request_delivery", data=collection(), headers=htmx(csrf))
    assert asked.status_code == 201, asked.text
    code = re.search(r'class="release-code" id="release-code-(\d+)">([^<]+)<', asked.text)
    assert code, asked.text
    release_id, secret = int(code.group(1)), code.group(2).strip()
    assert len(secret) >= 4
    assert client.get(f"/api/v1/receipts/{receipt_id}").json()["status"] == "delivery_pending"
    page = client.get(f"/receipts/{receipt_id}").text
    assert secret not in page  # shown once, in the answer, never again
    assert f'data-release="{release_id}"' in page
    assert client.get(f"/api/v1/releases/{release_id}", headers=auth("borrower")).json()["code"] is None


def test_the_holder_cancels_an_open_release_from_the_receipt_page(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id, release_id = world.receipts["pledged_with_release"], world.releases["requested"]
    csrf = sign_in_as(client, "borrower")
    page = client.get(f"/receipts/{receipt_id}").text
    assert f'hx-post="/receipts/{receipt_id}/releases/{release_id}/cancel"' in page
    elsewhere = client.post(
        f"/receipts/{world.receipts['pledged']}/releases/{release_id}/cancel",
        data={"reason": "车辆改期"},
        headers=htmx(csrf),
    )
    assert elsewhere.status_code == 404
    refused = client.post(
        f"/receipts/{receipt_id}/releases/{release_id}/cancel", data={"reason": ""}, headers=htmx(csrf)
    )
    assert refused.status_code == 422
    assert "reason" in refused.text
    cancelled = client.post(
        f"/receipts/{receipt_id}/releases/{release_id}/cancel",
        data={"reason": "车辆改期"},
        headers=htmx(csrf),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.headers["HX-Refresh"] == "true"
    assert (
        client.get(f"/api/v1/releases/{release_id}", headers=auth("borrower")).json()["status"] == "cancelled"
    )
    assert f"/releases/{release_id}/cancel" not in client.get(f"/receipts/{receipt_id}").text


def test_a_viewer_is_offered_no_release_form_and_may_not_post_one(client: TestClient, world: World) -> None:
    receipt_id = world.receipts["pledged"]
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/receipts/{receipt_id}").text
    assert 'id="request-release"' not in page
    assert 'id="split"' not in page
    answer = client.post(
        f"/receipts/{receipt_id}/request_release",
        data={**collection(), "quantity_kg": "10"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 403


def test_the_bank_splits_a_pledged_receipt_from_its_page(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id = world.receipts["pledged"]
    whole = client.get(f"/api/v1/receipts/{receipt_id}", headers=auth("bank")).json()
    # The service splits only goods that are not under seal: the supervisor lifts the seal first.
    unsealed = client.post(
        f"/api/v1/lots/{whole['lot_id']}/unseal", json={"reason": "拆分前启封"}, headers=auth("supervisor")
    )
    assert unsealed.status_code == 200, unsealed.text
    csrf = sign_in_as(client, "bank")
    assert 'id="split"' in client.get(f"/receipts/{receipt_id}").text
    first_g, first_cartons = 10_000_000, whole["cartons"] // 3
    refused = client.post(
        f"/receipts/{receipt_id}/split",
        data={"part_kg": ["10000", ""], "part_cartons": [str(first_cartons), ""]},
        headers=htmx(csrf),
    )
    assert refused.status_code == 422
    assert "parts" in refused.text
    split = client.post(
        f"/receipts/{receipt_id}/split",
        data={
            "part_kg": [f"{first_g / 1000:.3f}", f"{(whole['quantity_g'] - first_g) / 1000:.3f}", ""],
            "part_cartons": [str(first_cartons), str(whole["cartons"] - first_cartons), ""],
        },
        headers=htmx(csrf),
    )
    assert split.status_code == 201, split.text
    first = client.get(f"/api/v1{split.headers['HX-Redirect']}").json()
    assert first["quantity_g"] == first_g
    assert client.get(f"/api/v1/receipts/{receipt_id}").json()["status"] == "split"


def test_the_keeper_issues_a_replacement_for_a_receipt_reported_lost_and_lands_on_it(
    client: TestClient, world: World, auth: Auth
) -> None:
    receipt_id = world.receipts["issued"]
    borrower = TestClient(client.app, headers={"Accept-Language": "en"})
    borrower_csrf = sign_in_as(borrower, "borrower")
    lost = borrower.post(
        f"/receipts/{receipt_id}/report_loss", data={"text": "仓单原件遗失"}, headers=htmx(borrower_csrf)
    )
    assert lost.status_code == 200, lost.text
    assert 'id="replace"' not in borrower.get(f"/receipts/{receipt_id}").text  # the issuer's step
    assert (
        borrower.post(
            f"/receipts/{receipt_id}/replace", data={"reason": "补发"}, headers=htmx(borrower_csrf)
        ).status_code
        == 403
    )

    csrf = sign_in_as(client, "keeper")
    assert 'id="replace"' in client.get(f"/receipts/{receipt_id}").text
    page = client.post(f"/receipts/{receipt_id}/replace", data={"reason": "x"}, headers=htmx(csrf))
    api = client.post(f"/api/v1/receipts/{receipt_id}/replace", json={"reason": "x"}, headers=auth("keeper"))
    assert page.status_code == api.status_code == 422
    assert "reason" in page.text
    replaced = client.post(
        f"/receipts/{receipt_id}/replace", data={"reason": "持有人挂失, 公示期满补发"}, headers=htmx(csrf)
    )
    assert replaced.status_code == 201, replaced.text
    target = replaced.headers["HX-Redirect"]
    successor = client.get(f"/api/v1{target}").json()
    assert successor["id"] != receipt_id
    assert successor["replaces_receipt_id"] == receipt_id
    assert successor["status"] == "issued"
    assert client.get(f"/api/v1/receipts/{receipt_id}").json()["status"] == "replaced"
    assert f'href="/receipts/{receipt_id}" id="replaces"' in client.get(target).text
