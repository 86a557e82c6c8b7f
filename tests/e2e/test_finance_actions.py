"""The financing actions of the API, taken from the pages: repayments on a drawdown, margin calls
and their waiver, a facility applied for, approved or rejected, activated, and its collateral;
each refusal in the API's own words."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from coldpledge.config import Settings
from tests.conftest import TestDB as Transaction
from tests.financing import active_facility, applied, drawn, price
from tests.marking import drawn_facility, mark, second_risk_officer
from tests.pages import htmx, sign_in_as
from tests.support import today
from tests.world import World

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def signed_in(client: TestClient, username: str) -> tuple[TestClient, str]:
    other = TestClient(client.app, headers={"Accept-Language": "en"})
    return other, sign_in_as(other, username)


@pytest.fixture
def facility(db: Transaction, settings: Settings, world: World) -> int:
    price(db.uow, settings, world, "20.00")
    return active_facility(db.uow, world)


# --- repayments -----------------------------------------------------------------------------------


def test_the_borrower_records_a_repayment_and_the_facility_lists_it(
    client: TestClient, db: Transaction, world: World, facility: int
) -> None:
    drawdown = drawn(db.uow, world, facility, 10_000_000)
    csrf = sign_in_as(client, "borrower")
    page = client.get(f"/facilities/{facility}").text
    assert f'hx-post="/drawdowns/{drawdown.id}/repayments"' in page
    assert "No repayments yet." in page

    paid = client.post(
        f"/drawdowns/{drawdown.id}/repayments",
        data={"repayment_yuan": "40,000.00", "reference": "CMB-20261130-01"},
        headers=htmx(csrf),
    )

    assert paid.status_code == 201, paid.text
    assert paid.headers["HX-Refresh"] == "true"
    api = client.get(f"{API}/drawdowns/{drawdown.id}").json()
    assert api["principal_outstanding_fen"] == 6_000_000
    [repayment] = client.get(f"{API}/facilities/{facility}/repayments").json()
    assert (repayment["amount_fen"], repayment["reference"]) == (4_000_000, "CMB-20261130-01")
    page = client.get(f"/facilities/{facility}").text
    assert f'data-repayment="{repayment["id"]}"' in page
    assert "CMB-20261130-01" in page
    assert "60,000.00" in page  # what is still outstanding, in the drawdown's row


def test_the_bank_repays_a_drawdown_in_full_and_its_row_shows_it_repaid(
    client: TestClient, db: Transaction, world: World, facility: int
) -> None:
    drawdown = drawn(db.uow, world, facility, 1_000_000)
    csrf = sign_in_as(client, "bank")
    paid = client.post(
        f"/drawdowns/{drawdown.id}/repayments", data={"repayment_yuan": "10000"}, headers=htmx(csrf)
    )
    assert paid.status_code == 201, paid.text
    page = client.get(f"/facilities/{facility}").text
    assert f'data-drawdown="{drawdown.code}" data-status="repaid"' in page
    assert f'hx-post="/drawdowns/{drawdown.id}/repayments"' not in page


def test_repaying_more_than_is_owed_is_refused_on_the_page_in_the_apis_words(
    client: TestClient, auth: Auth, db: Transaction, world: World, facility: int
) -> None:
    drawdown = drawn(db.uow, world, facility, 1_000_000)
    csrf = sign_in_as(client, "borrower")
    page = client.post(
        f"/drawdowns/{drawdown.id}/repayments", data={"repayment_yuan": "20000"}, headers=htmx(csrf)
    )
    api = client.post(
        f"{API}/drawdowns/{drawdown.id}/repayments", headers=auth("borrower"), json={"amount_fen": 2_000_000}
    )
    assert api.status_code == page.status_code == 422, (api.text, page.text)
    assert api.json()["detail"] in page.text
    assert 'role="alert"' in page.text
    assert client.get(f"{API}/facilities/{facility}/repayments").json() == []


@pytest.mark.parametrize("amount", ["0.001", "many", ""])
def test_a_repayment_not_in_yuan_and_fen_is_refused(
    client: TestClient, db: Transaction, world: World, facility: int, amount: str
) -> None:
    drawdown = drawn(db.uow, world, facility, 1_000_000)
    csrf = sign_in_as(client, "borrower")
    answer = client.post(
        f"/drawdowns/{drawdown.id}/repayments", data={"repayment_yuan": amount}, headers=htmx(csrf)
    )
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text


def test_a_requested_drawdown_offers_no_repayment_and_a_stranger_cannot_repay(
    client: TestClient, db: Transaction, world: World, facility: int
) -> None:
    drawdown = drawn(db.uow, world, facility, 1_000_000)
    other, csrf = signed_in(client, "bank2")
    answer = other.post(
        f"/drawdowns/{drawdown.id}/repayments", data={"repayment_yuan": "1.00"}, headers=htmx(csrf)
    )
    assert answer.status_code in {403, 404}
    keeper, keeper_csrf = signed_in(client, "keeper")
    answer = keeper.post(
        f"/drawdowns/{drawdown.id}/repayments", data={"repayment_yuan": "1.00"}, headers=htmx(keeper_csrf)
    )
    assert answer.status_code in {403, 404}
    sign_in_as(client, "bank")
    assert client.get(f"{API}/facilities/{facility}/repayments").json() == []


# --- margin calls ---------------------------------------------------------------------------------


@pytest.fixture
def called(db: Transaction, settings: Settings, world: World) -> int:
    """Carol's facility drawn to 65 % at CNY 20.00/kg, marked after pork fell to CNY 16.00/kg."""
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    mark(db.uow)
    return facility_id


