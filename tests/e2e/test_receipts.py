"""The receipt lifecycle's edge cases, through the HTTP API as the parties would meet them:
illegal steps, the inbound check, transfer, pledge, freeze, loss and replacement, split, disposal,
cancellation and the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select, text

from coldpledge.receipts.lifecycle import ReceiptStatus, allowed_actions
from coldpledge.receipts.models import Pledge, PledgeStatus
from tests.support import in_days, ok, tiny_png, today
from tests.world import World, make_ready, pledge, receive

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]


class Parties:
    """The personas acting on receipts over HTTP."""

    def __init__(self, client: TestClient, auth: Auth) -> None:
        self.client = client
        self.auth = auth

    def act(self, who: str, receipt_id: int, action: str, body: dict[str, Any] | None = None) -> Response:
        return self.client.post(
            f"/api/v1/receipts/{receipt_id}/{action}", headers=self.auth(who), json=body or {}
        )

    def get(self, who: str, path: str) -> Response:
        return self.client.get(f"/api/v1/{path}", headers=self.auth(who))

    def receipt(self, who: str, receipt_id: int) -> dict[str, Any]:
        found: dict[str, Any] = ok(self.get(who, f"receipts/{receipt_id}"))
        return found


def because(reason: str = "依据法院协助执行通知书") -> dict[str, str]:
    return {"reason": reason}


def ready_lot(db: TestDB, world: World, *, tonnes: int = 10) -> int:
    """The borrower's weighed, inspected, photographed and sealed lot, arranged through the services."""
    lot_id = receive(
        db.uow, world, room="YS-F18", owner="borrower", commodity="PORK-FZ", tonnes=tonnes, batch="B-edge"
    )
    make_ready(db.uow, db.settings, world, lot_id)
    return lot_id


def received(
    parties: Parties, world: World, commodity: str, origin: str, *, cartons: int, grams: int
) -> dict[str, Any]:
    """Goods the keeper has just taken in, with nothing of the inbound check done yet."""
    lot: dict[str, Any] = ok(
        parties.client.post(
            "/api/v1/lots",
            headers=parties.auth("keeper"),
            json={
                "owner_org_id": world.orgs["borrower"],
                "room_id": world.rooms["YS-F18"],
                "commodity_id": world.commodities[commodity],
                "spec": "25kg/箱",
                "origin_country": origin,
                "batch_number": f"{origin}-2026-1",
                "declared_cartons": cartons,
                "declared_net_weight_g": grams,
            },
        ),
        201,
    )
    return lot


def draft_for(parties: Parties, lot_id: int, quantity_g: int, cartons: int, **more: Any) -> dict[str, Any]:
    body = {
        "lot_id": lot_id,
        "quantity_g": quantity_g,
        "cartons": cartons,
        "storage_period_end": str(today() + timedelta(days=120)),
        **more,
    }
    draft: dict[str, Any] = ok(
        parties.client.post("/api/v1/receipts", headers=parties.auth("keeper"), json=body), 201
    )
    return draft


def collection(**more: Any) -> dict[str, Any]:
    return {
        "vehicle_plate": "沪D55667",
        "collector_name": "赵师傅",
        "collector_id_no": "310101197701012222",
        "valid_until": in_days(2).isoformat(),
        **more,
    }


# --- illegal steps ----------------------------------------------------------------------------


def test_an_illegal_step_answers_409_with_the_state_and_the_allowed_actions(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)

    issue_a_draft = parties.act("keeper", world.receipts["draft"], "issue")
    unfreeze_a_pledged_one = parties.act("bank", world.receipts["pledged"], "unfreeze", because())

    assert issue_a_draft.status_code == 409
    assert issue_a_draft.json()["code"] == "illegal_transition"
    assert issue_a_draft.json()["state"] == "draft"
    assert issue_a_draft.json()["allowed_actions"] == ["submit", "cancel"]
    assert unfreeze_a_pledged_one.status_code == 409
    assert unfreeze_a_pledged_one.json()["state"] == "pledged"
    assert "unfreeze" not in unfreeze_a_pledged_one.json()["allowed_actions"]
    assert {"request_release", "discharge", "freeze"} <= set(unfreeze_a_pledged_one.json()["allowed_actions"])
    assert (
        parties.receipt("bank", world.receipts["pledged"])["allowed_actions"]
        == unfreeze_a_pledged_one.json()["allowed_actions"]
    )


