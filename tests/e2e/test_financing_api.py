"""A credit line through the HTTP API as the parties would live it: Carol applies, Alice approves
and secures it with the pork Carol pledged, Carol draws and repays; and the answers a client gets
when something is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from coldpledge.financing.accrual import accrue
from coldpledge.uow import UnitOfWork
from tests.financing import SHA, price
from tests.support import Clock, now, ok, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


@pytest.fixture
def priced(db: TestDB, settings: Settings, world: World) -> None:
    price(db.uow, settings, world, "20.00")


def apply(client: TestClient, auth: Auth, world: World, **changes: Any) -> dict[str, Any]:
    body = {
        "bank_org_id": world.orgs["bank"],
        "limit_fen": 50_000_000,
        "start_date": str(today()),
        "expiry_date": str(today() + timedelta(days=365)),
        **changes,
    }
    found: dict[str, Any] = ok(client.post(f"{API}/facilities", headers=auth("borrower"), json=body), 201)
    return found


def open_facility(client: TestClient, auth: Auth, world: World) -> int:
    bank = auth("bank")
    facility_id = int(apply(client, auth, world)["id"])
    url = f"{API}/facilities/{facility_id}"
    ok(client.post(f"{url}/approve", headers=bank, json={"rate_bp": 435, "haircut_bp": 500}))
    for kind in ("credit_agreement", "pledge_contract"):
        contract = {
            "kind": kind,
            "number": f"ZS-{kind}-001",
            "signed_on": str(today()),
            "parties": "浙商银行杭州分行; 上海鲜丰冷链贸易有限公司",
            "file_sha256": SHA,
        }
        ok(client.post(f"{url}/contracts", headers=bank, json=contract), 201)
    ok(client.post(f"{url}/activate", headers=bank))
    ok(client.post(f"{url}/collateral", headers=bank, json={"receipt_id": world.receipts["pledged"]}), 201)
    return facility_id


def test_a_credit_line_from_application_to_the_last_fen_repaid(
    client: TestClient, auth: Auth, world: World, priced: None
) -> None:
    bank, borrower = auth("bank"), auth("borrower")
    facility_id = open_facility(client, auth, world)

    position = ok(client.get(f"{API}/facilities/{facility_id}/position", headers=borrower))
    # 30 t × CNY 20.00/kg less a 5 % haircut = CNY 570,000.00; 65 % of it is CNY 370,500.00.
    assert position["collateral_value_fen"] == 57_000_000
    assert position["headroom_fen"] == 37_050_000
    assert position["lines"][0]["price_fen_per_t"] == 2_000_000

    loan = ok(
        client.post(
            f"{API}/facilities/{facility_id}/drawdowns",
            headers=borrower,
            json={
                "amount_fen": 30_000_000,
                "maturity_date": str(today() + timedelta(days=90)),
                "purpose": "采购冻肉",
            },
        ),
        201,
    )
    assert loan["allowed_actions"] == ["approve", "reject", "withdraw"]
    ok(client.post(f"{API}/drawdowns/{loan['id']}/approve", headers=bank))
    paid = ok(client.post(f"{API}/drawdowns/{loan['id']}/disburse", headers=bank, json={"note": "已放款"}))
    assert paid["status"] == "active"
    assert paid["principal_outstanding_fen"] == 30_000_000

    after = ok(client.get(f"{API}/facilities/{facility_id}/position", headers=bank))
    assert after["exposure_fen"] == 30_000_000
    assert after["ltv_bp"] == 5264  # 30,000,000 ÷ 57,000,000, rounded up
    assert after["headroom_fen"] == 7_050_000

    repaid = ok(
        client.post(
            f"{API}/drawdowns/{loan['id']}/repayments", headers=borrower, json={"amount_fen": 30_000_000}
        ),
        201,
    )
    assert (repaid["penalty_fen"], repaid["interest_fen"], repaid["principal_fen"]) == (0, 0, 30_000_000)
    closed = ok(client.get(f"{API}/drawdowns/{loan['id']}", headers=bank))
    assert closed["status"] == "repaid"
    assert [r["id"] for r in ok(client.get(f"{API}/facilities/{facility_id}/repayments", headers=bank))] == [
        repaid["id"]
    ]

    ok(client.post(f"{API}/facilities/{facility_id}/close", headers=bank))
    assert ok(client.get(f"{API}/facilities/{facility_id}", headers=borrower))["status"] == "closed"


def test_lists_show_each_party_its_own_facilities(client: TestClient, auth: Auth, world: World) -> None:
    mine = apply(client, auth, world)

    for persona, sees in (("borrower", True), ("bank", True), ("bankviewer", True), ("bank2", False)):
        listed = ok(client.get(f"{API}/facilities", headers=auth(persona)))
        assert (mine["id"] in {row["id"] for row in listed}) is sees, persona
    assert ok(client.get(f"{API}/facilities", headers=auth("bank"), params={"status": "applied"}))


def test_a_drawdown_beyond_the_cover_is_refused_in_words(
    client: TestClient, auth: Auth, world: World, priced: None
) -> None:
    facility_id = open_facility(client, auth, world)
    loan = ok(
        client.post(
            f"{API}/facilities/{facility_id}/drawdowns",
            headers=auth("borrower"),
            json={"amount_fen": 40_000_000, "maturity_date": str(today() + timedelta(days=30))},
        ),
        201,
    )

    refused = client.post(f"{API}/drawdowns/{loan['id']}/approve", headers=auth("bank"))

    assert refused.status_code == 409
    assert "37050000 fen more" in refused.json()["detail"]


def test_a_step_out_of_order_answers_409_with_what_is_possible(
    client: TestClient, auth: Auth, world: World
) -> None:
    facility_id = apply(client, auth, world)["id"]

    refused = client.post(f"{API}/facilities/{facility_id}/activate", headers=auth("bank"))

    assert refused.status_code == 409
    assert refused.json()["code"] == "illegal_transition"
    assert refused.json()["allowed_actions"] == ["approve", "reject", "withdraw"]


@pytest.mark.parametrize(
    "terms",
    [
        {"rate_bp": 435, "pledge_rate_bp": 8000, "warning_line_bp": 7500},
        {"rate_kind": "lpr_spread", "rate_bp": 435},
        {"rate_bp": 435, "haircut_bp": 10_000},
        {},
        {"rate_bp": 435, "margin_call_line_bp": 9000},
    ],
    ids=[
        "pledge rate above the warning line",
        "floating without LPR",
        "haircut of everything",
        "no rate",
        "margin call beyond the liquidation line",
    ],
)
def test_terms_that_do_not_hold_together_are_refused(
    client: TestClient, auth: Auth, world: World, terms: dict[str, Any]
) -> None:
    facility_id = apply(client, auth, world)["id"]

    refused = client.post(f"{API}/facilities/{facility_id}/approve", headers=auth("bank"), json=terms)

    assert refused.status_code == 422, refused.text


def test_the_bank_sets_the_margin_call_line_between_the_warning_and_liquidation_lines(
    client: TestClient, auth: Auth, world: World
) -> None:
    default = apply(client, auth, world)["id"]
    chosen = apply(client, auth, world)["id"]
    bank = auth("bank")

    ok(client.post(f"{API}/facilities/{default}/approve", headers=bank, json={"rate_bp": 435}))
    ok(
        client.post(
            f"{API}/facilities/{chosen}/approve",
            headers=bank,
            json={"rate_bp": 435, "margin_call_line_bp": 7800},
        )
    )

    assert ok(client.get(f"{API}/facilities/{default}", headers=bank))["margin_call_line_bp"] == 8000
    assert ok(client.get(f"{API}/facilities/{chosen}", headers=bank))["margin_call_line_bp"] == 7800


def test_an_application_that_ends_before_it_starts_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {
        "bank_org_id": world.orgs["bank"],
        "limit_fen": 1_000_000,
        "start_date": str(today()),
        "expiry_date": str(today() - timedelta(days=1)),
    }

    assert client.post(f"{API}/facilities", headers=auth("borrower"), json=body).status_code == 422


def test_the_position_says_why_goods_count_nothing(client: TestClient, auth: Auth, world: World) -> None:
    facility_id = open_facility(client, auth, world)

    position = ok(client.get(f"{API}/facilities/{facility_id}/position", headers=auth("bank")))

    [line] = position["lines"]
    assert line["value_fen"] == 0
    assert line["reason"] == f"There is no approved price for this commodity on or before {today()}."


def test_the_daily_accruals_of_a_loan_are_listed(
    client: TestClient, auth: Auth, world: World, db: TestDB, priced: None
) -> None:
    facility_id = open_facility(client, auth, world)
    loan = ok(
        client.post(
            f"{API}/facilities/{facility_id}/drawdowns",
            headers=auth("borrower"),
            json={"amount_fen": 36_000_000, "maturity_date": str(today() + timedelta(days=30))},
        ),
        201,
    )
    ok(client.post(f"{API}/drawdowns/{loan['id']}/approve", headers=auth("bank")))
    ok(client.post(f"{API}/drawdowns/{loan['id']}/disburse", headers=auth("bank")))
    accrue(UnitOfWork(db.session, clock=Clock(now() + timedelta(days=3))), today() + timedelta(days=2))

    accruals = ok(client.get(f"{API}/drawdowns/{loan['id']}/accruals", headers=auth("borrower")))

    assert [(row["business_date"], row["kind"], row["posted_fen"]) for row in accruals] == [
        (str(today() + timedelta(days=n)), "interest", 4_350) for n in range(3)
    ]
    assert ok(client.get(f"{API}/drawdowns/{loan['id']}", headers=auth("bank")))["interest_due_fen"] == 13_050
