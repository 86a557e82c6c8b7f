"""HTTP routes of the IoT context: the device registry, telemetry in and out, health, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from coldpledge.errors import N_, InvalidInput, PayloadTooLarge, Unauthenticated
from coldpledge.iot import charts, queries, registry
from coldpledge.iot.ingest import Incoming, Ingestor, Outcome
from coldpledge.iot.models import Device, DeviceKind
from coldpledge.iot.payload import MAX_PAYLOAD_BYTES
from coldpledge.iot.schemas import (
    BindIn,
    ColdChainOut,
    Credentials,
    DeadLetterOut,
    DeviceIn,
    DeviceOut,
    HealthOut,
    IngestResultOut,
    LatestOut,
    RegisteredOut,
    RetireIn,
    RotateKeyIn,
    SeriesOut,
)
from coldpledge.parties.access import require
from coldpledge.rules.service import rules_for
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["devices and telemetry"])

From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive), RFC 3339 with zone")]
To = Annotated[datetime | None, Query(alias="to", description="End (exclusive), RFC 3339 with zone")]
Resolution = Annotated[
    queries.Resolution | None,
    Query(description="raw, 1m or 1h; by default raw up to 6 h, minutes up to 7 days, hours beyond"),
]


def _out(session: ReadSession, device: Device) -> DeviceOut:
    return DeviceOut.of(device, registry.topic_of(session, device))


@router.get("/devices", response_model=list[DeviceOut], responses=errors(401))
def list_devices(
    session: ReadSession,
    principal: CurrentPrincipal,
    room_id: int | None = None,
    kind: DeviceKind | None = None,
) -> list[DeviceOut]:
    return [_out(session, d) for d in registry.list_devices(session, principal, room_id=room_id, kind=kind)]


@router.post(
    "/devices",
    response_model=RegisteredOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def register_device(
    data: DeviceIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> RegisteredOut:
    """Registers a device and returns its HTTP token and MQTT password, shown this once only."""
    made = registry.register(uow, principal, data)
    return RegisteredOut(
        device=DeviceOut.of(made.device, made.topic),
        credentials=Credentials(
            http_token=made.http_token,
            mqtt_username=made.device.mqtt_username,
            mqtt_password=made.mqtt_password,
        ),
    )


@router.get("/devices/health", response_model=list[HealthOut], responses=errors(401, 404))
def device_health(
    session: ReadSession, principal: CurrentPrincipal, runtime: RuntimeDep, room_id: int | None = None
) -> list[HealthOut]:
    """Online or offline, silence, battery, signal, clock skew, gateway backlog, calibration."""
    return queries.health(
        session,
        principal,
        now=runtime.now(),
        offline_intervals=runtime.settings.device_offline_intervals,
        room_id=room_id,
    )


@router.get("/devices/{device_id}", response_model=DeviceOut, responses=errors(401, 404))
def get_device(device_id: int, session: ReadSession, principal: CurrentPrincipal) -> DeviceOut:
    return _out(session, registry.get_device(session, principal, device_id))


@router.post("/devices/{device_id}/bind", response_model=DeviceOut, responses=errors(401, 403, 404, 409, 422))
def bind_device(
    device_id: int, data: BindIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> DeviceOut:
    """Moves the device to another room or zone (and gateway) of its warehouse."""
    return _out(session, registry.bind(uow, principal, device_id, data))


@router.post(
    "/devices/{device_id}/rotate-key", response_model=DeviceOut, responses=errors(401, 403, 404, 409, 422)
)
def rotate_device_key(
    device_id: int, data: RotateKeyIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> DeviceOut:
    return _out(session, registry.rotate_key(uow, principal, device_id, data))


@router.post(
    "/devices/{device_id}/retire", response_model=DeviceOut, responses=errors(401, 403, 404, 409, 422)
)
def retire_device(
    device_id: int, data: RetireIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> DeviceOut:
    return _out(session, registry.retire(uow, principal, device_id, data))


@router.get("/devices/{device_id}/readings", response_model=SeriesOut, responses=errors(401, 404, 422))
def device_readings(
    device_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    start: From = None,
    end: To = None,
    metric: str = "temperature",
    resolution: Resolution = None,
) -> SeriesOut:
    """Readings of one metric over a window (default: the last 24 hours), raw or rolled up."""
    return queries.series(
        session,
        principal,
        device_id,
        metric=metric,
        start=start,
        end=end,
        now=runtime.now(),
        resolution=resolution,
    )


@router.get("/devices/{device_id}/latest", response_model=list[LatestOut], responses=errors(401, 404))
def device_latest(device_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[LatestOut]:
    return queries.latest(session, principal, device_id)


@router.get("/rooms/{room_id}/telemetry", response_model=list[SeriesOut], responses=errors(401, 404, 422))
def room_telemetry(
    room_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    start: From = None,
    end: To = None,
    metric: str = "temperature",
    resolution: Resolution = None,
    points: Annotated[
        int | None,
        Query(
            ge=10,
            le=10_000,
            description="At most this many buckets a series: minute or hour buckets are merged into "
            "wider ones (count, min, max, mean of the time-weighted means). Raw points are never merged.",
        ),
    ] = None,
) -> list[SeriesOut]:
    """One series per device of the room that reports the metric."""
    return charts.room_series(
        session,
        principal,
        room_id,
        metric=metric,
        start=start,
        end=end,
        now=runtime.now(),
        resolution=resolution,
        points=points,
    )


@router.get("/rooms/{room_id}/cold-chain", response_model=ColdChainOut, responses=errors(401, 404, 422))
def room_cold_chain(
    room_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    start: From = None,
    end: To = None,
) -> ColdChainOut:
    """Time out of band, degree-minutes above the band, completeness and mean kinetic temperature."""
    return queries.room_cold_chain(session, principal, room_id, start=start, end=end, now=runtime.now())


@router.post("/telemetry", response_model=IngestResultOut, responses=errors(401, 403, 413, 422))
async def post_telemetry(request: Request, runtime: RuntimeDep) -> IngestResultOut:
    """A device sends one payload (DESIGN §4) with ``Authorization: Bearer <device token>``.

    Stored readings answer 200 (also for a redelivery, which stores nothing twice); a message that
    cannot be stored answers 4xx with the reason, and is kept as a dead letter for operators."""
    token = _device_token(request)
    raw = await request.body()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(N_("The message is larger than {limit} bytes."), limit=MAX_PAYLOAD_BYTES)
    ingestor = _ingestor(request, runtime)
    with runtime.read_session() as session:
        device = registry.device_by_token(session, token)
        code = device.code if device else None
    if code is None:
        raise Unauthenticated(N_("The device token is not valid."))
    (outcome,) = await _run(ingestor, Incoming(raw, "http", token_device=code))
    if outcome.status == "dead_letter":
        raise InvalidInput(
            N_("The message was not stored: {reason}. {detail}"), reason=outcome.reason, detail=outcome.detail
        )
    return IngestResultOut(
        device=outcome.device,
        seq=outcome.seq,
        status=outcome.status,
        stored=outcome.stored,
        duplicates=outcome.duplicates,
        faults=outcome.faults,
        rejected=outcome.rejected,
    )


@router.get("/ingest/dead-letters", response_model=list[DeadLetterOut], responses=errors(401, 403))
def list_dead_letters(
    session: ReadSession,
    principal: CurrentPrincipal,
    reason: str | None = None,
    device: str | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Messages and readings that could not be stored, newest first, with the bytes as received."""
    require(principal, "dead_letter:view")
    rows = queries.dead_letters(
        session, principal, reason=reason, device=device, limit=limit, before_id=before_id
    )
    return [DeadLetterOut.of(row) for row in rows]


def _device_token(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated(N_("Send the device token as Authorization: Bearer <token>."))
    return credentials.strip()


def _ingestor(request: Request, runtime: RuntimeDep) -> Ingestor:
    ingestor: Ingestor | None = getattr(request.app.state, "ingestor", None)
    if ingestor is None:
        ingestor = Ingestor(runtime.write_session, clock=runtime.clock, rules=rules_for(runtime.settings))
        request.app.state.ingestor = ingestor
    return ingestor


async def _run(ingestor: Ingestor, incoming: Incoming) -> list[Outcome]:
    # The ingest transaction is synchronous database work: keep it off the event loop.
    return await run_in_threadpool(ingestor.ingest, [incoming])