def test_the_borrower_sees_its_margin_call_with_what_to_bring_and_by_when_but_no_waiver(
    client: TestClient, called: int
) -> None:
    sign_in_as(client, "borrower")
    [call] = client.get(f"{API}/margin-calls").json()
    page = client.get("/margin-calls")
    assert page.status_code == 200
    assert f'data-margin-call="{call["code"]}" data-status="open"' in page.text
    assert f"{call['cure_cash_fen'] / 100:,.2f}" in page.text
    assert call["deadline"] in page.text
    assert "/waive" not in page.text
    other, _ = signed_in(client, "bank2")
    assert call["code"] not in other.get("/margin-calls").text


def test_two_risk_officers_of_the_bank_waive_a_margin_call_from_the_page(
    client: TestClient, db: Transaction, settings: Settings, world: World, called: int
) -> None:
    csrf = sign_in_as(client, "bank")
    [call] = client.get(f"{API}/margin-calls").json()
    assert f'hx-post="/margin-calls/{call["id"]}/waive"' in client.get("/margin-calls").text

    asked = client.post(
        f"/margin-calls/{call['id']}/waive", data={"reason": "补货已在途", "until": ""}, headers=htmx(csrf)
    )

    assert asked.status_code == 200, asked.text
    assert 'data-status="open"' in asked.text
    assert "补货已在途" in asked.text
    assert "/waive" not in asked.text, "the one who asked does not approve"
    again = client.post(f"/margin-calls/{call['id']}/waive", data={"reason": "再次"}, headers=htmx(csrf))
    assert again.status_code == 409
    bianca = second_risk_officer(db.uow, settings, world)
    assert bianca.user_id
    second, second_csrf = signed_in(client, "bianca")
    assert f'hx-post="/margin-calls/{call["id"]}/waive"' in second.get("/margin-calls").text
    waived = second.post(
        f"/margin-calls/{call['id']}/waive", data={"reason": "同意"}, headers=htmx(second_csrf)
    )
    assert waived.status_code == 200, waived.text
    assert 'data-status="waived"' in waived.text
    assert client.get(f"{API}/margin-calls/{call['id']}").json()["status"] == "waived"


def test_a_waiver_without_a_reason_is_refused_as_the_api_refuses_it(
    client: TestClient, auth: Auth, called: int
) -> None:
    csrf = sign_in_as(client, "bank")
    [call] = client.get(f"{API}/margin-calls").json()
    page = client.post(f"/margin-calls/{call['id']}/waive", data={"reason": ""}, headers=htmx(csrf))
    api = client.post(f"{API}/margin-calls/{call['id']}/waive", headers=auth("bank"), json={"reason": ""})
    assert api.status_code == page.status_code == 422
    assert "reason" in page.text
    assert client.get(f"{API}/margin-calls/{call['id']}").json()["waive_requested_at"] is None


def test_the_borrower_may_not_waive_its_own_margin_call(client: TestClient, called: int) -> None:
    csrf = sign_in_as(client, "borrower")
    [call] = client.get(f"{API}/margin-calls").json()
    answer = client.post(f"/margin-calls/{call['id']}/waive", data={"reason": "请求豁免"}, headers=htmx(csrf))
    assert answer.status_code == 403


# --- a facility's life ----------------------------------------------------------------------------


