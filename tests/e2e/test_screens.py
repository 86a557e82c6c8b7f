"""The risk big screens through HTTP: each viewer's snapshot holds only its own warehouses, rooms,
facilities and receipts; the page carries its first snapshot; the event stream starts with one."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from coldpledge.config import Settings
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.financing import facilities
from coldpledge.financing.models import ContractKind
from coldpledge.financing.schemas import ContractIn, FacilityApplyIn
from coldpledge.receipts.schemas import NoteIn
from tests.alerting import raise_alert
from tests.financing import SHA, price, terms
from tests.marking import drawn_facility, mark
from tests.pages import sign_in_as
from tests.support import today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB


def data(client: TestClient, username: str, screen: str) -> dict[str, Any]:
    sign_in_as(client, username)
    response = client.get(f"/screens/{screen}/data")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def rooms(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {room["code"]: room for warehouse in snapshot["warehouses"] for room in warehouse["rooms"]}


def bank2_facility(db: TestDB, world: World) -> int:
    """Dan's active facility at Bruno's bank (宁波银行), with nothing attached yet."""
    applied = FacilityApplyIn(
        bank_org_id=world.orgs["bank2"],
        limit_fen=20_000_000,
        start_date=today(),
        expiry_date=today() + timedelta(days=365),
    )
    facility_id = facilities.apply(db.uow(), world.who("borrower2"), applied).id
    facilities.approve(db.uow(), world.who("bank2"), facility_id, terms())
    for kind, number in (
        (ContractKind.CREDIT_AGREEMENT, "NB-SX-1"),
        (ContractKind.PLEDGE_CONTRACT, "NB-ZY-1"),
    ):
        contract = ContractIn(
            kind=kind, number=number, signed_on=today(), parties="宁波银行; 天津海润", file_sha256=SHA
        )
        facilities.add_contract(db.uow(), world.who("bank2"), facility_id, contract)
    facilities.activate(db.uow(), world.who("bank2"), facility_id, NoteIn())
    return facility_id


@pytest.fixture
def portfolios(db: TestDB, settings: Settings, world: World) -> tuple[int, int]:
    """Carol's facility at Alice's bank marked after pork fell to CNY 17.00/kg (LTV 76.48 %: a
    warning), and Dan's at Bruno's bank."""
    alice = drawn_facility(db.uow, settings, world)
    bruno = bank2_facility(db, world)
    price(db.uow, settings, world, "17.00")
    mark(db.uow)
    return alice, bruno


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(client: TestClient) -> None:
    for path in ("/screens/inventory", "/screens/receipts", "/screens/receipts/data"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_each_bank_sees_only_its_own_facilities(client: TestClient, portfolios: tuple[int, int]) -> None:
    alice, bruno = portfolios

    mine = data(client, "bank", "receipts")
    theirs = data(client, "bank2", "receipts")

    assert [f["facility_id"] for f in mine["at_risk"]] == [alice]
    assert mine["at_risk"][0]["risk_state"] == "warning"
    assert mine["at_risk"][0]["ltv_bp"] == 7648
    assert mine["portfolio"]["facilities"] == 1
    assert mine["portfolio"]["exposure_fen"] > 0
    assert [p["commodity_code"] for p in mine["prices"]] == ["PORK-FZ"]
    assert all(f["facility_id"] != alice for f in theirs["at_risk"])
    assert theirs["portfolio"]["facilities"] == 1
    assert theirs["portfolio"]["exposure_fen"] == 0
    assert theirs["prices"] == []
    assert bruno not in [f["facility_id"] for f in mine["at_risk"]]


def test_the_operator_sees_every_facility_and_the_borrower_its_own(
    client: TestClient, portfolios: tuple[int, int]
) -> None:
    alice, _ = portfolios
    assert data(client, "admin", "receipts")["portfolio"]["facilities"] == 2
    borrower = data(client, "borrower", "receipts")
    assert [f["facility_id"] for f in borrower["at_risk"]] == [alice]
    assert borrower["portfolio"]["facilities"] == 1
    assert data(client, "keeper", "receipts")["portfolio"]["facilities"] == 0


def test_the_value_history_sums_each_day_s_marks(client: TestClient, portfolios: tuple[int, int]) -> None:
    snapshot = data(client, "bank", "receipts")
    [day] = snapshot["value_history"]
    assert day["date"] == str(today())
    assert (day["exposure_fen"], day["collateral_value_fen"]) == (
        snapshot["portfolio"]["exposure_fen"],
        snapshot["portfolio"]["collateral_value_fen"],
    )
    assert sum(bucket["count"] for bucket in snapshot["ltv_buckets"]) == 1


def test_receipts_are_counted_by_state_for_their_holder_and_pledgee(client: TestClient) -> None:
    borrower = data(client, "borrower", "receipts")["receipts"]
    bank = data(client, "bank", "receipts")["receipts"]
    admin = data(client, "admin", "receipts")
    assert bank["pledged"] == 2
    assert bank["issued"] == 0  # the borrower's unpledged shrimp is none of the bank's business
    assert borrower["pledged"] == 2
    assert borrower["issued"] >= 2
    assert sum(admin["receipts"].values()) > sum(borrower.values())


def test_the_evidence_log_s_size_and_last_checkpoint_are_shown(client: TestClient, db: TestDB) -> None:
    evidence_log.sequence_all(db.session)
    checkpoint = evidence_log.publish_checkpoint(db.session, load_log_signer(db.settings), db.settings.origin)
    assert checkpoint is not None

    shown = data(client, "bank", "receipts")["evidence"]

    assert shown["tree_size"] >= checkpoint.tree_size > 0
    assert shown["checkpoint_size"] == checkpoint.tree_size
    assert shown["checkpoint_at"] == checkpoint.signed_at.isoformat()


def test_each_party_sees_only_its_warehouses_and_rooms(client: TestClient) -> None:
    keeper = rooms(data(client, "keeper", "inventory"))
    keeper2 = rooms(data(client, "keeper2", "inventory"))
    inspector = rooms(data(client, "inspector", "inventory"))
    bank = rooms(data(client, "bank", "inventory"))
    admin = rooms(data(client, "admin", "inventory"))

    assert set(keeper) == {"YS-F18", "YS-F25", "YS-C04", "DJ-F18"}
    assert set(keeper2) == {"BF-F18"}
    assert set(inspector) == {"YS-F18", "YS-F25"}
    assert set(bank) == {"YS-F18"}  # where its pledged goods lie
    assert set(admin) >= set(keeper) | set(keeper2)


def test_a_room_with_a_critical_alert_is_critical_and_counted(
    client: TestClient, db: TestDB, world: World
) -> None:
    raise_alert(db.uow, world.rooms["YS-F25"], severity="critical")

    snapshot = data(client, "supervisor", "inventory")

    tile = rooms(snapshot)["YS-F25"]
    assert tile["state"] == "critical"
    assert tile["alerts"]["critical"] == 1
    assert snapshot["alerts"]["critical"] >= 1
    assert any(alert["room"] == "YS-F25" for alert in snapshot["recent_alerts"])
    assert sum(snapshot["work_orders"].values()) >= 1
    # A deep-frozen room is judged by its policy's warning line, -25 °C by default.
    assert tile["warning_above_c"] == -25.0
    assert data(client, "keeper2", "inventory")["alerts"]["critical"] == 0


def test_today_s_operations_count_the_viewer_s_own(client: TestClient) -> None:
    keeper = data(client, "keeper", "inventory")["operations"]
    keeper2 = data(client, "keeper2", "inventory")["operations"]
    # The world received six lots at keeper's warehouses today and one at keeper2's.
    assert keeper["inbound"] == 6
    assert keeper2["inbound"] == 1


def test_the_page_carries_its_first_snapshot_and_the_stream_begins_with_one(client: TestClient) -> None:
    sign_in_as(client, "keeper")
    page = client.get("/screens/inventory")
    assert page.status_code == 200
    embedded = re.search(r'<script type="application/json" id="snapshot">(.*?)</script>', page.text, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["kind"] == "inventory"
    assert 'data-events="/screens/inventory/events"' in page.text

    with client.stream("GET", "/screens/inventory/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "snapshot":
                first = json.loads(line.removeprefix("data: "))
                break
    assert first["kind"] == "inventory"
    assert set(rooms(first)) == {"YS-F18", "YS-F25", "YS-C04", "DJ-F18"}


def test_the_receipt_screen_renders_for_every_viewer(client: TestClient) -> None:
    for username in (
        "admin",
        "bank",
        "borrower",
        "keeper",
        "supervisor",
        "inspector",
        "insurer",
        "guarantor",
    ):
        sign_in_as(client, username)
        for screen in ("inventory", "receipts"):
            response = client.get(f"/screens/{screen}")
            assert response.status_code == 200, (username, screen, response.text)
            assert 'id="screen"' in response.text
