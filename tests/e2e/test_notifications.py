"""The inbox and webhook subscriptions through the HTTP API, as the parties meet them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.notify.models import Delivery
from tests.notify import tell
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def test_a_notification_lands_once_in_each_named_users_inbox(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    alice, sam = world.users["bank"], world.users["supervisor"]
    tell(db.session, [alice, sam, alice], title="Temperature above the limit")

    for persona in ("bank", "supervisor"):
        items = client.get(f"{API}/inbox", headers=auth(persona)).json()
        assert [item["title"] for item in items] == ["Temperature above the limit"]
        assert items[0]["subject_ref"] == "room:1"
        assert items[0]["read_at"] is None
        assert client.get(f"{API}/inbox/unread-count", headers=auth(persona)).json() == {"unread": 1}
    assert client.get(f"{API}/inbox", headers=auth("bankviewer")).json() == []


def test_reading_an_item_marks_it_and_only_its_owner_may(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    first, _ = tell(db.session, [world.users["bank"]], title="First")
    tell(db.session, [world.users["bank"]], title="Second")

    assert client.post(f"{API}/inbox/{first}/read", headers=auth("bankviewer")).status_code == 404
    read = client.post(f"{API}/inbox/{first}/read", headers=auth("bank")).json()
    assert read["read_at"] is not None
    again = client.post(f"{API}/inbox/{first}/read", headers=auth("bank")).json()
    assert again["read_at"] == read["read_at"]

    unread = client.get(f"{API}/inbox", params={"unread": "true"}, headers=auth("bank")).json()
    assert [item["title"] for item in unread] == ["Second"]
    assert client.post(f"{API}/inbox/read-all", headers=auth("bank")).json() == {"marked": 1}
    assert client.get(f"{API}/inbox/unread-count", headers=auth("bank")).json() == {"unread": 0}


def test_a_webhook_secret_is_shown_once_and_never_recorded(
    client: TestClient, auth: Auth, db: TestDB
) -> None:
    made = client.post(
        f"{API}/webhooks",
        headers=auth("bank"),
        json={"url": "https://hooks.bank.example.cn/coldpledge", "kinds": ["alert.firing"]},
    )
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert len(secret) == 64

    listed = client.get(f"{API}/webhooks", headers=auth("bank")).json()
    assert [row["id"] for row in listed] == [made.json()["id"]]
    assert "secret" not in listed[0]
    assert client.get(f"{API}/webhooks", headers=auth("bank2")).json() == []
    with db.session() as session:
        recorded = session.scalars(
            select(AuditEvent).where(AuditEvent.subject_ref == f"webhook:{made.json()['id']}")
        ).all()
    assert [event.action for event in recorded] == ["webhook.create"]
    assert secret not in str(recorded[0].after)


def test_a_deactivated_subscription_gets_no_more_deliveries(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    url = "https://hooks.bank.example.cn/coldpledge"
    made = client.post(f"{API}/webhooks", headers=auth("bank"), json={"url": url}).json()
    tell(db.session, [world.users["bank"]])

    assert client.post(f"{API}/webhooks/{made['id']}/deactivate", headers=auth("bank2")).status_code == 404
    done = client.post(f"{API}/webhooks/{made['id']}/deactivate", headers=auth("bank")).json()
    assert done["is_active"] is False
    tell(db.session, [world.users["bank"]])

    with db.session() as session:
        sent_to = session.scalars(select(Delivery.target).where(Delivery.subscription_id == made["id"])).all()
    assert sent_to == [url]


def test_a_webhook_address_must_be_http(client: TestClient, auth: Auth) -> None:
    refused = client.post(f"{API}/webhooks", headers=auth("bank"), json={"url": "ftp://hooks.example.cn/x"})
    assert refused.status_code == 422


def test_the_operator_sees_each_delivery_with_its_attempts(
    client: TestClient, auth: Auth, world: World, db: TestDB
) -> None:
    client.post(f"{API}/webhooks", headers=auth("keeper"), json={"url": "https://hooks.keeper.example.cn/"})
    _item, delivery = tell(db.session, [world.users["keeper"]])

    listed = client.get(f"{API}/deliveries", params={"status": "pending"}, headers=auth("admin")).json()
    assert delivery in [row["id"] for row in listed]
    one = client.get(f"{API}/deliveries/{delivery}", headers=auth("admin")).json()
    assert one["channel"] == "webhook"
    assert one["about"] == "room:1"
    assert one["log"] == []
    assert client.get(f"{API}/deliveries/{delivery}", headers=auth("keeper")).status_code == 403
