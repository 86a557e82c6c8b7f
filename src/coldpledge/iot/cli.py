"""Command line of the IoT context: ``coldpledge devices ...``, ``coldpledge ingest`` and
``coldpledge telemetry maintain``."""

from __future__ import annotations

import gc
import json
import logging
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import select

from coldpledge.clitools import fail, open_database, print_row
from coldpledge.config import get_settings
from coldpledge.errors import DomainError
from coldpledge.iot import credentials, registry
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus
from coldpledge.iot.schemas import DeviceIn, RetireIn, RotateKeyIn
from coldpledge.parties.policy import SYSTEM
from coldpledge.uow import UnitOfWork

devices_app = typer.Typer(help="Device registry: register, list, rotate keys, retire.", no_args_is_help=True)
telemetry_app = typer.Typer(help="Telemetry storage housekeeping.", no_args_is_help=True)

# The ingest worker's collector thresholds (young, middle, old; CPython's default 700, 10, 10).
INGEST_GC_THRESHOLDS = (50_000, 20, 20)
# How long a thread of the ingest worker may hold the interpreter before another that asks gets
# it (CPython's default: 5 ms). The rules are long stretches of Python in one writer while the
# other writer and the MQTT client ask for it: at 5 ms the forced handovers cost the worker about
# a tenth of its CPU with the rules on (docs/PERFORMANCE.md, "Rules on the ingest path"); the
# client's socket holds what arrives meanwhile.
INGEST_SWITCH_INTERVAL_S = 0.02


