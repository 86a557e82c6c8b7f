"""The financing pages: facilities with their position, drawdowns stepped through by the bank
and the borrower from the page, and release instructions the bank approves, each refusal in the
API's own words."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from tests.conftest import TestDB as Transaction
from tests.financing import active_facility, price, requested
from tests.marking import drawn_facility, mark
from tests.pages import htmx, sign_in_as
from tests.support import today
from tests.world import World


@pytest.fixture
def facility(db: Transaction, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00")
    return active_facility(db.uow, world)


def test_the_bank_sees_its_facility_with_exposure_cover_and_ltv_and_the_other_bank_does_not(
    client: TestClient, facility: int
) -> None:
    sign_in_as(client, "bank")
    listing = client.get("/facilities").text
    code = re.search(r'data-facility="([^"]+)"', listing)
    assert code
    page = client.get(f"/facilities/{facility}")
    assert page.status_code == 200
    assert "600,000.00" in page.text  # 30 t of pork at CNY 20.00/kg
    assert "390,000.00" in page.text  # what may be drawn at 65 %
    other = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(other, "bank2")
    assert code.group(1) not in other.get("/facilities").text
    assert other.get(f"/facilities/{facility}").status_code == 404


def test_the_borrower_requests_a_drawdown_and_the_bank_approves_and_pays_it_out_from_the_page(
    client: TestClient, facility: int
) -> None:
    csrf = sign_in_as(client, "borrower")
    maturity = (today() + timedelta(days=90)).isoformat()
    asked = client.post(
        f"/facilities/{facility}/drawdowns",
        data={"amount_yuan": "100,000.00", "maturity_date": maturity, "purpose": "采购冻猪肉"},
        headers=htmx(csrf),
    )
    assert asked.status_code == 201, asked.text
    assert 'data-status="requested"' in asked.text
    drawdown_id = re.search(r'hx-post="/drawdowns/(\d+)/withdraw"', asked.text)
    assert drawdown_id, "the borrower may withdraw what it asked for"
    assert "/approve" not in asked.text, "the borrower is not offered the bank's steps"

    bank = TestClient(client.app, headers={"Accept-Language": "en"})
    bank_csrf = sign_in_as(bank, "bank")
    approved = bank.post(f"/drawdowns/{drawdown_id.group(1)}/approve", headers=htmx(bank_csrf))
    assert approved.status_code == 200, approved.text
    assert 'data-status="approved"' in approved.text
    paid = bank.post(f"/drawdowns/{drawdown_id.group(1)}/disburse", headers=htmx(bank_csrf))
    assert 'data-status="active"' in paid.text
    assert "100,000.00" in bank.get(f"/facilities/{facility}").text
    api = bank.get(f"/api/v1/drawdowns/{drawdown_id.group(1)}").json()
    assert api["status"] == "active"
    assert api["amount_fen"] == 10_000_000


def test_approving_a_drawdown_beyond_the_cover_is_refused_on_the_page_in_the_apis_words(
    client: TestClient, auth: Callable[[str], dict[str, str]], db: Transaction, world: World, facility: int
) -> None:
    drawdown_id = requested(db.uow, world, facility, 50_000_000)  # CNY 500,000 against 390,000 of cover
    csrf = sign_in_as(client, "bank")
    page = client.post(f"/drawdowns/{drawdown_id}/approve", headers=htmx(csrf))
    api = client.post(f"/api/v1/drawdowns/{drawdown_id}/approve", headers=auth("bank"))
    assert api.status_code == page.status_code, (api.text, page.text)
    assert api.status_code >= 400
    assert api.json()["detail"] in page.text
    assert 'role="alert"' in page.text


@pytest.mark.parametrize("amount", ["12.345", "a lot", "1e3.5", ""])
def test_an_amount_that_is_not_yuan_and_fen_is_refused_not_rounded(
    client: TestClient, facility: int, amount: str
) -> None:
    csrf = sign_in_as(client, "borrower")
    maturity = (today() + timedelta(days=90)).isoformat()
    answer = client.post(
        f"/facilities/{facility}/drawdowns",
        data={"amount_yuan": amount, "maturity_date": maturity},
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text


def test_a_rejection_needs_a_reason_as_the_api_does(
    client: TestClient, db: Transaction, world: World, facility: int
) -> None:
    drawdown_id = requested(db.uow, world, facility, 1_000_000)
    csrf = sign_in_as(client, "bank")
    answer = client.post(f"/drawdowns/{drawdown_id}/reject", data={"text": ""}, headers=htmx(csrf))
    assert answer.status_code == 422
    assert "reason" in answer.text


def test_a_step_without_the_sessions_csrf_token_is_refused(
    client: TestClient, db: Transaction, world: World, facility: int
) -> None:
    drawdown_id = requested(db.uow, world, facility, 1_000_000)
    sign_in_as(client, "bank")
    answer = client.post(f"/drawdowns/{drawdown_id}/approve", headers={"HX-Request": "true"})
    assert answer.status_code == 403
    assert client.get(f"/api/v1/drawdowns/{drawdown_id}").json()["status"] == "requested"


def test_the_bank_approves_a_release_and_sees_its_one_time_code_once(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "bank")
    listing = client.get("/releases").text
    assert f'data-release="{world.releases["requested"]}"' in listing
    approved = client.post(f"/releases/{world.releases['requested']}/approve", headers=htmx(csrf))
    assert approved.status_code == 200, approved.text
    code = re.search(r'class="release-code"[^>]*>([^<]+)<', approved.text)
    assert code
    assert "<svg" in approved.text
    assert code.group(1) not in client.get("/releases").text
    again = client.post(f"/releases/{world.releases['requested']}/approve", headers=htmx(csrf))
    assert again.status_code == 409


def test_the_borrower_sees_its_release_waiting_but_may_not_decide_it(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "borrower")
    listing = client.get("/releases").text
    assert f'data-release="{world.releases["requested"]}"' in listing
    assert f'hx-post="/releases/{world.releases["requested"]}/approve"' not in listing
    answer = client.post(f"/releases/{world.releases['requested']}/approve", headers=htmx(csrf))
    assert answer.status_code in {403, 404}


def test_the_facility_page_shows_the_days_mark_to_market_with_its_ltv_and_risk(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    mark(db.uow)
    sign_in_as(client, "bank")
    page = client.get(f"/facilities/{facility_id}").text
    assert f'data-mark="{today().isoformat()}"' in page
    assert "Not marked yet." not in page
