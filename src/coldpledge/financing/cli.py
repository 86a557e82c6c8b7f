"""Command line of financing: ``coldpledge financing accrue``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated

import typer

from coldpledge.calendar import business_date
from coldpledge.clitools import fail, open_database
from coldpledge.config import get_settings
from coldpledge.db import utcnow
from coldpledge.errors import DomainError
from coldpledge.financing.accrual import accrue
from coldpledge.uow import UnitOfWork

financing_app = typer.Typer(help="Financing: daily interest accrual.", no_args_is_help=True)


@financing_app.command("accrue")
def accrue_command(
    on: Annotated[
        str | None,
        typer.Option(
            "--date", help="Business date to accrue through, YYYY-MM-DD (default: yesterday, Asia/Shanghai)"
        ),
    ] = None,
) -> None:
    """Accrue daily interest and penalty interest through a business date; safe to run again, and
    from two schedulers at once. Run it after the business day has ended (the default is yesterday),
    so that the day's repayments are in."""
    try:
        through = date.fromisoformat(on) if on else business_date(utcnow()) - timedelta(days=1)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    database = open_database(get_settings())
    try:
        run = accrue(UnitOfWork(database.write_session), through)
    except DomainError as exc:
        raise fail(str(exc)) from exc
    finally:
        database.dispose()
    typer.echo(json.dumps(asdict(run), default=str, ensure_ascii=False))
