"""Deliveries leave the platform: signed webhooks to a real local HTTP server, e-mail to a real
local SMTP server, retries with backoff, giving up, and no delivery sent twice by two schedulers.

These tests commit (the dispatcher opens its own transactions), so each makes its own organisation
and user and leaves every delivery it made sent or given up.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import timedelta
from email.header import decode_header, make_header

from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.notify import service
from coldpledge.notify.dispatch import deliver_due
from coldpledge.notify.messages import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_matches
from coldpledge.notify.models import Channel, Delivery, DeliveryAttempt, DeliveryStatus
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import PartyType, Role
from coldpledge.parties.service import principal_for
from coldpledge.uow import UnitOfWork
from tests.notify import receiver, smtp_sink, tell


def a_bank_officer(database: Database, *, email: str | None = None) -> int:
    with UnitOfWork(database.write_session) as uow:
        name = uuid.uuid4().hex[:12]
        org = Organisation(name=f"测试银行 {name}", party_type=PartyType.BANK)
        uow.session.add(org)
        uow.session.flush()
        user = User(
            username=f"officer-{name}",
            display_name="Alice",
            organisation_id=org.id,
            role=Role.BANK_RISK_OFFICER,
            password_hash="-",
            email=email,
        )
        uow.session.add(user)
        uow.commit()
        return user.id


def subscribe(database: Database, user_id: int, url: str, kinds: list[str] | None = None) -> str:
    with UnitOfWork(database.write_session) as uow:
        principal = principal_for(uow.session.get_one(User, user_id))
    _subscription, secret = service.create_subscription(
        UnitOfWork(database.write_session), principal, url=url, kinds=kinds or []
    )
    return secret


def fetch(database: Database, delivery_id: int) -> Delivery:
    with database.reading() as session:
        delivery = session.get_one(Delivery, delivery_id)
        session.expunge(delivery)
        return delivery


def log_of(database: Database, delivery_id: int) -> list[DeliveryAttempt]:
    with database.reading() as session:
        log = list(
            session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            )
        )
        session.expunge_all()
        return log


def fast(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={"delivery_backoff_base_seconds": 30, "delivery_backoff_max_seconds": 600, **changes}
    )


def test_a_webhook_arrives_signed_with_the_subscriptions_secret(
    database: Database, settings: Settings
) -> None:
    user = a_bank_officer(database)
    with receiver(200) as endpoint:
        secret = subscribe(database, user, endpoint.url, ["alert.firing"])
        _item, delivery_id = tell(database.write_session, [user, user])
        assert delivery_id is not None

        deliver_due(database, fast(settings), utcnow())

    [request] = endpoint.received
    timestamp = int(request.headers[TIMESTAMP_HEADER.lower()])
    assert abs(timestamp - utcnow().timestamp()) < 60
    assert signature_matches(secret, timestamp, request.body, request.headers[SIGNATURE_HEADER.lower()])
    assert not signature_matches(
        "another secret", timestamp, request.body, request.headers[SIGNATURE_HEADER.lower()]
    )
    event = json.loads(request.body)
    assert event["type"] == "alert.firing"
    assert event["subject"] == "room:1"
    assert event["severity"] == "major"
    delivery = fetch(database, delivery_id)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempts == 1


def test_a_subscription_that_wants_other_kinds_gets_nothing(database: Database, settings: Settings) -> None:
    user = a_bank_officer(database)
    subscribe(database, user, "https://hooks.example.cn/only-work-orders", ["work_order.assigned"])

    tell(database.write_session, [user], kind="alert.firing")

    with database.reading() as session:
        mine = session.scalars(
            select(Delivery).where(Delivery.target == "https://hooks.example.cn/only-work-orders")
        ).all()
    assert mine == []


def test_a_receiver_that_fails_once_gets_the_webhook_again_after_a_backoff(
    database: Database, settings: Settings
) -> None:
    user = a_bank_officer(database)
    now = utcnow()
    with receiver(500, 200) as endpoint:
        subscribe(database, user, endpoint.url)
        _item, delivery_id = tell(database.write_session, [user], at=now)
        assert delivery_id is not None

        deliver_due(database, fast(settings), now)
        failed = fetch(database, delivery_id)
        assert failed.status is DeliveryStatus.FAILED
        assert (failed.last_error or "").startswith("500")
        # Thirty seconds, less up to half of it for jitter.
        assert failed.next_attempt_at is not None
        assert now + timedelta(seconds=15) <= failed.next_attempt_at <= now + timedelta(seconds=30)

        deliver_due(database, fast(settings), now + timedelta(seconds=10))
        assert len(endpoint.received) == 1

        deliver_due(database, fast(settings), now + timedelta(seconds=31))

    assert len(endpoint.received) == 2
    assert endpoint.received[0].body == endpoint.received[1].body
    sent = fetch(database, delivery_id)
    assert sent.status is DeliveryStatus.SENT
    assert sent.attempts == 2
    first, second = log_of(database, delivery_id)
    assert (first.ok, first.status_code) == (False, 500)
    assert (second.ok, second.status_code) == (True, 200)
    assert second.at > first.at


def test_a_dead_receiver_is_given_up_after_the_last_attempt_and_that_is_recorded(
    database: Database, settings: Settings
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/gone"
    user = a_bank_officer(database)
    subscribe(database, user, dead)
    now = utcnow()
    _item, delivery_id = tell(database.write_session, [user], at=now)
    assert delivery_id is not None
    rules = fast(settings, delivery_max_attempts=3, webhook_timeout_seconds=2)

    for attempt in range(3):
        deliver_due(database, rules, now + timedelta(minutes=20 * attempt))

    delivery = fetch(database, delivery_id)
    with database.reading() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_ref == f"delivery:{delivery_id}")
        ).all()
    assert delivery.status is DeliveryStatus.GIVEN_UP
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    log = log_of(database, delivery_id)
    assert [entry.ok for entry in log] == [False, False, False]
    assert all(entry.status_code is None for entry in log)
    assert list(actions) == ["delivery.give_up"]

    deliver_due(database, rules, now + timedelta(days=1))
    assert len(log_of(database, delivery_id)) == 3


def test_an_email_arrives_with_its_chinese_subject_intact(database: Database, settings: Settings) -> None:
    user = a_bank_officer(database, email="alice@bank.example.cn")
    with smtp_sink() as mailbox:
        _item, delivery_id = tell(database.write_session, [user], title="Freeze")
        assert delivery_id is not None
        rules = fast(
            settings,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_tls="none",
            smtp_from="平台 <noreply@coldpledge.example.cn>",
        )

        deliver_due(database, rules, utcnow())

    [message] = mailbox.messages
    assert str(make_header(decode_header(message["Subject"]))) == "冻结 / Freeze"
    assert message["To"] == "alice@bank.example.cn"
    text = message.get_content()
    assert "YS-F18" in text
    assert "room:1" in text
    delivery = fetch(database, delivery_id)
    assert delivery.channel is Channel.EMAIL
    assert delivery.status is DeliveryStatus.SENT
    [entry] = log_of(database, delivery_id)
    assert entry.status_code == 250
    assert "accepted" in (entry.reply or "")


def test_two_schedulers_at_once_send_each_delivery_once(database: Database, settings: Settings) -> None:
    users = [a_bank_officer(database) for _ in range(3)]
    now = utcnow()
    with receiver(200) as endpoint:
        for user in users:
            subscribe(database, user, endpoint.url)
        made = []
        for _ in range(8):
            for user in users:
                made.append(tell(database.write_session, [user], at=now)[1])
        barrier = threading.Barrier(2)
        results: list[dict[str, int]] = []

        def scheduler() -> None:
            barrier.wait()
            results.append(deliver_due(database, settings, now))

        threads = [threading.Thread(target=scheduler) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    ids = [json.loads(request.body)["id"] for request in endpoint.received]
    assert len(ids) == len(made) == 24
    assert len(set(ids)) == 24
    assert sum(result["sent"] for result in results) >= 24
    with database.reading() as session:
        statuses = set(session.scalars(select(Delivery.status).where(Delivery.id.in_(made))))
        attempts = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(made))).all()
    assert statuses == {DeliveryStatus.SENT}
    assert len(attempts) == 24
