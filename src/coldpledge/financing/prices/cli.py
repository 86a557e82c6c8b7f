"""``coldpledge prices ...``: import a CSV file as a person, take in a vendor's feed directory, and
list the stale series (for a scheduler or a monitoring check)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from coldpledge.calendar import business_date
from coldpledge.clitools import fail, open_database, print_row
from coldpledge.config import get_settings
from coldpledge.db import utcnow
from coldpledge.errors import DomainError
from coldpledge.financing.prices import csvimport, feeds, service
from coldpledge.financing.prices.csvimport import ImportRejected
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM
from coldpledge.parties.service import principal_for
from coldpledge.uow import UnitOfWork

prices_app = typer.Typer(help="Prices: CSV import, vendor feeds, staleness.", no_args_is_help=True)
# A feed run looks back this far by default: a vendor's late corrections and a missed run are caught.
FEED_LOOKBACK_DAYS = 10


@prices_app.command("import")
def prices_import(
    file: Annotated[Path, typer.Argument(help="CSV file: series, price_date, unit, low, mid, high, ...")],
    user: Annotated[
        str, typer.Option("--user", help="Username of the operator importing (not the approver)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Import a CSV file of prices as USER, all rows or none; they wait for another's approval."""
    database = open_database(get_settings())
    with database.reading() as session:
        found = session.scalars(select(User).where(User.username == user.strip().lower())).first()
        if found is None or not found.is_active:
            raise fail(f"no active user {user}")
        principal = principal_for(found)
    try:
        result = csvimport.import_csv(UnitOfWork(database.write_session), principal, file.read_bytes())
    except ImportRejected as error:
        for row in error.errors:
            typer.secho(f"row {row.row} {row.column or ''}: {row.text()}", fg=typer.colors.RED, err=True)
        raise fail(str(error)) from error
    except (DomainError, OSError) as error:
        raise fail(str(error)) from error
    for observation in result.observations:
        print_row(
            {
                "id": observation.id,
                "series_id": observation.series_id,
                "price_date": observation.price_date.isoformat(),
                "mid_fen_per_t": observation.price_mid_fen_per_t,
                "status": observation.status.value,
                "outlier": observation.is_outlier,
            },
            as_json,
        )


@prices_app.command("feed")
def prices_feed(
    directory: Annotated[Path, typer.Argument(help="Directory the vendor drops its CSV or JSON files in")],
    source: Annotated[str, typer.Option("--source", help="The source the series are registered under")],
    since: Annotated[
        str | None, typer.Option("--since", help=f"YYYY-MM-DD; default {FEED_LOOKBACK_DAYS} days ago")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Take in a vendor's quotes; safe to run again and by two schedulers at once."""
    if not directory.is_dir():
        raise fail(f"{directory} is not a directory")
    try:
        start = (
            date.fromisoformat(since)
            if since
            else business_date(utcnow()) - timedelta(days=FEED_LOOKBACK_DAYS)
        )
    except ValueError as error:
        raise fail(f"--since: {error}") from error
    database = open_database(get_settings())
    feed = feeds.DirectoryFeed(source=source, directory=directory)
    report = feeds.import_feed(UnitOfWork(database.write_session), feed, start)
    for problem in report.problems:
        typer.secho(problem, fg=typer.colors.YELLOW, err=True)
    summary = {
        "stored": len(report.stored),
        "approved": report.approved,
        "outliers": report.outliers,
        "unchanged": report.unchanged,
        "problems": len(report.problems),
    }
    typer.echo(
        json.dumps(summary) if as_json else "  ".join(f"{key}={value}" for key, value in summary.items())
    )


@prices_app.command("stale")
def prices_stale(
    on: Annotated[str | None, typer.Option("--date", help="Business date YYYY-MM-DD; default today")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the active series whose latest approved price is too old; exit 2 when there are any."""
    try:
        day = date.fromisoformat(on) if on else business_date(utcnow())
    except ValueError as error:
        raise fail(f"--date: {error}") from error
    database = open_database(get_settings())
    with database.reading() as session:
        stale = service.stale_series(session, SYSTEM, day)
        for answer in stale:
            print_row(
                {
                    "series": answer.series.code,
                    "latest_price_date": answer.latest_price_date.isoformat()
                    if answer.latest_price_date
                    else None,
                    "business_days_old": answer.business_days_old,
                    "limit": answer.series.stale_after_business_days,
                },
                as_json,
            )
    if stale:
        raise typer.Exit(2)
