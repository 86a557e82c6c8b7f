"""The ``coldpledge`` command: demo, serve, database, seed, organisations, users, devices, ingest,
edge, evidence."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from coldpledge.clitools import fail, open_database, print_row
from coldpledge.config import Settings, get_settings
from coldpledge.db import Database
from coldpledge.errors import DomainError
from coldpledge.financing.cli import financing_app
from coldpledge.financing.mtm_cli import mark_command
from coldpledge.financing.prices.cli import prices_app
from coldpledge.iot.cli import devices_app, ingest_command, telemetry_app
from coldpledge.iot.edge.command import edge_command
from coldpledge.migrate import alembic_config, differences, upgrade
from coldpledge.parties import service as parties
from coldpledge.parties.models import Organisation
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.uow import UnitOfWork

app = typer.Typer(
    help="coldpledge: cold-chain warehouse-receipt pledge supervision (冷链仓单质押融资监管平台)",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
seed_app = typer.Typer(help="Seed data.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organisations.", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
evidence_app = typer.Typer(
    help="The evidence log (存证): sequencing, checkpoints, witnesses, packages.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(evidence_app, name="evidence")
app.add_typer(seed_app, name="seed")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(devices_app, name="devices")
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(prices_app, name="prices")
app.add_typer(financing_app, name="financing")
financing_app.command("mark")(mark_command)
app.command("ingest")(ingest_command)
app.command("edge")(edge_command)

DEMO_DATABASE = "sqlite:///var/demo.sqlite3"


_database = open_database
_fail = fail


def _at_head(database: Database) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with database.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


# --- database ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to the latest schema."""
    settings = get_settings()
    database = _database(settings)
    upgrade(database.engine)
    typer.echo(f"database at the latest schema: {database.engine.url.render_as_string(hide_password=True)}")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree (a migration is missing)."""
    database = _database(get_settings())
    found = differences(database.engine)
    if found:
        for difference in found:
            typer.echo(repr(difference))
        raise _fail("models and migrations disagree: write a migration")
    typer.echo("models and migrations agree")


# --- seeding and the demo ---------------------------------------------------------------------


@seed_app.command("demo")
def seed_demo_command() -> None:
    """Seed the demo scenario (two banks, two borrowers, a keeper, a supervisor, goods and receipts)
    into the configured database, creating the demo logins. Does nothing if already seeded."""
    from coldpledge.seed.demo import seed_demo

    settings = get_settings()
    database = _database(settings)
    upgrade(database.engine)
    try:
        summary = seed_demo(database, settings)
    except DomainError as error:
        raise _fail(str(error)) from error
    typer.echo(summary.describe())


@app.command("scheduler")
def scheduler_command(
    once: Annotated[bool, typer.Option(help="Run one round and print what it did")] = False,
    interval_seconds: Annotated[float, typer.Option(min=1, help="Seconds between rounds")] = 30,
) -> None:
    """What no reading tells: periodic rules (device offline, expiry, cumulative excursion and
    MKT, stuck probes, doors left open, stock floor, stocktake variance, weight without release),
    work-order escalation and notification delivery; several may run at once."""
    from coldpledge.rules import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    database = _database(settings)
    if once:
        typer.echo(json.dumps(scheduler.tick(database, settings), default=str))
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.run(database, settings, stop, interval_seconds)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    reset: Annotated[bool, typer.Option(help="Start from an empty demo database")] = False,
) -> None:
    """Migrate and seed a demo database on SQLite (var/demo.sqlite3), print the logins and serve."""
    from coldpledge.seed.demo import seed_demo

    os.environ.setdefault("COLDPLEDGE_DATABASE_URL", DEMO_DATABASE)
    os.environ.setdefault("COLDPLEDGE_PUBLIC_BASE_URL", f"http://{host}:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    if not settings.is_sqlite:
        raise _fail("the demo runs on SQLite; unset COLDPLEDGE_DATABASE_URL or use `coldpledge seed demo`")
    if reset:
        path = Path(settings.database_url.split("sqlite:///", 1)[-1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    database = _database(settings)
    upgrade(database.engine)
    try:
        summary = seed_demo(database, settings)
    except DomainError as error:
        raise _fail(str(error)) from error
    database.dispose()
    typer.echo(summary.describe())
    typer.echo(
        f"\nServing on http://{host}:{port}  ·  API docs http://{host}:{port}/docs  ·  Ctrl-C to stop\n"
    )
    # The evidence log worker runs beside the server, as `coldpledge evidence run` would.
    from coldpledge.evidence import runner

    worker_database = Database(settings.database_url)
    _thread, stop = runner.start_in_background(worker_database, settings)
    # Simulated gateways, one per cold room, send to the server (or to the broker, read by an
    # ingest worker here, when COLDPLEDGE_MQTT_URL is set).
    edge_stop = _demo_telemetry(settings, worker_database, host, port)
    # And the scheduler, as `coldpledge scheduler` would: offline devices, expiries, escalations.
    from coldpledge.rules import scheduler

    threading.Thread(
        target=scheduler.run,
        args=(worker_database, settings, edge_stop, 30.0),
        name="demo scheduler",
        daemon=True,
    ).start()
    try:
        _serve(host, port, workers=1)
    finally:
        edge_stop.set()
        stop.set()
        worker_database.dispose()


def _demo_telemetry(settings: Settings, database: Database, host: str, port: int) -> threading.Event:
    from coldpledge.seed import telemetry

    folder = Path(settings.database_url.split("sqlite:///", 1)[-1]).parent / "demo-edge"
    _threads, stop = telemetry.start(database, settings, folder, base_url=f"http://{host}:{port}")
    if settings.mqtt_url:
        from coldpledge.iot.worker import IngestWorker

        worker = IngestWorker(database, settings, client_id="coldpledge-demo-ingest")
        threading.Thread(target=worker.run, args=(stop,), name="demo ingest", daemon=True).start()
    transport = f"MQTT via {settings.mqtt_url}" if settings.mqtt_url else "HTTP"
    typer.echo(f"Simulated gateways send telemetry over {transport} · 模拟网关上报温湿度等数据\n")
    return stop


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the HTTP API and pages on the configured database. Creates no users or data."""
    database = _database(get_settings())
    if not _at_head(database):
        raise _fail("the database schema is not current: run `coldpledge db upgrade` first")
    database.dispose()
    _serve(host, port, workers)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "coldpledge.web.main:app", host=host, port=port, workers=workers, proxy_headers=True, log_level="info"
    )