def test_a_bank_cannot_accept_a_pledge_it_has_already_rejected(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]
    ok(parties.act("borrower", receipt_id, "request-pledge", {"pledgee_org_id": world.orgs["bank"]}))
    ok(parties.act("bank", receipt_id, "reject-pledge", because("押品估值不足")))

    accept = parties.act("bank", receipt_id, "accept-pledge", {"registration_no": "ZDW-2026-LATE01"})

    assert accept.status_code == 409
    assert accept.json()["state"] == "issued"
    assert accept.json()["allowed_actions"] == allowed_actions(ReceiptStatus.ISSUED)
    assert "accept_pledge" not in accept.json()["allowed_actions"]


def test_a_closed_receipt_allows_nothing(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    ok(parties.act("keeper", world.receipts["draft"], "cancel", because("客户撤回申请")))

    again = parties.act("keeper", world.receipts["draft"], "submit")

    assert again.status_code == 409
    assert (again.json()["state"], again.json()["allowed_actions"]) == ("cancelled", [])


# --- the inbound check ------------------------------------------------------------------------


def test_issuing_lists_exactly_what_the_inbound_check_is_missing(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    lot = received(parties, world, "BEEF-FZ", "BR", cartons=400, grams=10_000_000)
    receipt = draft_for(parties, lot["id"], 10_000_000, 400)
    ok(parties.act("keeper", receipt["id"], "submit"))

    refused = parties.act("keeper", receipt["id"], "issue")

    assert refused.status_code == 409
    assert refused.json()["code"] == "inbound_check_incomplete"
    assert refused.json()["missing"] == [
        "not_weighed",
        "quality_not_passed",
        "not_sealed",
        "no_photo",
        "no_customs_declaration",
        "no_quarantine_certificate",
    ]
    assert parties.receipt("keeper", receipt["id"])["status"] == "pending_check"


def test_the_inbound_check_shrinks_as_the_keeper_and_supervisor_do_their_part(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    lot = received(parties, world, "PORK-FZ", "CN", cartons=200, grams=5_000_000)
    receipt = draft_for(parties, lot["id"], 5_000_000, 200)
    ok(parties.act("keeper", receipt["id"], "submit"))

    def missing() -> list[str]:
        refused = parties.act("keeper", receipt["id"], "issue")
        assert refused.status_code == 409, refused.text
        found: list[str] = refused.json()["missing"]
        return found

    assert missing() == ["not_weighed", "quality_not_passed", "not_sealed", "no_photo"]
    weighed = {"gross_g": 5_900_000, "tare_g": 1_000_000, "weigh_ticket_no": "WT-CN-1", "cartons": 199}
    ok(client.post(f"/api/v1/lots/{lot['id']}/weigh", headers=auth("keeper"), json=weighed), 201)
    assert missing() == [
        "exceeds_verified_stock",
        "exceeds_cartons",
        "quality_not_passed",
        "not_sealed",
        "no_photo",
    ]
    inspected = {"result": "passed", "agency": "CCIC"}
    ok(client.post(f"/api/v1/lots/{lot['id']}/inspect", headers=auth("inspector"), json=inspected), 201)
    photo = {"file": ("lot.png", tiny_png(99), "image/png")}
    ok(client.post(f"/api/v1/lots/{lot['id']}/attachments", headers=auth("keeper"), files=photo), 201)
    ok(
        client.post(
            f"/api/v1/lots/{lot['id']}/seal", headers=auth("inspector"), json={"numbers": ["JN-CN-0001"]}
        ),
        201,
    )
    assert missing() == ["exceeds_verified_stock", "exceeds_cartons"]


def test_a_lot_backs_at_most_one_live_receipt(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    lot = ok(parties.get("keeper", f"lots/{world.lots['issued']}"))

    second = parties.client.post(
        "/api/v1/receipts",
        headers=auth("keeper"),
        json={
            "lot_id": lot["id"],
            "quantity_g": 1_000_000,
            "cartons": 10,
            "storage_period_end": str(today() + timedelta(days=60)),
        },
    )

    assert second.status_code == 409, second.text


# --- transfer ---------------------------------------------------------------------------------


def test_a_transfer_endorses_the_receipt_and_the_goods_to_the_new_holder(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id, lot_id = world.receipts["issued"], world.lots["issued"]

    moved = ok(
        parties.act(
            "borrower", receipt_id, "transfer", {"to_org_id": world.orgs["borrower2"], "note": "货权转让"}
        )
    )

    assert moved["holder_org_id"] == world.orgs["borrower2"]
    assert moved["status"] == "issued"
    endorsement = moved["notations"][-1]
    assert endorsement["kind"] == "endorsement"
    assert "上海鲜丰冷链贸易有限公司" in endorsement["text"]
    assert "天津海润食品进出口有限公司" in endorsement["text"]
    assert parties.get("borrower", f"receipts/{receipt_id}").status_code == 404
    assert parties.get("borrower", f"lots/{lot_id}").status_code == 404
    assert ok(parties.get("borrower2", f"lots/{lot_id}"))["owner_org_id"] == world.orgs["borrower2"]
    assert parties.receipt("borrower2", receipt_id)["holder_org_id"] == world.orgs["borrower2"]
    assert (
        parties.act("borrower", receipt_id, "transfer", {"to_org_id": world.orgs["borrower"]}).status_code
        == 404
    )


def test_a_non_negotiable_receipt_cannot_be_transferred(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    parties = Parties(client, auth)
    lot_id = ready_lot(db, world)
    receipt = draft_for(parties, lot_id, 10_000_000, 500, negotiable=False)
    ok(parties.act("keeper", receipt["id"], "submit"))
    ok(parties.act("keeper", receipt["id"], "issue"))

    refused = parties.act("borrower", receipt["id"], "transfer", {"to_org_id": world.orgs["borrower2"]})

    assert refused.status_code == 409
    assert parties.receipt("borrower", receipt["id"])["holder_org_id"] == world.orgs["borrower"]


def test_a_receipt_is_transferred_only_to_another_borrower(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]

    to_a_bank = parties.act("borrower", receipt_id, "transfer", {"to_org_id": world.orgs["bank"]})
    to_itself = parties.act("borrower", receipt_id, "transfer", {"to_org_id": world.orgs["borrower"]})
    by_the_keeper = parties.act("keeper", receipt_id, "transfer", {"to_org_id": world.orgs["borrower2"]})

    assert to_a_bank.status_code == 422
    assert to_a_bank.json()["field"] == "to_org_id"
    assert to_itself.status_code == 422
    assert by_the_keeper.status_code == 403


def test_a_pledged_receipt_cannot_be_transferred(client: TestClient, auth: Auth, world: World) -> None:
    refused = Parties(client, auth).act(
        "borrower", world.receipts["pledged"], "transfer", {"to_org_id": world.orgs["borrower2"]}
    )

    assert refused.status_code == 409
    assert refused.json()["state"] == "pledged"


# --- pledge -----------------------------------------------------------------------------------


def test_a_receipt_is_pledged_only_to_a_bank(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)

    refused = parties.act(
        "borrower", world.receipts["issued"], "request-pledge", {"pledgee_org_id": world.orgs["keeper"]}
    )

    assert refused.status_code == 422
    assert refused.json()["field"] == "pledgee_org_id"
    assert parties.receipt("borrower", world.receipts["issued"])["status"] == "issued"


@pytest.mark.parametrize(
    "supervision_ends",
    [
        "UPDATE rooms SET virtual_warehouse_id = NULL WHERE id = :room",
        "UPDATE virtual_warehouses SET status = 'suspended' WHERE id = "
        "(SELECT virtual_warehouse_id FROM rooms WHERE id = :room)",
    ],
    ids=["room left its virtual warehouse", "virtual warehouse suspended"],
)
def test_goods_no_longer_under_supervision_cannot_be_pledged(
    client: TestClient, auth: Auth, world: World, db: TestDB, supervision_ends: str
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]
    room_id = world.rooms["YS-F25"]  # where the world keeps the goods of the issued receipt
    # No API ends a supervision arrangement yet; the database is changed as that step would.
    db.connection.execute(text(supervision_ends), {"room": room_id})

    refused = parties.act("borrower", receipt_id, "request-pledge", {"pledgee_org_id": world.orgs["bank"]})

    assert refused.status_code == 409
    assert parties.receipt("borrower", receipt_id)["status"] == "issued"


def test_a_bank_sees_and_accepts_only_the_pledges_offered_to_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["pending"]  # offered by borrower2 to bank2

    assert receipt_id not in [r["id"] for r in ok(parties.get("bank", "receipts"))]
    assert (
        parties.act("bank", receipt_id, "accept-pledge", {"registration_no": "ZDW-2026-STEAL1"}).status_code
        == 404
    )
    accepted = ok(parties.act("bank2", receipt_id, "accept-pledge", {"registration_no": "ZDW-2026-NB0001"}))

    assert accepted["status"] == "pledged"
    assert accepted["pledge"]["pledgee_org_id"] == world.orgs["bank2"]
    assert accepted["pledge"]["registration_no"] == "ZDW-2026-NB0001"
    assert accepted["notations"][-1]["kind"] == "pledge"


def test_a_bank_that_declined_a_receipt_loses_sight_of_it_when_it_is_offered_elsewhere(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]
    ok(parties.act("borrower", receipt_id, "request-pledge", {"pledgee_org_id": world.orgs["bank"]}))
    ok(parties.act("bank", receipt_id, "reject-pledge", because("授信额度不足")))
    ok(parties.act("borrower", receipt_id, "request-pledge", {"pledgee_org_id": world.orgs["bank2"]}))

    refused = parties.act("bank", receipt_id, "accept-pledge", {"registration_no": "ZDW-2026-STEAL2"})

    # Once the receipt is offered elsewhere the declining bank loses sight of it altogether.
    assert refused.status_code == 404
    assert parties.receipt("bank2", receipt_id)["status"] == "pledge_pending"


def test_rejecting_a_pledge_returns_the_receipt_to_issued(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)

    rejected = ok(parties.act("bank2", world.receipts["pending"], "reject-pledge", because("资料不全")))

    assert rejected["status"] == "issued"
    assert rejected["pledge"] is None
    assert "request_pledge" in rejected["allowed_actions"]


def test_withdrawing_a_pledge_request_returns_the_receipt_to_issued(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)

    withdrawn = ok(
        parties.act("borrower2", world.receipts["pending"], "withdraw-pledge", {"note": "改投他行"})
    )

    assert withdrawn["status"] == "issued"
    assert withdrawn["pledge"] is None


def test_only_the_parties_of_a_pledge_take_its_steps(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    pending = world.receipts["pending"]

    not_visible = parties.act(
        "borrower2", world.receipts["issued"], "request-pledge", {"pledgee_org_id": world.orgs["bank"]}
    )
    keeper_accepts = parties.act("keeper", pending, "accept-pledge", {"registration_no": "ZDW-2026-KEEP01"})
    holder_accepts = parties.act(
        "borrower2", pending, "accept-pledge", {"registration_no": "ZDW-2026-SELF01"}
    )
    bank_withdraws = parties.act("bank2", pending, "withdraw-pledge")
    viewer_discharges = parties.act("bankviewer", world.receipts["pledged"], "discharge")

    assert not_visible.status_code == 404
    assert keeper_accepts.status_code == 403
    assert holder_accepts.status_code == 403
    assert bank_withdraws.status_code == 403
    assert viewer_discharges.status_code == 403
    assert parties.receipt("bank2", pending)["status"] == "pledge_pending"


# --- freeze -----------------------------------------------------------------------------------


def test_the_pledgee_freezes_a_receipt_and_a_frozen_receipt_refuses_everything_else(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["pledged"]

    frozen = ok(parties.act("bank", receipt_id, "freeze", because("借款人涉诉, 保全押品")))

    assert (frozen["status"], frozen["previous_status"]) == ("frozen", "pledged")
    assert frozen["allowed_actions"] == ["unfreeze"]
    assert frozen["notations"][-1]["kind"] == "freeze"
    attempts = [
        parties.act("borrower", receipt_id, "request-release", {"quantity_g": 1_000_000, **collection()}),
        parties.act("bank", receipt_id, "discharge"),
        parties.act("bank", receipt_id, "start-disposal", because("进入处置程序")),
        parties.act("bank", receipt_id, "freeze", because("再次冻结")),
        parties.act("borrower", receipt_id, "report-loss", because("仓单遗失")),
    ]
    assert [a.status_code for a in attempts] == [409] * len(attempts)
    assert {a.json()["state"] for a in attempts} == {"frozen"}

    thawed = ok(parties.act("bank", receipt_id, "unfreeze", because("诉讼已撤回")))
    assert (thawed["status"], thawed["previous_status"]) == ("pledged", None)


def test_only_whoever_froze_a_receipt_or_the_operator_unfreezes_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["pledged"]
    ok(parties.act("admin", receipt_id, "freeze", because("法院冻结裁定 (2026) 沪01执保12号")))

    by_the_bank = parties.act("bank", receipt_id, "unfreeze", because("我行申请解冻"))
    by_the_holder = parties.act("borrower", receipt_id, "unfreeze", because("我司申请解冻"))
    by_the_operator = parties.act("admin", receipt_id, "unfreeze", because("法院解除冻结"))

    assert by_the_bank.status_code == 403
    assert by_the_holder.status_code == 403
    assert ok(by_the_operator)["status"] == "pledged"

    ok(parties.act("bank", receipt_id, "freeze", because("保全押品")))
    assert ok(parties.act("admin", receipt_id, "unfreeze", because("平台依裁定解冻")))["status"] == "pledged"


def test_only_the_pledgee_or_the_operator_may_freeze(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)

    assert (
        parties.act("keeper", world.receipts["pledged"], "freeze", because("仓库自行冻结")).status_code == 403
    )
    assert (
        parties.act("borrower", world.receipts["pledged"], "freeze", because("我司冻结")).status_code == 403
    )
    assert (
        parties.act(
            "bank", world.receipts["pledged_with_release"], "freeze", because("保全押品安全")
        ).status_code
        == 200
    )
    assert parties.act("bank2", world.receipts["pledged"], "freeze", because("他行冻结")).status_code == 404


# --- loss and replacement ---------------------------------------------------------------------


def test_a_lost_receipt_is_replaced_and_its_pledge_moves_with_the_same_registration(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    original_id = world.receipts["pledged"]
    before = parties.receipt("bank", original_id)
    lost = ok(parties.act("borrower", original_id, "report-loss", because("纸质仓单遗失")))
    assert (lost["status"], lost["previous_status"]) == ("loss_reported", "pledged")
    assert parties.act("borrower", original_id, "replace", because("申请补发")).status_code == 403

    successor = ok(parties.act("keeper", original_id, "replace", because("登报声明作废后补发")), 201)

    assert successor["id"] != original_id
    assert successor["code"] != before["code"]
    assert successor["replaces_receipt_id"] == original_id
    assert successor["status"] == "pledged"
    assert (successor["quantity_g"], successor["cartons"], successor["lot_id"]) == (
        before["quantity_g"],
        before["cartons"],
        before["lot_id"],
    )
    assert successor["pledge"]["registration_no"] == before["pledge"]["registration_no"]
    assert successor["pledge"]["pledgee_org_id"] == world.orgs["bank"]
    assert successor["notations"][-1]["kind"] == "replacement"
    original = parties.receipt("bank", original_id)
    assert (original["status"], original["pledge"]) == ("replaced", None)
    assert parties.receipt("bank", successor["id"])["status"] == "pledged"
    assert parties.act("bank", original_id, "discharge").status_code == 409


def test_a_loss_report_can_be_withdrawn(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]
    ok(parties.act("keeper", receipt_id, "report-loss", because("仓单疑似被盗用")))

    restored = ok(parties.act("borrower", receipt_id, "cancel-loss-report", because("仓单已找回")))

    assert (restored["status"], restored["previous_status"]) == ("issued", None)
    assert parties.act("keeper", receipt_id, "replace", because("补发仓单")).status_code == 409


# --- split ------------------------------------------------------------------------------------


def test_a_pledged_receipt_is_split_by_its_pledgee_and_the_lot_is_divided_with_it(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    parties = Parties(client, auth)
    lot_id = ready_lot(db, world, tonnes=20)  # 20 t in 1000 cartons; the receipt covers 15 t
    receipt = draft_for(parties, lot_id, 15_000_000, 750)
    ok(parties.act("keeper", receipt["id"], "submit"))
    ok(parties.act("keeper", receipt["id"], "issue"))
    pledge(db.uow, world, receipt["id"], holder="borrower", bank="bank")
    registration = parties.receipt("bank", receipt["id"])["pledge"]["registration_no"]
    parts = {"parts": [{"quantity_g": 10_000_000, "cartons": 500}, {"quantity_g": 5_000_000, "cartons": 250}]}

    short = parties.act(
        "bank",
        receipt["id"],
        "split",
        {"parts": [{"quantity_g": 10_000_000, "cartons": 500}, {"quantity_g": 4_000_000, "cartons": 250}]},
    )
    sealed = parties.act("bank", receipt["id"], "split", parts)
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": "拆分仓单分垛"}
        )
    )
    by_the_holder = parties.act("borrower", receipt["id"], "split", parts)
    children = ok(parties.act("bank", receipt["id"], "split", parts), 201)

    assert short.status_code == 422
    assert short.json()["field"] == "parts"
    assert sealed.status_code == 409
    assert by_the_holder.status_code == 403
    assert [(c["quantity_g"], c["cartons"], c["status"]) for c in children] == [
        (10_000_000, 500, "pledged"),
        (5_000_000, 250, "pledged"),
    ]
    assert {c["pledge"]["registration_no"] for c in children} == {registration}
    assert {c["parent_receipt_id"] for c in children} == {receipt["id"]}
    assert len({c["lot_id"] for c in children}) == 2
    assert parties.receipt("bank", receipt["id"])["status"] == "split"

    keeper_lots = ok(parties.get("keeper", f"lots?room_id={world.rooms['YS-F18']}&limit=500"))
    parent = next(lot for lot in keeper_lots if lot["id"] == lot_id)
    pieces = {lot["id"]: lot for lot in keeper_lots if lot["parent_lot_id"] == lot_id}
    assert parent["status"] == "split"
    for child in children:
        assert pieces[child["lot_id"]]["verified_net_weight_g"] == child["quantity_g"]
        assert pieces[child["lot_id"]]["cartons"] == child["cartons"]
    [spare] = [lot for lot_id_, lot in pieces.items() if lot_id_ not in {c["lot_id"] for c in children}]
    assert (spare["verified_net_weight_g"], spare["cartons"], spare["status"]) == (5_000_000, 250, "in_stock")
    assert spare["owner_org_id"] == world.orgs["borrower"]
    assert ok(parties.get("keeper", f"receipts?lot_id={spare['id']}")) == []


def test_a_receipt_with_an_open_release_is_not_split(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["pledged_with_release"]
    ok(
        client.post(
            f"/api/v1/lots/{world.lots['pledged_with_release']}/unseal",
            headers=auth("supervisor"),
            json={"reason": "拆分仓单分垛"},
        )
    )
    parts = [{"quantity_g": 10_000_000, "cartons": 500}, {"quantity_g": 10_000_000, "cartons": 500}]

    refused = parties.act("bank", receipt_id, "split", {"parts": parts})

    assert refused.status_code == 409
    assert parties.receipt("bank", receipt_id)["status"] == "pledged"


def test_an_unpledged_receipt_is_split_by_its_holder(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    receipt_id, lot_id = world.receipts["issued"], world.lots["issued"]
    whole = parties.receipt("borrower", receipt_id)
    half_g, half_cartons = whole["quantity_g"] // 2, whole["cartons"] // 2
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": "拆分仓单分垛"}
        )
    )
    parts = [
        {"quantity_g": half_g, "cartons": half_cartons},
        {"quantity_g": whole["quantity_g"] - half_g, "cartons": whole["cartons"] - half_cartons},
    ]

    children = ok(parties.act("borrower", receipt_id, "split", {"parts": parts}), 201)

    assert [c["status"] for c in children] == ["issued", "issued"]
    assert [c["pledge"] for c in children] == [None, None]
    assert {c["holder_org_id"] for c in children} == {world.orgs["borrower"]}


# --- disposal ---------------------------------------------------------------------------------


def test_disposal_sells_the_goods_out_and_enforces_the_pledge(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    parties = Parties(client, auth)
    receipt_id, lot_id = world.receipts["pledged"], world.lots["pledged"]
    whole = parties.receipt("bank", receipt_id)

    in_disposal = ok(parties.act("bank", receipt_id, "start-disposal", because("触及平仓线, 处置押品")))
    assert in_disposal["status"] == "in_disposal"
    by_the_holder = parties.act(
        "borrower", receipt_id, "request-release", {"quantity_g": whole["quantity_g"], **collection()}
    )
    assert by_the_holder.status_code == 403
    release = ok(
        parties.act(
            "bank", receipt_id, "request-release", {"quantity_g": whole["quantity_g"], **collection()}
        ),
        201,
    )
    assert (release["kind"], release["status"]) == ("disposal", "approved")
    assert release["code"]

    ok(client.post(f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": "处置出库"}))
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/outbound",
            headers=auth("keeper"),
            json={
                "release_id": release["id"],
                "release_code": release["code"],
                "gross_g": whole["quantity_g"] + 2_000_000,
                "tare_g": 2_000_000,
                "weigh_ticket_no": "WT-DISP-1",
                "cartons": whole["cartons"],
                "vehicle_plate": "沪D55667",
                "collector_id_no": "310101197701012222",
            },
        ),
        201,
    )

    after = parties.receipt("bank", receipt_id)
    assert (after["status"], after["quantity_g"], after["pledge"]) == ("cancelled", 0, None)
    assert after["notations"][-1]["kind"] == "disposal"
    assert ok(parties.get("keeper", f"lots/{lot_id}"))["status"] == "depleted"
    with db.session() as session:
        statuses = session.scalars(select(Pledge.status).where(Pledge.receipt_id == receipt_id)).all()
    assert statuses == [PledgeStatus.ENFORCED]


# --- cancellation -----------------------------------------------------------------------------


def test_the_keeper_voids_a_draft_and_the_holder_cannot(client: TestClient, auth: Auth, world: World) -> None:
    parties = Parties(client, auth)
    draft_id = world.receipts["draft"]

    by_the_depositor = parties.act("borrower2", draft_id, "cancel", because("不需要仓单了"))
    voided = ok(parties.act("keeper", draft_id, "cancel", because("客户撤回申请")))

    assert by_the_depositor.status_code == 403
    assert voided["status"] == "cancelled"


def test_the_holder_surrenders_an_issued_receipt_and_the_keeper_cannot(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]

    by_the_keeper = parties.act("keeper", receipt_id, "cancel", because("仓库注销"))
    surrendered = ok(parties.act("borrower", receipt_id, "cancel", because("货物自提, 注销仓单")))

    assert by_the_keeper.status_code == 403
    assert surrendered["status"] == "cancelled"
    assert (
        parties.act("borrower", world.receipts["pledged"], "cancel", because("申请注销仓单")).status_code
        == 409
    )


# --- history ----------------------------------------------------------------------------------


def test_the_history_lists_every_change_with_its_actor_and_changed_fields(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["issued"]
    ok(
        parties.act(
            "borrower",
            receipt_id,
            "request-pledge",
            {"pledgee_org_id": world.orgs["bank"], "note": "流贷质押"},
        )
    )
    ok(parties.act("bank", receipt_id, "accept-pledge", {"registration_no": "ZDW-2026-HIST01"}))

    history = ok(parties.get("bank", f"receipts/{receipt_id}/history"))

    assert [(h["action"], h["actor"]) for h in history] == [
        ("receipt.create", "Kate"),
        ("receipt.submit", "Kate"),
        ("receipt.issue", "Kate"),
        ("receipt.request_pledge", "Carol"),
        ("receipt.accept_pledge", "Alice"),
    ]
    assert history[1]["changes"] == {"status": ["draft", "pending_check"]}
    assert set(history[2]["changes"]) == {"status", "issued_at", "issued_by_user_id", "issued_quantity_g"}
    assert history[3]["changes"] == {"status": ["issued", "pledge_pending"]}
    assert history[3]["reason"] == "流贷质押"
    assert history[3]["actor_user_id"] == world.users["borrower"]
    assert history[4]["changes"] == {"status": ["pledge_pending", "pledged"]}
    assert history[4]["actor_org_id"] == world.orgs["bank"]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert history[0]["changes"]["quantity_g"][0] is None


# --- what the goods and the evidence look like after a step ----------------------------------


def test_transferring_a_receipt_for_part_of_a_lot_leaves_the_rest_with_its_owner(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    parties = Parties(client, auth)
    lot_id = ready_lot(db, world, tonnes=10)  # 10 t verified, 500 cartons
    receipt = draft_for(parties, lot_id, 6_000_000, 300)
    ok(parties.act("keeper", receipt["id"], "submit"))
    ok(parties.act("keeper", receipt["id"], "issue"))

    ok(parties.act("borrower", receipt["id"], "transfer", {"to_org_id": world.orgs["borrower2"]}))

    lot = ok(parties.get("borrower2", f"lots/{lot_id}"))
    assert (lot["owner_org_id"], lot["verified_net_weight_g"], lot["cartons"]) == (
        world.orgs["borrower2"],
        6_000_000,
        300,
    )
    kept = [found for found in ok(parties.get("borrower", "lots")) if found["parent_lot_id"] == lot_id]
    assert [(k["verified_net_weight_g"], k["cartons"], k["owner_org_id"]) for k in kept] == [
        (4_000_000, 200, world.orgs["borrower"])
    ]
    assert parties.get("borrower", f"lots/{lot_id}").status_code == 404


def test_replacing_a_lost_receipt_cancels_the_release_issued_against_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    receipt_id = world.receipts["pledged_with_release"]
    ok(parties.act("borrower", receipt_id, "report-loss", because("仓单电子凭证控制权丢失")))

    successor = ok(parties.act("keeper", receipt_id, "replace", because("经核实补发")), 201)

    release = ok(parties.get("bank", f"releases/{world.releases['requested']}"))
    assert release["status"] == "cancelled"
    assert successor["status"] == "pledged"
    assert parties.receipt("bank", receipt_id)["previous_status"] is None


def test_a_bank_that_is_only_offered_a_receipt_cannot_freeze_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    parties = Parties(client, auth)
    refused = parties.act("bank2", world.receipts["pending"], "freeze", because("担心货权"))

    assert refused.status_code == 403
    assert parties.receipt("bank2", world.receipts["pending"])["status"] == "pledge_pending"


def test_an_imported_lot_missing_its_customs_declaration_gets_a_receipt_once_it_is_recorded(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    parties = Parties(client, auth)
    lot_id = ready_lot(db, world)
    db.connection.execute(
        text("UPDATE lots SET customs_declaration_no = NULL WHERE id = :id"), {"id": lot_id}
    )
    receipt = draft_for(parties, lot_id, 10_000_000, 500)
    ok(parties.act("keeper", receipt["id"], "submit"))
    assert parties.act("keeper", receipt["id"], "issue").json()["missing"] == ["no_customs_declaration"]

    recorded = client.post(
        f"/api/v1/lots/{lot_id}/documents",
        headers=auth("keeper"),
        json={"customs_declaration_no": "220120261000777777", "note": "报关单补录"},
    )

    assert ok(recorded)["customs_declaration_no"] == "220120261000777777"
    assert ok(parties.act("keeper", receipt["id"], "issue"))["status"] == "issued"


def test_a_recorded_document_number_is_never_replaced(client: TestClient, auth: Auth, world: World) -> None:
    swapped = client.post(
        f"/api/v1/lots/{world.lots['free']}/documents",
        headers=auth("keeper"),
        json={"quarantine_cert_no": "ES-QC-FORGED"},
    )

    assert swapped.status_code == 409
    assert swapped.json()["field"] == "quarantine_cert_no"
    assert ok(client.get(f"/api/v1/lots/{world.lots['free']}", headers=auth("keeper")))[
        "quarantine_cert_no"
    ] == ("ES-QC-2026-0091")


def test_a_step_that_takes_only_a_note_may_be_sent_with_no_body_at_all(
    client: TestClient, auth: Auth, world: World
) -> None:
    submitted = client.post(f"/api/v1/receipts/{world.receipts['draft']}/submit", headers=auth("keeper"))
    transfer_without_body = client.post(
        f"/api/v1/receipts/{world.receipts['issued']}/transfer", headers=auth("borrower")
    )

    assert ok(submitted)["status"] == "pending_check"
    assert transfer_without_body.status_code == 422
    assert [error["field"] for error in transfer_without_body.json()["errors"]] == ["body"]
