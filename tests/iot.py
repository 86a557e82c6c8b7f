"""Helpers for telemetry tests: device keys, registered devices and signed payloads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.models import Alert
from coldpledge.iot import payload
from coldpledge.iot.models import DeviceKind
from coldpledge.iot.registry import Registered, register
from coldpledge.iot.schemas import DeviceIn
from coldpledge.parties.policy import Principal
from coldpledge.uow import UnitOfWork


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Sender:
    """A registered device and what it needs to send: its code, token, key and next seq."""

    registered: Registered
    key: Ed25519PrivateKey | None
    seq: int = 0

    @property
    def code(self) -> str:
        return self.registered.device.code

    @property
    def id(self) -> int:
        return self.registered.device.id

    @property
    def token(self) -> str:
        return self.registered.http_token

    @property
    def topic(self) -> str:
        return self.registered.topic

    def message(
        self,
        readings: Iterable[dict[str, Any]],
        *,
        sent_at: datetime,
        seq: int | None = None,
        sign: bool = True,
    ) -> dict[str, Any]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        document: dict[str, Any] = {
            "device": self.code,
            "seq": seq,
            "sent_at": payload.format_ts(sent_at),
            "readings": list(readings),
        }
        if sign and self.key is not None:
            document = payload.sign(document, self.key)
        return document

    def raw(self, readings: Iterable[dict[str, Any]], *, sent_at: datetime, **options: Any) -> bytes:
        return payload.encode(self.message(readings, sent_at=sent_at, **options))


def reading(
    ts: datetime, value: float, metric: str = "temperature", device: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ts": payload.format_ts(ts),
        "metric": metric,
        "value": value,
        "unit": payload.METRICS[metric].unit,
    }
    if device is not None:
        item["device"] = device
    return item


def new_device(
    uow: UnitOfWork,
    principal: Principal,
    room_id: int,
    kind: DeviceKind = DeviceKind.TEMPERATURE,
    *,
    signing: bool = True,
    gateway: Sender | None = None,
    sampling_interval_s: int = 60,
    **fields: Any,
) -> Sender:
    key = Ed25519PrivateKey.generate() if signing else None
    data = DeviceIn(
        room_id=room_id,
        kind=kind,
        public_key_pem=public_pem(key) if key else None,
        signing=signing,
        gateway_id=gateway.id if gateway else None,
        sampling_interval_s=sampling_interval_s,
        **fields,
    )
    return Sender(register(uow, principal, data), key)


# A probe's minutes in a frozen room whose compressor fails for a while: past -18 °C, then -15 °C,
# and back (the rules tests feed it to one probe of three or four, the others at -20 °C).
WARMING = [-20.0] * 10 + [-17.0] * 35 + [-14.0] * 15 + [-20.0] * 10


def alerts_on(session: Session, senders: list[Sender], start: datetime) -> list[tuple[Any, ...]]:
    """The alerts on these devices, by the device's position in ``senders``, with their times
    from ``start``: what two runs of the same readings on twin devices can be compared by."""
    position = {f"device:{sender.id}": index for index, sender in enumerate(senders)}
    return sorted(
        (
            position[alert.subject],
            alert.rule,
            alert.severity,
            alert.status,
            alert.condition,
            alert.first_transition_at - start,
            alert.triggered_at - start if alert.triggered_at else None,
        )
        for alert in session.scalars(select(Alert).where(Alert.subject.in_(position)))
    )