@devices_app.command("register")
def devices_register(
    room: Annotated[int, typer.Option("--room", help="Room or zone id the device is bound to")],
    kind: Annotated[DeviceKind, typer.Option("--kind", help="What the device is")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Ed25519 public key (PEM) for payload signatures")
    ] = None,
    unsigned: Annotated[
        bool, typer.Option("--unsigned", help="A simple sensor that sends unsigned payloads (not gateways)")
    ] = False,
    code: Annotated[str | None, typer.Option(help="Device code; generated when left out")] = None,
    name: Annotated[str | None, typer.Option(help="Name shown in the product")] = None,
    gateway: Annotated[int | None, typer.Option("--gateway", help="Id of the gateway it is wired to")] = None,
    interval: Annotated[int, typer.Option("--interval", help="Sampling interval in seconds")] = 60,
    calibration_certificate: Annotated[
        str | None, typer.Option(help="Calibration certificate number")
    ] = None,
    calibration_due: Annotated[str | None, typer.Option(help="Calibration due date, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Register a device; prints its id, HTTP token, MQTT credentials and telemetry topic (once)."""
    if public_key is None and not unsigned:
        raise fail("give --public-key FILE.pem, or --unsigned for a sensor that cannot sign")
    try:
        data = DeviceIn(
            room_id=room,
            kind=kind,
            code=code,
            name=name,
            gateway_id=gateway,
            public_key_pem=public_key.read_text() if public_key else None,
            signing=not unsigned,
            sampling_interval_s=interval,
            calibration_certificate=calibration_certificate,
            calibration_due=date.fromisoformat(calibration_due) if calibration_due else None,
        )
    except (ValidationError, ValueError, OSError) as error:
        raise fail(f"invalid input: {error}") from error
    database = open_database(get_settings())
    try:
        made = registry.register(UnitOfWork(database.write_session), SYSTEM, data)
    except DomainError as error:
        raise fail(str(error)) from error
    print_row(
        {
            "id": made.device.id,
            "code": made.device.code,
            "kind": made.device.kind.value,
            "room_id": made.device.room_id,
            "signing": made.device.signing,
            "http_token": made.http_token,
            "mqtt_username": made.device.mqtt_username,
            "mqtt_password": made.mqtt_password,
            "topic": made.topic,
        },
        as_json,
    )


@devices_app.command("list")
def devices_list(
    room: Annotated[int | None, typer.Option("--room", help="Only this room's devices")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    database = open_database(get_settings())
    with database.reading() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": d.id,
                "code": d.code,
                "kind": d.kind.value,
                "room_id": d.room_id,
                "status": d.status.value,
                "signing": d.signing,
                "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
                "topic": registry.topic_of(session, d),
            }
            for d in registry.list_devices(session, SYSTEM, room_id=room)
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            typer.echo(
                f"{row['id']:>5}  {row['code']:<12} {row['kind']:<12} room {row['room_id']:<5} "
                f"{row['status']}"
            )


@devices_app.command("rotate-key")
def devices_rotate_key(
    device: Annotated[int, typer.Option("--device", help="Device id")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The new Ed25519 public key (PEM)")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail)")],
) -> None:
    database = open_database(get_settings())
    try:
        data = RotateKeyIn(public_key_pem=public_key.read_text(), reason=reason)
        found = registry.rotate_key(UnitOfWork(database.write_session), SYSTEM, device, data)
    except (DomainError, ValidationError, OSError) as error:
        raise fail(str(error)) from error
    print_row({"id": found.id, "code": found.code, "key_version": found.key_version}, False)


@devices_app.command("retire")
def devices_retire(
    device: Annotated[int, typer.Option("--device", help="Device id")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail)")],
) -> None:
    database = open_database(get_settings())
    try:
        found = registry.retire(UnitOfWork(database.write_session), SYSTEM, device, RetireIn(reason=reason))
    except (DomainError, ValidationError) as error:
        raise fail(str(error)) from error
    print_row({"id": found.id, "code": found.code, "status": found.status.value}, False)


@devices_app.command("broker-files")
def devices_broker_files(
    out: Annotated[Path, typer.Option("--out", help="Folder for mosquitto.passwd and mosquitto.acl")],
    ingest_user: Annotated[str, typer.Option(help="MQTT user of `coldpledge ingest`")] = "coldpledge-ingest",
) -> None:
    """Write a Mosquitto password file and ACL: each active device may publish only under its own
    topic; the ingest user may read them all. Its password is read from standard input."""
    password = typer.prompt("Password for the ingest user", hide_input=True)
    database = open_database(get_settings())
    with database.reading() as session:
        accounts = [
            credentials.BrokerAccount(
                d.mqtt_username, d.mqtt_password_hash, registry.topic_of(session, d).rsplit("/", 1)[0]
            )
            for d in session.scalars(
                select(Device).where(Device.status == DeviceStatus.ACTIVE).order_by(Device.id)
            )
        ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "mosquitto.passwd").write_text(
        credentials.mosquitto_password_file(
            accounts, ingest_user=ingest_user, ingest_hash=credentials.mosquitto_hash(password)
        )
    )
    (out / "mosquitto.passwd").chmod(0o600)
    (out / "mosquitto.acl").write_text(credentials.mosquitto_acl_file(accounts, ingest_user=ingest_user))
    typer.echo(f"wrote {out / 'mosquitto.passwd'} and {out / 'mosquitto.acl'} for {len(accounts)} devices")


def ingest_command(
    mqtt_url: Annotated[
        str | None, typer.Option(help="mqtt://user:password@host:1883 (default COLDPLEDGE_MQTT_URL)")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id; one persistent session per id")
    ] = None,
    shared_group: Annotated[
        str | None, typer.Option(help="Share the stream with other workers of this group ($share/GROUP/...)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics")
    ] = None,
    session_expiry: Annotated[
        int, typer.Option(help="Seconds the broker keeps our session and queue while we are away")
    ] = 7 * 24 * 3600,
    writers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Chunks stored at once, each in its own transaction (default COLDPLEDGE_INGEST_WRITERS, 2)",
        ),
    ] = None,
) -> None:
    """Consume telemetry from the MQTT broker into the database; acknowledges only after commit."""
    from coldpledge.iot.worker import IngestWorker, serve_metrics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    database = open_database(settings)
    try:
        worker = IngestWorker(
            database,
            settings,
            mqtt_url=mqtt_url,
            client_id=client_id,
            shared_group=shared_group,
            session_expiry=session_expiry,
            writers=writers,
        )
    except ValueError as error:
        raise fail(str(error)) from error
    if metrics_port:
        serve_metrics(worker.metrics, metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # What is loaded by now (modules, mappers, settings) lives as long as the process. Frozen, the
    # collector stops walking it on every full collection, which the objects each message makes
    # trigger: a fifth of the service's CPU per one-reading message (docs/PERFORMANCE.md).
    gc.collect()
    gc.freeze()
    # The rules' states (a few objects a device and rule) live on between chunks, and each full
    # collection walked them all: 28 of them, 22 ms each, in 300,000 readings, and young
    # collections every 700 allocations of a worker that allocates millions a chunk. Little of
    # what a chunk makes forms cycles (reference counting frees it), so the collector runs far
    # less often (docs/PERFORMANCE.md, "Rules on the ingest path").
    gc.set_threshold(*INGEST_GC_THRESHOLDS)
    sys.setswitchinterval(INGEST_SWITCH_INTERVAL_S)
    worker.run(stop)
    typer.echo(json.dumps(worker.metrics.snapshot()))


@telemetry_app.command("maintain")
def telemetry_maintain() -> None:
    """Create the coming days' partitions and apply the retention settings (the worker does this
    hourly too)."""
    from coldpledge.iot.retention import maintain

    settings = get_settings()
    typer.echo(json.dumps(maintain(open_database(settings), settings)))
