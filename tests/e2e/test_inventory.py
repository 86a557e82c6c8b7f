"""Lots and what is done to them, through the HTTP API as the keeper and the supervisor live it:
inbound, weighing, inspection, stocktake, seals, attachments and the operations log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from httpx2 import Response

from coldpledge.db import utcnow
from coldpledge.parties.security import issue_access_token
from tests.support import Clock, ok, tiny_pdf, tiny_png, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def signed_in_at(db: TestDB, world: World, clock: Clock) -> Auth:
    """Like the ``auth`` fixture, but tokens are issued at the app's clock, which checks them."""

    def headers(username: str) -> dict[str, str]:
        token = issue_access_token(db.settings, user_id=world.users[username], now=clock())
        return {"Authorization": f"Bearer {token.token}"}

    return headers


@contextmanager
def app_client(
    db: TestDB, *, clock: Callable[[], datetime] = utcnow, max_bytes: int | None = None
) -> Iterator[TestClient]:
    """A client of an app like the conftest one, with its own clock or attachment size limit."""
    limits = {"attachment_max_bytes": max_bytes} if max_bytes is not None else {}
    with TestClient(db.app(clock=clock, **limits), headers={"Accept-Language": "en"}) as test_client:
        yield test_client


def next_local(iso_weekday: int, hour: int) -> datetime:
    """The next such weekday (never today) at ``hour`` o'clock in Shanghai, as UTC."""
    local_now = datetime.now(SHANGHAI)
    days = (iso_weekday - local_now.isoweekday()) % 7 or 7
    moment = (local_now + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return moment.astimezone(UTC)


def lot_payload(
    world: World,
    *,
    room: str = "YS-F18",
    owner: str = "borrower",
    commodity: str = "PORK-FZ",
    tonnes: int = 20,
    **changes: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "owner_org_id": world.orgs[owner],
        "room_id": world.rooms[room],
        "commodity_id": world.commodities[commodity],
        "spec": "猪前腿 20kg/箱",
        "origin_country": "ES",
        "plant_number": "ES10.07771/CS",
        "batch_number": "2026-12-B",
        "declared_cartons": tonnes * 50,
        "declared_net_weight_g": tonnes * 1_000_000,
        "customs_declaration_no": "220120261000555555",
        "quarantine_cert_no": "ES-QC-77",
        "production_date": str(today() - timedelta(days=40)),
        "expiry_date": str(today() + timedelta(days=500)),
    }
    payload.update(changes)
    return payload


def receive(client: TestClient, auth: Auth, world: World, **changes: Any) -> dict[str, Any]:
    lot: dict[str, Any] = ok(
        client.post("/api/v1/lots", headers=auth("keeper"), json=lot_payload(world, **changes)), 201
    )
    return lot


def weigh(client: TestClient, auth: Auth, lot_id: int, net_g: int) -> Response:
    return client.post(
        f"/api/v1/lots/{lot_id}/weigh",
        headers=auth("keeper"),
        json={"gross_g": net_g + 1_200_000, "tare_g": 1_200_000, "weigh_ticket_no": "WT-1"},
    )


def operations(client: TestClient, auth: Auth, lot_id: int, who: str = "keeper") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(f"/api/v1/lots/{lot_id}/operations", headers=auth(who)))
    return found


def upload(
    client: TestClient,
    auth: Auth,
    lot_id: int,
    content: bytes,
    *,
    name: str = "photo.png",
    content_type: str = "image/png",
    purpose: str = "photo",
) -> Response:
    return client.post(
        f"/api/v1/lots/{lot_id}/attachments",
        headers=auth("keeper"),
        files={"file": (name, content, content_type)},
        data={"purpose": purpose},
    )


def leftovers(db: TestDB) -> list[Path]:
    """Half-written uploads in the file store: a refused file must not leave one behind."""
    return list(Path(db.settings.attachments_dir).glob(".upload-*"))


# --- inbound ----------------------------------------------------------------------------------


