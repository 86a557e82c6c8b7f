"""Settings, read only from the environment (``COLDPLEDGE_*``), with SQLite as the default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "coldpledge-development-only-secret-key-change-me"  # noqa: S105 - refused in prod, see below


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDPLEDGE_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite:///var/coldpledge.sqlite3"
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # Access tokens are short-lived; a stolen token stops working within the hour.
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 14)
    secure_cookies: bool = False
    attachments_dir: Path = Path("var/attachments")
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    timezone: str = "Asia/Shanghai"
    default_locale: Literal["zh_Hans_CN", "en"] = "zh_Hans_CN"
    public_base_url: str = "http://127.0.0.1:8000"
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # argon2id cost; the test suite lowers it so thousands of hashes stay fast.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=65536, ge=8)
    # The evidence log (DESIGN §8). The origin names the log in every checkpoint; by default it is
    # derived from the public address. The key file holds the Ed25519 signing key in the Go
    # sumdb/note format; outside prod it is created on first use, in prod it must exist.
    log_origin: str | None = None
    log_key_file: Path = Path("var/evidence-log.key")
    checkpoint_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    sequencer_batch: int = Field(default=10_000, ge=1, le=1_000_000)
    # An RFC 3161 timestamp authority for checkpoints (optional), and the PEM file of the root
    # certificates its tokens must chain to.
    tsa_url: str | None = None
    tsa_roots_file: Path | None = None
    # Authorities charge per token: stamp the latest checkpoint at most this often. Entries logged
    # in between are covered by the next stamped checkpoint through consistency.
    tsa_interval_seconds: float = Field(default=300, ge=0, le=86_400)
    # Telemetry (DESIGN §4). Without an MQTT URL the demo's gateways send over HTTP.
    mqtt_url: str | None = None
    mqtt_client_id: str = "coldpledge-ingest"
    mqtt_topic: str = "coldpledge/v1/+/+/+/telemetry"
    # Workers sharing this group split the stream ($share/GROUP/topic, MQTT 5 shared subscription).
    mqtt_shared_group: str | None = None
    # One ingest transaction takes up to this many messages, or what arrived within the wait.
    ingest_chunk_messages: int = Field(default=500, ge=1, le=100_000)
    ingest_chunk_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # ... and up to this many payload bytes, which bounds the worker's memory whatever the batch size.
    ingest_chunk_bytes: int = Field(default=4 * 1024 * 1024, ge=65_536, le=1024 * 1024 * 1024)
    # Chunks stored at once by one worker, each in its own transaction: while the database works
    # on one chunk, the next is parsed and its signatures checked. Acknowledgements stay in order.
    ingest_writers: int = Field(default=2, ge=1, le=16)
    # Judge readings against the supervision rules as they are stored (issue 5); off only to
    # measure what the rules cost.
    rules_on_ingest: bool = True
    # A device is offline when nothing arrived for this many sampling intervals.
    device_offline_intervals: int = Field(default=3, ge=1, le=1000)
    partition_days_ahead: int = Field(default=7, ge=1, le=366)
    # Retention per table, in days.
    retention_raw_days: int = Field(default=400, ge=1)
    retention_1m_days: int = Field(default=800, ge=1)
    retention_1h_days: int = Field(default=3650, ge=1)
    retention_dead_letter_days: int = Field(default=90, ge=1)
    # Notifications (issue 5). Without an SMTP host e-mails wait, unsent, until one is configured.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "coldpledge@localhost"
    # "starttls" upgrades a plain connection (port 587), "tls" connects over TLS (465), "none" neither.
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=10, gt=0, le=300)
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # A failed delivery is tried again after base × 2^(attempt−1) seconds (at most the cap), less a
    # random part of up to half so that receivers coming back up are not hit all at once; after
    # the last attempt allowed it is given up. The defaults span about a day.
    delivery_max_attempts: int = Field(default=10, ge=1, le=100)
    delivery_backoff_base_seconds: float = Field(default=60, gt=0, le=86_400)
    delivery_backoff_max_seconds: float = Field(default=6 * 3600, gt=0, le=7 * 86_400)
    delivery_batch: int = Field(default=100, ge=1, le=10_000)
    # Mark-to-market (issue 6): the scheduler marks a business day once its prices are in, from
    # this time of day on (HH:MM, China time).
    mtm_after: str = Field(default="15:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 32:
            raise ValueError("COLDPLEDGE_SECRET_KEY must be at least 32 bytes (HS256 needs a 256-bit key)")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql+psycopg:")):
            raise ValueError("COLDPLEDGE_DATABASE_URL must be sqlite:///... or postgresql+psycopg://...")
        return value

    @model_validator(mode="after")
    def _no_dev_secret_in_prod(self) -> Settings:
        if self.env == "prod" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("COLDPLEDGE_SECRET_KEY must be set to a private value when COLDPLEDGE_ENV=prod")
        return self

    @property
    def origin(self) -> str:
        """The log's name: schema-less, like ``bank.example.cn/evidence`` (C2SP tlog-checkpoint)."""
        if self.log_origin:
            return self.log_origin
        host = self.public_base_url.split("://", 1)[-1].rstrip("/")
        return f"{host}/evidence"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
