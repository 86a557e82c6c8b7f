"""The collateral risk pages: Olga marks the facilities to market from the page and everyone party
to a facility reads its valuations; a margin call with its history; Alice records the sale of a
liquidated facility's pork and writes off what it did not pay; a drawdown's interest day by day.
Each action refuses what the API refuses, in the API's words."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from coldpledge.financing.accrual import accrue
from coldpledge.uow import UnitOfWork
from tests.conftest import TestDB as Transaction
from tests.financing import active_facility, drawn, price
from tests.liquidation import liquidate, sold_out
from tests.marking import drawn_facility, mark
from tests.pages import htmx, sign_in_as
from tests.support import Clock, now, today
from tests.world import World

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def signed_in(client: TestClient, username: str) -> tuple[TestClient, str]:
    other = TestClient(client.app, headers={"Accept-Language": "en"})
    return other, sign_in_as(other, username)


# --- mark-to-market -------------------------------------------------------------------------------


def test_the_operator_marks_the_facilities_from_the_page_and_the_bank_reads_the_valuation(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    csrf = sign_in_as(client, "admin")
    assert 'id="run-mark"' in client.get("/mark-to-market").text

    run = client.post("/mark-to-market", data={"business_date": today().isoformat()}, headers=htmx(csrf))

    assert run.status_code == 200, run.text
    assert 'data-valued="1"' in run.text
    assert "Margin call: 1" in run.text
    assert f'data-marked="{today().isoformat()}"' in run.text  # the table, swapped out of band
    bank, _ = signed_in(client, "bank")
    [valuation] = bank.get(f"{API}/facilities/{facility_id}/valuations").json()
    assert valuation["risk_after"] == "margin_call"
    listed = bank.get(f"/facilities/{facility_id}/valuations").text
    assert f'data-valuation="{valuation["id"]}" data-risk="margin_call"' in listed
    detail = bank.get(f"/facilities/{facility_id}/valuations/{valuation['id']}")
    assert detail.status_code == 200
    assert "81.25 %" in detail.text
    assert 'data-status="counted"' in detail.text
    assert "480,000.00" in detail.text  # 30 t of pork at CNY 16.00/kg
    again = client.post("/mark-to-market", data={"business_date": today().isoformat()}, headers=htmx(csrf))
    assert 'data-valued="0"' in again.text


def test_a_mark_for_a_day_not_yet_come_is_refused_on_the_page_in_the_apis_words(
    client: TestClient, auth: Auth
) -> None:
    csrf = sign_in_as(client, "admin")
    tomorrow = (today() + timedelta(days=1)).isoformat()
    page = client.post("/mark-to-market", data={"business_date": tomorrow}, headers=htmx(csrf))
    api = client.post(
        f"{API}/financing/mark-to-market", headers=auth("admin"), json={"business_date": tomorrow}
    )
    assert page.status_code == api.status_code == 422
    assert api.json()["detail"] in page.text
    assert 'role="alert"' in page.text


def test_a_bank_is_not_offered_the_run_and_may_not_start_it(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    csrf = sign_in_as(client, "bank")
    page = client.get("/mark-to-market").text
    assert 'id="run-mark"' not in page
    assert f'href="/facilities/{facility_id}/valuations"' in page
    refused = client.post("/mark-to-market", data={"business_date": today().isoformat()}, headers=htmx(csrf))
    assert refused.status_code == 403
    assert client.get(f"{API}/facilities/{facility_id}/valuations").json() == []


def test_another_bank_sees_neither_the_facility_nor_its_valuations(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    mark(db.uow)
    sign_in_as(client, "bank2")
    assert f"/facilities/{facility_id}/valuations" not in client.get("/mark-to-market").text
    assert client.get(f"/facilities/{facility_id}/valuations").status_code == 404


# --- a margin call and its history ---------------------------------------------------------------


@pytest.fixture
def called(db: Transaction, settings: Settings, world: World) -> int:
    """Carol's facility drawn to 65 % at CNY 20.00/kg, marked after pork fell to CNY 16.00/kg."""
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    mark(db.uow)
    return facility_id


def test_the_borrower_opens_its_margin_call_from_the_list_and_reads_what_cures_it(
    client: TestClient, called: int
) -> None:
    sign_in_as(client, "borrower")
    [call] = client.get(f"{API}/margin-calls").json()
    assert f'href="/margin-calls/{call["id"]}"' in client.get("/margin-calls").text

    page = client.get(f"/margin-calls/{call['id']}")

    assert page.status_code == 200
    assert 'data-status="open"' in page.text
    assert "78,000.00" in page.text  # cash that cures it
    assert "7,500.000 kg" in page.text  # or 7.5 t of pork
    assert call["deadline"] in page.text
    assert 'data-event="issued"' in page.text