def _apply(client: TestClient, csrf: str, world: World, **changes: str) -> Response:
    fields = {
        "bank_org_id": str(world.orgs["bank"]),
        "limit_yuan": "500,000.00",
        "start_date": today().isoformat(),
        "expiry_date": (today() + timedelta(days=365)).isoformat(),
        **changes,
    }
    return client.post("/facilities/apply", data=fields, headers=htmx(csrf))


def _facility_id(answer: Response) -> int:
    found = re.fullmatch(r"/facilities/(\d+)", answer.headers.get("HX-Redirect", ""))
    assert found, (answer.status_code, answer.text)
    return int(found.group(1))


def test_the_borrower_applies_the_bank_approves_with_terms_in_percent_files_contracts_and_activates(
    client: TestClient, auth: Auth, db: Transaction, settings: Settings, world: World
) -> None:
    price(db.uow, settings, world, "20.00")
    csrf = sign_in_as(client, "borrower")
    form = client.get("/facilities/apply")
    assert form.status_code == 200
    assert f'<option value="{world.orgs["bank"]}">' in form.text
    facility_id = _facility_id(_apply(client, csrf, world))
    assert client.get(f"{API}/facilities/{facility_id}").json()["limit_fen"] == 50_000_000
    assert (
        f'hx-post="/facilities/{facility_id}/steps/withdraw"' in client.get(f"/facilities/{facility_id}").text
    )

    bank, bank_csrf = signed_in(client, "bank")
    page = bank.get(f"/facilities/{facility_id}").text
    assert f'hx-post="/facilities/{facility_id}/approve"' in page
    assert f'hx-post="/facilities/{facility_id}/steps/reject"' in page
    terms = {
        "pledge_rate_pct": "60",
        "warning_line_pct": "70",
        "margin_call_line_pct": "78.5",
        "liquidation_line_pct": "85",
        "cure_business_days": "5",
        "rate_kind": "fixed",
        "rate_pct": "4.35",
        "day_count": "act_365",
        "penalty_multiplier": "1.5",
        "haircut_pct": "",
    }
    approved = bank.post(f"/facilities/{facility_id}/approve", data=terms, headers=htmx(bank_csrf))
    assert approved.status_code == 200, approved.text
    found = bank.get(f"{API}/facilities/{facility_id}").json()
    assert (found["status"], found["pledge_rate_bp"], found["margin_call_line_bp"], found["rate_bp"]) == (
        "approved",
        6000,
        7850,
        435,
    )
    assert (found["cure_business_days"], found["day_count"], found["penalty_multiplier_bp"]) == (
        5,
        "act_365",
        15000,
    )

    refused = bank.post(f"/facilities/{facility_id}/steps/activate", headers=htmx(bank_csrf))
    api = bank.post(f"{API}/facilities/{facility_id}/activate", headers=auth("bank"))
    assert refused.status_code == api.status_code == 409
    assert api.json()["detail"] in refused.text
    for kind, number in (("credit_agreement", "ZS-SX-1"), ("pledge_contract", "ZS-ZY-1")):
        added = bank.post(
            f"/facilities/{facility_id}/contracts",
            data={
                "kind": kind,
                "number": number,
                "signed_on": today().isoformat(),
                "parties": "浙商银行; 鲜丰",
                "file_sha256": "AB" * 32,
            },
            headers=htmx(bank_csrf),
        )
        assert added.status_code == 201, added.text
    page = bank.get(f"/facilities/{facility_id}").text
    assert 'data-contract="pledge_contract"' in page
    assert f'<option value="{world.receipts["pledged"]}">' in page

    attached = bank.post(
        f"/facilities/{facility_id}/collateral",
        data={"receipt_id": str(world.receipts["pledged"])},
        headers=htmx(bank_csrf),
    )
    assert attached.status_code == 201, attached.text
    activated = bank.post(f"/facilities/{facility_id}/steps/activate", headers=htmx(bank_csrf))
    assert activated.status_code == 200, activated.text
    assert bank.get(f"{API}/facilities/{facility_id}").json()["status"] == "active"
    [link] = bank.get(f"{API}/facilities/{facility_id}/collateral").json()
    page = bank.get(f"/facilities/{facility_id}").text
    assert f'data-link="{link["id"]}"' in page
    assert "360,000.00" in page  # 600,000 of pork at 60 %

    detached = bank.post(f"/facilities/{facility_id}/collateral/{link['id']}/detach", headers=htmx(bank_csrf))
    assert detached.status_code == 200, detached.text
    assert bank.get(f"{API}/facilities/{facility_id}/collateral").json()[0]["detached_at"]


