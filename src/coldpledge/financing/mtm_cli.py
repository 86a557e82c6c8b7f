"""``coldpledge financing mark``: the day's mark-to-market by hand (the scheduler runs it daily)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from coldpledge.calendar import business_date
from coldpledge.clitools import fail, open_database
from coldpledge.config import get_settings
from coldpledge.db import utcnow
from coldpledge.errors import DomainError
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.uow import UnitOfWork


def mark_command(
    on: Annotated[
        str | None,
        typer.Option("--date", help="Business date to mark, YYYY-MM-DD (default: today, Asia/Shanghai)"),
    ] = None,
) -> None:
    """Value every facility's collateral at the day's prices and move its risk state (margin
    calls, alerts, liquidation). Safe to run again, and from two places at once: a facility is
    marked once per business date."""
    try:
        day = date.fromisoformat(on) if on else business_date(utcnow())
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    database = open_database(get_settings())
    try:
        run = mark_to_market(lambda: UnitOfWork(database.write_session), day)
    except DomainError as exc:
        raise fail(str(exc)) from exc
    finally:
        database.dispose()
    typer.echo(json.dumps(run.as_dict(), default=str, ensure_ascii=False))
