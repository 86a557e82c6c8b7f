"""Run and check migrations from code (the CLI and the tests use these)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from coldpledge.models import metadata


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "coldpledge:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def differences(engine: Engine) -> list[Any]:
    """What the models have that the migrated database lacks (and the reverse); empty when they agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_a_partition}
        )
        return list(compare_metadata(context, metadata))


def _not_a_partition(name: str | None, type_: str, parent_names: Any) -> bool:
    """Daily partitions of ``readings`` are made at run time (``iot.partitions``), not by models."""
    return not (type_ == "table" and name is not None and name.startswith("readings_"))
