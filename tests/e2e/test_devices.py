"""The device registry and the telemetry read API, through HTTP: registering, wiring, rotating keys,
retiring, series at the right resolution, health, a room's cold chain, and who sees which device."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.db import utcnow
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.iot.models import DeviceKind, Reading, TelemetryMessage
from coldpledge.iot.payload import encode, format_ts, sign
from coldpledge.parties.security import issue_access_token
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, public_pem, reading
from tests.support import Clock, ok
from tests.world import World

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def body(world: World, kind: str = "temperature", key: Ed25519PrivateKey | None = None, **fields: Any) -> Any:
    """A registration in YS-F18, with ``key``'s public half when given."""
    found = {"room_id": world.rooms["YS-F18"], "kind": kind, **fields}
    return found | ({"public_key_pem": public_pem(key)} if key else {})


def register(client: TestClient, auth: Auth, persona: str, data: dict[str, Any]) -> Response:
    return client.post(f"{API}/devices", headers=auth(persona), json=data)


def on_device(
    client: TestClient, auth: Auth, persona: str, device_id: int, action: str, **data: Any
) -> Response:
    return client.post(f"{API}/devices/{device_id}/{action}", headers=auth(persona), json=data)


def post(client: TestClient, token: str, content: bytes) -> Response:
    return client.post(f"{API}/telemetry", content=content, headers={"Authorization": f"Bearer {token}"})


def send(client: TestClient, sender: Sender, readings: list[dict[str, Any]], **options: Any) -> Response:
    """The device posts one message with its own token."""
    sent_at = options.pop("sent_at", utcnow())
    return post(client, sender.token, sender.raw(readings, sent_at=sent_at, **options))


def probe(db: Transaction, world: World, room: str = "YS-F18", **fields: Any) -> Sender:
    return new_device(db.uow(), world.who("admin"), world.rooms[room], **fields)


def series(
    client: TestClient, auth: Auth, device_id: int, start: datetime, end: datetime, **query: Any
) -> Response:
    window = {"from": start.isoformat(), "to": end.isoformat()}
    return client.get(f"{API}/devices/{device_id}/readings", params=window | query, headers=auth("bank"))


def message(code: str, readings: list[dict[str, Any]], key: Ed25519PrivateKey | None = None) -> bytes:
    document = {"device": code, "seq": 1, "sent_at": format_ts(utcnow()), "readings": readings}
    return encode(sign(document, key) if key else document)


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


# --- registering ----------------------------------------------------------------------------------


def test_the_operator_registers_a_signing_probe_and_is_given_its_credentials_once(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    key = Ed25519PrivateKey.generate()

    made = ok(register(client, auth, "admin", body(world, key=key, calibration_certificate="JJG-0417")), 201)

    device, credentials = made["device"], made["credentials"]
    code = device["code"]
    assert (device["kind"], device["status"], device["room_id"]) == (
        "temperature",
        "active",
        world.rooms["YS-F18"],
    )
    assert (device["signing"], device["has_public_key"], device["key_version"]) == (True, True, 1)
    assert device["topic"] == f"coldpledge/v1/{world.orgs['keeper']}/SH-YS/{code}/telemetry"
    assert credentials["mqtt_username"] == device["mqtt_username"] == code.lower()
    assert credentials["mqtt_password"]
    # The token is the device's to post with; it is shown this once only.
    sent = post(client, credentials["http_token"], message(code, [reading(utcnow(), -19.5)], key))
    assert ok(sent)["stored"] == 1
    shown = client.get(f"{API}/devices/{device['id']}", headers=auth("keeper"))
    assert ok(shown)["topic"] == device["topic"]
    assert credentials["http_token"] not in shown.text
    assert credentials["mqtt_password"] not in shown.text

    with db.reader() as session:
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "device.register", AuditEvent.subject_id == device["id"]
            )
        ).one()
        entry = session.scalars(
            select(EvidenceOutbox.entry).where(EvidenceOutbox.audit_event_id == event.id)
        ).one()
    assert (event.actor_user_id, event.subject_ref) == (world.users["admin"], f"device:{code}")
    assert credentials["http_token"] not in json.dumps(event.after)
    evidence = json.loads(entry)
    assert (evidence["type"], evidence["subject"]) == ("device.register", f"device:{code}")
    assert f"room:{world.rooms['YS-F18']}" in evidence["related"]


