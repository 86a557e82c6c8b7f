"""Alembic environment: the URL comes from the caller (``coldpledge db upgrade``) or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from coldpledge.config import get_settings
from coldpledge.db import make_engine
from coldpledge.models import metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can barely ALTER; batch mode rebuilds tables there and is plain ALTER elsewhere.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    with engine.connect() as fresh:
        run(fresh)
    engine.dispose()
