"""Settings refuse what would make a deployment unsafe or unusable, at start-up rather than later."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from coldpledge.config import DEV_SECRET, Settings

A_REAL_SECRET = "k" * 32


def make(**values: Any) -> Settings:
    return Settings(**values)


@pytest.fixture(autouse=True)
def _no_settings_from_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever COLDPLEDGE_* happens to be set where the tests run must not decide these answers.
    for name in [name for name in os.environ if name.startswith("COLDPLEDGE_")]:
        monkeypatch.delenv(name)


def test_the_defaults_are_a_development_setup_on_sqlite() -> None:
    settings = make()
    assert settings.env == "dev"
    assert settings.is_sqlite
    assert settings.login_max_failures == 5
    assert settings.login_lockout_minutes == 15


def test_a_secret_key_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make(secret_key="k" * 31)


def test_the_secret_key_length_counts_bytes_not_characters() -> None:
    # Eleven Chinese characters are 33 bytes in UTF-8: long enough for HS256.
    assert make(secret_key="冷" * 11).secret_key.get_secret_value() == "冷" * 11
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make(secret_key="冷" * 10)


def test_the_development_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="COLDPLEDGE_ENV=prod"):
        make(env="prod")
    with pytest.raises(ValidationError, match="COLDPLEDGE_ENV=prod"):
        make(env="prod", secret_key=DEV_SECRET)


def test_production_starts_with_a_private_secret() -> None:
    assert make(env="prod", secret_key=A_REAL_SECRET).env == "prod"


def test_the_development_secret_is_fine_outside_production() -> None:
    assert make(env="test").secret_key.get_secret_value() == DEV_SECRET


def test_settings_come_from_coldpledge_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDPLEDGE_ENV", "prod")
    monkeypatch.setenv("COLDPLEDGE_SECRET_KEY", A_REAL_SECRET)
    monkeypatch.setenv("COLDPLEDGE_DATABASE_URL", "postgresql+psycopg://app@db/coldpledge")
    settings = Settings()
    assert settings.env == "prod"
    assert not settings.is_sqlite


def test_the_environment_cannot_smuggle_the_dev_secret_into_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDPLEDGE_ENV", "prod")
    with pytest.raises(ValidationError, match="COLDPLEDGE_SECRET_KEY"):
        Settings()


@pytest.mark.parametrize(
    "url", ["sqlite:///var/coldpledge.sqlite3", "sqlite://", "postgresql+psycopg://app:pw@db:5432/coldpledge"]
)
def test_sqlite_and_postgresql_urls_are_accepted(url: str) -> None:
    assert make(database_url=url).database_url == url


@pytest.mark.parametrize(
    "url",
    [
        "mysql://app@db/coldpledge",
        "postgresql://app@db/coldpledge",  # psycopg2 is not what we ship
        "postgresql+asyncpg://app@db/coldpledge",
        "oracle://db",
        "",
    ],
)
def test_other_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="COLDPLEDGE_DATABASE_URL"):
        make(database_url=url)


def test_an_unknown_environment_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="env"):
        make(env="staging")


@pytest.mark.parametrize(
    "values",
    [
        {"access_token_minutes": 0},
        {"access_token_minutes": 24 * 60 + 1},
        {"attachment_max_bytes": 100},
        {"login_max_failures": 0},
        {"password_memory_kib": 4},
        {"ingest_writers": 0},
        {"ingest_writers": 17},
    ],
)
def test_limits_outside_their_range_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match=next(iter(values))):
        make(**values)


def test_the_ingest_worker_stores_two_chunks_at_once_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert make().ingest_writers == 2
    monkeypatch.setenv("COLDPLEDGE_INGEST_WRITERS", "1")
    assert Settings().ingest_writers == 1
