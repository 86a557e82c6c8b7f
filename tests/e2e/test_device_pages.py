"""The device pages: registering a device shows its secrets this once, binding, rotating the key
and retiring it from its page, each only for the roles the API lets do it, and the operator's
ingest dead letters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from coldpledge.iot.payload import encode, format_ts
from tests.conftest import TestDB as Transaction
from tests.iot import new_device, public_pem, reading
from tests.pages import htmx, sign_in_as
from tests.world import World


def test_a_keeper_registers_a_device_and_is_shown_its_secrets_this_once(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    page = client.get("/devices").text
    assert 'id="register-device"' in page
    answer = client.post(
        "/devices",
        data={
            "room_id": str(world.rooms["YS-F18"]),
            "kind": "temperature",
            "code": "tmp-page-01",
            "signing": "no",
        },
        headers=htmx(csrf),
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert 'data-registered="TMP-PAGE-01"' in answer.text
    token = re.search(r'data-secret="http_token">([^<]+)<', answer.text)
    password = re.search(r'data-secret="mqtt_password">([^<]+)<', answer.text)
    assert token
    assert password

    # The token shown is the device's: a reading sent with it is stored.
    now = datetime.now(UTC)
    sent = client.post(
        "/api/v1/telemetry",
        content=encode(
            {"device": "TMP-PAGE-01", "seq": 1, "sent_at": format_ts(now), "readings": [reading(now, -19.5)]}
        ),
        headers={"Authorization": f"Bearer {token.group(1)}"},
    )
    assert sent.status_code == 200, sent.text

    device_id = re.search(r'href="/devices/(\d+)"', answer.text)
    assert device_id
    device_page = client.get(f"/devices/{device_id.group(1)}").text
    assert 'data-metric="temperature"' in device_page
    assert "-19.5" in device_page
    assert token.group(1) not in device_page
    assert password.group(1) not in device_page
    assert token.group(1) not in client.get("/devices").text


def test_a_device_code_the_api_refuses_is_refused_by_the_form_by_the_same_field(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    fields = {"room_id": str(world.rooms["YS-F18"]), "kind": "temperature", "code": "X"}
    answer = client.post("/devices", data=fields, headers=htmx(csrf))
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    assert "code" in answer.text
    api = client.post(
        "/api/v1/devices",
        json={"room_id": world.rooms["YS-F18"], "kind": "temperature", "code": "X"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 422
    assert [error["field"] for error in api.json()["errors"]] == ["code"]


def test_a_keeper_binds_a_device_to_another_room_of_its_warehouse_but_not_of_another(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    csrf = sign_in_as(client, "keeper")
    assert 'id="bind-device"' in client.get(f"/devices/{probe.id}").text

    moved = client.post(
        f"/devices/{probe.id}/bind",
        data={"room_id": str(world.rooms["YS-F25"]), "reason": "探头移到深冷间"},
        headers=htmx(csrf),
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["HX-Refresh"] == "true"
    assert f'data-room="{world.rooms["YS-F25"]}"' in client.get(f"/devices/{probe.id}").text

    elsewhere = client.post(
        f"/devices/{probe.id}/bind",
        data={"room_id": str(world.rooms["DJ-F18"]), "reason": "搬到东疆"},
        headers=htmx(csrf),
    )
    assert elsewhere.status_code == 422
    assert "only between rooms of its own warehouse" in elsewhere.text


def test_rotating_a_devices_key_raises_its_key_version(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    csrf = sign_in_as(client, "supervisor")
    assert 'data-key-version="1"' in client.get(f"/devices/{probe.id}").text
    answer = client.post(
        f"/devices/{probe.id}/rotate-key",
        data={"public_key_pem": public_pem(Ed25519PrivateKey.generate()), "reason": "更换密钥"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 200, answer.text
    assert 'data-key-version="2"' in client.get(f"/devices/{probe.id}").text

    garbage = client.post(
        f"/devices/{probe.id}/rotate-key",
        data={"public_key_pem": "not a key", "reason": "更换密钥"},
        headers=htmx(csrf),
    )
    assert garbage.status_code == 422
    assert 'role="alert"' in garbage.text


def test_retiring_a_device_asks_first_and_then_it_leaves_the_list(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/devices/{probe.id}").text
    retire_form = re.search(r'<form id="retire-device"[^>]*>', page)
    assert retire_form
    assert "hx-confirm=" in retire_form.group(0)

    answer = client.post(f"/devices/{probe.id}/retire", data={"reason": "探头损坏"}, headers=htmx(csrf))
    assert answer.status_code == 200, answer.text
    page = client.get(f"/devices/{probe.id}").text
    assert 'data-status="retired"' in page
    assert 'id="retire-device"' not in page
    assert 'id="bind-device"' not in page
    assert f'data-device="{probe.code}"' not in client.get("/devices").text

    again = client.post(f"/devices/{probe.id}/retire", data={"reason": "再退役一次"}, headers=htmx(csrf))
    assert again.status_code == 409


def test_a_bank_sees_a_device_by_its_collateral_but_is_offered_no_change_and_may_make_none(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    csrf = sign_in_as(client, "bank")
    listing = client.get("/devices").text
    assert f'data-device="{probe.code}"' in listing
    assert 'id="register-device"' not in listing
    assert "/devices/dead-letters" not in listing
    page = client.get(f"/devices/{probe.id}")
    assert page.status_code == 200
    assert 'id="device-actions"' not in page.text

    retire = client.post(f"/devices/{probe.id}/retire", data={"reason": "试试看"}, headers=htmx(csrf))
    assert retire.status_code == 403
    register = client.post(
        "/devices", data={"room_id": str(world.rooms["YS-F18"]), "kind": "temperature"}, headers=htmx(csrf)
    )
    assert register.status_code == 403


def test_another_keepers_device_answers_404_to_its_page_and_its_changes(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    csrf = sign_in_as(client, "keeper2")
    assert client.get(f"/devices/{probe.id}", headers={"Accept": "text/html"}).status_code == 404
    retire = client.post(f"/devices/{probe.id}/retire", data={"reason": "不是我的"}, headers=htmx(csrf))
    assert retire.status_code == 404
    assert f'data-device="{probe.code}"' not in client.get("/devices").text


def test_the_operator_reads_dead_letters_with_reason_detail_and_topic_and_a_keeper_may_not(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    now = datetime.now(UTC)
    document = probe.message([reading(now, -19.0)], sent_at=now)
    document["readings"][0]["value"] = -5.0  # changed after signing
    refused = client.post(
        "/api/v1/telemetry", content=encode(document), headers={"Authorization": f"Bearer {probe.token}"}
    )
    assert refused.status_code == 422

    sign_in_as(client, "admin")
    assert "/devices/dead-letters" in client.get("/devices").text
    page = client.get("/devices/dead-letters", params={"device": probe.code})
    assert page.status_code == 200
    row = re.search(r'<tr data-dead-letter="\d+" data-reason="bad_signature">.*?</tr>', page.text, re.S)
    assert row, page.text
    assert probe.code in row.group(0)
    assert "http" in row.group(0)

    keeper = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(keeper, "keeper")
    assert keeper.get("/devices/dead-letters", headers={"Accept": "text/html"}).status_code == 403
