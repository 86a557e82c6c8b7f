"""Mark-to-market through the HTTP API: the operator runs the day's mark, the bank and the borrower
read the valuations line by line with the prices used, follow the margin call and its alerts, and
two of the bank's risk officers waive it; nobody else sees any of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from coldpledge.db import utcnow
from coldpledge.parties.security import issue_access_token
from tests.financing import price
from tests.marking import business_day, drawn_facility, second_risk_officer
from tests.support import ok, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


@pytest.fixture
def called(db: TestDB, settings: Settings, world: World, client: TestClient, auth: Auth) -> int:
    """Carol's facility, drawn to 65 % at CNY 20.00/kg, marked by the operator after the pork fell
    to CNY 16.00/kg (LTV 81.25 %: a margin call)."""
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    run = ok(
        client.post(
            f"{API}/financing/mark-to-market", headers=auth("admin"), json={"business_date": str(today())}
        )
    )
    assert run["path"] in ("set", "each")
    assert run["margin_calls_issued"] >= 1
    return facility_id


def test_the_bank_reads_a_valuation_line_by_line_with_the_prices_it_used(
    client: TestClient, auth: Auth, world: World, called: int
) -> None:
    url = f"{API}/facilities/{called}/valuations"
    [listed] = ok(client.get(url, headers=auth("bank")))
    assert (listed["ltv_bp"], listed["risk_before"], listed["risk_after"]) == (8125, "normal", "margin_call")

    found = ok(client.get(f"{url}/{listed['id']}", headers=auth("borrower")))

    [line] = found["valuation_lines"]
    assert (line["status"], line["quantity_g"], line["price_fen_per_t"], line["value_fen"]) == (
        "counted",
        30_000_000,
        1_600_000,
        48_000_000,
    )
    assert line["receipt_code"]
    [observation] = found["observations"]
    assert (observation["id"], observation["price_date"], observation["price_mid_fen_per_t"]) == (
        line["price_observation_id"],
        str(today()),
        1_600_000,
    )
    assert client.get(url, headers=auth("bank2")).status_code == 404
    assert client.get(f"{url}/{listed['id']}", headers=auth("bank2")).status_code == 404


def test_a_missing_price_is_explained_in_the_reader_s_language(
    db: TestDB, settings: Settings, world: World, client: TestClient, auth: Auth
) -> None:
    facility_id = drawn_facility(db.uow, settings, world)
    bank = auth("bank")
    ok(
        client.post(
            f"{API}/facilities/{facility_id}/collateral",
            headers=bank,
            json={"receipt_id": world.receipts["pledged_with_release"]},
        ),
        201,
    )
    ok(
        client.post(
            f"{API}/financing/mark-to-market", headers=auth("admin"), json={"business_date": str(today())}
        )
    )
    [valuation] = ok(client.get(f"{API}/facilities/{facility_id}/valuations", headers=bank))

    found = ok(client.get(f"{API}/facilities/{facility_id}/valuations/{valuation['id']}", headers=bank))

    assert (found["held"], found["unpriced_lines"]) == (True, 1)
    beef = next(line for line in found["valuation_lines"] if line["status"] == "unpriced")
    assert beef["reason"] == f"There is no approved price for this commodity on or before {today()}."


def test_the_margin_call_and_its_alert_are_the_facility_s_parties_business(
    client: TestClient, auth: Auth, called: int
) -> None:
    [call] = ok(client.get(f"{API}/margin-calls", headers=auth("borrower"), params={"status": "open"}))
    assert call["facility_id"] == called
    assert (call["cure_cash_fen"], call["cure_goods_g"]) == (7_800_000, 7_500_000)

    detail = ok(client.get(f"{API}/margin-calls/{call['id']}", headers=auth("bankviewer")))

    assert [event["kind"] for event in detail["events"]] == ["issued"]
    assert ok(client.get(f"{API}/margin-calls", headers=auth("bank2"))) == []
    assert client.get(f"{API}/margin-calls/{call['id']}", headers=auth("bank2")).status_code == 404
    alerts = ok(client.get(f"{API}/alerts", headers=auth("borrower")))
    assert "margin_call" in {alert["rule"] for alert in alerts}
    assert "margin_call" not in {
        alert["rule"] for alert in ok(client.get(f"{API}/alerts", headers=auth("bank2")))
    }


def test_a_waiver_takes_two_risk_officers_of_the_bank(
    db: TestDB, settings: Settings, world: World, client: TestClient, auth: Auth, called: int
) -> None:
    [call] = ok(client.get(f"{API}/margin-calls", headers=auth("bank")))
    url = f"{API}/margin-calls/{call['id']}/waive"
    body: dict[str, Any] = {"reason": "补货已在途", "until": str(business_day(2))}

    asked = ok(client.post(url, headers=auth("bank"), json=body))
    assert (asked["status"], asked["waived_until"]) == ("open", str(business_day(2)))
    again = client.post(url, headers=auth("bank"), json=body)
    assert again.status_code == 409
    assert client.post(url, headers=auth("borrower"), json=body).status_code == 403
    bianca = second_risk_officer(db.uow, settings, world)
    token = issue_access_token(settings, user_id=bianca.user_id or 0, now=utcnow())

    waived = ok(client.post(url, headers={"Authorization": f"Bearer {token.token}"}, json={"reason": "同意"}))

    assert (waived["status"], waived["outcome"]) == ("waived", "waived")
    facility = ok(client.get(f"{API}/facilities/{called}", headers=auth("borrower")))
    assert facility["risk_state"] == "warning"


def test_only_the_operator_runs_a_mark_and_a_second_run_changes_nothing(
    client: TestClient, auth: Auth, called: int
) -> None:
    body = {"business_date": str(today())}
    assert client.post(f"{API}/financing/mark-to-market", headers=auth("bank"), json=body).status_code == 403

    again = ok(client.post(f"{API}/financing/mark-to-market", headers=auth("admin"), json=body))

    assert (again["valued"], again["margin_calls_issued"]) == (0, 0)
    tomorrow = {"business_date": str(business_day(5))}
    refused = client.post(f"{API}/financing/mark-to-market", headers=auth("admin"), json=tomorrow)
    assert refused.status_code == 422
