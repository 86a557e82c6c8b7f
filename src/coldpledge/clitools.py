"""Small helpers every command-line module shares."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from coldpledge.config import Settings
from coldpledge.db import Database


def open_database(settings: Settings) -> Database:
    if settings.is_sqlite:
        path = settings.database_url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Database(settings.database_url)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def print_row(row: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        typer.echo("  ".join(f"{key}={value}" for key, value in row.items()))
