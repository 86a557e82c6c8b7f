"""Releases against the loan and the disposal of a liquidated facility's goods, through the HTTP
API: what Carol may take out (and what a repayment frees), the refusal she gets when she asks for
too much, and Alice selling the goods, applying the proceeds and writing off the shortfall."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from tests.financing import active_facility, drawn, price
from tests.liquidation import COLLECTOR_ID, PLATE, liquidate, unsealed
from tests.support import in_days, ok, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
TONNE = 1_000_000


@pytest.fixture
def facility_id(db: TestDB, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=1))
    return active_facility(db.uow, world)


def collection(quantity_g: int) -> dict[str, Any]:
    return {
        "quantity_g": quantity_g,
        "vehicle_plate": PLATE,
        "collector_name": "赵师傅",
        "collector_id_no": COLLECTOR_ID,
        "valid_until": in_days(2).isoformat(),
    }


def test_release_capacity_shows_what_may_go_now_and_after_a_repayment(
    client: TestClient, auth: Auth, db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 39_000_000)
    url = f"{API}/facilities/{facility_id}/release-capacity?repayment_fen=6500000"

    capacity = ok(client.get(url, headers=auth("borrower")))

    assert (capacity["exposure_fen"], capacity["value_fen"], capacity["pledge_rate_bp"]) == (
        39_000_000,
        60_000_000,
        6500,
    )
    assert (capacity["max_release_value_fen"], capacity["max_release_value_after_repayment_fen"]) == (
        0,
        10_000_000,
    )
    [pork] = capacity["receipts"]
    assert (pork["receipt_id"], pork["max_release_g"], pork["max_release_g_after_repayment"]) == (
        world.receipts["pledged"],
        0,
        5 * TONNE,
    )
    assert capacity["price_observation_ids"]
    assert ok(client.get(url, headers=auth("bank")))["repayment_fen"] == 6_500_000
    assert client.get(url, headers=auth("bank2")).status_code == 404
    assert client.get(url.replace("6500000", "-1"), headers=auth("bank")).status_code == 422


def test_a_receipt_with_an_instruction_open_shows_no_more_capacity_until_it_is_carried_out(
    client: TestClient, auth: Auth, db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 26_000_000)
    asked = client.post(
        f"{API}/receipts/{world.receipts['pledged']}/request-release",
        headers=auth("borrower"),
        json=collection(5 * TONNE),
    )
    assert asked.status_code == 201, asked.text

    capacity = ok(client.get(f"{API}/facilities/{facility_id}/release-capacity", headers=auth("borrower")))

    [pork] = capacity["receipts"]
    assert (pork["max_release_g"], pork["max_release_g_after_repayment"]) == (0, 0)


def test_a_release_beyond_the_pledge_rate_is_refused_with_the_figures(
    client: TestClient, auth: Auth, db: TestDB, world: World, facility_id: int
) -> None:
    drawn(db.uow, world, facility_id, 26_000_000)
    url = f"{API}/receipts/{world.receipts['pledged']}/request-release"

    refused = client.post(url, headers=auth("borrower"), json=collection(12 * TONNE))
    allowed = client.post(url, headers=auth("borrower"), json=collection(10 * TONNE))

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "release_beyond_cover"
    assert body["figures"]["max_release_g"] == 10 * TONNE
    assert body["figures"]["exposure"] == 26_000_000
    assert "10000000 g" in body["detail"]
    assert ok(allowed, 201)["status"] == "requested"


def test_the_bank_sells_the_goods_applies_the_proceeds_and_writes_off_the_rest(
    client: TestClient, auth: Auth, db: TestDB, world: World, facility_id: int
) -> None:
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    bank, receipt_id, lot_id = auth("bank"), world.receipts["pledged"], world.lots["pledged"]
    frozen = client.post(
        f"{API}/receipts/{receipt_id}/request-release", headers=auth("borrower"), json=collection(TONNE)
    )
    assert frozen.status_code == 403  # the goods are the bank's to sell now
    capacity = ok(client.get(f"{API}/facilities/{facility_id}/release-capacity", headers=auth("borrower")))
    assert (capacity["frozen"], capacity["risk_state"], capacity["receipts"]) == (True, "liquidation", [])

    release = ok(
        client.post(
            f"{API}/receipts/{receipt_id}/request-release", headers=bank, json=collection(30 * TONNE)
        ),
        201,
    )
    unsealed(db.uow, world, lot_id)
    outbound = {
        "release_id": release["id"],
        "release_code": release["code"],
        "gross_g": 42 * TONNE,
        "tare_g": 12 * TONNE,
        "weigh_ticket_no": "WT-AUCTION-1",
        "cartons": 1500,
        "vehicle_plate": PLATE,
        "collector_id_no": COLLECTOR_ID,
    }
    ok(client.post(f"{API}/lots/{lot_id}/outbound", headers=auth("keeper"), json=outbound), 201)
    sale = {
        "release_id": release["id"],
        "channel": "auction",
        "buyer_name": "上海农产品拍卖行",
        "price_fen_per_t": 1_000_000,
        "proceeds_fen": 30_000_000,
        "fees_fen": 600_000,
        "storage_lien_fen": 400_000,
        "reference": "PM-2026-118",
    }
    url = f"{API}/facilities/{facility_id}/disposals"

    assert client.post(url, headers=auth("borrower"), json=sale).status_code == 403
    assert client.post(url, headers=auth("bank2"), json=sale).status_code == 404
    made = ok(client.post(url, headers=bank, json=sale), 201)

    assert (made["quantity_g"], made["principal_fen"], made["residual_claim_fen"]) == (
        30 * TONNE,
        29_000_000,
        10_000_000,
    )
    assert made["reference_price_fen_per_t"] == 2_000_000
    assert made["allocations"] == [
        {"drawdown_id": loan.id, "penalty_fen": 0, "interest_fen": 0, "principal_fen": 29_000_000}
    ]
    assert [d["id"] for d in ok(client.get(url, headers=auth("borrower")))] == [made["id"]]
    assert ok(client.get(f"{API}/disposals/{made['id']}", headers=auth("bankviewer")))["id"] == made["id"]
    assert client.get(f"{API}/disposals/{made['id']}", headers=auth("bank2")).status_code == 404
    facility = ok(client.get(f"{API}/facilities/{facility_id}", headers=bank))
    assert (facility["status"], facility["risk_state"]) == ("active", "disposed")

    write_off = f"{API}/drawdowns/{loan.id}/write-off"
    assert client.post(write_off, headers=auth("borrower"), json={"reason": "核销"}).status_code == 403
    written = ok(client.post(write_off, headers=bank, json={"reason": "拍卖不足, 核销"}))
    again = client.post(write_off, headers=bank, json={"reason": "拍卖不足, 核销"})

    assert (written["principal_fen"], written["residual_claim_fen"]) == (10_000_000, 10_000_000)
    assert written["claim_against_org_id"] == world.orgs["borrower"]
    assert again.status_code == 409
    assert ok(client.get(f"{API}/drawdowns/{loan.id}", headers=bank))["status"] == "written_off"
    assert ok(client.get(f"{API}/facilities/{facility_id}", headers=bank))["status"] == "closed"
