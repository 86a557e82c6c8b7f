"""The Modbus TCP driver against a real pymodbus server on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from coldpledge.iot.edge.config import ModbusDriverSettings, ModbusRegister
from coldpledge.iot.edge.driver import Measurement
from coldpledge.iot.edge.modbus import ModbusDriver
from tests.mqtt import free_port

NOW = datetime(2026, 11, 29, tzinfo=UTC)
UNIT = 3
TEMPERATURE = ModbusRegister(
    device="TMP-3XK9PA", metric="temperature", address=0, data_type="int16", scale=0.1
)
HUMIDITY = ModbusRegister(
    device="TMP-3XK9PA", metric="humidity", address=1, register_type="input", data_type="uint16", scale=0.1
)
WEIGHT = ModbusRegister(device="SCL-8N3P5R", metric="weight", address=10, data_type="float32")


class ModbusServer:
    """A temperature controller: pymodbus's server on its own event loop in a background thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="modbus-server")
        self._thread.start()
        self._server: ModbusTcpServer | None = None

    def start(self, *, temperature_raw: int) -> None:
        registers = [
            SimData(0, values=temperature_raw, datatype=DataType.INT16),  # tenths of a degree
            SimData(1, values=655, datatype=DataType.UINT16),  # humidity in tenths of a percent
            SimData(10, values=12_000.5, datatype=DataType.FLOAT32),  # kilograms on the floor scale
        ]

        async def serve() -> None:
            self._server = ModbusTcpServer(
                SimDevice(UNIT, simdata=registers), address=("127.0.0.1", self.port)
            )
            await self._server.serve_forever(background=True)

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(timeout=5)

    def stop(self) -> None:
        if self._server is not None:
            stopping = self._server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            asyncio.run_coroutine_threadsafe(stopping, self._loop).result(timeout=5)
            self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@pytest.fixture
def controller() -> Iterator[ModbusServer]:
    server = ModbusServer(free_port())
    server.start(temperature_raw=-185)
    yield server
    server.close()


def driver_for(port: int, *registers: ModbusRegister) -> ModbusDriver:
    settings = ModbusDriverSettings(
        kind="modbus", host="127.0.0.1", port=port, unit_id=UNIT, timeout_seconds=1.0, registers=registers
    )
    return ModbusDriver(settings)


def test_it_reads_registers_in_engineering_units(controller: ModbusServer) -> None:
    driver = driver_for(controller.port, TEMPERATURE, HUMIDITY, WEIGHT)

    assert driver.read(NOW) == [
        Measurement("TMP-3XK9PA", "temperature", -18.5),
        Measurement("TMP-3XK9PA", "humidity", 65.5),
        Measurement("SCL-8N3P5R", "weight", 12_000.5),
    ]
    driver.close()


def test_a_register_the_device_refuses_is_skipped_and_the_others_are_read(controller: ModbusServer) -> None:
    missing = ModbusRegister(device="TMP-9ZZZZZ", metric="temperature", address=500)
    driver = driver_for(controller.port, missing, TEMPERATURE)

    assert driver.read(NOW) == [Measurement("TMP-3XK9PA", "temperature", -18.5)]
    assert driver.failed_reads == 1
    driver.close()


def test_a_stopped_device_yields_no_readings_and_the_driver_resumes_when_it_is_back(
    controller: ModbusServer,
) -> None:
    driver = driver_for(controller.port, TEMPERATURE)
    assert driver.read(NOW) == [Measurement("TMP-3XK9PA", "temperature", -18.5)]

    controller.stop()
    assert driver.read(NOW) == []  # the open connection breaks
    assert driver.read(NOW) == []  # and reconnecting is refused
    assert driver.failed_reads == 2

    controller.start(temperature_raw=-190)
    assert driver.read(NOW) == [Measurement("TMP-3XK9PA", "temperature", -19.0)]
    driver.close()


def test_a_device_that_never_answered_yields_no_readings() -> None:
    driver = driver_for(free_port(), TEMPERATURE)

    assert driver.read(NOW) == []
    assert driver.failed_reads == 1
    driver.close()
