"""Temperature controllers, humidity transmitters and scales read over Modbus TCP.

A device that does not answer, answers with an exception, or sends a value that is not a number
yields no reading for that register: the gap is visible on the platform (DESIGN §4, offline
detection), whereas a made-up value would not be. The driver reconnects on the next poll.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from decimal import Decimal

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from coldpledge.iot.edge.config import ModbusDriverSettings, ModbusRegister
from coldpledge.iot.edge.driver import Measurement

log = logging.getLogger(__name__)

DATA_TYPES: dict[str, ModbusTcpClient.DATATYPE] = {
    "int16": ModbusTcpClient.DATATYPE.INT16,
    "uint16": ModbusTcpClient.DATATYPE.UINT16,
    "int32": ModbusTcpClient.DATATYPE.INT32,
    "uint32": ModbusTcpClient.DATATYPE.UINT32,
    "float32": ModbusTcpClient.DATATYPE.FLOAT32,
}
# A float32 holds about seven significant decimal digits; printing more shows only conversion noise
# (-18.3 arrives as -18.299999237060547).
FLOAT32_DIGITS = 7


class RegisterUnreadable(Exception):
    """The device answered, but not with a usable value for this register."""


class ModbusDriver:
    def __init__(self, settings: ModbusDriverSettings, *, name: str | None = None) -> None:
        self.name = name or f"modbus {settings.host}:{settings.port}"
        self.interval_seconds = settings.interval_seconds
        self.failed_reads = 0
        self._settings = settings
        # One retry: the next poll comes anyway, and long retry chains only delay the other registers.
        self._client = ModbusTcpClient(
            settings.host, port=settings.port, timeout=settings.timeout_seconds, retries=1
        )
        self._failing = False

    def read(self, now: datetime) -> list[Measurement]:
        if not self._client.connect():  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            self._failed(f"cannot connect to {self._settings.host}:{self._settings.port}")
            return []
        readings: list[Measurement] = []
        problem = None
        for register in self._settings.registers:
            try:
                value = self._value(register)
            except RegisterUnreadable as error:
                problem = f"register {register.address} ({register.device} {register.metric}): {error}"
                continue
            except (ModbusException, OSError) as error:
                # The connection is gone; the remaining registers would fail the same way.
                self._client.close()  # type: ignore[no-untyped-call]
                problem = f"connection lost: {error}"
                break
            readings.append(Measurement(register.device, register.metric, value))
        if problem is not None:
            self._failed(problem)
        elif self._failing:
            self._failing = False
            log.info("%s: reading again", self.name)
        return readings

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def _value(self, register: ModbusRegister) -> float:
        data_type = DATA_TYPES[register.data_type]
        count = data_type.value[1]
        reader = (
            self._client.read_holding_registers
            if register.register_type == "holding"
            else self._client.read_input_registers
        )
        response = reader(register.address, count=count, device_id=self._settings.unit_id)
        if response.isError():
            raise RegisterUnreadable(str(response))
        raw = self._client.convert_from_registers(
            response.registers, data_type, word_order=self._settings.word_order
        )
        if isinstance(raw, float):
            if not math.isfinite(raw):
                raise RegisterUnreadable(f"{raw} is not a number")
            exact = Decimal(f"{raw:.{FLOAT32_DIGITS}g}")
        elif isinstance(raw, int):
            exact = Decimal(raw)
        else:
            raise RegisterUnreadable(f"unexpected value {raw!r}")
        # Decimal arithmetic: -185 × 0.1 is -18.5, not -18.500000000000004.
        return float(exact * Decimal(repr(register.scale)))

    def _failed(self, problem: str) -> None:
        self.failed_reads += 1
        if self._failing:
            log.debug("%s: %s", self.name, problem)
        else:
            self._failing = True
            log.warning("%s: %s; retrying every %s s", self.name, problem, self.interval_seconds)