def test_a_waiver_asked_for_shows_in_the_calls_history(client: TestClient, called: int) -> None:
    csrf = sign_in_as(client, "bank")
    [call] = client.get(f"{API}/margin-calls").json()
    asked = client.post(
        f"/margin-calls/{call['id']}/waive", data={"reason": "补货已在途"}, headers=htmx(csrf)
    )
    assert asked.status_code == 200, asked.text

    page = client.get(f"/margin-calls/{call['id']}").text

    assert 'data-event="waive_requested"' in page
    assert "补货已在途" in page


def test_another_bank_gets_no_margin_call_page(client: TestClient, called: int) -> None:
    sign_in_as(client, "bank")
    [call] = client.get(f"{API}/margin-calls").json()
    other, _ = signed_in(client, "bank2")
    assert other.get(f"/margin-calls/{call['id']}").status_code == 404


# --- disposal and write-off -----------------------------------------------------------------------


@pytest.fixture
def in_liquidation(db: Transaction, settings: Settings, world: World) -> tuple[int, int]:
    """Carol's facility drawn to CNY 390,000.00 and liquidated, its pork still in the warehouse:
    (facility, drawdown)."""
    price(db.uow, settings, world, "20.00", on=today() - timedelta(days=1))
    facility_id = active_facility(db.uow, world)
    loan = drawn(db.uow, world, facility_id, 39_000_000)
    liquidate(db.uow, facility_id)
    return facility_id, loan.id


@pytest.fixture
def liquidated(db: Transaction, world: World, in_liquidation: tuple[int, int]) -> tuple[int, int, int]:
    """… and its 30 t of pork taken out under Alice's disposal release: (facility, drawdown,
    release)."""
    release_id = sold_out(db.uow, world, world.receipts["pledged"])
    return (*in_liquidation, release_id)


SALE = {
    "channel": "auction",
    "buyer_name": "上海农产品拍卖行",
    "price_yuan_per_t": "10,000.00",
    "proceeds_yuan": "300,000.00",
    "fees_yuan": "6,000",
    "storage_lien_yuan": "4,000",
    "reference": "PM-2026-118",
}


def test_the_bank_records_the_sale_and_writes_off_what_it_did_not_pay(
    client: TestClient, liquidated: tuple[int, int, int]
) -> None:
    facility_id, loan_id, release_id = liquidated
    csrf = sign_in_as(client, "bank")
    assert f'href="/facilities/{facility_id}/disposals"' in client.get(f"/facilities/{facility_id}").text
    page = client.get(f"/facilities/{facility_id}/disposals").text
    assert f'<option value="{release_id}">' in page
    assert "hx-confirm" in page

    recorded = client.post(
        f"/facilities/{facility_id}/disposals",
        data={**SALE, "release_id": str(release_id)},
        headers=htmx(csrf),
    )

    assert recorded.status_code == 201, recorded.text
    found = re.fullmatch(r"/disposals/(\d+)", recorded.headers["HX-Redirect"])
    assert found
    disposal_id = int(found.group(1))
    [sale] = client.get(f"{API}/facilities/{facility_id}/disposals").json()
    assert (sale["id"], sale["price_fen_per_t"], sale["fees_fen"]) == (disposal_id, 1_000_000, 600_000)
    detail = client.get(f"/disposals/{disposal_id}").text
    assert '<td class="num" id="principal-paid">290,000.00</td>' in detail
    assert '<td class="num" id="residual">100,000.00</td>' in detail
    assert f'data-disposal="{disposal_id}"' in client.get("/disposals").text
    assert f'<option value="{release_id}">' not in client.get(f"/facilities/{facility_id}/disposals").text

    written = client.post(
        f"/drawdowns/{loan_id}/write-off/confirm",
        data={"reason": "拍卖不足, 核销", "claim_against": "borrower"},
        headers=htmx(csrf),
    )

    assert written.status_code == 200, written.text
    assert written.headers["HX-Refresh"] == "true"
    assert client.get(f"{API}/drawdowns/{loan_id}").json()["status"] == "written_off"
    page = client.get(f"/facilities/{facility_id}/disposals").text
    assert 'data-status="written_off"' in page
    assert "/write-off/confirm" not in page