# --- organisations and users ------------------------------------------------------------------


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="Legal name, e.g. 浙商银行杭州分行")],
    party_type: Annotated[PartyType, typer.Option("--type", help="Party type")],
    name_en: Annotated[str | None, typer.Option(help="English name")] = None,
    credit_code: Annotated[str | None, typer.Option(help="统一社会信用代码 (18 characters)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create an organisation (recorded as done by the platform)."""
    database = _database(get_settings())
    try:
        org = parties.create_organisation(
            UnitOfWork(database.write_session),
            SYSTEM,
            OrganisationIn(name=name, party_type=party_type, name_en=name_en, credit_code=credit_code),
        )
    except DomainError as error:
        raise _fail(str(error)) from error
    _print({"id": org.id, "name": org.name, "party_type": org.party_type.value}, as_json)


@orgs_app.command("list")
def orgs_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    database = _database(get_settings())
    with database.reading() as session:
        rows = [
            {"id": org.id, "name": org.name, "party_type": org.party_type.value}
            for org in session.scalars(select(Organisation).order_by(Organisation.id))
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            typer.echo(f"{row['id']:>4}  {row['party_type']:<10}  {row['name']}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name: lowercase letters, digits, . _ -")],
    org_id: Annotated[int, typer.Option("--org-id", help="Organisation id (see `coldpledge orgs list`)")],
    role: Annotated[Role, typer.Option(help="Role within the organisation")],
    display_name: Annotated[str | None, typer.Option(help="Name shown in the product")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a user. The password is asked for (or read from stdin), never passed as an argument."""
    settings = get_settings()
    database = _database(settings)
    with database.reading() as session:
        if not session.scalar(select(func.count()).where(Organisation.id == org_id)):
            raise _fail(f"no organisation {org_id}")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password()
    try:
        user = parties.create_user(
            UnitOfWork(database.write_session),
            settings,
            SYSTEM,
            UserIn(
                username=username,
                display_name=display_name or username,
                organisation_id=org_id,
                role=role,
                password=password,
            ),
        )
    except DomainError as error:
        raise _fail(str(error)) from error
    except ValueError as error:
        raise _fail(f"invalid input: {error}") from error
    _print(
        {"id": user.id, "username": user.username, "role": user.role.value, "organisation_id": org_id},
        as_json,
    )


def _ask_password() -> str:
    first = getpass.getpass("Password (at least 10 characters): ")
    if first != getpass.getpass("Again: "):
        raise _fail("the passwords differ")
    return first


_print = print_row


# --- the evidence log -------------------------------------------------------------------------


@evidence_app.command("run")
def evidence_run(
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 0.25,
    once: Annotated[bool, typer.Option(help="One round, then exit")] = False,
) -> None:
    """Sequence the outbox into the log and sign checkpoints, until stopped. One leader at a time."""
    import threading

    from coldpledge.evidence import runner

    settings = get_settings()
    database = _database(settings)
    if once:
        typer.echo(f"sequenced {runner.step(database, settings)} entries")
        return
    stop = threading.Event()
    try:
        runner.run(database, settings, stop=stop, interval=interval)
    except KeyboardInterrupt:
        stop.set()


@evidence_app.command("keygen")
def evidence_keygen(
    name: Annotated[str, typer.Option(help="Key name: the log's origin, or the witness's name")],
    out: Annotated[Path, typer.Option(help="Where to write the private key (created mode 0600)")],
    witness: Annotated[bool, typer.Option(help="A witness cosignature key instead of a log key")] = False,
) -> None:
    """Create an Ed25519 key pair; print the public verifier key to share."""
    from coldpledge.evidence.keys import write_private
    from coldpledge.evidence.note import COSIGNATURE_V1, ED25519, Signer

    if out.exists():
        raise _fail(f"{out} exists; refusing to overwrite a key")
    signer = Signer.generate(name, COSIGNATURE_V1 if witness else ED25519)
    write_private(out, signer.skey + "\n")
    typer.echo(signer.verifier.vkey)


@evidence_app.command("add-witness")
def evidence_add_witness(
    vkey: Annotated[str, typer.Argument(help="The witness's verifier key (name+keyid+base64key)")],
    org_id: Annotated[int | None, typer.Option("--org-id", help="The organisation running it")] = None,
) -> None:
    """Accept cosignatures from a witness (a bank, an insurer, a 存证机构)."""
    from coldpledge.evidence import log as evidence_log
    from coldpledge.evidence.note import NoteError

    database = _database(get_settings())
    try:
        witness = evidence_log.register_witness(database.write_session, vkey, organisation_id=org_id)
    except NoteError as error:
        raise _fail(str(error)) from error
    typer.echo(f"witness {witness.name} registered")


@evidence_app.command("export")
def evidence_export(
    subject: Annotated[str, typer.Option(help="What the package is about: receipt:CODE, lot:CODE, type:ref")],
    out: Annotated[Path, typer.Option(help="The package to write (.zip)")],
    disclose: Annotated[
        bool, typer.Option(help="Include each entry's private payload and salt (for a court that asks)")
    ] = False,
    checkpoint: Annotated[
        int | None, typer.Option(help="Prove against the checkpoint of this tree size (default: the latest)")
    ] = None,
) -> None:
    """Write an evidence package (证据包): the entries about a subject, their inclusion proofs, the
    checkpoint with cosignatures and timestamps, the public keys and a report. `coldpledge verify`
    checks it offline."""
    from coldpledge.evidence.keys import load_log_signer
    from coldpledge.evidence.package import ExportError, export_package, write_package

    settings = get_settings()
    # Never make up a key here (load_log_signer would, outside production): nothing would verify.
    if not Path(settings.log_key_file).exists():
        raise _fail(f"no log key at {settings.log_key_file}: the package must be signed by the log's key")
    try:
        roots = Path(settings.tsa_roots_file).read_bytes() if settings.tsa_roots_file else None
    except OSError as error:
        raise _fail(f"cannot read COLDPLEDGE_TSA_ROOTS_FILE: {error}") from error
    database = _database(settings)
    try:
        with database.reading() as session:
            package = export_package(
                session,
                load_log_signer(settings),
                subject,
                disclose=disclose,
                checkpoint_size=checkpoint,
                tsa_roots=roots,
            )
    except ExportError as error:
        raise _fail(str(error)) from error
    write_package(out, package.data)
    typer.echo(f"{out}: {package.describe()}")
    for warning in package.warnings:
        typer.secho(warning, fg=typer.colors.YELLOW, err=True)


@app.command("verify")
def verify_command(
    package: Annotated[Path, typer.Argument(help="The evidence package (.zip)")],
    log_key: Annotated[
        str | None,
        typer.Option(
            help="The log's verifier key, or a file holding it (default: the package's own, said so)"
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None, typer.Option(help="A witness's verifier key or its file; repeat for each")
    ] = None,
    tsa_roots: Annotated[
        Path | None, typer.Option(help="PEM root certificates of the timestamp authority")
    ] = None,
    quorum: Annotated[int, typer.Option(min=0, help="How many witnesses must have cosigned")] = 0,
    lang: Annotated[str, typer.Option(help="Report language: zh (中文) or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Check an evidence package offline (no database, no network). Exits 0 when everything
    verifies, 1 naming each file, entry, proof or signature that does not."""
    from coldpledge.evidence.package_report import render
    from coldpledge.evidence.verify import Trust, verify_package

    if lang not in ("zh", "en"):
        raise _fail("--lang is zh or en")
    try:
        data = package.read_bytes()
        trust = Trust(
            log_key=_key_argument(log_key) if log_key else None,
            witness_keys=tuple(_key_argument(key) for key in witness_key or ()),
            tsa_roots=tsa_roots.read_bytes() if tsa_roots else None,
            quorum=quorum,
        )
    except OSError as error:
        raise _fail(f"cannot read {error.filename}: {error.strerror}") from error
    result = verify_package(data, trust)
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(result, lang))
        for finding in result.failures:
            typer.echo(f"FAIL {finding.text(lang)}", err=True)
    raise typer.Exit(0 if result.ok else 1)


def _key_argument(value: str) -> str:
    """A verifier key given as text, or as the path of a file holding it."""
    path = Path(value)
    return path.read_text().strip() if "+" not in value or path.is_file() else value


@evidence_app.command("audit")
def evidence_audit(
    vkey: Annotated[
        str | None, typer.Option(help="The log's verifier key (default: from the log's key file)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON")] = False,
) -> None:
    """Recompute the evidence log from the database and report every entry, leaf, tree hash,
    checkpoint or business row changed, deleted or reordered behind its back. Exits 0 when clean,
    1 when anything is found, 2 when it cannot run."""
    from coldpledge.evidence.audit import audit_database
    from coldpledge.evidence.keys import KeyFileMissing, load_log_signer
    from coldpledge.evidence.note import NoteError, parse_vkey

    settings = get_settings()
    # Never make up a key here (load_log_signer would, outside production): nothing would verify.
    if vkey is None and not Path(settings.log_key_file).exists():
        raise _fail(f"no log key at {settings.log_key_file}: pass the log's --vkey", 2)
    try:
        verifier = parse_vkey(vkey) if vkey is not None else load_log_signer(settings).verifier
    except (NoteError, KeyFileMissing) as error:
        raise _fail(str(error), 2) from error
    database = _database(settings)
    try:
        report = audit_database(database, verifier)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo("\n".join(report.lines()))
    raise typer.Exit(0 if report.clean else 1)


@app.command("witness")
def witness_command(
    log_url: Annotated[str, typer.Option(help="The log's address, e.g. https://coldpledge.example.cn")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key or its file, pinned (never fetched)")],
    key_file: Annotated[Path, typer.Option(help="This witness's key (`evidence keygen --witness`)")],
    state_file: Annotated[Path, typer.Option(help="The witness's memory of the last checkpoint it cosigned")],
    origin: Annotated[str | None, typer.Option(help="The log's origin (default: the log key's name)")] = None,
    once: Annotated[bool, typer.Option(help="One round, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds", min=0.1)] = 10.0,
    fork_reviewed: Annotated[
        bool, typer.Option(help="A person has read the fork evidence: check the log again")
    ] = False,
) -> None:
    """Witness the evidence log (run by a bank): cosign each checkpoint that extends the last one
    seen. Exits 0 when all is well, 1 on an error (retried while polling), 2 when the log showed
    an inconsistent checkpoint (see the fork-evidence file next to the state file)."""
    from coldpledge.evidence import witness as witnessing

    try:
        config = witnessing.Witness.configure(
            log_url=log_url,
            log_key=_key_argument(log_key),
            key_file=key_file,
            state_file=state_file,
            origin=origin,
        )
    except (ValueError, OSError) as error:
        raise _fail(str(error)) from error
    try:
        status = witnessing.run(config, once=once, interval=interval, fork_reviewed=fork_reviewed)
    except KeyboardInterrupt:
        status = witnessing.EXIT_OK
    raise typer.Exit(status)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
