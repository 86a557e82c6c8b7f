"""The gateway's TOML configuration: the documented example, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from typer.testing import CliRunner

from coldpledge.cli import app as cli
from coldpledge.iot.edge.config import (
    ConfigError,
    ModbusDriverSettings,
    SimulatorDriverSettings,
    load_config,
    load_private_key,
)

EXAMPLE = Path(__file__).parents[2] / "docs" / "edge.example.toml"

MINIMAL = """
gateway = "GW-7Q2M4K"
topic = "coldpledge/v1/ORG-1/WH-1/GW-7Q2M4K/telemetry"
private_key = "keys/gateway.pem"
buffer = "var/buffer.sqlite3"

[mqtt]
url = "mqtt://broker.example:1884"

[[drivers]]
kind = "simulator"
sensors = [{ code = "TMP-3XK9PA", metrics = ["temperature"] }]
"""

MODBUS = """
[[drivers]]
kind = "modbus"
host = "10.0.0.5"
registers = [{ device = "TMP-7HX2QD", metric = "temperature", address = 0, scale = 0.1 }]
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(folder: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    return str(caught.value)


def test_the_documented_example_is_a_valid_configuration() -> None:
    config = load_config(EXAMPLE)

    assert config.gateway == "GW-7Q2M4K"
    assert config.private_key == EXAMPLE.parent / "gateway.pem"
    assert config.buffer == EXAMPLE.parent / "var" / "edge-buffer.sqlite3"
    simulator, modbus = config.drivers
    assert isinstance(simulator, SimulatorDriverSettings)
    assert simulator.channels()[0] == ("TMP-3XK9PA", "temperature")
    assert isinstance(modbus, ModbusDriverSettings)
    assert [register.scale for register in modbus.registers] == [0.1, 0.1]


def test_unset_keys_take_their_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + MODBUS))

    assert (config.batch_readings, config.max_inflight, config.replay_messages_per_second) == (50, 100, 200)
    assert config.mqtt is not None
    assert config.http is None
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.client_id) == ("broker.example", 1884, None)
    assert config.private_key == tmp_path / "keys" / "gateway.pem"
    simulator, modbus = config.drivers
    assert isinstance(simulator, SimulatorDriverSettings)
    assert (simulator.room.set_point, simulator.interval_seconds) == (-18.0, 60.0)
    assert isinstance(modbus, ModbusDriverSettings)
    assert (modbus.port, modbus.unit_id, modbus.registers[0].data_type) == (502, 1, "int16")


def test_a_bad_value_is_reported_with_the_key_that_holds_it(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + MODBUS.replace("address = 0", "address = 70000"))

    assert "drivers[1].registers[0].address: Input should be less than or equal to 65535" in message
    assert message.startswith(str(tmp_path / "edge.toml"))


def test_a_misspelt_key_is_reported_rather_than_ignored(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "[drivers.room]\nsetpoint = -20\n")

    assert "drivers[0].room.setpoint: Extra inputs are not permitted" in message


def test_a_missing_key_and_an_unknown_driver_are_reported(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, MINIMAL.replace('url = "mqtt://broker.example:1884"', "") + '[[drivers]]\nkind = "x"\n'
    )

    assert "mqtt.url: Field required" in message
    assert "drivers[1]: Input tag 'x'" in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://broker:1883", "must look like mqtt://host:port"),
        ("mqtt://broker:99999", "the port must be a number"),
        ("mqtt://user:secret@broker:1883", "put the credentials in mqtt.username"),
    ],
)
def test_a_broker_url_that_is_not_mqtt_host_port_is_refused(tmp_path: Path, url: str, problem: str) -> None:
    message = error_for(tmp_path, MINIMAL.replace("mqtt://broker.example:1884", url))

    assert f"mqtt.url: {problem}" in message


def test_a_topic_naming_another_gateway_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL.replace("WH-1/GW-7Q2M4K", "WH-1/GW-OTHER1"))

    assert "topic must name this gateway (GW-7Q2M4K), not GW-OTHER1" in message


def test_a_channel_read_by_two_drivers_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + MODBUS.replace("TMP-7HX2QD", "TMP-3XK9PA"))

    assert "drivers[1]: TMP-3XK9PA temperature is read by two drivers" in message


def test_a_room_whose_compressor_cannot_hold_it_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "[drivers.room]\npull_down_per_hour = 2\n")

    assert "drivers[0].room: pull_down_per_hour must exceed the heat gain" in message


def test_a_file_that_is_not_toml_is_reported(tmp_path: Path) -> None:
    assert "not valid TOML" in error_for(tmp_path, "gateway = ")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_the_private_key_must_be_an_unencrypted_ed25519_pem(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    locked = tmp_path / "locked.pem"
    locked.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw")))

    assert load_private_key(plain).public_key() == key.public_key()
    with pytest.raises(ConfigError, match=r"private_key: .* is not an unencrypted PEM private key"):
        load_private_key(locked)
    with pytest.raises(ConfigError, match=r"private_key: .* cannot be read"):
        load_private_key(tmp_path / "missing.pem")


def test_the_command_exits_non_zero_naming_the_bad_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("[mqtt]", "batch_readings = 0\n[mqtt]"))

    result = CliRunner().invoke(cli, ["edge", "--config", str(path)])

    assert result.exit_code == 2
    assert "batch_readings: Input should be greater than or equal to 1" in result.output


def test_a_gateway_sends_either_over_mqtt_or_over_http_never_both_nor_neither(tmp_path: Path) -> None:
    both = MINIMAL + MODBUS + '\n[http]\nurl = "http://127.0.0.1:8000"\ntoken = "cpd_x"\n'
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(write(tmp_path, both))