def test_a_sale_with_a_one_letter_buyer_is_refused_as_the_api_refuses_it(
    client: TestClient, auth: Auth, liquidated: tuple[int, int, int]
) -> None:
    facility_id, _, release_id = liquidated
    csrf = sign_in_as(client, "bank")
    form = {**SALE, "release_id": str(release_id), "buyer_name": "X"}
    page = client.post(f"/facilities/{facility_id}/disposals", data=form, headers=htmx(csrf))
    body = {
        "release_id": release_id,
        "channel": "auction",
        "buyer_name": "X",
        "price_fen_per_t": 1_000_000,
        "proceeds_fen": 30_000_000,
    }
    api = client.post(f"{API}/facilities/{facility_id}/disposals", headers=auth("bank"), json=body)
    assert page.status_code == api.status_code == 422
    assert api.json()["detail"] in page.text
    assert "buyer_name" in page.text
    assert client.get(f"{API}/facilities/{facility_id}/disposals").json() == []


def test_a_write_off_before_the_goods_are_sold_is_refused_in_the_apis_words(
    client: TestClient, auth: Auth, in_liquidation: tuple[int, int]
) -> None:
    _, loan_id = in_liquidation
    csrf = sign_in_as(client, "bank")
    page = client.post(f"/drawdowns/{loan_id}/write-off/confirm", data={"reason": "核销"}, headers=htmx(csrf))
    api = client.post(f"{API}/drawdowns/{loan_id}/write-off", headers=auth("bank"), json={"reason": "核销"})
    assert page.status_code == api.status_code == 409
    assert api.json()["detail"] in page.text
    blank = client.post(f"/drawdowns/{loan_id}/write-off/confirm", data={"reason": ""}, headers=htmx(csrf))
    assert blank.status_code == 422
    assert "reason" in blank.text


def test_the_borrower_reads_the_disposal_but_is_offered_neither_sale_nor_write_off(
    client: TestClient, liquidated: tuple[int, int, int]
) -> None:
    facility_id, loan_id, release_id = liquidated
    csrf = sign_in_as(client, "borrower")
    page = client.get(f"/facilities/{facility_id}/disposals")
    assert page.status_code == 200
    code = client.get(f"{API}/drawdowns/{loan_id}").json()["code"]
    assert f'data-drawdown="{code}" data-status="in_recovery"' in page.text
    assert 'id="record-disposal"' not in page.text
    assert "/write-off/confirm" not in page.text
    sale = client.post(
        f"/facilities/{facility_id}/disposals",
        data={**SALE, "release_id": str(release_id)},
        headers=htmx(csrf),
    )
    write_off = client.post(
        f"/drawdowns/{loan_id}/write-off/confirm", data={"reason": "核销"}, headers=htmx(csrf)
    )
    assert (sale.status_code, write_off.status_code) == (403, 403)


def test_another_bank_gets_no_disposal_pages(
    client: TestClient, auth: Auth, liquidated: tuple[int, int, int]
) -> None:
    facility_id, _, release_id = liquidated
    body = {
        "release_id": release_id,
        "channel": "sale",
        "buyer_name": "冷链食品批发",
        "price_fen_per_t": 1_000_000,
        "proceeds_fen": 30_000_000,
    }
    made = client.post(f"{API}/facilities/{facility_id}/disposals", headers=auth("bank"), json=body)
    assert made.status_code == 201, made.text
    csrf = sign_in_as(client, "bank2")
    assert client.get(f"/facilities/{facility_id}/disposals").status_code == 404
    assert client.get(f"/disposals/{made.json()['id']}").status_code == 404
    assert f'data-disposal="{made.json()["id"]}"' not in client.get("/disposals").text
    sale = client.post(
        f"/facilities/{facility_id}/disposals",
        data={**SALE, "release_id": str(release_id)},
        headers=htmx(csrf),
    )
    assert sale.status_code == 404


# --- accruals -------------------------------------------------------------------------------------


def test_a_drawdowns_interest_is_listed_day_by_day_from_the_facility_page(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    price(db.uow, settings, world, "20.00")
    facility_id = active_facility(db.uow, world)
    loan = drawn(db.uow, world, facility_id, 10_000_000)  # CNY 100,000.00 at 4.35 %, ACT/360
    accrue(UnitOfWork(db.session, clock=Clock(now() + timedelta(days=3))), today() + timedelta(days=2))
    sign_in_as(client, "borrower")
    assert f'href="/drawdowns/{loan.id}/accruals"' in client.get(f"/facilities/{facility_id}").text

    page = client.get(f"/drawdowns/{loan.id}/accruals")

    assert page.status_code == 200
    assert page.text.count('data-kind="interest"') == 3
    assert '<dd id="interest-posted">36.25</dd>' in page.text  # three days of CNY 12.08
    assert "12.08333333" in page.text
    other, _ = signed_in(client, "bank2")
    assert other.get(f"/drawdowns/{loan.id}/accruals").status_code == 404
