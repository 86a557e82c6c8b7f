"""The gateway's configuration: one TOML file (``docs/edge.example.toml`` documents every key).

A gateway runs unattended on site, so a bad file must fail at start with a message naming the key,
not hours later when a driver first touches the bad value.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from coldpledge.iot.payload import MAX_READINGS, METRICS

# Codes travel in topics and payloads: no MQTT wildcards or separators, at most the payload's 64.
DeviceCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
TOPIC = re.compile(r"^coldpledge/v1/[^/+#]+/[^/+#]+/(?P<gateway>[^/+#]+)/telemetry$")
SimulatedMetric = Literal["temperature", "humidity", "door", "weight"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    url: str
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    keepalive_seconds: int = Field(default=30, ge=5, le=3600)
    # The longest wait between reconnection attempts (they back off exponentially from 1 s).
    reconnect_max_seconds: int = Field(default=60, ge=1, le=3600)

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if parts.scheme != "mqtt" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError("must look like mqtt://host:port")
        if parts.username or parts.password:
            raise ValueError("put the credentials in mqtt.username and mqtt.password, not in the url")
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        return url

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 1883


class HttpSettings(_Section):
    """Send over HTTP instead of MQTT: ``POST {url}/api/v1/telemetry`` with the device token."""

    url: str = Field(pattern=r"^https?://[^/?#]+/?$")
    token: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Failed sends are retried after a pause that doubles up to this many seconds.
    retry_max_seconds: float = Field(default=60.0, ge=1, le=3600)


class RoomProfile(_Section):
    """How a simulated cold room behaves; the defaults are a frozen store in a warm climate."""

    set_point: float = Field(default=-18.0, ge=-40, le=15)
    # The compressor starts at set_point + band and stops at set_point - band.
    band: float = Field(default=1.0, gt=0, le=10)
    ambient: float = Field(default=30.0, ge=-20, le=50)
    # Newton's law: the time constant of heat leaking in through the insulated walls.
    insulation_hours: float = Field(default=10.0, gt=0)
    # What the running compressor takes out, in °C per hour of air temperature.
    pull_down_per_hour: float = Field(default=18.0, gt=0)
    defrost_every_hours: float = Field(default=6.0, gt=0)
    defrost_minutes: float = Field(default=20.0, ge=0)
    defrost_heat_per_hour: float = Field(default=15.0, ge=0)
    door_openings_per_hour: float = Field(default=1.0, ge=0)
    drift_per_day: float = Field(default=0.02, ge=-1, le=1)
    noise: float = Field(default=0.05, ge=0, le=2)
    humidity: float = Field(default=90.0, ge=0, le=100)
    load_kg: float = Field(default=12_000.0, ge=0, le=200_000)
    compressor_fails_after_hours: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _compressor_can_hold(self) -> RoomProfile:
        gain = (self.ambient - (self.set_point + self.band)) / self.insulation_hours
        if self.pull_down_per_hour <= gain:
            raise ValueError(
                f"pull_down_per_hour must exceed the heat gain at the set point ({gain:.1f} °C/h), "
                "or the room can never reach it"
            )
        if self.defrost_minutes >= self.defrost_every_hours * 60:
            raise ValueError("defrost_minutes must be shorter than defrost_every_hours")
        return self


class SimulatedSensor(_Section):
    code: DeviceCode
    metrics: tuple[SimulatedMetric, ...] = Field(min_length=1)


class SimulatorDriverSettings(_Section):
    kind: Literal["simulator"]
    interval_seconds: float = Field(default=60.0, gt=0, le=86_400)
    seed: int = 0
    room: RoomProfile = RoomProfile()
    sensors: tuple[SimulatedSensor, ...] = Field(min_length=1)

    def channels(self) -> list[tuple[str, str]]:
        return [(sensor.code, metric) for sensor in self.sensors for metric in sensor.metrics]


class ModbusRegister(_Section):
    device: DeviceCode
    metric: str
    address: int = Field(ge=0, le=65_535)
    register_type: Literal["holding", "input"] = "holding"
    data_type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "int16"
    # Engineering value = raw × scale: a controller sending -185 for -18.5 °C has scale 0.1.
    scale: float = 1.0

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS or metric == "backlog":
            raise ValueError(
                f"unknown metric {metric!r}; one of {', '.join(sorted(set(METRICS) - {'backlog'}))}"
            )
        return metric

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, scale: float) -> float:
        if scale == 0:
            raise ValueError("scale must not be 0")
        return scale


class ModbusDriverSettings(_Section):
    kind: Literal["modbus"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65_535)
    unit_id: int = Field(default=1, ge=0, le=255)
    interval_seconds: float = Field(default=10.0, gt=0, le=86_400)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Which 16-bit register holds the high half of a 32-bit value; many controllers swap them.
    word_order: Literal["big", "little"] = "big"
    registers: tuple[ModbusRegister, ...] = Field(min_length=1)

    def channels(self) -> list[tuple[str, str]]:
        return [(register.device, register.metric) for register in self.registers]


DriverSettings = Annotated[SimulatorDriverSettings | ModbusDriverSettings, Field(discriminator="kind")]


class EdgeConfig(_Section):
    gateway: DeviceCode
    topic: str
    private_key: Path
    buffer: Path
    batch_readings: int = Field(default=50, ge=1, le=MAX_READINGS)
    flush_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    max_inflight: int = Field(default=100, ge=1, le=1000)
    replay_messages_per_second: float = Field(default=200.0, gt=0)
    backlog_report_seconds: float = Field(default=60.0, gt=0)
    # On SIGTERM, how long to keep sending before exiting; whatever is left stays in the buffer.
    shutdown_drain_seconds: float = Field(default=5.0, ge=0, le=300)
    mqtt: MqttSettings | None = None
    http: HttpSettings | None = None
    drivers: tuple[DriverSettings, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> EdgeConfig:
        if (self.mqtt is None) == (self.http is None):
            raise ValueError("give exactly one of [mqtt] and [http]: how the gateway sends")
        match = TOPIC.match(self.topic)
        if match is None:
            raise ValueError("topic must look like coldpledge/v1/{org}/{warehouse}/{gateway}/telemetry")
        if match["gateway"] != self.gateway:
            raise ValueError(f"topic must name this gateway ({self.gateway}), not {match['gateway']}")
        seen: set[tuple[str, str]] = set()
        for index, driver in enumerate(self.drivers):
            for device, metric in driver.channels():
                if device == self.gateway:
                    raise ValueError(f"drivers[{index}]: {device} is the gateway's own code")
                # Two sources for one channel would give the platform two values with the same
                # (device, metric, ts) key, and it keeps only the first.
                if (device, metric) in seen:
                    raise ValueError(f"drivers[{index}]: {device} {metric} is read by two drivers")
                seen.add((device, metric))
        return self


def load_config(path: Path) -> EdgeConfig:
    """Read and check ``path``; relative paths inside it are relative to its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(f"{path}: {_describe(problem)}" for problem in error.errors())
        raise ConfigError(problems) from None
    base = path.parent
    return config.model_copy(
        update={"private_key": base / config.private_key, "buffer": base / config.buffer}
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The gateway's Ed25519 signing key, PEM (PKCS #8), unencrypted: it must start unattended."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise ConfigError(f"private_key: {path} cannot be read: {error.strerror}") from None
    except (ValueError, TypeError) as error:
        raise ConfigError(f"private_key: {path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"private_key: {path} is not an Ed25519 key")
    return key


def _describe(problem: Any) -> str:
    where = _where(problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        # A discriminated union puts the driver's kind into the location; the file has no such key.
        elif index >= 2 and loc[index - 2] == "drivers" and part in ("simulator", "modbus"):
            continue
        else:
            text += f".{part}" if text else part
    return text