def test_inbound_creates_a_lot_with_its_documents_and_an_inbound_operation(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot = receive(
        client,
        auth,
        world,
        location="A-03-02",
        disinfection_cert_no="XD-2026-331",
        truck_weighing={"gross_g": 35_000_000, "tare_g": 15_000_000, "weigh_ticket_no": "GATE-8"},
    )

    assert lot["status"] == "in_stock"
    assert lot["quality_status"] == "pending"
    assert lot["verified_net_weight_g"] == 0
    assert (lot["location"], lot["plant_number"], lot["batch_number"]) == (
        "A-03-02",
        "ES10.07771/CS",
        "2026-12-B",
    )
    assert (lot["customs_declaration_no"], lot["quarantine_cert_no"], lot["disinfection_cert_no"]) == (
        "220120261000555555",
        "ES-QC-77",
        "XD-2026-331",
    )
    [inbound] = operations(client, auth, lot["id"])
    assert inbound["kind"] == "inbound"
    assert (inbound["net_g"], inbound["weigh_ticket_no"]) == (20_000_000, "GATE-8")
    assert inbound["details"]["declared_net_weight_g"] == 20_000_000


def test_frozen_goods_cannot_go_into_the_chilled_room(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        "/api/v1/lots", headers=auth("keeper"), json=lot_payload(world, room="YS-C04", commodity="PORK-FZ")
    )

    assert response.status_code == 409
    assert response.json()["field"] == "room_id"


def test_goods_cannot_go_into_a_sealed_room(client: TestClient, auth: Auth, world: World) -> None:
    ok(
        client.post(
            f"/api/v1/rooms/{world.rooms['YS-F25']}/seal",
            headers=auth("supervisor"),
            json={"numbers": ["RM-F25-01"]},
        ),
        201,
    )

    refused = client.post("/api/v1/lots", headers=auth("keeper"), json=lot_payload(world, room="YS-F25"))
    assert refused.status_code == 409, refused.text

    ok(
        client.post(
            f"/api/v1/rooms/{world.rooms['YS-F25']}/unseal",
            headers=auth("supervisor"),
            json={"reason": "开门入库"},
        )
    )
    receive(client, auth, world, room="YS-F25")


def test_a_keeper_receives_goods_only_into_its_own_rooms(
    client: TestClient, auth: Auth, world: World
) -> None:
    into_another_keepers_room = client.post("/api/v1/lots", headers=auth("keeper2"), json=lot_payload(world))
    by_a_supervisor = client.post("/api/v1/lots", headers=auth("supervisor"), json=lot_payload(world))

    # A room it cannot see is, to this keeper, a room that does not exist: the request is at fault.
    assert into_another_keepers_room.status_code == 422
    assert into_another_keepers_room.json()["field"] == "room_id"
    assert by_a_supervisor.status_code == 403


def test_the_owner_of_goods_must_be_a_borrower(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        "/api/v1/lots", headers=auth("keeper"), json=lot_payload(world, owner_org_id=world.orgs["bank"])
    )

    assert response.status_code == 422
    assert response.json()["field"] == "owner_org_id"


def test_goods_already_past_their_expiry_date_are_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    payload = lot_payload(
        world,
        production_date=str(today() - timedelta(days=400)),
        expiry_date=str(today() - timedelta(days=1)),
    )

    response = client.post("/api/v1/lots", headers=auth("keeper"), json=payload)

    assert response.status_code == 422
    assert response.json()["field"] == "expiry_date"


def test_goods_cannot_be_received_in_the_future(client: TestClient, auth: Auth, world: World) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    response = client.post("/api/v1/lots", headers=auth("keeper"), json=lot_payload(world, received_at=later))

    assert response.status_code == 422
    assert response.json()["field"] == "received_at"


# --- weighing and inspection ------------------------------------------------------------------


def test_weighing_sets_the_verified_stock_and_the_variance_against_the_declared_weight(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot = receive(client, auth, world, tonnes=20)

    operation = ok(weigh(client, auth, lot["id"], 19_900_000), 201)

    assert (operation["kind"], operation["net_g"]) == ("weigh", 19_900_000)
    assert operation["variance_bp"] == -50  # 100 kg short of 20 t
    weighed = ok(client.get(f"/api/v1/lots/{lot['id']}", headers=auth("keeper")))
    assert weighed["verified_net_weight_g"] == 19_900_000
    assert weighed["weighed_at"] is not None
    assert weighed["declared_net_weight_g"] == 20_000_000


def test_a_lot_cannot_be_reweighed_below_what_its_receipt_claims(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot_id = world.lots["issued"]
    ok(client.post(f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": "复磅核重"}))
    claimed = ok(client.get(f"/api/v1/receipts/{world.receipts['issued']}", headers=auth("keeper")))[
        "quantity_g"
    ]

    refused = weigh(client, auth, lot_id, claimed - 1)

    assert refused.status_code == 409, refused.text
    assert "verified stock" in refused.json()["detail"]
    unchanged = ok(client.get(f"/api/v1/lots/{lot_id}", headers=auth("keeper")))
    assert unchanged["verified_net_weight_g"] == claimed
    assert [op["kind"] for op in operations(client, auth, lot_id)].count("weigh") == 1


def test_a_sealed_lot_cannot_be_weighed(client: TestClient, auth: Auth, world: World) -> None:
    response = weigh(client, auth, world.lots["free"], 10_000_000)

    assert response.status_code == 409
    assert "sealed" in response.json()["detail"]


def test_a_failed_inspection_puts_the_lot_on_hold_and_no_receipt_is_drafted_for_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot = receive(client, auth, world)
    ok(weigh(client, auth, lot["id"], 20_000_000), 201)

    ok(
        client.post(
            f"/api/v1/lots/{lot['id']}/inspect",
            headers=auth("keeper"),
            json={
                "result": "failed",
                "agency": "CCIC",
                "report_no": "CCIC-F1",
                "core_temperature_c": "-12.5",
            },
        ),
        201,
    )

    held = ok(client.get(f"/api/v1/lots/{lot['id']}", headers=auth("keeper")))
    assert (held["status"], held["quality_status"]) == ("on_hold", "failed")
    draft = client.post(
        "/api/v1/receipts",
        headers=auth("keeper"),
        json={
            "lot_id": lot["id"],
            "quantity_g": 20_000_000,
            "cartons": 1000,
            "storage_period_end": str(today() + timedelta(days=90)),
        },
    )
    assert draft.status_code == 409


def test_goods_held_for_further_testing_after_drafting_cannot_be_issued_a_receipt(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot = receive(client, auth, world)
    ok(weigh(client, auth, lot["id"], 20_000_000), 201)
    receipt = ok(
        client.post(
            "/api/v1/receipts",
            headers=auth("keeper"),
            json={
                "lot_id": lot["id"],
                "quantity_g": 20_000_000,
                "cartons": 1000,
                "storage_period_end": str(today() + timedelta(days=90)),
            },
        ),
        201,
    )
    ok(client.post(f"/api/v1/receipts/{receipt['id']}/submit", headers=auth("keeper"), json={}))

    ok(
        client.post(
            f"/api/v1/lots/{lot['id']}/inspect",
            headers=auth("supervisor"),
            json={"result": "hold", "agency": "SGS"},
        ),
        201,
    )

    refused = client.post(f"/api/v1/receipts/{receipt['id']}/issue", headers=auth("keeper"), json={})
    assert refused.status_code == 409
    assert {"lot_not_in_stock", "quality_not_passed"} <= set(refused.json()["missing"])
    assert ok(client.get(f"/api/v1/lots/{lot['id']}", headers=auth("keeper")))["status"] == "on_hold"


# --- stocktake --------------------------------------------------------------------------------


def test_a_stocktake_records_expected_and_counted_and_leaves_the_books_alone(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot_id = world.lots["free"]
    book = ok(client.get(f"/api/v1/lots/{lot_id}", headers=auth("supervisor")))

    def count(counted_g: int, cartons: int) -> dict[str, Any]:
        taken: dict[str, Any] = ok(
            client.post(
                f"/api/v1/lots/{lot_id}/stocktake",
                headers=auth("inspector"),
                json={"counted_g": counted_g, "counted_cartons": cartons},
            ),
            201,
        )
        return taken

    expected, cartons = book["verified_net_weight_g"], book["cartons"]
    at_the_limit = count(expected - expected // 200, cartons)  # 0.5 % short
    beyond = count(expected - expected // 200 - 1_000, cartons)
    carton_short = count(expected, cartons - 1)

    assert (at_the_limit["expected_g"], at_the_limit["counted_g"]) == (expected, expected - expected // 200)
    assert at_the_limit["variance_bp"] == -50
    assert at_the_limit["within_tolerance"] is True
    assert at_the_limit["details"]["tolerance_bp"] == 50
    assert beyond["variance_bp"] == -51
    assert beyond["within_tolerance"] is False
    assert (carton_short["variance_bp"], carton_short["expected_cartons"]) == (0, cartons)
    assert carton_short["within_tolerance"] is False
    after = ok(client.get(f"/api/v1/lots/{lot_id}", headers=auth("supervisor")))
    assert (after["verified_net_weight_g"], after["cartons"]) == (expected, cartons)


def test_the_stocktake_tolerance_follows_the_supervision_policy(
    client: TestClient, auth: Auth, world: World
) -> None:
    supervisor, vw = auth("supervisor"), world.vws["ys-frozen"]
    parameters = ok(client.get(f"/api/v1/virtual-warehouses/{vw}", headers=supervisor))["policy"][
        "parameters"
    ]
    looser = {**parameters, "stocktake_variance_tolerance_bp": 100}
    ok(
        client.post(
            f"/api/v1/virtual-warehouses/{vw}/policies",
            headers=supervisor,
            json={"parameters": looser, "reason": "冻品干耗较大, 放宽盘点容差"},
        ),
        201,
    )
    lot = ok(client.get(f"/api/v1/lots/{world.lots['free']}", headers=supervisor))

    counted = ok(
        client.post(
            f"/api/v1/lots/{lot['id']}/stocktake",
            headers=supervisor,
            json={"counted_g": lot["verified_net_weight_g"] * 992 // 1000, "counted_cartons": lot["cartons"]},
        ),
        201,
    )

    assert (counted["variance_bp"], counted["within_tolerance"]) == (-80, True)
    assert counted["details"]["tolerance_bp"] == 100


def test_a_lot_must_be_weighed_before_it_is_counted(client: TestClient, auth: Auth, world: World) -> None:
    lot = receive(client, auth, world)

    response = client.post(
        f"/api/v1/lots/{lot['id']}/stocktake",
        headers=auth("supervisor"),
        json={"counted_g": 20_000_000, "counted_cartons": 1000},
    )

    assert response.status_code == 409


# --- seals ------------------------------------------------------------------------------------


def test_seal_numbers_are_single_use_even_after_the_seal_is_removed(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot = receive(client, auth, world)
    supervisor = auth("supervisor")
    ok(client.post(f"/api/v1/lots/{lot['id']}/seal", headers=supervisor, json={"numbers": ["JN-77001"]}), 201)
    ok(client.post(f"/api/v1/lots/{lot['id']}/unseal", headers=supervisor, json={"reason": "复磅需要"}))

    reused = client.post(f"/api/v1/lots/{lot['id']}/seal", headers=supervisor, json={"numbers": ["JN-77001"]})
    on_a_room = client.post(
        f"/api/v1/rooms/{world.rooms['YS-F18']}/seal", headers=supervisor, json={"numbers": ["JN-77001"]}
    )
    from_the_world = client.post(
        f"/api/v1/lots/{lot['id']}/seal",
        headers=supervisor,
        json={"numbers": [f"SEAL-{world.lots['free']:06d}"]},
    )

    assert reused.status_code == 409
    assert reused.json()["field"] == "numbers"
    assert on_a_room.status_code == 409
    assert from_the_world.status_code == 409
    assert ok(client.get(f"/api/v1/lots/{lot['id']}", headers=supervisor))["sealed"] is False


def test_unsealing_outside_the_release_window_is_flagged(db: TestDB, world: World) -> None:
    lot_id = world.lots["free"]
    clock = Clock(next_local(6, 10))  # Saturday 10:00 in Shanghai: the window is weekdays 08:00-17:00
    auth = signed_in_at(db, world, clock)

    def unseal(reason: str) -> None:
        ok(client.post(f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": reason}))

    def seal(number: str) -> None:
        ok(
            client.post(
                f"/api/v1/lots/{lot_id}/seal", headers=auth("supervisor"), json={"numbers": [number]}
            ),
            201,
        )

    with app_client(db, clock=clock) as client:
        unseal("周末开封检查")
        clock.now = next_local(3, 10)  # Wednesday 10:00: inside
        seal("JN-88001")
        unseal("按窗口出库")
        clock.now = next_local(3, 17)  # Wednesday 17:00: the window has just closed
        seal("JN-88002")
        unseal("下班后开封")
        unseals = [op for op in operations(client, auth, lot_id, "supervisor") if op["kind"] == "unseal"]

    by_reason = {op["note"]: op["details"] for op in unseals}
    assert {reason: details["outside_release_window"] for reason, details in by_reason.items()} == {
        "周末开封检查": True,
        "按窗口出库": False,
        "下班后开封": True,
    }
    assert by_reason["周末开封检查"]["seal_numbers"] == [f"SEAL-{lot_id:06d}"]


def test_a_room_seal_keeps_a_snapshot_of_the_stock_inside(
    client: TestClient, auth: Auth, world: World
) -> None:
    keeper = auth("keeper")
    issued = ok(client.get(f"/api/v1/lots/{world.lots['issued']}", headers=keeper))
    draft = ok(client.get(f"/api/v1/lots/{world.lots['draft']}", headers=keeper))

    ok(
        client.post(
            f"/api/v1/rooms/{world.rooms['YS-F25']}/seal",
            headers=auth("supervisor"),
            json={"numbers": ["RM-25-0001"]},
        ),
        201,
    )

    [room_seal] = [
        op for op in operations(client, auth, issued["id"]) if op["kind"] == "seal" and op["lot_id"] is None
    ]
    assert room_seal["room_id"] == world.rooms["YS-F25"]
    assert room_seal["details"]["seal_numbers"] == ["RM-25-0001"]
    stock = {item["lot"]: item for item in room_seal["details"]["stock"]}
    assert stock[issued["code"]]["verified_net_weight_g"] == issued["verified_net_weight_g"]
    assert stock[issued["code"]]["cartons"] == issued["cartons"]
    assert stock[draft["code"]]["verified_net_weight_g"] == draft["verified_net_weight_g"]
    assert ok(client.get(f"/api/v1/lots/{world.lots['draft']}", headers=keeper))["sealed"] is True


# --- attachments ------------------------------------------------------------------------------


def test_the_same_file_is_stored_once_under_its_sha256(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    first, second = receive(client, auth, world), receive(client, auth, world, batch_number="2026-12-C")
    photo = tiny_png(201)

    one = ok(upload(client, auth, first["id"], photo, name="front.png"), 201)
    again = ok(upload(client, auth, second["id"], photo, name="IMG_0001.PNG"), 201)

    assert one["sha256"] == again["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (one["size_bytes"], one["content_type"]) == (len(photo), "image/png")
    stored = list(Path(db.settings.attachments_dir).rglob(one["sha256"]))
    assert len(stored) == 1
    assert stored[0].read_bytes() == photo
    assert [
        a["original_name"]
        for a in ok(client.get(f"/api/v1/lots/{second['id']}/attachments", headers=auth("keeper")))
    ] == ["IMG_0001.PNG"]


def test_an_attachment_is_served_only_to_parties_who_see_its_lot(
    client: TestClient, auth: Auth, world: World
) -> None:
    lot_id = world.lots["pledged"]
    certificate = tiny_pdf() + b"% quarantine certificate ES-QC-2026-0091\n"
    sha = ok(upload(client, auth, lot_id, certificate, name="qc.pdf", purpose="certificate"), 201)["sha256"]

    for who in ("keeper", "supervisor", "borrower", "bank"):
        response = client.get(f"/api/v1/attachments/{sha}", headers=auth(who))
        assert response.status_code == 200, who
        assert response.content == certificate
        assert response.headers["content-type"] == "application/pdf"
    for who in ("bank2", "borrower2", "keeper2", "supervisor2"):
        assert client.get(f"/api/v1/attachments/{sha}", headers=auth(who)).status_code == 404, who
    assert client.get(f"/api/v1/attachments/{sha}").status_code == 401


def test_a_file_that_is_not_a_photo_or_pdf_is_refused_whatever_it_claims(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    lot = receive(client, auth, world)

    script = upload(
        client, auth, lot["id"], b"#!/bin/sh\nrm -rf /\n", name="photo.png", content_type="image/png"
    )
    html = upload(
        client,
        auth,
        lot["id"],
        b"<html><body>pdf</body></html>",
        name="a.pdf",
        content_type="application/pdf",
    )
    zipped = upload(
        client, auth, lot["id"], b"PK\x03\x04" + bytes(200), name="scan.jpg", content_type="image/jpeg"
    )

    assert [r.status_code for r in (script, html, zipped)] == [415, 415, 415]
    assert ok(client.get(f"/api/v1/lots/{lot['id']}/attachments", headers=auth("keeper"))) == []
    assert leftovers(db) == []


def test_an_oversize_file_is_refused(db: TestDB, auth: Auth, world: World) -> None:
    with app_client(db, max_bytes=4096) as client:
        lot = receive(client, auth, world)
        photo = tiny_png(3)
        just_over = photo + bytes(4097 - len(photo))
        far_over = photo + bytes(200_000)

        assert upload(client, auth, lot["id"], just_over).status_code == 413
        assert upload(client, auth, lot["id"], far_over).status_code == 413
        assert upload(client, auth, lot["id"], photo).status_code == 201
    assert leftovers(db) == []


# --- the operations log -----------------------------------------------------------------------


def test_the_operations_of_a_lot_are_listed_in_time_order_with_those_of_its_room(
    db: TestDB, world: World
) -> None:
    start = utcnow()
    clock = Clock(start)
    auth = signed_in_at(db, world, clock)
    room = world.rooms["YS-C04"]

    def at(minute: int) -> None:
        clock.now = start + timedelta(minutes=minute)

    def seal_room(number: str) -> None:
        ok(
            client.post(f"/api/v1/rooms/{room}/seal", headers=auth("supervisor"), json={"numbers": [number]}),
            201,
        )

    def unseal_room() -> None:
        ok(
            client.post(
                f"/api/v1/rooms/{room}/unseal", headers=auth("supervisor"), json={"reason": "开门作业"}
            )
        )

    with app_client(db, clock=clock) as client:
        seal_room("RM-C04-001")
        at(1)
        unseal_room()
        at(2)
        first = receive(client, auth, world, room="YS-C04", commodity="CHICKEN-CH")
        at(3)
        ok(weigh(client, auth, first["id"], 20_000_000), 201)
        at(5)
        seal_room("RM-C04-002")
        at(6)
        unseal_room()
        at(7)
        inspect = {"result": "passed", "agency": "CCIC"}
        ok(client.post(f"/api/v1/lots/{first['id']}/inspect", headers=auth("keeper"), json=inspect), 201)
        # A second lot is entered now, but it arrived at minute 4, before the room was sealed.
        at(8)
        arrived = (start + timedelta(minutes=4)).isoformat()
        second = receive(client, auth, world, room="YS-C04", commodity="CHICKEN-CH", received_at=arrived)

        first_ops = operations(client, auth, first["id"])
        second_ops = operations(client, auth, second["id"])

    assert [op["kind"] for op in first_ops] == ["inbound", "weigh", "seal", "unseal", "inspect"]
    assert [op["lot_id"] for op in first_ops] == [first["id"], first["id"], None, None, first["id"]]
    assert [op["kind"] for op in second_ops] == ["inbound", "seal", "unseal"]
    assert second_ops[0]["id"] > second_ops[-1]["id"]  # entered last, listed first