def test_terms_out_of_order_are_refused_on_the_page_as_the_api_refuses_them(
    client: TestClient, auth: Auth, db: Transaction, world: World
) -> None:
    facility_id = applied(db.uow, world)
    csrf = sign_in_as(client, "bank")
    page = client.post(
        f"/facilities/{facility_id}/approve",
        data={"pledge_rate_pct": "80", "warning_line_pct": "75", "rate_pct": "4.35"},
        headers=htmx(csrf),
    )
    api = client.post(
        f"{API}/facilities/{facility_id}/approve",
        headers=auth("bank"),
        json={"pledge_rate_bp": 8000, "warning_line_bp": 7500, "rate_bp": 435},
    )
    assert page.status_code == api.status_code == 422, (page.text, api.text)
    assert 'role="alert"' in page.text
    assert "pledge_rate_bp ≤ warning_line_bp" in page.text
    bad = client.post(
        f"/facilities/{facility_id}/approve", data={"pledge_rate_pct": "sixty"}, headers=htmx(csrf)
    )
    assert bad.status_code == 422
    assert "Enter a percentage" in bad.text
    assert client.get(f"{API}/facilities/{facility_id}").json()["status"] == "applied"


def test_the_bank_rejects_an_application_with_a_reason_and_the_borrower_may_not_approve(
    client: TestClient, db: Transaction, world: World
) -> None:
    facility_id = applied(db.uow, world)
    borrower, borrower_csrf = signed_in(client, "borrower")
    page = borrower.get(f"/facilities/{facility_id}").text
    assert "/approve" not in page
    assert "/steps/reject" not in page
    approve = borrower.post(
        f"/facilities/{facility_id}/approve", data={"rate_pct": "4.35"}, headers=htmx(borrower_csrf)
    )
    assert approve.status_code == 403
    csrf = sign_in_as(client, "bank")
    no_reason = client.post(f"/facilities/{facility_id}/steps/reject", data={"text": ""}, headers=htmx(csrf))
    assert no_reason.status_code == 422
    rejected = client.post(
        f"/facilities/{facility_id}/steps/reject", data={"text": "抵押物不足"}, headers=htmx(csrf)
    )
    assert rejected.status_code == 200, rejected.text
    found = client.get(f"{API}/facilities/{facility_id}").json()
    assert (found["status"], found["decision_note"]) == ("rejected", "抵押物不足")


def test_an_application_with_the_expiry_before_the_start_is_refused_in_the_apis_words(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "borrower")
    answer = _apply(client, csrf, world, expiry_date=(today() - timedelta(days=1)).isoformat())
    assert answer.status_code == 422
    assert "expiry_date must be after start_date" in answer.text
    assert "HX-Redirect" not in answer.headers
    bank, _ = signed_in(client, "bank")
    assert bank.get("/facilities/apply").status_code == 403


# --- cash margin ----------------------------------------------------------------------------------


def test_the_bank_records_cash_margin_and_pays_it_back_from_the_facility_page(
    client: TestClient, facility: int
) -> None:
    csrf = sign_in_as(client, "bank")
    assert f'hx-post="/facilities/{facility}/margin-deposits"' in client.get(f"/facilities/{facility}").text
    received = client.post(
        f"/facilities/{facility}/margin-deposits",
        data={"amount_yuan": "50,000.00", "reference": "ZS-2026-77"},
        headers=htmx(csrf),
    )
    assert received.status_code == 201, received.text
    [deposit] = client.get(f"{API}/facilities/{facility}/margin-deposits").json()
    assert (deposit["amount_fen"], deposit["reference"]) == (5_000_000, "ZS-2026-77")
    assert f'data-deposit="{deposit["id"]}" data-withdrawn="no"' in client.get(f"/facilities/{facility}").text
    url = f"/facilities/{facility}/margin-deposits/{deposit['id']}/withdraw"
    assert client.post(url, data={"text": ""}, headers=htmx(csrf)).status_code == 422
    paid_back = client.post(url, data={"text": "风险解除"}, headers=htmx(csrf))
    assert paid_back.status_code == 200, paid_back.text
    assert client.get(f"{API}/facilities/{facility}/margin-deposits").json()[0]["withdrawn_at"]


def test_the_borrower_may_not_record_cash_margin(client: TestClient, facility: int) -> None:
    csrf = sign_in_as(client, "borrower")
    assert "/margin-deposits" not in client.get(f"/facilities/{facility}").text
    answer = client.post(
        f"/facilities/{facility}/margin-deposits", data={"amount_yuan": "1.00"}, headers=htmx(csrf)
    )
    assert answer.status_code == 403
