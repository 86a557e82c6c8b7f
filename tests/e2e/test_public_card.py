"""The receipt's public ID card (/r/{code}): anyone who scans the QR code learns that the receipt
exists, who issued it, where the goods are and what state it is in, and nothing private."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.world import ORGS, World

Auth = Callable[[str], dict[str, str]]
SVG = re.compile(r"<svg.*?</svg>", re.DOTALL)


def receipt(client: TestClient, auth: Auth, who: str, receipt_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/receipts/{receipt_id}", headers=auth(who))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def status_shown(page: str) -> str:
    found = re.search(r'<p class="status[^"]*">\s*(.*?)\s*</p>', page)
    assert found, page
    return found.group(1)


def test_the_card_of_an_issued_receipt_needs_no_sign_in_and_shows_who_issued_it_where(
    client: TestClient, auth: Auth, world: World
) -> None:
    code = receipt(client, auth, "borrower", world.receipts["issued"])["code"]

    card = client.get(f"/r/{code}")

    assert card.status_code == 200
    assert card.headers["content-type"].startswith("text/html")
    assert code in card.text
    assert status_shown(card.text) == "Issued"
    assert ORGS["keeper"][0] in card.text  # the issuer
    assert "上海洋山冷库" in card.text
    assert "Frozen white shrimp" in card.text


def test_the_card_follows_the_receipt_through_its_life(client: TestClient, auth: Auth, world: World) -> None:
    code = receipt(client, auth, "bank", world.receipts["pledged"])["code"]
    assert status_shown(client.get(f"/r/{code}").text) == "Pledged"

    frozen = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/freeze",
        headers=auth("bank"),
        json={"reason": "借款人涉诉"},
    )
    assert frozen.status_code == 200, frozen.text

    assert status_shown(client.get(f"/r/{code}").text) == "Frozen"
    assert status_shown(client.get(f"/r/{code.lower()}").text) == "Frozen"


def test_the_card_never_shows_the_holder_the_lender_quantities_or_registrations(
    client: TestClient, auth: Auth, world: World
) -> None:
    pledged = receipt(client, auth, "bank", world.receipts["pledged"])
    insured = receipt(client, auth, "borrower", world.receipts["issued"])

    for shown in (pledged, insured):
        grams, cartons = shown["quantity_g"], shown["cartons"]
        private = [
            ORGS["borrower"][0],
            ORGS["bank"][0],
            ORGS["insurer"][0],
            str(grams),
            f"{grams:,}",
            f"{grams / 1_000_000:.2f}",
            f"{grams // 1_000_000} t",
            f"{grams // 1000} kg",
            f"{cartons} ",
            f">{cartons}<",
            "吨",
        ]
        for language in ("en", "zh-CN"):
            page = client.get(f"/r/{shown['code']}", headers={"Accept-Language": language}).text
            assert ORGS["keeper"][0] in page
            for secret in private:
                assert secret not in SVG.sub("", page), (secret, shown["code"], language)
    page = client.get(f"/r/{pledged['code']}").text
    assert pledged["pledge"]["registration_no"] not in page
    assert "ZDW-" not in page
    assert "质押予" not in page  # the pledge notation names the bank


def test_a_receipt_not_yet_issued_or_an_unknown_code_has_no_card(
    client: TestClient, auth: Auth, world: World
) -> None:
    draft = receipt(client, auth, "keeper", world.receipts["draft"])["code"]

    def no_card(code: str) -> None:
        assert client.get(f"/r/{code}").status_code == 404, code
        assert client.get(f"/r/{code}/qr.svg").status_code == 404, code

    no_card(draft)
    submitted = client.post(
        f"/api/v1/receipts/{world.receipts['draft']}/submit", headers=auth("keeper"), json={}
    )
    assert submitted.json()["status"] == "pending_check"
    no_card(draft)
    no_card("WR-SH-YS-0000000000")
    no_card("nothing-here")


def test_the_qr_code_is_an_svg_of_the_card(client: TestClient, auth: Auth, world: World) -> None:
    code = receipt(client, auth, "borrower", world.receipts["issued"])["code"]
    other = receipt(client, auth, "bank", world.receipts["pledged"])["code"]

    qr = client.get(f"/r/{code}/qr.svg")

    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.lstrip().startswith("<svg")
    assert "<path" in qr.text
    assert qr.text.rstrip().endswith("</svg>")
    assert qr.text != client.get(f"/r/{other}/qr.svg").text
    embedded = SVG.search(client.get(f"/r/{code}").text)
    assert embedded is not None
    assert embedded.group(0) == qr.text.strip()  # the card shows the same code the link serves
    assert (
        receipt(client, auth, "borrower", world.receipts["issued"])["public_url"]
        == f"http://testserver/r/{code}"
    )