def test_a_gateway_without_a_public_key_is_refused(client: TestClient, auth: Auth, world: World) -> None:
    without_key = register(client, auth, "admin", body(world, "gateway"))
    not_signing = register(
        client, auth, "admin", body(world, "gateway", Ed25519PrivateKey.generate(), signing=False)
    )

    assert without_key.status_code == 422, without_key.text
    assert without_key.json()["field"] == "public_key_pem"
    assert not_signing.status_code == 422, not_signing.text
    assert not_signing.json()["field"] == "signing"


def test_a_sensor_that_does_not_sign_registers_without_a_key_and_its_readings_are_stored_unsigned(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    made = ok(register(client, auth, "supervisor", body(world, "humidity", signing=False)), 201)
    device = made["device"]
    assert (device["signing"], device["has_public_key"]) == (False, False)

    sent = post(
        client,
        made["credentials"]["http_token"],
        message(device["code"], [reading(utcnow(), 88.5, "humidity")]),
    )

    assert ok(sent)["stored"] == 1
    with db.reader() as session:
        stored = session.scalars(select(Reading).where(Reading.device_id == device["id"])).one()
        carried = session.scalars(
            select(TelemetryMessage).where(TelemetryMessage.device_id == device["id"])
        ).one()
    assert (stored.value_u, stored.signed, carried.signed) == (88_500_000, False, False)


def test_a_keeper_cannot_register_a_device_in_another_keepers_room(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = register(client, auth, "keeper2", body(world, key=Ed25519PrivateKey.generate()))

    # To Ken the room does not exist: the room he names is the request's fault.
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "room_id"
    room = client.get(f"{API}/rooms/{world.rooms['YS-F18']}/cold-chain", headers=auth("keeper2"))
    assert room.status_code == 404


# --- gateways and their sensors -------------------------------------------------------------------


def test_readings_a_gateway_relays_are_stored_under_its_sensors_and_others_are_rejected(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    gateway = probe(db, world, kind=DeviceKind.GATEWAY)
    sensor = probe(db, world, signing=False, gateway=gateway)
    stranger = probe(db, world, signing=False)
    now = minute(utcnow())

    answer = ok(
        send(
            client,
            gateway,
            [
                reading(now, -19.25, device=sensor.code),
                reading(now, -18.75, device=stranger.code),
                reading(now, 3_120, metric="backlog"),
            ],
        )
    )

    assert answer["stored"] == 2
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(1, "not_behind_gateway")]
    window = (now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert [p["value"] for p in ok(series(client, auth, sensor.id, *window))["points"]] == [-19.25]
    assert ok(series(client, auth, stranger.id, *window))["points"] == []
    with db.reader() as session:
        relayed = session.scalars(select(Reading).where(Reading.device_id == sensor.id)).one()
    assert (relayed.sender_id, relayed.signed) == (gateway.id, True)
    letters = client.get(f"{API}/ingest/dead-letters", params={"device": gateway.code}, headers=auth("admin"))
    assert [(row["reason"], row["reading_index"]) for row in ok(letters)] == [("not_behind_gateway", 1)]


def test_a_gateway_with_sensors_still_wired_to_it_cannot_be_retired(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    gateway = probe(db, world, kind=DeviceKind.GATEWAY)
    sensor = probe(db, world, signing=False, gateway=gateway)

    refused = on_device(client, auth, "keeper", gateway.id, "retire", reason="网关更换")
    ok(on_device(client, auth, "keeper", sensor.id, "retire", reason="探头损坏"))
    retired = on_device(client, auth, "keeper", gateway.id, "retire", reason="网关更换")

    assert refused.status_code == 409, refused.text
    assert sensor.code in refused.json()["detail"]
    assert ok(retired)["status"] == "retired"


# --- rotating keys, retiring, binding -------------------------------------------------------------


def test_after_a_key_rotation_messages_signed_with_the_old_key_are_refused(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    sender = probe(db, world)
    now = utcnow()
    ok(send(client, sender, [reading(now - timedelta(seconds=30), -19.0)]))
    new_key = Ed25519PrivateKey.generate()

    rotated = on_device(
        client,
        auth,
        "supervisor",
        sender.id,
        "rotate-key",
        public_key_pem=public_pem(new_key),
        reason="密钥泄露",
    )
    with_old_key = send(client, sender, [reading(now - timedelta(seconds=20), -19.1)])
    sender.key = new_key
    with_new_key = send(client, sender, [reading(now - timedelta(seconds=10), -19.2)])

    assert ok(rotated)["key_version"] == 2
    assert with_old_key.status_code == 422, with_old_key.text
    assert "bad_signature" in with_old_key.json()["detail"]
    assert ok(with_new_key)["stored"] == 1


def test_the_key_a_device_already_has_is_no_rotation(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    sender = probe(db, world)
    assert sender.key is not None

    response = on_device(
        client,
        auth,
        "keeper",
        sender.id,
        "rotate-key",
        public_key_pem=public_pem(sender.key),
        reason="例行轮换",
    )

    assert response.status_code == 422
    assert response.json()["field"] == "public_key_pem"


def test_a_retired_device_is_refused_and_its_history_stays_readable(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    sender = probe(db, world)
    now = utcnow()
    ok(send(client, sender, [reading(now - timedelta(seconds=30), -19.0)]))

    retired = ok(on_device(client, auth, "keeper", sender.id, "retire", reason="探头损坏"))
    refused = send(client, sender, [reading(now - timedelta(seconds=10), -19.1)])
    again = on_device(client, auth, "keeper", sender.id, "retire", reason="再次停用")

    assert retired["status"] == "retired"
    assert retired["retired_at"] is not None
    assert 400 <= refused.status_code < 500, refused.text
    assert "device_retired" in refused.json()["detail"]
    assert again.status_code == 409
    history = ok(series(client, auth, sender.id, now - timedelta(hours=1), now + timedelta(minutes=1)))
    assert [p["value"] for p in history["points"]] == [-19.0]
    assert ok(client.get(f"{API}/devices/{sender.id}", headers=auth("bank")))["status"] == "retired"


def test_binding_moves_a_device_to_another_room_of_its_warehouse_only(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    sender = probe(db, world)

    moved = on_device(
        client, auth, "keeper", sender.id, "bind", room_id=world.rooms["YS-F25"], reason="移至 F25"
    )
    across = on_device(
        client, auth, "keeper", sender.id, "bind", room_id=world.rooms["DJ-F18"], reason="移至东疆"
    )

    assert ok(moved)["room_id"] == world.rooms["YS-F25"]
    assert across.status_code == 422, across.text
    assert across.json()["field"] == "room_id"
    assert (
        ok(client.get(f"{API}/devices/{sender.id}", headers=auth("admin")))["room_id"]
        == world.rooms["YS-F25"]
    )
    # The bank watched the probe while it was in YS-F18; YS-F25 holds none of its collateral.
    assert client.get(f"{API}/devices/{sender.id}", headers=auth("bank")).status_code == 404


# --- series ---------------------------------------------------------------------------------------

# Within each minute: five readings at -20 °C, then -14 °C; ten seconds apart.
PATTERN = (-20.0, -20.0, -20.0, -20.0, -20.0, -14.0)
# The time-weighted mean of one minute: four 10 s stretches at -20 °C and a 10 s ramp to -14 (mean
# -17); the plain mean of the six readings, -19.0, would weigh the last one like any other.
MINUTE_AREA = 4 * 10 * -20.0 + 10 * -17.0


@pytest.fixture
def ten_minutes(db: Transaction, client: TestClient, world: World) -> tuple[Sender, datetime]:
    """A probe that sent a reading every 10 s for ten minutes from the start of an hour, a day ago;
    returns it and that hour."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    sender = probe(db, world, sampling_interval_s=10)
    readings = [
        reading(start + timedelta(minutes=m, seconds=10 * i), value)
        for m in range(10)
        for i, value in enumerate(PATTERN)
    ]
    assert ok(send(client, sender, readings))["stored"] == 60
    return sender, start


@pytest.mark.parametrize(
    ("before", "after", "query"),
    [
        (timedelta(minutes=30), timedelta(minutes=90), {}),
        (timedelta(days=1), timedelta(days=1), {"resolution": "raw"}),
    ],
    ids=["a two-hour window", "raw asked for over two days"],
)
def test_a_short_window_or_asking_for_raw_answers_every_reading(
    client: TestClient,
    auth: Auth,
    ten_minutes: tuple[Sender, datetime],
    before: timedelta,
    after: timedelta,
    query: dict[str, str],
) -> None:
    sender, start = ten_minutes

    found = ok(series(client, auth, sender.id, start - before, start + after, **query))

    assert (found["resolution"], len(found["points"]), found["buckets"]) == ("raw", 60, [])
    sixth = found["points"][5]
    assert (datetime.fromisoformat(sixth["ts"]), sixth["value"]) == (start + timedelta(seconds=50), -14.0)


def test_a_two_day_window_answers_minute_buckets_with_time_weighted_means(
    client: TestClient, auth: Auth, ten_minutes: tuple[Sender, datetime]
) -> None:
    sender, start = ten_minutes

    found = ok(series(client, auth, sender.id, start - timedelta(days=1), start + timedelta(days=1)))

    assert (found["resolution"], found["points"]) == ("1m", [])
    buckets = found["buckets"]
    assert [datetime.fromisoformat(b["bucket"]) for b in buckets] == [
        start + timedelta(minutes=m) for m in range(10)
    ]
    assert {b["count"] for b in buckets} == {6}
    fourth = buckets[3]
    assert (fourth["min"], fourth["max"]) == (-20.0, -14.0)
    assert fourth["mean"] == pytest.approx(MINUTE_AREA / 50)


def test_a_thirty_day_window_answers_hour_buckets(
    client: TestClient, auth: Auth, ten_minutes: tuple[Sender, datetime]
) -> None:
    sender, start = ten_minutes

    found = ok(series(client, auth, sender.id, start - timedelta(days=15), start + timedelta(days=15)))

    assert found["resolution"] == "1h"
    [hour] = found["buckets"]
    assert datetime.fromisoformat(hour["bucket"]) == start
    assert (hour["count"], hour["min"], hour["max"]) == (60, -20.0, -14.0)
    # Ten minutes of the pattern, joined by nine 10 s ramps from -14 back to -20 (mean -17).
    assert hour["mean"] == pytest.approx((10 * MINUTE_AREA + 9 * 10 * -17.0) / 590)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 11, 29, 9, tzinfo=UTC), datetime(2026, 11, 29, 8, tzinfo=UTC)),
        (datetime(2026, 11, 29, 8, tzinfo=UTC).replace(tzinfo=None), datetime(2026, 11, 29, 9, tzinfo=UTC)),
    ],
    ids=["from after to", "a time without a zone"],
)
def test_a_window_that_cannot_be_read_is_refused(
    client: TestClient, auth: Auth, ten_minutes: tuple[Sender, datetime], start: datetime, end: datetime
) -> None:
    sender, _ = ten_minutes

    response = series(client, auth, sender.id, start, end)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "from"


# --- latest values and health ---------------------------------------------------------------------


@contextmanager
def clocked(db: Transaction, world: World, clock: Clock) -> Iterator[tuple[TestClient, Auth]]:
    """A client of an app living by ``clock``, and sign-ins issued at that clock."""

    def auth(username: str) -> dict[str, str]:
        token = issue_access_token(db.settings, user_id=world.users[username], now=clock())
        return {"Authorization": f"Bearer {token.token}"}

    with TestClient(db.app(clock=clock), headers={"Accept-Language": "en"}) as client:
        yield client, auth


def health_of(client: TestClient, auth: Auth, world: World, device_id: int) -> dict[str, Any]:
    rows = ok(
        client.get(f"{API}/devices/health", params={"room_id": world.rooms["YS-F18"]}, headers=auth("keeper"))
    )
    found: list[dict[str, Any]] = [row for row in rows if row["device_id"] == device_id]
    assert len(found) == 1, rows
    return found[0]


def test_latest_values_battery_and_signal_show_and_a_silent_device_goes_offline(
    db: Transaction, world: World
) -> None:
    clock = Clock(minute(utcnow()))
    today = clock.now.date()
    sender = probe(db, world, calibration_due=today - timedelta(days=1))
    calibrated = probe(db, world, calibration_due=today + timedelta(days=90))
    with clocked(db, world, clock) as (client, auth):
        ok(
            send(
                client,
                sender,
                [
                    reading(clock.now - timedelta(seconds=5), -19.25),
                    reading(clock.now - timedelta(seconds=5), 87.5, metric="battery"),
                    reading(clock.now - timedelta(seconds=5), -71.0, metric="signal"),
                ],
                sent_at=clock.now,
            )
        )

        latest = ok(client.get(f"{API}/devices/{sender.id}/latest", headers=auth("bank")))
        fresh = health_of(client, auth, world, sender.id)
        clock.advance(seconds=3 * 60)
        still = health_of(client, auth, world, sender.id)
        clock.advance(seconds=1)
        silent = health_of(client, auth, world, sender.id)
        never_heard = health_of(client, auth, world, calibrated.id)

    assert {row["metric"]: (row["value"], row["unit"]) for row in latest} == {
        "temperature": (-19.25, "Cel"),
        "battery": (87.5, "%EL"),
        "signal": (-71.0, "dBm"),
    }
    assert (fresh["online"], fresh["battery_pct"], fresh["signal_dbm"], fresh["silent_seconds"]) == (
        True,
        87.5,
        -71.0,
        0,
    )
    assert fresh["calibration_overdue"] is True
    # Offline after three sampling intervals (60 s each) without a word.
    assert (still["online"], still["silent_seconds"]) == (True, 180)
    assert (silent["online"], silent["silent_seconds"]) == (False, 181)
    assert (never_heard["online"], never_heard["last_seen_at"], never_heard["calibration_overdue"]) == (
        False,
        None,
        False,
    )


# --- a room's cold chain --------------------------------------------------------------------------


def test_the_cold_chain_of_a_room_shows_time_out_of_band_and_degree_minutes_above_it(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=2)
    sender = probe(db, world)
    # A linear ramp from -20 to -10 °C over an hour, a reading a minute; YS-F18 keeps -22..-18 °C.
    ramp = [reading(start + timedelta(minutes=m), -20 + m / 6) for m in range(61)]
    ok(send(client, sender, ramp))

    found = ok(
        client.get(
            f"{API}/rooms/{world.rooms['YS-F18']}/cold-chain",
            params={"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()},
            headers=auth("bank"),
        )
    )

    assert (found["band_low_c"], found["band_high_c"]) == (-22.0, -18.0)
    # Other tests may have committed probes to this room; the figures of this one are its own.
    assert sender.code in found["devices"]
    mine = next(row for row in found["per_device"] if row["code"] == sender.code)
    # Above -18 °C from minute 12 on: 48 minutes, the area a triangle of 48 min × 8 °C / 2.
    assert mine["out_of_band_seconds"] / 60 == pytest.approx(48, abs=0.01)
    assert mine["degree_minutes_above"] == pytest.approx(192, abs=0.01)
    assert (mine["readings"], mine["expected_readings"], mine["completeness"]) == (60, 60, 1.0)
    assert (mine["min_c"], mine["max_c"]) == (-20.0, -10.0)
    # The room's figures are its worst probe's: at least as bad as this one.
    assert found["out_of_band_minutes"] >= 48 - 0.01
    assert found["max_c"] >= -10.0


# --- who sees which device ------------------------------------------------------------------------


def test_the_bank_sees_devices_only_in_rooms_where_its_collateral_is(
    db: Transaction, client: TestClient, auth: Auth, world: World
) -> None:
    watched = probe(db, world, "YS-F18")
    elsewhere = probe(db, world, "YS-C04")

    listed = {row["id"] for row in ok(client.get(f"{API}/devices", headers=auth("bank")))}

    assert ok(client.get(f"{API}/devices/{watched.id}", headers=auth("bank")))["code"] == watched.code
    assert client.get(f"{API}/devices/{elsewhere.id}", headers=auth("bank")).status_code == 404
    assert client.get(f"{API}/devices/{elsewhere.id}/readings", headers=auth("bank")).status_code == 404
    assert watched.id in listed
    assert elsewhere.id not in listed


def test_dead_letters_are_for_the_operator_alone(client: TestClient, auth: Auth) -> None:
    assert client.get(f"{API}/ingest/dead-letters", headers=auth("bank")).status_code == 403
    assert client.get(f"{API}/ingest/dead-letters", headers=auth("keeper")).status_code == 403
    assert client.get(f"{API}/ingest/dead-letters", headers=auth("admin")).status_code == 200
