"""Release instructions (放货指令) and the outbound that executes them, through the HTTP API: the
borrower asks, the bank approves and gets a one-time code, the keeper checks it at the dock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from httpx2 import Response

from coldpledge.db import utcnow
from coldpledge.parties.security import issue_access_token
from tests.support import Clock, in_days, ok
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]

# The world's requested release: 5 t of the 20 t pledged beef, to this truck and collector.
PLATE, COLLECTOR_ID = "沪A12345", "310101199001011234"


class Dock:
    """The parties around one release instruction, over HTTP."""

    def __init__(self, client: TestClient, auth: Auth, world: World) -> None:
        self.client, self.auth, self.world = client, auth, world

    def post(self, who: str, path: str, body: dict[str, Any] | None = None) -> Response:
        return self.client.post(f"/api/v1/{path}", headers=self.auth(who), json=body or {})

    def get(self, who: str, path: str) -> Any:
        return ok(self.client.get(f"/api/v1/{path}", headers=self.auth(who)))

    def approve(self, release_id: int) -> str:
        code: str = ok(self.post("bank", f"releases/{release_id}/approve"))["code"]
        return code

    def unseal(self, lot_id: int) -> None:
        ok(self.post("supervisor", f"lots/{lot_id}/unseal", {"reason": "按放货指令出库"}))

    def outbound(self, lot_id: int, release_id: int, code: str, **changes: Any) -> Response:
        net_g = changes.pop("net_g", 4_990_000)
        body = {
            "release_id": release_id,
            "release_code": code,
            "gross_g": net_g + 1_010_000,
            "tare_g": 1_010_000,
            "weigh_ticket_no": "WT-OUT-77",
            "cartons": 250,
            "vehicle_plate": PLATE,
            "collector_id_no": COLLECTOR_ID,
            **changes,
        }
        return self.post("keeper", f"lots/{lot_id}/outbound", body)


def collection(**more: Any) -> dict[str, Any]:
    return {
        "vehicle_plate": "沪B20260",
        "collector_name": "钱师傅",
        "collector_id_no": "310101198502023333",
        "valid_until": in_days(2).isoformat(),
        **more,
    }


@contextmanager
def clocked(db: TestDB, world: World, clock: Clock) -> Iterator[tuple[TestClient, Auth]]:
    """A client of an app running on ``clock``, and sign-ins issued at that clock."""

    def auth(username: str) -> dict[str, str]:
        token = issue_access_token(db.settings, user_id=world.users[username], now=clock())
        return {"Authorization": f"Bearer {token.token}"}

    with TestClient(db.app(clock=clock), headers={"Accept-Language": "en"}) as client:
        yield client, auth


# --- asking and approving ---------------------------------------------------------------------


def test_a_partial_release_must_leave_goods_in_pledge(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    receipt_id = world.receipts["pledged"]
    pledged_g = dock.get("borrower", f"receipts/{receipt_id}")["quantity_g"]

    everything = dock.post(
        "borrower", f"receipts/{receipt_id}/request-release", {"quantity_g": pledged_g, **collection()}
    )
    more = dock.post(
        "borrower", f"receipts/{receipt_id}/request-release", {"quantity_g": pledged_g + 1, **collection()}
    )
    all_but_a_kilo = ok(
        dock.post(
            "borrower",
            f"receipts/{receipt_id}/request-release",
            {"quantity_g": pledged_g - 1_000, **collection()},
        ),
        201,
    )

    assert everything.status_code == 422
    assert everything.json()["field"] == "quantity_g"
    assert more.status_code == 422
    assert (all_but_a_kilo["kind"], all_but_a_kilo["status"], all_but_a_kilo["code"]) == (
        "partial_release",
        "requested",
        None,
    )
    assert all_but_a_kilo["collector_id_last4"] == "3333"


def test_a_receipt_has_one_open_release_at_a_time_valid_for_at_most_30_days(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    with_open_release, pledged = world.receipts["pledged_with_release"], world.receipts["pledged"]

    second = dock.post(
        "borrower", f"receipts/{with_open_release}/request-release", {"quantity_g": 1_000_000, **collection()}
    )
    too_long = dock.post(
        "borrower",
        f"receipts/{pledged}/request-release",
        {"quantity_g": 1_000_000, **collection(valid_until=in_days(31).isoformat())},
    )
    already_past = dock.post(
        "borrower",
        f"receipts/{pledged}/request-release",
        {"quantity_g": 1_000_000, **collection(valid_until=in_days(-0.01).isoformat())},
    )

    assert second.status_code == 409, second.text
    assert too_long.status_code == 422
    assert already_past.status_code == 422
    assert [r["id"] for r in dock.get("borrower", f"releases?receipt_id={with_open_release}")] == [
        world.releases["requested"]
    ]


def test_the_release_code_is_shown_once_in_the_approval_answer_and_never_again(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    release_id = world.releases["requested"]

    code = dock.approve(release_id)

    assert len(code) >= 8
    for who in ("bank", "borrower", "keeper", "supervisor"):
        assert dock.get(who, f"releases/{release_id}")["code"] is None, who
        assert {r["code"] for r in dock.get(who, "releases")} == {None}, who
    again = dock.post("bank", f"releases/{release_id}/approve")
    assert again.status_code == 409
    assert code not in again.text
    history = dock.get("bank", f"receipts/{world.receipts['pledged_with_release']}/history")
    assert code not in str(history)
    assert all("code_sha256" not in entry["changes"] for entry in history)


def test_the_history_never_shows_the_collector_id_or_what_would_reveal_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    history = Dock(client, auth, world).get(
        "keeper", f"receipts/{world.receipts['pledged_with_release']}/history"
    )

    [request] = [entry for entry in history if entry["action"] == "release.request"]
    assert request["changes"]["collector_id_last4"] == [None, "1234"]
    assert COLLECTOR_ID not in str(history)
    # With the salt, anyone could hash every plausible ID number until one matched.
    assert "collector_id_salt" not in request["changes"]


def test_a_bank_approves_only_releases_of_receipts_pledged_to_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    release_id = world.releases["requested"]

    assert dock.post("bank2", f"releases/{release_id}/approve").status_code == 404
    assert dock.post("borrower", f"releases/{release_id}/approve").status_code == 403
    assert dock.post("keeper", f"releases/{release_id}/approve").status_code == 403
    assert dock.post("bankviewer", f"releases/{release_id}/approve").status_code == 403
    assert dock.get("bank", f"releases/{release_id}")["status"] == "requested"


def test_a_bank_that_once_saw_a_receipt_cannot_approve_its_release_to_another_bank(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    receipt_id = world.receipts["issued"]
    ok(dock.post("borrower", f"receipts/{receipt_id}/request-pledge", {"pledgee_org_id": world.orgs["bank"]}))
    ok(dock.post("bank", f"receipts/{receipt_id}/reject-pledge", {"reason": "额度已满"}))
    ok(
        dock.post(
            "borrower", f"receipts/{receipt_id}/request-pledge", {"pledgee_org_id": world.orgs["bank2"]}
        )
    )
    ok(dock.post("bank2", f"receipts/{receipt_id}/accept-pledge", {"registration_no": "ZDW-2026-NB0777"}))
    release = ok(
        dock.post(
            "borrower", f"receipts/{receipt_id}/request-release", {"quantity_g": 1_000_000, **collection()}
        ),
        201,
    )

    refused = dock.post("bank", f"releases/{release['id']}/approve")
    approved = ok(dock.post("bank2", f"releases/{release['id']}/approve"))

    # The declining bank no longer sees the receipt, nor its releases.
    assert refused.status_code == 404
    assert (approved["status"], bool(approved["code"])) == ("approved", True)


def test_a_bank_may_reject_a_release(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    release_id = world.releases["requested"]

    rejected = ok(dock.post("bank", f"releases/{release_id}/reject", {"reason": "质押率将超过警戒线"}))

    assert (rejected["status"], rejected["code"], rejected["decision_note"]) == (
        "rejected",
        None,
        "质押率将超过警戒线",
    )
    assert dock.post("bank", f"releases/{release_id}/approve").status_code == 409


# --- at the dock: the checks, in order --------------------------------------------------------


def test_outbound_needs_an_approved_release(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    lot_id = world.lots["pledged_with_release"]
    dock.unseal(lot_id)

    refused = dock.outbound(lot_id, world.releases["requested"], "ANYCODE123")

    assert refused.status_code == 409
    assert dock.get("keeper", f"releases/{world.releases['requested']}")["status"] == "requested"


def test_an_expired_release_cannot_be_executed(db: TestDB, world: World) -> None:
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    clock = Clock(utcnow())
    with clocked(db, world, clock) as (client, auth):
        dock = Dock(client, auth, world)
        code = dock.approve(release_id)
        dock.unseal(lot_id)
        valid_until = datetime.fromisoformat(dock.get("keeper", f"releases/{release_id}")["valid_until"])
        clock.now = valid_until + timedelta(minutes=1)

        expired = dock.outbound(lot_id, release_id, code)
        wrong_code_too = dock.outbound(lot_id, release_id, "WRONGCODE1")

        clock.now = valid_until - timedelta(minutes=1)
        in_time = dock.outbound(lot_id, release_id, code)

    assert expired.status_code == 409
    assert wrong_code_too.status_code == 409  # expiry is checked first; no code attempt is counted
    assert in_time.status_code == 201, in_time.text


def test_a_wrong_code_is_refused_and_five_wrong_codes_cancel_the_release(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = dock.approve(release_id)
    dock.unseal(lot_id)

    first = dock.outbound(lot_id, release_id, "WRONG00001", vehicle_plate="沪Z99999")
    assert first.status_code == 403  # the code is checked before the vehicle
    assert first.json()["field"] == "release_code"
    assert dock.get("keeper", f"releases/{release_id}")["status"] == "approved"
    for attempt in range(2, 6):
        assert dock.outbound(lot_id, release_id, f"WRONG0000{attempt}").status_code == 403

    cancelled = dock.get("borrower", f"releases/{release_id}")
    assert cancelled["status"] == "cancelled"
    assert dock.outbound(lot_id, release_id, code).status_code == 409
    assert dock.get("keeper", f"lots/{lot_id}")["verified_net_weight_g"] == 20_000_000
    history = dock.get("bank", f"receipts/{world.receipts['pledged_with_release']}/history")
    attempts = [entry for entry in history if entry["action"] == "release.wrong_code"]
    assert len(attempts) == 5
    assert {entry["actor"] for entry in attempts} == {"Kate"}
    assert attempts[-1]["changes"]["status"] == ["approved", "cancelled"]
    # The instruction is closed, so the borrower may ask again.
    again = dock.post(
        "borrower",
        f"receipts/{world.receipts['pledged_with_release']}/request-release",
        {"quantity_g": 5_000_000, **collection()},
    )
    assert again.status_code == 201, again.text


def test_the_vehicle_and_the_collector_must_be_those_named_in_the_release(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = dock.approve(release_id)
    dock.unseal(lot_id)

    wrong_vehicle = dock.outbound(
        lot_id, release_id, code, vehicle_plate="沪A54321", collector_id_no="110101199001019999"
    )
    wrong_collector = dock.outbound(lot_id, release_id, code, collector_id_no="110101199001019999")
    same_plate_written_otherwise = dock.outbound(lot_id, release_id, code, vehicle_plate="沪A·12345")

    assert wrong_vehicle.status_code == 409
    assert wrong_vehicle.json()["field"] == "vehicle_plate"
    assert wrong_collector.status_code == 409
    assert wrong_collector.json()["field"] == "collector_id_no"
    assert same_plate_written_otherwise.status_code == 201, same_plate_written_otherwise.text


def test_goods_do_not_leave_a_sealed_lot(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = dock.approve(release_id)

    wrong_collector_and_sealed = dock.outbound(lot_id, release_id, code, collector_id_no="110101199001019999")
    sealed = dock.outbound(lot_id, release_id, code, net_g=6_000_000)

    assert wrong_collector_and_sealed.json()["field"] == "collector_id_no"
    assert sealed.status_code == 409
    assert "seal" in sealed.json()["detail"].lower()
    assert dock.get("keeper", f"releases/{release_id}")["status"] == "approved"


def test_goods_weighing_more_than_released_do_not_leave(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = dock.approve(release_id)
    dock.unseal(lot_id)

    heavy = dock.outbound(lot_id, release_id, code, net_g=5_000_001)

    assert heavy.status_code == 409
    assert dock.get("keeper", f"lots/{lot_id}")["verified_net_weight_g"] == 20_000_000
    assert (
        dock.get("borrower", f"receipts/{world.receipts['pledged_with_release']}")["quantity_g"] == 20_000_000
    )


def test_more_cartons_than_released_do_not_leave(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]  # 250 cartons
    code = dock.approve(release_id)
    dock.unseal(lot_id)

    crowded = dock.outbound(lot_id, release_id, code, cartons=251)

    assert crowded.status_code == 409
    assert crowded.json()["field"] == "cartons"
    assert dock.get("keeper", f"lots/{lot_id}")["cartons"] == 1000


def test_an_approved_release_of_a_frozen_receipt_is_not_executed(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = dock.approve(release_id)
    dock.unseal(lot_id)
    ok(
        dock.post(
            "bank", f"receipts/{world.receipts['pledged_with_release']}/freeze", {"reason": "借款人涉诉"}
        )
    )

    refused = dock.outbound(lot_id, release_id, code)

    assert refused.status_code == 409
    assert refused.json()["state"] == "frozen"


def test_an_outbound_reduces_the_lot_and_the_receipt_by_the_weighed_net_once(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    receipt_id = world.receipts["pledged_with_release"]
    code = dock.approve(release_id)
    dock.unseal(lot_id)

    operation = ok(dock.outbound(lot_id, release_id, code, net_g=4_990_000), 201)

    assert (operation["kind"], operation["net_g"], operation["release_id"]) == (
        "outbound",
        4_990_000,
        release_id,
    )
    lot = dock.get("keeper", f"lots/{lot_id}")
    assert (lot["verified_net_weight_g"], lot["cartons"], lot["status"]) == (15_010_000, 750, "in_stock")
    receipt = dock.get("borrower", f"receipts/{receipt_id}")
    assert (receipt["status"], receipt["quantity_g"], receipt["cartons"]) == ("pledged", 15_010_000, 750)
    assert receipt["issued_quantity_g"] == 20_000_000
    notation = receipt["notations"][-1]
    assert (notation["kind"], notation["quantity_g"]) == ("partial_release", 4_990_000)
    assert receipt["pledge"]["status"] == "active"
    executed = dock.get("bank", f"releases/{release_id}")
    assert (executed["status"], executed["executed_net_g"]) == ("executed", 4_990_000)

    again = dock.outbound(lot_id, release_id, code, net_g=10_000)
    assert again.status_code == 409
    assert dock.get("keeper", f"lots/{lot_id}")["verified_net_weight_g"] == 15_010_000


# --- discharge, delivery and cancelling -------------------------------------------------------


def test_a_pledge_is_not_discharged_while_a_release_is_open(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    receipt_id = world.receipts["pledged_with_release"]

    blocked = dock.post("bank", f"receipts/{receipt_id}/discharge")
    ok(
        dock.post(
            "borrower", f"releases/{world.releases['requested']}/cancel", {"reason": "改为整体还款解押"}
        )
    )
    discharged = ok(dock.post("bank", f"receipts/{receipt_id}/discharge"))

    assert blocked.status_code == 409
    assert discharged["status"] == "issued"
    assert discharged["notations"][-1]["kind"] == "discharge"


def test_cancelling_a_delivery_returns_the_receipt_to_issued(
    client: TestClient, auth: Auth, world: World
) -> None:
    dock = Dock(client, auth, world)
    receipt_id, lot_id = world.receipts["issued"], world.lots["issued"]
    delivery = ok(dock.post("borrower", f"receipts/{receipt_id}/request-delivery", collection()), 201)
    assert (delivery["kind"], delivery["status"], bool(delivery["code"])) == ("delivery", "approved", True)
    assert dock.get("borrower", f"receipts/{receipt_id}")["status"] == "delivery_pending"

    cancelled = ok(dock.post("borrower", f"releases/{delivery['id']}/cancel", {"reason": "买方取消提货"}))

    assert cancelled["status"] == "cancelled"
    assert dock.get("borrower", f"receipts/{receipt_id}")["status"] == "issued"
    dock.unseal(lot_id)
    at_the_dock = dock.outbound(
        lot_id,
        delivery["id"],
        delivery["code"],
        vehicle_plate="沪B20260",
        collector_id_no="310101198502023333",
    )
    assert at_the_dock.status_code == 409


def test_only_the_borrower_who_asked_cancels_a_release(client: TestClient, auth: Auth, world: World) -> None:
    dock = Dock(client, auth, world)
    release_id = world.releases["requested"]
    reason = {"reason": "不再需要放货"}

    by_the_bank = dock.post("bank", f"releases/{release_id}/cancel", reason)
    by_the_keeper = dock.post("keeper", f"releases/{release_id}/cancel", reason)
    by_another_borrower = dock.post("borrower2", f"releases/{release_id}/cancel", reason)
    by_the_borrower = ok(dock.post("borrower", f"releases/{release_id}/cancel", reason))

    assert by_the_bank.status_code == 403
    assert by_the_keeper.status_code == 403
    assert by_another_borrower.status_code == 404
    assert by_the_borrower["status"] == "cancelled"
    assert dock.post("borrower", f"releases/{release_id}/cancel", reason).status_code == 409
