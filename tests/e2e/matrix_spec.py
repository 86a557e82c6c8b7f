"""The permission matrix: for every API route, who sees its target and who may act on it.

This file is the expectation table that ``test_permission_matrix`` checks against the running app.
It is written by hand from the rules (DESIGN §1, ``parties/scopes.py``, ``parties/policy.py`` and
the party checks in the services), never derived from them, so a change to a rule shows up as a
failing case instead of silently moving the expectation with it.

How a persona's answer follows from a case:

1. anonymous: 401 (only the token endpoint and the evidence log's public API answer without one);
2. ``odd``: the few answers the rules below do not give, each with its reason (telemetry, say,
   takes a device's token, never a user's);
3. ``gate``: a permission the service checks before it looks at any row (``require``); a role
   without it gets 403 whether or not it could see the target, and that reveals nothing;
4. not in ``seen_by``: 404, exactly as if the target did not exist (``unseen``: 422 when the
   target is named in the request body rather than the path, as a wrong field, and again exactly
   as for an id that does not exist);
5. in ``may``: the success status;
6. everyone else who sees the target: 403 (the role lacks the permission, or the organisation is
   not the party the step belongs to: holder, pledgee, issuing keeper).

The world (``tests/world.py``) in short:

- Yangshan (keeper: rooms YS-F18, YS-F25 frozen, YS-C04 chilled) and Dongjiang (keeper: DJ-F18);
  Ken's (keeper2) North warehouse (BF-F18).
- Virtual warehouses: ys-frozen (YS-F18 + YS-F25, inspector Ivy assigned), ys-chilled (YS-C04),
  dj-frozen (DJ-F18), all supervised by Sam's company; north (BF-F18) by Sue's (supervisor2).
- Devices: the world has none; a device case installs a probe in YS-F18 first, and a device is
  seen by whoever sees its room. Installing and looking after devices is the operator's, the
  keeper's and the supervision manager's, each in the rooms it sees.
- Lots and receipts (every lot is sealed by its supervisor):
  pledged (YS-F18, borrower, pledged to bank), pledged_with_release (YS-F18, borrower, pledged to
  bank, one requested release), pending (DJ-F18, borrower2, offered to bank2), issued (YS-F25,
  borrower, insured by insurer), draft (YS-F25, borrower2, draft receipt), free (YS-F18, borrower,
  no receipt), north (BF-F18, borrower, issued by keeper2).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient

from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.note import COSIGNATURE_V1, Signer, open_note
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn
from coldpledge.iot import payload
from coldpledge.parties.policy import SYSTEM
from coldpledge.uow import UnitOfWork
from coldpledge.web.deps import Runtime
from tests.alerting import apply, raise_alert, work_order_of
from tests.alerting import change as transition
from tests.financing import drawn as financing_drawn
from tests.financing import price as financing_price
from tests.iot import public_pem
from tests.liquidation import liquidate, sold_out
from tests.marking import business_day
from tests.notify import tell
from tests.prices import new_series, second_operator
from tests.support import in_days, now, tiny_png, today
from tests.world import ORGS, PASSWORD, USERS, World

ANONYMOUS = "anonymous"
PERSONAS: tuple[str, ...] = tuple(USERS)
API = "/api/v1"


def only(*names: str) -> frozenset[str]:
    unknown = set(names) - set(USERS)
    assert not unknown, f"not personas of the world: {sorted(unknown)}"
    return frozenset(names)


EVERYONE = frozenset(USERS)


# --- who sees what in the world -------------------------------------------------------------------
# persona -> the world's objects (by their key in ``World``) the persona sees.

ALL_RECEIPTS = frozenset({"pledged", "pledged_with_release", "pending", "issued", "draft", "north"})
RECEIPTS_SEEN: dict[str, frozenset[str]] = {
    "admin": ALL_RECEIPTS,
    # A bank sees the receipts pledged or offered in pledge to it, nothing of the other bank's.
    "bank": frozenset({"pledged", "pledged_with_release"}),
    "bankviewer": frozenset({"pledged", "pledged_with_release"}),
    "bank2": frozenset({"pending"}),
    # A borrower sees the receipts it holds, whoever issued them (north is keeper2's).
    "borrower": frozenset({"pledged", "pledged_with_release", "issued", "north"}),
    # The holder sees its receipt from the draft on: it was drafted at its request.
    "borrower2": frozenset({"pending", "draft"}),
    "keeper": frozenset({"pledged", "pledged_with_release", "pending", "issued", "draft"}),
    "keeper2": frozenset({"north"}),
    "supervisor": frozenset({"pledged", "pledged_with_release", "pending", "issued", "draft"}),
    # Ivy is assigned to ys-frozen only: YS-F18 and YS-F25, not Dongjiang.
    "inspector": frozenset({"pledged", "pledged_with_release", "issued", "draft"}),
    # Ian belongs to Sam's company but is assigned nowhere.
    "inspector2": frozenset(),
    "supervisor2": frozenset({"north"}),
    "insurer": frozenset({"issued"}),
    # Gary guarantees nothing yet.
    "guarantor": frozenset(),
}

ALL_LOTS = frozenset(ALL_RECEIPTS | {"free"})
LOTS_SEEN: dict[str, frozenset[str]] = {
    "admin": ALL_LOTS,
    # Banks and insurers see the lots behind their receipts.
    "bank": frozenset({"pledged", "pledged_with_release"}),
    "bankviewer": frozenset({"pledged", "pledged_with_release"}),
    "bank2": frozenset({"pending"}),
    # An owner sees its goods, with or without a receipt.
    "borrower": frozenset({"pledged", "pledged_with_release", "issued", "free", "north"}),
    "borrower2": frozenset({"pending", "draft"}),
    "keeper": ALL_LOTS - {"north"},
    "keeper2": frozenset({"north"}),
    "supervisor": ALL_LOTS - {"north"},
    "inspector": frozenset({"pledged", "pledged_with_release", "issued", "draft", "free"}),
    "inspector2": frozenset(),
    "supervisor2": frozenset({"north"}),
    "insurer": frozenset({"issued"}),
    "guarantor": frozenset(),
}

WAREHOUSES_SEEN: dict[str, frozenset[str]] = {
    "admin": frozenset({"yangshan", "dongjiang", "north"}),
    # Everyone but keepers and supervisors sees the warehouses its goods are in.
    "bank": frozenset({"yangshan"}),
    "bankviewer": frozenset({"yangshan"}),
    "bank2": frozenset({"dongjiang"}),
    "borrower": frozenset({"yangshan", "north"}),
    "borrower2": frozenset({"yangshan", "dongjiang"}),
    "keeper": frozenset({"yangshan", "dongjiang"}),
    "keeper2": frozenset({"north"}),
    "supervisor": frozenset({"yangshan", "dongjiang"}),
    "inspector": frozenset({"yangshan"}),
    "inspector2": frozenset(),
    "supervisor2": frozenset({"north"}),
    "insurer": frozenset({"yangshan"}),
    "guarantor": frozenset(),
}

# Where each room is: the warehouse and the virtual warehouse that supervises it.
ROOMS: dict[str, tuple[str, str]] = {
    "YS-F18": ("yangshan", "ys-frozen"),
    "YS-F25": ("yangshan", "ys-frozen"),
    "YS-C04": ("yangshan", "ys-chilled"),
    "DJ-F18": ("dongjiang", "dj-frozen"),
    "BF-F18": ("north", "north"),
}
ROOMS_SEEN: dict[str, frozenset[str]] = {
    "admin": frozenset(ROOMS),
    # Owners, banks and insurers see the rooms their goods are in, not the whole building.
    "bank": frozenset({"YS-F18"}),
    "bankviewer": frozenset({"YS-F18"}),
    "bank2": frozenset({"DJ-F18"}),
    "borrower": frozenset({"YS-F18", "YS-F25", "BF-F18"}),
    "borrower2": frozenset({"YS-F25", "DJ-F18"}),
    # The keeper sees every room it keeps, supervised or not.
    "keeper": frozenset({"YS-F18", "YS-F25", "YS-C04", "DJ-F18"}),
    "keeper2": frozenset({"BF-F18"}),
    "supervisor": frozenset({"YS-F18", "YS-F25", "YS-C04", "DJ-F18"}),
    "inspector": frozenset({"YS-F18", "YS-F25"}),
    "inspector2": frozenset(),
    "supervisor2": frozenset({"BF-F18"}),
    "insurer": frozenset({"YS-F25"}),
    "guarantor": frozenset(),
}

VWS_SEEN: dict[str, frozenset[str]] = {
    "admin": frozenset({"ys-frozen", "ys-chilled", "dj-frozen", "north"}),
    # The virtual warehouses over the rooms one's goods are in: the bank needs their policy and
    # release windows.
    "bank": frozenset({"ys-frozen"}),
    "bankviewer": frozenset({"ys-frozen"}),
    "bank2": frozenset({"dj-frozen"}),
    "borrower": frozenset({"ys-frozen", "north"}),
    "borrower2": frozenset({"ys-frozen", "dj-frozen"}),
    "keeper": frozenset({"ys-frozen", "ys-chilled", "dj-frozen"}),
    "keeper2": frozenset({"north"}),
    "supervisor": frozenset({"ys-frozen", "ys-chilled", "dj-frozen"}),
    "inspector": frozenset({"ys-frozen"}),
    "inspector2": frozenset(),
    "supervisor2": frozenset({"north"}),
    "insurer": frozenset({"ys-frozen"}),
    "guarantor": frozenset(),
}

# A release instruction is seen by whoever sees its receipt.
RELEASE_RECEIPT = {"requested": "pledged_with_release"}
RELEASES_SEEN: dict[str, frozenset[str]] = {
    persona: frozenset(key for key, receipt in RELEASE_RECEIPT.items() if receipt in receipts)
    for persona, receipts in RECEIPTS_SEEN.items()
}

# Users see the people of their own organisation; the operator sees everyone.
USERS_SEEN: dict[str, frozenset[str]] = {
    persona: frozenset(USERS)
    if persona == "admin"
    else frozenset(name for name, row in USERS.items() if row[0] == USERS[persona][0])
    for persona in USERS
}

# The directory of organisations and the commodity list are open to everyone signed in.
ORGS_SEEN: dict[str, frozenset[str]] = {persona: frozenset(ORGS) for persona in USERS}
COMMODITIES = frozenset({"PORK-FZ", "BEEF-FZ", "SHRIMP-FZ", "CHICKEN-CH"})

TABLES: dict[str, dict[str, frozenset[str]]] = {
    "orgs": ORGS_SEEN,
    "receipts": RECEIPTS_SEEN,
    "lots": LOTS_SEEN,
    "warehouses": WAREHOUSES_SEEN,
    "rooms": ROOMS_SEEN,
    "vws": VWS_SEEN,
    "releases": RELEASES_SEEN,
    "users": USERS_SEEN,
}


def seen_by(table: Mapping[str, frozenset[str]], key: str) -> frozenset[str]:
    """The personas who see the object ``key`` of a table above."""
    return frozenset(persona for persona, keys in table.items() if key in keys)


# --- how a case builds its request ----------------------------------------------------------------


@dataclass
class Scene:
    """What a case builds its request from: the world, who is about to ask, and the API as any
    persona for set-up steps. Set-up runs inside the test's transaction and is rolled back with it."""

    client: TestClient
    auth: Callable[[str], dict[str, str]]
    world: World
    persona: str

    def act(self, persona: str, method: str, url: str, **kwargs: Any) -> Any:
        response = self.client.request(method, url, headers=self.auth(persona), **kwargs)
        assert response.status_code < 300, (
            f"set-up step {method} {url} as {persona} failed: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None


@dataclass(frozen=True)
class Call:
    """Path parameters, query string and body of one request."""

    params: Mapping[str, object] = field(default_factory=dict)
    query: Mapping[str, str | int] | None = None
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None


Builder = Callable[[Scene], Call]


@dataclass(frozen=True)
class Case:
    """One row of the matrix: a route, the target its request is built on, and who may do what
    to that target (the rules are in the module's docstring)."""

    method: str
    path: str
    build: Builder
    seen_by: frozenset[str]
    may: frozenset[str]
    success: int = 200
    gate: frozenset[str] | None = None
    odd: Mapping[str, int] = field(default_factory=dict)
    variant: str = ""
    anonymous: int = 401
    unseen: int = 404

    @property
    def route(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")

    def expected(self, persona: str) -> int:
        if persona == ANONYMOUS:
            return self.anonymous
        if persona in self.odd:
            return self.odd[persona]
        if self.gate is not None and persona not in self.gate:
            return 403
        if persona not in self.seen_by:
            return self.unseen
        return self.success if persona in self.may else 403


# --- building blocks ------------------------------------------------------------------------------

NOTHING = Call()
REASON = {"reason": "权限矩阵测试"}
COLLECTION = {
    "vehicle_plate": "沪A12345",
    "collector_name": "王师傅",
    "collector_id_no": "310101199001011234",
}

SEALERS = only("supervisor", "inspector", "inspector2", "supervisor2")
# Roles that may create warehouses (the operator, for a keeper) and roles that handle goods.
KEEPERS = only("admin", "keeper", "keeper2")
KEEPER_ROLE = only("keeper", "keeper2")
OPERATOR = only("admin")


def on(param: str, kind: str, key: str, body: Any = None) -> Builder:
    """A request on the world's object ``key`` of ``kind`` (an attribute of ``World``). ``body``
    is the JSON body, or a function of the world that makes it."""

    def build(scene: Scene) -> Call:
        ident = getattr(scene.world, kind)[key]
        return Call({param: ident}, json=body(scene.world) if callable(body) else body)

    return build


def receipt(key: str, body: Any = None) -> Builder:
    return on("receipt_id", "receipts", key, body)


def lot(key: str, body: Any = None) -> Builder:
    return on("lot_id", "lots", key, body)


def vw(key: str, body: Any = None) -> Builder:
    return on("vw_id", "vws", key, body)


def after(steps: Callable[[Scene], None], then: Builder) -> Builder:
    def build(scene: Scene) -> Call:
        steps(scene)
        return then(scene)

    return build


def unsealed(lot_key: str) -> Callable[[Scene], None]:
    """The supervisor breaks the lot's seal, as for an operation on the goods."""

    def step(scene: Scene) -> None:
        scene.act("supervisor", "POST", f"{API}/lots/{scene.world.lots[lot_key]}/unseal", json=REASON)

    return step


def receipt_step(persona: str, key: str, action: str, body: Any) -> Callable[[Scene], None]:
    def step(scene: Scene) -> None:
        scene.act(persona, "POST", f"{API}/receipts/{scene.world.receipts[key]}/{action}", json=body)

    return step


def token(scene: Scene) -> Call:
    # Each persona signs in with its own password; the anonymous caller with the bank's.
    username = "bank" if scene.persona == ANONYMOUS else scene.persona
    return Call(data={"username": username, "password": PASSWORD})


def new_organisation(_scene: Scene) -> Call:
    return Call(json={"name": "矩阵测试保理有限公司", "party_type": "guarantor"})


def new_user(scene: Scene) -> Call:
    return Call(
        json={
            "username": "matrix.viewer",
            "display_name": "Mia",
            "organisation_id": scene.world.orgs["bank"],
            "role": "bank_viewer",
            "password": PASSWORD,
        }
    )


def new_warehouse(scene: Scene) -> Call:
    # The body names Kate's company as keeper, as the operator must.
    return Call(
        json={
            "code": "SH-MX",
            "name": "矩阵测试冷库",
            "address": "上海港区",
            "city": "上海",
            "keeper_org_id": scene.world.orgs["keeper"],
        }
    )


ROOM = {
    "code": "YS-F30",
    "name": "YS-F30 room",
    "temperature_class": "deep_frozen",
    "set_point_c": "-25",
    "band_low_c": "-28",
    "band_high_c": "-22",
}


def new_virtual_warehouse(scene: Scene) -> Call:
    # Every room of the world is supervised already; the keeper adds a free one first.
    dongjiang = scene.world.warehouses["dongjiang"]
    room = scene.act(
        "keeper",
        "POST",
        f"{API}/warehouses/{dongjiang}/rooms",
        json={**ROOM, "code": "DJ-F30"},
    )
    return Call(
        json={
            "code": "VW-DJ-F30",
            "name": "VW-DJ-F30 监管仓",
            "warehouse_id": dongjiang,
            "supervisor_org_id": scene.world.orgs["supervisor"],
            "room_ids": [room["id"]],
        }
    )


POLICY = {
    "parameters": {
        "temperature": {
            "warning_above_mc": -18000,
            "warning_minutes": 30,
            "critical_above_mc": -15000,
            "critical_minutes": 10,
        }
    },
    "reason": "权限矩阵测试: 收紧策略",
}
WINDOW = {"weekdays": "6", "start": "09:00", "end": "12:00", "note": "周六放货窗口"}
# A scope's first policy, copied from the template of a temperature class.
FROM_TEMPLATE = {"template": "frozen", "reason": "权限矩阵测试: 按冷冻模板"}


def release_window(scene: Scene) -> Call:
    return Call({"vw_id": scene.world.vws["ys-frozen"], "window_id": scene.world.windows["ys-weekdays"]})


def staff(username: str) -> Builder:
    def build(scene: Scene) -> Call:
        return Call({"vw_id": scene.world.vws["ys-frozen"], "user_id": scene.world.users[username]})

    return build


def new_commodity(_scene: Scene) -> Call:
    return Call(
        json={"code": "LAMB-FZ", "name": "冷冻羊肉", "name_en": "Frozen lamb", "temperature_class": "frozen"}
    )


def inbound(scene: Scene) -> Call:
    return Call(
        json={
            "owner_org_id": scene.world.orgs["borrower"],
            "room_id": scene.world.rooms["YS-F18"],
            "commodity_id": scene.world.commodities["PORK-FZ"],
            "spec": "20kg/箱",
            "origin_country": "CN",
            "batch_number": "B-matrix",
            "declared_cartons": 100,
            "declared_net_weight_g": 2_000_000,
            "expiry_date": str(today() + timedelta(days=365)),
        }
    )


WEIGH = {"gross_g": 11_500_000, "tare_g": 1_500_000, "weigh_ticket_no": "WT-MX-1", "cartons": 500}
INSPECT = {"result": "passed", "agency": "CCIC", "report_no": "CCIC-MX-1"}
DISINFECT = {"certificate_no": "DIS-MX-1", "disinfectant": "过氧乙酸"}
STOCKTAKE = {"counted_g": 10_000_000, "counted_cartons": 500}


def room(key: str, body: Any) -> Builder:
    return on("room_id", "rooms", key, body)


def sealed_room(key: str) -> Builder:
    def build(scene: Scene) -> Call:
        room_id = scene.world.rooms[key]
        scene.act("supervisor", "POST", f"{API}/rooms/{room_id}/seal", json={"numbers": ["MX-ROOM-1"]})
        return Call({"room_id": room_id}, json=REASON)

    return build


def attachment(scene: Scene) -> Call:
    return Call(
        {"lot_id": scene.world.lots["free"]},
        data={"purpose": "photo"},
        files={"file": ("matrix.png", tiny_png(201), "image/png")},
    )


def photo_of(lot_key: str) -> Builder:
    # The world photographs each lot with tiny_png(lot id) (tests.world.make_ready).
    def build(scene: Scene) -> Call:
        return Call({"sha256": hashlib.sha256(tiny_png(scene.world.lots[lot_key])).hexdigest()})

    return build


def draft_for_free_lot(scene: Scene) -> Call:
    lot = scene.act("admin", "GET", f"{API}/lots/{scene.world.lots['free']}")
    return Call(
        json={
            "lot_id": lot["id"],
            "quantity_g": lot["verified_net_weight_g"],
            "cartons": lot["cartons"],
            "storage_period_end": str(today() + timedelta(days=300)),
        }
    )


def halves(key: str) -> Builder:
    """Split a receipt in two; its lot must be unsealed first."""

    def build(scene: Scene) -> Call:
        unsealed(key)(scene)
        found = scene.act("admin", "GET", f"{API}/receipts/{scene.world.receipts[key]}")
        grams, cartons = found["quantity_g"], found["cartons"]
        parts = [
            {"quantity_g": grams // 2, "cartons": cartons // 2},
            {"quantity_g": grams - grams // 2, "cartons": cartons - cartons // 2},
        ]
        return Call({"receipt_id": found["id"]}, json={"parts": parts})

    return build


def release_request(quantity_g: int) -> Callable[[World], dict[str, Any]]:
    # Built when the case runs: the instruction must be valid from now on.
    return lambda _world: {
        **COLLECTION,
        "quantity_g": quantity_g,
        "cartons": 50,
        "valid_until": in_days(3).isoformat(),
    }


def in_disposal(scene: Scene) -> None:
    receipt_step("bank", "pledged", "start-disposal", REASON)(scene)


def disposal_release(scene: Scene) -> Call:
    in_disposal(scene)
    release = scene.act(
        "bank",
        "POST",
        f"{API}/receipts/{scene.world.receipts['pledged']}/request-release",
        json=release_request(1_000_000)(scene.world),
    )
    return Call({"release_id": release["id"]}, json=REASON)


def release(key: str, body: Any = None) -> Builder:
    return on("release_id", "releases", key, body)


def outbound(scene: Scene) -> Call:
    """Against the world's requested release: the bank approves it (the code is shown in that
    answer only) and the supervisor breaks the lot's seal; then the keeper may send goods out."""
    release_id = scene.world.releases["requested"]
    code = scene.act("bank", "POST", f"{API}/releases/{release_id}/approve", json={})["code"]
    unsealed("pledged_with_release")(scene)
    return Call(
        {"lot_id": scene.world.lots["pledged_with_release"]},
        json={
            "release_id": release_id,
            "release_code": code,
            "gross_g": 6_000_000,
            "tare_g": 1_000_000,
            "weigh_ticket_no": "WT-OUT-MX",
            "cartons": 250,
            "vehicle_plate": COLLECTION["vehicle_plate"],
            "collector_id_no": COLLECTION["collector_id_no"],
        },
    )


def probe_body(world: World, key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """A signing temperature probe for YS-F18; every body carries a key of its own."""
    key = key or Ed25519PrivateKey.generate()
    return {"room_id": world.rooms["YS-F18"], "kind": "temperature", "public_key_pem": public_pem(key)}


def new_probe(scene: Scene) -> Call:
    return Call(json=probe_body(scene.world))


def probe(body: Any = None) -> Builder:
    """A request on a probe the operator installs in YS-F18 for the case."""

    def build(scene: Scene) -> Call:
        made = scene.act("admin", "POST", f"{API}/devices", json=probe_body(scene.world))
        return Call({"device_id": made["device"]["id"]}, json=body(scene.world) if callable(body) else body)

    return build


def installed(scene: Scene) -> None:
    scene.act("admin", "POST", f"{API}/devices", json=probe_body(scene.world))


def telemetry(scene: Scene) -> Call:
    """A well-signed reading of a probe installed for the case: only the token can be wrong."""
    key = Ed25519PrivateKey.generate()
    made = scene.act("admin", "POST", f"{API}/devices", json=probe_body(scene.world, key))
    moment = now()
    document = {
        "device": made["device"]["code"],
        "seq": 1,
        "sent_at": payload.format_ts(moment),
        "readings": [
            {"ts": payload.format_ts(moment), "metric": "temperature", "value": -19.5, "unit": "Cel"}
        ],
    }
    return Call(json=payload.sign(document, key))


def _runtime(scene: Scene) -> Runtime:
    app = scene.client.app
    assert isinstance(app, FastAPI)
    runtime: Runtime = app.state.runtime
    return runtime


def logged(scene: Scene) -> int:
    """The log's worker takes in the first of the world's evidence entries (enough for a tree of a
    few levels; all of them would only slow the matrix down), inside the test's transaction;
    returns the size of the tree."""
    runtime = _runtime(scene)
    evidence_log.sequence(runtime.write_session, limit=13)
    with runtime.write_session() as session:
        return evidence_log.tree_size(session)


def signed(scene: Scene) -> int:
    """As ``logged``, then the log signs a checkpoint of that size."""
    size = logged(scene)
    runtime = _runtime(scene)
    signer = load_log_signer(runtime.settings)
    evidence_log.publish_checkpoint(runtime.write_session, signer, runtime.settings.origin)
    return size


def latest_checkpoint(scene: Scene) -> Call:
    signed(scene)
    return NOTHING


def checkpoint_of_size(scene: Scene) -> Call:
    return Call({"tree_size": signed(scene)})


def first_entry(scene: Scene) -> Call:
    logged(scene)
    return Call({"index": 0})


def inclusion_proof(scene: Scene) -> Call:
    size = logged(scene)
    return Call(query={"index": size // 2, "tree_size": size})


def consistency_proof(scene: Scene) -> Call:
    size = logged(scene)
    return Call(query={"first": 1, "second": size})


def strangers_cosignature(scene: Scene) -> Call:
    """A well-formed cosignature of the latest checkpoint by a witness the log never registered:
    the cosignature is the witness's only credential, so it is refused whoever hands it in."""
    size = signed(scene)
    note, _ = open_note(
        scene.client.get(f"{API}/evidence/checkpoint").text,
        [load_log_signer(_runtime(scene).settings).verifier],
    )
    stranger = Signer.generate("stranger.example.cn/witness", COSIGNATURE_V1)
    return Call(json={"tree_size": size, "cosignature": stranger.cosign(note.text, int(time.time()))})


def public(path: str, build: Builder = lambda _scene: NOTHING, *, method: str = "GET", **kw: Any) -> Case:
    """The evidence log's public API: what outside verifiers and witnesses use, without signing in.
    Everyone, and the anonymous caller, gets the same answer."""
    kw.setdefault("anonymous", kw.get("success", 200))
    return Case(method, f"{API}/evidence{path}", build, EVERYONE, EVERYONE, **kw)


# Prices: the operator's to manage, everyone's to read. A price Oscar (a second operator, made in
# the case's transaction) entered is one Olga may approve: nobody approves their own.
def price_series(body: Any = None) -> Builder:
    def build(scene: Scene) -> Call:
        runtime = _runtime(scene)
        series = new_series(lambda: UnitOfWork(runtime.write_session), scene.world, "MX-PORK", primary=False)
        return Call({"series_id": series.id}, json=body)

    return build


def new_price_series(scene: Scene) -> Call:
    body = {
        "code": "MX-BEEF",
        "commodity_id": scene.world.commodities["BEEF-FZ"],
        "source": "matrix",
        "source_series_id": "beef",
        "market_region": "上海",
        "spec": "冻牛腱",
        "unit": "CNY/t",
    }
    return Call(json=body)


def new_price(scene: Scene) -> Call:
    series_id = price_series()(scene).params["series_id"]
    return Call(json={"series_id": series_id, "price_date": str(today()), "mid": "24.63"})


def price_file(scene: Scene) -> Call:
    price_series()(scene)
    content = f"series,price_date,mid\nMX-PORK,{today()},24.63\n".encode()
    return Call(files={"file": ("prices.csv", content, "text/csv")})


def oscars_price(body: Any = None, *, approve: bool = False) -> Builder:
    """A price Oscar entered on a series of pork (the primary one when ``approve``, approved by
    the platform itself so that the pork has a price)."""

    def build(scene: Scene) -> Call:
        runtime = _runtime(scene)
        uow: Callable[[], UnitOfWork] = lambda: UnitOfWork(runtime.write_session)  # noqa: E731
        oscar = second_operator(uow, runtime.settings, scene.world)
        series = new_series(uow, scene.world, "MX-PORK", primary=approve)
        entry = ObservationIn(series_id=series.id, price_date=today(), mid="24.63")
        observation = prices.enter(uow(), oscar, entry)
        if approve:
            prices.approve(uow(), SYSTEM, observation.id, ApproveIn())
        return Call({"observation_id": observation.id, "commodity_id": series.commodity_id}, json=body)

    return build


def everyone_reads(path: str, build: Builder) -> Case:
    return Case("GET", f"{API}{path}", build, EVERYONE, EVERYONE)


# Financing: the world has no facility; a case makes one of Carol's (borrower) at Alice's bank
# through the API, up to the stage it needs. Its bank, its borrower and the operator see it.
FACILITY_SEEN = only("admin", "bank", "bankviewer", "borrower")
APPLICANTS = only("borrower", "borrower2")
CONTRACT = {
    "kind": "supervision_agreement",
    "number": "MX-JG-2026-001",
    "signed_on": str(today()),
    "parties": "浙商银行杭州分行; 上海鲜丰冷链贸易; 中储监管",
    "file_sha256": "ab" * 32,
}
LOAN = {"amount_fen": 1_000_000}


def new_facility(scene: Scene) -> Call:
    return Call(
        json={
            "bank_org_id": scene.world.orgs["bank"],
            "limit_fen": 50_000_000,
            "start_date": str(today()),
            "expiry_date": str(today() + timedelta(days=365)),
        }
    )


def _facility_at(scene: Scene, stage: str) -> int:
    """A facility brought to ``stage``; from ``active`` on it is secured by the pledged pork."""
    made = scene.act("borrower", "POST", f"{API}/facilities", json=new_facility(scene).json)
    url = f"{API}/facilities/{made['id']}"
    steps: list[tuple[str, str, Any]] = [("approve", "", {"rate_bp": 435})]
    steps += [
        ("contracts", kind, {**CONTRACT, "kind": kind, "number": f"MX-{kind}"})
        for kind in ("credit_agreement", "pledge_contract")
    ]
    steps += [("activate", "", {}), ("collateral", "", {"receipt_id": scene.world.receipts["pledged"]})]
    steps += [("suspend", "", REASON)]
    reached = {"applied": 0, "approved": 1, "contracted": 3, "active": 5, "suspended": 6}[stage]
    for action, _kind, body in steps[:reached]:
        scene.act("bank", "POST", f"{url}/{action}", json=body)
    return int(made["id"])


def facility(stage: str, body: Any = None) -> Builder:
    def build(scene: Scene) -> Call:
        facility_id = _facility_at(scene, stage)
        return Call({"facility_id": facility_id}, json=body(scene.world) if callable(body) else body)

    return build


def _priced(scene: Scene) -> None:
    """The world's pork at CNY 20.00/kg, entered by Olga and approved by Oscar."""
    runtime = _runtime(scene)
    financing_price(lambda: UnitOfWork(runtime.write_session), runtime.settings, scene.world, "20.00")


def drawdown(stage: str, body: Any = None) -> Builder:
    """A drawdown of CNY 10,000.00 under an active facility, requested, approved or paid out."""

    def build(scene: Scene) -> Call:
        facility_id = _facility_at(scene, "active")
        made = scene.act(
            "borrower",
            "POST",
            f"{API}/facilities/{facility_id}/drawdowns",
            json={**LOAN, "maturity_date": str(today() + timedelta(days=30))},
        )
        _priced(scene)
        for action in ("approve", "disburse")[: ("requested", "approved", "active").index(stage)]:
            scene.act("bank", "POST", f"{API}/drawdowns/{made['id']}/{action}", json={})
        return Call({"drawdown_id": made["id"]}, json=body)

    return build


def collateral_link(scene: Scene) -> Call:
    facility_id = _facility_at(scene, "active")
    [link] = scene.act("bank", "GET", f"{API}/facilities/{facility_id}/collateral")
    return Call({"facility_id": facility_id, "link_id": link["id"]})


def _sold_in_liquidation(scene: Scene) -> tuple[int, int, int]:
    """A facility with CNY 390,000.00 drawn against the pledged pork, liquidated, and the pork
    weighed out under Alice's disposal release: (facility, drawdown, release)."""
    runtime = _runtime(scene)

    def uow() -> UnitOfWork:
        return UnitOfWork(runtime.write_session)

    facility_id = _facility_at(scene, "active")
    _priced(scene)
    loan = financing_drawn(uow, scene.world, facility_id, 39_000_000)
    liquidate(uow, facility_id)
    return facility_id, loan.id, sold_out(uow, scene.world, scene.world.receipts["pledged"])


def _sale(release_id: int) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "channel": "auction",
        "buyer_name": "上海农产品拍卖行",
        "price_fen_per_t": 1_000_000,
        "proceeds_fen": 30_000_000,
    }


def disposal_sale(scene: Scene) -> Call:
    facility_id, _loan, release_id = _sold_in_liquidation(scene)
    return Call({"facility_id": facility_id}, json=_sale(release_id))


def recorded_disposal(scene: Scene) -> Call:
    facility_id, _loan, release_id = _sold_in_liquidation(scene)
    made = scene.act("bank", "POST", f"{API}/facilities/{facility_id}/disposals", json=_sale(release_id))
    return Call({"disposal_id": made["id"]})


def shortfall(scene: Scene) -> Call:
    """The pork sold for less than the loan: CNY 90,000.00 of it is left to write off."""
    facility_id, loan_id, release_id = _sold_in_liquidation(scene)
    scene.act("bank", "POST", f"{API}/facilities/{facility_id}/disposals", json=_sale(release_id))
    return Call({"drawdown_id": loan_id}, json={"reason": "拍卖不足, 核销"})


def margin_deposit(scene: Scene) -> Call:
    facility_id = _facility_at(scene, "active")
    made = scene.act("bank", "POST", f"{API}/facilities/{facility_id}/margin-deposits", json=LOAN)
    return Call({"facility_id": facility_id, "deposit_id": made["id"]}, json=REASON)


def borrower_with_facility(scene: Scene) -> Call:
    """Carol's company, once it has applied to Alice's bank."""
    _facility_at(scene, "applied")
    return Call({"org_id": scene.world.orgs["borrower"]})


def _marked(scene: Scene, cny_per_kg: str) -> int:
    """A facility with CNY 390,000.00 drawn against the pledged pork at CNY 20.00/kg today, marked
    on the previous business day at ``cny_per_kg``."""
    runtime = _runtime(scene)

    def uow() -> UnitOfWork:
        return UnitOfWork(runtime.write_session)

    facility_id = _facility_at(scene, "active")
    _priced(scene)
    financing_drawn(uow, scene.world, facility_id, 39_000_000)
    financing_price(uow, runtime.settings, scene.world, cny_per_kg, on=business_day(-1))
    mark_to_market(uow, business_day(-1))
    return facility_id


def valuation(scene: Scene) -> Call:
    facility_id = _marked(scene, "20.00")
    [marked] = scene.act("bank", "GET", f"{API}/facilities/{facility_id}/valuations")
    return Call({"facility_id": facility_id, "valuation_id": marked["id"]})


def margin_call(body: Any = None) -> Builder:
    """The margin call the pork's fall to CNY 16.00/kg issues (LTV 81.25 %)."""

    def build(scene: Scene) -> Call:
        facility_id = _marked(scene, "16.00")
        [call] = scene.act("bank", "GET", f"{API}/margin-calls", params={"facility_id": facility_id})
        return Call({"call_id": call["id"]}, json=body)

    return build


def facility_case(
    method: str, path: str, build: Builder, may: frozenset[str] = FACILITY_SEEN, **kw: Any
) -> Case:
    return Case(method, f"{API}{path}", build, FACILITY_SEEN, may, **kw)


# --- the matrix -----------------------------------------------------------------------------------

R = RECEIPTS_SEEN
L = LOTS_SEEN


def listing(path: str) -> Case:
    """A list: everyone signed in may ask; what it holds is checked by the list tests."""
    return Case("GET", f"{API}{path}", lambda _scene: NOTHING, EVERYONE, EVERYONE)


def read(path: str, build: Builder, table: Mapping[str, frozenset[str]], key: str) -> Case:
    """Reading one object: whoever sees it may read it."""
    return Case("GET", f"{API}{path}", build, seen_by(table, key), seen_by(table, key))


def change(path: str, build: Builder, seen: frozenset[str], may: frozenset[str], **kw: Any) -> Case:
    return Case("POST", f"{API}{path}", build, seen, may, **kw)


def receipt_case(
    action: str, key: str, may: frozenset[str], body: Any = None, *, build: Builder | None = None, **kw: Any
) -> Case:
    """A lifecycle step on the world's receipt ``key``."""
    build = build or receipt(key, {} if body is None else body)
    return change(f"/receipts/{{receipt_id}}/{action}", build, seen_by(R, key), may, **kw)


YS_FROZEN = seen_by(VWS_SEEN, "ys-frozen")
MANAGER = only("supervisor")
REQUESTED = seen_by(RELEASES_SEEN, "requested")
YS_F18 = seen_by(ROOMS_SEEN, "YS-F18")
# Roles that install and look after devices: the operator, keepers and supervision managers.
DEVICE_CARERS = only("admin", "keeper", "keeper2", "supervisor", "supervisor2")
# Of those, the ones who see YS-F18 (Ken and Sue see only their North warehouse).
YS_F18_CARERS = only("admin", "keeper", "supervisor")
BANKS = only("bank", "bankviewer", "bank2")
# The roles that act for their organisation manage its webhooks; viewers and inspectors do not.
WEBHOOK_ADMINS = only(
    "admin", "bank", "bank2", "borrower", "borrower2", "keeper", "keeper2", "supervisor", "supervisor2"
)
WEBHOOK = {"url": "https://hooks.example.cn/coldpledge", "kinds": ["alert.firing"]}


def alices_item(scene: Scene) -> Call:
    """An inbox item of Alice's (the bank), made as the alerts service makes one."""
    item, _delivery = tell(
        scene.client.app.state.runtime.write_session,  # type: ignore[attr-defined]
        [scene.world.users["bank"]],
    )
    return Call({"item_id": item})


def banks_webhook(scene: Scene) -> Call:
    made = scene.act("bank", "POST", f"{API}/webhooks", json=WEBHOOK)
    return Call({"webhook_id": made["id"]})


def a_delivery(scene: Scene) -> Call:
    """A webhook delivery of a notification to Alice, through her bank's subscription."""
    scene.act("bank", "POST", f"{API}/webhooks", json=WEBHOOK)
    _item, delivery = tell(
        scene.client.app.state.runtime.write_session,  # type: ignore[attr-defined]
        [scene.world.users["bank"]],
    )
    return Call({"delivery_id": delivery})


# Alerts and work orders: a critical alert on YS-F18 (goods pledged to Alice's bank), whose work
# order goes to Ivy, the inspector assigned there; Sam manages supervision and reviews.
def critical_alert(body: Any = None, *, cleared: bool = False) -> Builder:
    def build(scene: Scene) -> Call:
        runtime = _runtime(scene)
        room = scene.world.rooms["YS-F18"]
        alert_id = raise_alert(lambda: UnitOfWork(runtime.write_session), room)
        if cleared:
            apply(
                lambda: UnitOfWork(runtime.write_session),
                room,
                transition("resolved", subject=f"room:{room}"),
            )
        return Call({"alert_id": alert_id}, json=body)

    return build


def work_order(body: Any = None, *, steps: tuple[tuple[str, str, Any], ...] = ()) -> Builder:
    """The response work order of a critical alert on YS-F18, after ``steps`` (persona, action,
    body) taken through the API."""

    def build(scene: Scene) -> Call:
        runtime = _runtime(scene)
        alert_id = raise_alert(lambda: UnitOfWork(runtime.write_session), scene.world.rooms["YS-F18"])
        order_id = work_order_of(runtime.write_session, alert_id)
        for persona, action, step_body in steps:
            scene.act(persona, "POST", f"{API}/work-orders/{order_id}/{action}", json=step_body)
        return Call({"work_order_id": order_id}, json=body(scene.world) if callable(body) else body)

    return build


def work_order_photo(scene: Scene) -> Call:
    order_id = work_order()(scene).params["work_order_id"]
    made = scene.client.post(
        f"{API}/work-orders/{order_id}/attachments",
        headers=scene.auth("inspector"),
        files={"file": ("probe.png", tiny_png(77), "image/png")},
    )
    assert made.status_code == 201, made.text
    sha256: str = made.json()["attachments"][0]
    return Call({"work_order_id": order_id, "sha256": sha256})


def work_order_upload(scene: Scene) -> Call:
    call = work_order()(scene)
    return Call(call.params, files={"file": ("probe.png", tiny_png(78), "image/png")})


# Who acknowledges an alert: supervision, the keeper and the bank's risk officer; who handles a
# work order in the field: its assignee (Ivy); who runs work orders: the supervision manager (Sam).
ALERT_ACKNOWLEDGERS = only("bank", "keeper", "supervisor", "inspector")
COMMENTERS = only("bank", "keeper", "supervisor", "inspector")


def stocktake(scene: Scene) -> Call:
    return Call(json={"kind": "stocktake", "title": "矩阵盘点", "room_id": scene.world.rooms["YS-F18"]})


CASES: tuple[Case, ...] = (
    # --- parties ---
    # Signing in needs no token; a signed-in caller may sign in again.
    Case("POST", f"{API}/auth/token", token, EVERYONE, EVERYONE, anonymous=200),
    listing("/me"),
    # The directory of organisations is open to everyone signed in; only the operator adds to it.
    listing("/organisations"),
    change("/organisations", new_organisation, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    read("/organisations/{org_id}", on("org_id", "orgs", "bank2"), ORGS_SEEN, "bank2"),
    listing("/users"),
    change("/users", new_user, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    # Alice's colleagues see her; nobody outside her bank does (the operator sees everyone).
    read("/users/{user_id}", on("user_id", "users", "bank"), USERS_SEEN, "bank"),
    # --- warehouses ---
    listing("/warehouses"),
    # Ken may create warehouses, but only for his own company: naming Kate's is a wrong field.
    change(
        "/warehouses",
        new_warehouse,
        EVERYONE,
        only("admin", "keeper"),
        success=201,
        gate=KEEPERS,
        odd={"keeper2": 422},
    ),
    read(
        "/warehouses/{warehouse_id}",
        on("warehouse_id", "warehouses", "yangshan"),
        WAREHOUSES_SEEN,
        "yangshan",
    ),
    change(
        "/warehouses/{warehouse_id}/rooms",
        on("warehouse_id", "warehouses", "yangshan", ROOM),
        seen_by(WAREHOUSES_SEEN, "yangshan"),
        only("keeper"),
        success=201,
    ),
    listing("/virtual-warehouses"),
    # Only the operator sets up supervision (the agreement between keeper, supervisor and bank).
    change("/virtual-warehouses", new_virtual_warehouse, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    read("/virtual-warehouses/{vw_id}", vw("ys-frozen"), VWS_SEEN, "ys-frozen"),
    read("/virtual-warehouses/{vw_id}/policies", vw("ys-frozen"), VWS_SEEN, "ys-frozen"),
    # Policies, release windows and staff are the supervision manager's; the keeper and the
    # assigned inspector see them but may not change them.
    change("/virtual-warehouses/{vw_id}/policies", vw("ys-frozen", POLICY), YS_FROZEN, MANAGER, success=201),
    change(
        "/virtual-warehouses/{vw_id}/release-windows",
        vw("ys-frozen", WINDOW),
        YS_FROZEN,
        MANAGER,
        success=201,
    ),
    Case(
        "DELETE",
        f"{API}/virtual-warehouses/{{vw_id}}/release-windows/{{window_id}}",
        release_window,
        YS_FROZEN,
        MANAGER,
    ),
    change(
        "/virtual-warehouses/{vw_id}/staff",
        vw("ys-frozen", lambda w: {"user_id": w.users["inspector2"]}),
        YS_FROZEN,
        MANAGER,
        success=204,
    ),
    Case(
        "DELETE",
        f"{API}/virtual-warehouses/{{vw_id}}/staff/{{user_id}}",
        staff("inspector"),
        YS_FROZEN,
        MANAGER,
        204,
    ),
    # --- supervision policies of warehouses, rooms and commodities ---
    listing("/policy-templates"),
    read(
        "/warehouses/{warehouse_id}/policies",
        on("warehouse_id", "warehouses", "yangshan"),
        WAREHOUSES_SEEN,
        "yangshan",
    ),
    # Sam's company supervises every virtual warehouse in Yangshan, so Sam sets its policy.
    change(
        "/warehouses/{warehouse_id}/policies",
        on("warehouse_id", "warehouses", "yangshan", FROM_TEMPLATE),
        seen_by(WAREHOUSES_SEEN, "yangshan"),
        MANAGER,
        success=201,
    ),
    read("/rooms/{room_id}/policies", room("YS-F18", None), ROOMS_SEEN, "YS-F18"),
    # A room's policy is its supervision manager's; Ivy, assigned there, may only read it.
    change("/rooms/{room_id}/policies", room("YS-F18", FROM_TEMPLATE), YS_F18, MANAGER, success=201),
    read("/rooms/{room_id}/effective-policy", room("YS-F18", None), ROOMS_SEEN, "YS-F18"),
    # Commodities are open to everyone signed in; their policies are the operator's to set.
    Case(
        "GET",
        f"{API}/commodities/{{commodity_id}}/policies",
        on("commodity_id", "commodities", "PORK-FZ"),
        EVERYONE,
        EVERYONE,
    ),
    change(
        "/commodities/{commodity_id}/policies",
        on("commodity_id", "commodities", "PORK-FZ", FROM_TEMPLATE),
        EVERYONE,
        OPERATOR,
        success=201,
    ),
    # --- inventory ---
    listing("/commodities"),
    change("/commodities", new_commodity, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    listing("/lots"),
    # Inbound into YS-F18: the role is checked first, then the room's scope; Ken cannot see the
    # room, so the room_id he names is refused like one that does not exist.
    change(
        "/lots",
        inbound,
        seen_by(ROOMS_SEEN, "YS-F18"),
        only("keeper"),
        success=201,
        gate=KEEPER_ROLE,
        unseen=422,
    ),
    read("/lots/{lot_id}", lot("pledged"), L, "pledged"),
    read("/lots/{lot_id}/operations", lot("pledged"), L, "pledged"),
    # Weighing is the keeper's; a sealed lot cannot be weighed, so the supervisor unseals it first.
    change(
        "/lots/{lot_id}/weigh",
        after(unsealed("free"), lot("free", WEIGH)),
        seen_by(L, "free"),
        only("keeper"),
        success=201,
    ),
    # Keeper and supervision both inspect quality; the owner does not.
    change(
        "/lots/{lot_id}/inspect",
        lot("free", INSPECT),
        seen_by(L, "free"),
        only("keeper", "supervisor", "inspector"),
        success=201,
    ),
    change(
        "/lots/{lot_id}/disinfect",
        lot("free", DISINFECT),
        seen_by(L, "free"),
        only("keeper"),
        success=201,
    ),
    # Document numbers that arrive after the goods are the keeper's to record.
    change(
        "/lots/{lot_id}/documents",
        lot("free", {"disinfection_cert_no": "DC-MATRIX-1"}),
        seen_by(L, "free"),
        only("keeper"),
    ),
    # A stocktake is supervision's count against the keeper's books, so the keeper does not count.
    change(
        "/lots/{lot_id}/stocktake",
        lot("free", STOCKTAKE),
        seen_by(L, "free"),
        only("supervisor", "inspector"),
        success=201,
    ),
    # Seals: the role is checked before the lot is looked up, so roles that never seal get 403;
    # supervisors outside the lot's virtual warehouse (Sue, and Ian, assigned nowhere) get 404.
    change(
        "/lots/{lot_id}/seal",
        lot("free", {"numbers": ["MX-LOT-1"]}),
        seen_by(L, "free"),
        only("supervisor", "inspector"),
        success=201,
        gate=SEALERS,
    ),
    change(
        "/lots/{lot_id}/unseal",
        lot("free", REASON),
        seen_by(L, "free"),
        only("supervisor", "inspector"),
        gate=SEALERS,
    ),
    # YS-C04 is in ys-chilled, where Ivy is not assigned: she may seal, but not there.
    change(
        "/rooms/{room_id}/seal",
        room("YS-C04", {"numbers": ["MX-ROOM-2"]}),
        seen_by(ROOMS_SEEN, "YS-C04"),
        MANAGER,
        success=201,
        gate=SEALERS,
    ),
    change(
        "/rooms/{room_id}/unseal",
        sealed_room("YS-F18"),
        seen_by(ROOMS_SEEN, "YS-F18"),
        only("supervisor", "inspector"),
        gate=SEALERS,
    ),
    listing("/seals"),
    # Photos and documents come from whoever handles the goods: keeper and supervision.
    change(
        "/lots/{lot_id}/attachments",
        attachment,
        seen_by(L, "free"),
        only("keeper", "supervisor", "inspector"),
        success=201,
    ),
    read("/lots/{lot_id}/attachments", lot("pledged"), L, "pledged"),
    # A file is served to whoever sees a lot it belongs to.
    read("/attachments/{sha256}", photo_of("pledged"), L, "pledged"),
    # --- receipts ---
    listing("/receipts"),
    # Only the keeper of the lot's warehouse drafts a receipt: the operator may not (403), and Ken
    # does not see the lot (422 on lot_id).
    change(
        "/receipts",
        draft_for_free_lot,
        seen_by(L, "free"),
        only("keeper"),
        success=201,
        gate=KEEPER_ROLE,
        unseen=422,
    ),
    read("/receipts/{receipt_id}", receipt("pledged"), R, "pledged"),
    read("/receipts/{receipt_id}/history", receipt("pledged"), R, "pledged"),
    # The issuing keeper's steps. The operator sees every receipt but is no party to one: 403.
    receipt_case("submit", "draft", only("keeper")),
    receipt_case(
        "issue",
        "draft",
        only("keeper"),
        build=after(receipt_step("keeper", "draft", "submit", {}), receipt("draft", {})),
    ),
    # The holder's steps on an unencumbered receipt.
    receipt_case("transfer", "issued", only("borrower"), lambda w: {"to_org_id": w.orgs["borrower2"]}),
    receipt_case("request-pledge", "issued", only("borrower"), lambda w: {"pledgee_org_id": w.orgs["bank"]}),
    receipt_case("withdraw-pledge", "pending", only("borrower2")),
    # The bank the receipt is offered to decides; Alice's bank never sees the offer to Bruno's.
    receipt_case("accept-pledge", "pending", only("bank2"), {"registration_no": "ZDW-2026-MATRIX"}),
    receipt_case("reject-pledge", "pending", only("bank2"), REASON),
    receipt_case("discharge", "pledged", only("bank")),
    # Freezing is the pledgee's protection or the operator's (a court order); unfreezing belongs
    # to whoever froze, or the operator.
    receipt_case("freeze", "pledged", only("bank", "admin"), REASON),
    receipt_case(
        "unfreeze",
        "pledged",
        only("bank", "admin"),
        build=after(receipt_step("bank", "pledged", "freeze", REASON), receipt("pledged", REASON)),
    ),
    # The holder or the issuing keeper report a loss and withdraw the report; the keeper replaces.
    receipt_case("report-loss", "issued", only("borrower", "keeper"), REASON),
    receipt_case(
        "cancel-loss-report",
        "issued",
        only("borrower", "keeper"),
        build=after(receipt_step("borrower", "issued", "report-loss", REASON), receipt("issued", REASON)),
    ),
    receipt_case(
        "replace",
        "issued",
        only("keeper"),
        build=after(receipt_step("borrower", "issued", "report-loss", REASON), receipt("issued", REASON)),
        success=201,
    ),
    receipt_case("start-disposal", "pledged", only("bank"), REASON),
    # A draft is voided by its issuer; an issued receipt is surrendered by its holder.
    receipt_case("cancel", "draft", only("keeper"), REASON, variant="draft, by the issuer"),
    receipt_case("cancel", "issued", only("borrower"), REASON, variant="issued, by the holder"),
    # An unencumbered receipt is split by its holder, a pledged one by its pledgee.
    receipt_case("split", "issued", only("borrower"), build=halves("issued"), success=201, variant="issued"),
    receipt_case("split", "pledged", only("bank"), build=halves("pledged"), success=201, variant="pledged"),
    # A partial release is asked for by the holder; in disposal, the bank itself instructs the sale.
    receipt_case(
        "request-release",
        "pledged",
        only("borrower"),
        release_request(1_000_000),
        success=201,
        variant="partial release, by the holder",
    ),
    receipt_case(
        "request-release",
        "pledged",
        only("bank"),
        build=after(in_disposal, receipt("pledged", release_request(1_000_000))),
        success=201,
        variant="disposal, by the pledgee",
    ),
    receipt_case(
        "request-delivery",
        "issued",
        only("borrower"),
        lambda _w: {**COLLECTION, "valid_until": in_days(3).isoformat()},
        success=201,
    ),
    listing("/releases"),
    read("/releases/{release_id}", release("requested"), RELEASES_SEEN, "requested"),
    # The pledgee approves or rejects a partial release; whoever asked for one may cancel it.
    change("/releases/{release_id}/approve", release("requested", {}), REQUESTED, only("bank")),
    change("/releases/{release_id}/reject", release("requested", REASON), REQUESTED, only("bank")),
    change(
        "/releases/{release_id}/cancel",
        release("requested", REASON),
        REQUESTED,
        only("borrower"),
        variant="partial release, by the holder",
    ),
    change(
        "/releases/{release_id}/cancel",
        disposal_release,
        seen_by(R, "pledged"),
        only("bank"),
        variant="disposal, by the pledgee",
    ),
    # Outbound is the keeper's act at the dock, against the one-time code.
    change(
        "/lots/{lot_id}/outbound",
        outbound,
        seen_by(L, "pledged_with_release"),
        only("keeper"),
        success=201,
    ),
    # --- devices and telemetry ---
    listing("/devices"),
    # The role is checked first, then the room's scope: Ken and Sue may install devices, but not
    # in YS-F18, which they cannot see, so the room_id they name is a wrong field.
    change(
        "/devices",
        new_probe,
        YS_F18,
        YS_F18_CARERS,
        success=201,
        gate=DEVICE_CARERS,
        unseen=422,
    ),
    listing("/devices/health"),
    Case(
        "GET",
        f"{API}/devices/health",
        lambda scene: Call(query={"room_id": scene.world.rooms["YS-F18"]}),
        YS_F18,
        YS_F18,
        variant="one room",
    ),
    # A device is seen by whoever sees its room: the bank watches the room its collateral is in.
    read("/devices/{device_id}", probe(), ROOMS_SEEN, "YS-F18"),
    read("/devices/{device_id}/readings", probe(), ROOMS_SEEN, "YS-F18"),
    read("/devices/{device_id}/latest", probe(), ROOMS_SEEN, "YS-F18"),
    # Looking after a device is not Ivy's: she sees the probe but may not touch it.
    change(
        "/devices/{device_id}/bind",
        probe(lambda w: {"room_id": w.rooms["YS-F25"], "reason": "移至 F25 冷间"}),
        YS_F18,
        YS_F18_CARERS,
    ),
    change(
        "/devices/{device_id}/rotate-key",
        probe(lambda _w: {"public_key_pem": public_pem(Ed25519PrivateKey.generate()), **REASON}),
        YS_F18,
        YS_F18_CARERS,
    ),
    change("/devices/{device_id}/retire", probe(REASON), YS_F18, YS_F18_CARERS),
    read("/rooms/{room_id}/telemetry", after(installed, room("YS-F18", None)), ROOMS_SEEN, "YS-F18"),
    read("/rooms/{room_id}/cold-chain", after(installed, room("YS-F18", None)), ROOMS_SEEN, "YS-F18"),
    # Rejected payloads may name anyone's devices: the operator's alone.
    Case("GET", f"{API}/ingest/dead-letters", lambda _scene: NOTHING, EVERYONE, OPERATOR, gate=OPERATOR),
    # Devices post with their own token; a user's token, whoever the user, is no device's.
    Case(
        "POST",
        f"{API}/telemetry",
        telemetry,
        EVERYONE,
        frozenset(),
        odd=dict.fromkeys(PERSONAS, 401),
    ),
    # --- notifications: one's own inbox; one's own organisation's webhooks; the operator's log ---
    listing("/inbox"),
    listing("/inbox/unread-count"),
    Case("POST", f"{API}/inbox/read-all", lambda _scene: NOTHING, EVERYONE, EVERYONE),
    # Nobody but Alice sees Alice's inbox, not even her colleague or the operator.
    change("/inbox/{item_id}/read", alices_item, only("bank"), only("bank")),
    Case("GET", f"{API}/webhooks", lambda _scene: NOTHING, EVERYONE, WEBHOOK_ADMINS, gate=WEBHOOK_ADMINS),
    Case(
        "POST",
        f"{API}/webhooks",
        lambda _scene: Call(json=WEBHOOK),
        EVERYONE,
        WEBHOOK_ADMINS,
        success=201,
        gate=WEBHOOK_ADMINS,
    ),
    # Another organisation's subscription does not exist for the caller, the operator's included.
    change(
        "/webhooks/{webhook_id}/deactivate", banks_webhook, only("bank"), only("bank"), gate=WEBHOOK_ADMINS
    ),
    Case("GET", f"{API}/deliveries", lambda _scene: NOTHING, EVERYONE, OPERATOR, gate=OPERATOR),
    Case("GET", f"{API}/deliveries/{{delivery_id}}", a_delivery, EVERYONE, OPERATOR, gate=OPERATOR),
    # --- alerts and work orders: whoever sees the room sees them ---
    listing("/alerts"),
    listing("/alerts/counts"),
    read("/alerts/{alert_id}", critical_alert(), ROOMS_SEEN, "YS-F18"),
    change("/alerts/{alert_id}/acknowledge", critical_alert({}), YS_F18, ALERT_ACKNOWLEDGERS),
    change("/alerts/{alert_id}/resolve", critical_alert({"resolution": "压缩机已修复"}), YS_F18, MANAGER),
    change("/alerts/{alert_id}/close", critical_alert({}, cleared=True), YS_F18, MANAGER),
    listing("/work-orders"),
    listing("/work-orders/counts"),
    # Only supervision managers raise work orders; Sue may, but cannot see YS-F18 (a wrong field).
    change(
        "/work-orders",
        stocktake,
        YS_F18,
        MANAGER,
        success=201,
        gate=only("supervisor", "supervisor2"),
        unseen=422,
    ),
    read("/work-orders/{work_order_id}", work_order(), ROOMS_SEEN, "YS-F18"),
    # Before any escalation, the assignee and the supervision manager acknowledge.
    change(
        "/work-orders/{work_order_id}/acknowledge", work_order({}), YS_F18, only("supervisor", "inspector")
    ),
    change(
        "/work-orders/{work_order_id}/assign",
        work_order(lambda w: {"user_id": w.users["inspector2"]}),
        YS_F18,
        MANAGER,
    ),
    change(
        "/work-orders/{work_order_id}/comments",
        work_order({"text": "矩阵评论"}),
        YS_F18,
        COMMENTERS,
        success=201,
    ),
    change("/work-orders/{work_order_id}/attachments", work_order_upload, YS_F18, COMMENTERS, success=201),
    read("/work-orders/{work_order_id}/attachments/{sha256}", work_order_photo, ROOMS_SEEN, "YS-F18"),
    change(
        "/work-orders/{work_order_id}/check-ins",
        work_order({"latitude_e6": 30_626_000, "longitude_e6": 122_066_000}),
        YS_F18,
        only("supervisor", "inspector"),
        success=201,
    ),
    # Starting and resolving are the assignee's alone; closing is a reviewer's, never hers.
    change("/work-orders/{work_order_id}/start", work_order({}), YS_F18, only("inspector")),
    change(
        "/work-orders/{work_order_id}/resolve",
        work_order({"resolution": "已处理"}, steps=(("inspector", "start", {}),)),
        YS_F18,
        only("inspector"),
    ),
    change(
        "/work-orders/{work_order_id}/close",
        work_order(
            {"review_note": "复核通过"},
            steps=(("inspector", "start", {}), ("inspector", "resolve", {"resolution": "已处理"})),
        ),
        YS_F18,
        MANAGER,
    ),
    change("/work-orders/{work_order_id}/cancel", work_order(REASON), YS_F18, MANAGER),
    # --- prices: the operator manages, everyone reads ---
    listing("/prices/series"),
    change("/prices/series", new_price_series, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    everyone_reads("/prices/series/{series_id}", price_series()),
    Case(
        "PATCH",
        f"{API}/prices/series/{{series_id}}",
        price_series({"stale_after_business_days": 5}),
        EVERYONE,
        OPERATOR,
        gate=OPERATOR,
    ),
    listing("/prices/observations"),
    change("/prices/observations", new_price, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    everyone_reads("/prices/observations/{observation_id}", oscars_price()),
    change(
        "/prices/observations/{observation_id}/approve", oscars_price({}), EVERYONE, OPERATOR, gate=OPERATOR
    ),
    change(
        "/prices/observations/{observation_id}/reject",
        oscars_price(REASON),
        EVERYONE,
        OPERATOR,
        gate=OPERATOR,
    ),
    change("/prices/imports", price_file, EVERYONE, OPERATOR, success=201, gate=OPERATOR),
    listing("/prices/stale"),
    everyone_reads("/prices/commodities/{commodity_id}", oscars_price(approve=True)),
    # --- financing: facilities and drawdowns, their bank's and borrower's business ---
    listing("/facilities"),
    change("/facilities", new_facility, EVERYONE, APPLICANTS, success=201, gate=APPLICANTS),
    facility_case("GET", "/facilities/{facility_id}", facility("active")),
    # The bank decides and runs the facility; the borrower may withdraw its application.
    facility_case(
        "POST", "/facilities/{facility_id}/approve", facility("applied", {"rate_bp": 435}), only("bank")
    ),
    facility_case("POST", "/facilities/{facility_id}/reject", facility("applied", REASON), only("bank")),
    facility_case(
        "POST", "/facilities/{facility_id}/withdraw", facility("applied", REASON), only("borrower")
    ),
    facility_case("POST", "/facilities/{facility_id}/activate", facility("contracted", {}), only("bank")),
    facility_case("POST", "/facilities/{facility_id}/suspend", facility("active", REASON), only("bank")),
    facility_case("POST", "/facilities/{facility_id}/resume", facility("suspended", {}), only("bank")),
    facility_case("POST", "/facilities/{facility_id}/expire", facility("active", {}), only("bank")),
    facility_case("POST", "/facilities/{facility_id}/close", facility("active", {}), only("bank")),
    facility_case("GET", "/facilities/{facility_id}/position", facility("active")),
    facility_case("GET", "/facilities/{facility_id}/contracts", facility("active")),
    facility_case(
        "POST",
        "/facilities/{facility_id}/contracts",
        facility("approved", CONTRACT),
        only("bank"),
        success=201,
    ),
    facility_case("GET", "/facilities/{facility_id}/collateral", facility("active")),
    facility_case(
        "POST",
        "/facilities/{facility_id}/collateral",
        facility("approved", lambda w: {"receipt_id": w.receipts["pledged"]}),
        only("bank"),
        success=201,
    ),
    facility_case(
        "POST", "/facilities/{facility_id}/collateral/{link_id}/detach", collateral_link, only("bank")
    ),
    facility_case("GET", "/facilities/{facility_id}/margin-deposits", facility("active")),
    facility_case(
        "POST",
        "/facilities/{facility_id}/margin-deposits",
        facility("active", LOAN),
        only("bank"),
        success=201,
    ),
    facility_case(
        "POST",
        "/facilities/{facility_id}/margin-deposits/{deposit_id}/withdraw",
        margin_deposit,
        only("bank"),
    ),
    facility_case("GET", "/facilities/{facility_id}/drawdowns", facility("active")),
    facility_case(
        "POST",
        "/facilities/{facility_id}/drawdowns",
        facility("active", {**LOAN, "maturity_date": str(today() + timedelta(days=30))}),
        only("borrower"),
        success=201,
    ),
    facility_case("GET", "/facilities/{facility_id}/repayments", facility("active")),
    listing("/drawdowns"),
    facility_case("GET", "/drawdowns/{drawdown_id}", drawdown("requested")),
    facility_case("POST", "/drawdowns/{drawdown_id}/approve", drawdown("requested", {}), only("bank")),
    facility_case("POST", "/drawdowns/{drawdown_id}/reject", drawdown("requested", REASON), only("bank")),
    facility_case(
        "POST", "/drawdowns/{drawdown_id}/withdraw", drawdown("requested", REASON), only("borrower")
    ),
    facility_case("POST", "/drawdowns/{drawdown_id}/disburse", drawdown("approved", {}), only("bank")),
    facility_case("GET", "/drawdowns/{drawdown_id}/repayments", drawdown("active")),
    # Money received is recorded by the bank, or by the borrower who paid it.
    facility_case(
        "POST",
        "/drawdowns/{drawdown_id}/repayments",
        drawdown("active", {"amount_fen": 100_000}),
        only("bank", "borrower"),
        success=201,
    ),
    facility_case("GET", "/drawdowns/{drawdown_id}/accruals", drawdown("active")),
    # Releases against the loan, and disposal once the facility is liquidated: the bank sells.
    facility_case("GET", "/facilities/{facility_id}/release-capacity", facility("active")),
    facility_case("GET", "/facilities/{facility_id}/disposals", facility("active")),
    facility_case("POST", "/facilities/{facility_id}/disposals", disposal_sale, only("bank"), success=201),
    facility_case("GET", "/disposals/{disposal_id}", recorded_disposal),
    facility_case("POST", "/drawdowns/{drawdown_id}/write-off", shortfall, only("bank")),
    # Price risk is read by whoever sees the facility; a borrower's profile by the borrower, a bank
    # it has a facility (or an application) with, and the operator.
    facility_case("GET", "/facilities/{facility_id}/price-risk", facility("active")),
    Case("GET", f"{API}/borrowers/{{org_id}}/profile", borrower_with_facility, FACILITY_SEEN, FACILITY_SEEN),
    # Mark-to-market: valuations and margin calls are read by whoever sees the facility; a waiver
    # is asked for and approved by the bank's risk officers; the operator runs a mark by hand.
    facility_case("GET", "/facilities/{facility_id}/valuations", facility("active")),
    facility_case("GET", "/facilities/{facility_id}/valuations/{valuation_id}", valuation),
    listing("/margin-calls"),
    facility_case("GET", "/margin-calls/{call_id}", margin_call()),
    facility_case(
        "POST",
        "/margin-calls/{call_id}/waive",
        margin_call({"reason": "补货在途"}),
        only("bank"),
        gate=only("bank", "bank2"),
    ),
    change(
        "/financing/mark-to-market",
        lambda _scene: Call(json={"business_date": str(today())}),
        EVERYONE,
        OPERATOR,
        gate=OPERATOR,
    ),
    # --- the evidence log (public) ---
    public("/checkpoint", latest_checkpoint),
    public("/checkpoints/{tree_size}", checkpoint_of_size),
    public("/public-key"),
    public("/witnesses"),
    public("/entries/{index}", first_entry),
    public("/proof/inclusion", inclusion_proof),
    public("/proof/consistency", consistency_proof),
    # Handing in a cosignature needs no sign-in either: one that does not verify against a
    # registered witness's key is refused for everyone alike.
    public("/cosignatures", strangers_cosignature, method="POST", success=422),
    # --- reports ---
    # A warehouse's daily report is for whoever sees the warehouse (each sees only its rooms in it).
    read(
        "/reports/warehouses/{warehouse_id}/daily",
        on("warehouse_id", "warehouses", "yangshan"),
        WAREHOUSES_SEEN,
        "yangshan",
    ),
    # A portfolio report is a bank's own; the operator names the bank; other roles are refused.
    Case(
        "GET",
        f"{API}/reports/portfolio",
        lambda _scene: NOTHING,
        EVERYONE,
        BANKS,
        odd={"admin": 422},
    ),
    Case(
        "GET",
        f"{API}/reports/portfolio",
        lambda scene: Call(query={"bank_org_id": scene.world.orgs["bank"]}),
        EVERYONE - only("bank2"),
        only("admin", "bank", "bankviewer"),
        variant="Alice's bank named",
        unseen=404,
    ),
    # Anyone signed in may have a package certified; a file that is no package is refused alike.
    Case(
        "POST",
        f"{API}/reports/evidence-certificate",
        lambda _scene: Call(files={"package": ("x.zip", b"not a package", "application/zip")}),
        EVERYONE,
        EVERYONE,
        success=422,
    ),
)
