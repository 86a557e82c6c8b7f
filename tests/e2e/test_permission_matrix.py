"""Every API route × every persona (and anonymous) gets the answer the matrix says.

The expectations are in ``matrix_spec``. A route without a row there, or a row for a route that no
longer exists, fails ``test_every_api_route_has_a_row_in_the_matrix`` and its twin, so the matrix
cannot go stale. List endpoints return exactly what each persona may see of the world, and detail
answers never embed another party's rooms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.db import utcnow
from coldpledge.inventory.files import FileStore
from coldpledge.web.app import create_app
from coldpledge.web.deps import Runtime
from tests.e2e.matrix_spec import (
    ANONYMOUS,
    API,
    CASES,
    COMMODITIES,
    LOTS_SEEN,
    ORGS_SEEN,
    PERSONAS,
    RECEIPTS_SEEN,
    RELEASES_SEEN,
    ROOMS,
    ROOMS_SEEN,
    TABLES,
    USERS_SEEN,
    VWS_SEEN,
    WAREHOUSES_SEEN,
    Case,
    Scene,
)
from tests.world import USERS, World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]


def _unbound() -> Session:
    raise RuntimeError("the matrix app is used outside a test transaction")


@pytest.fixture(scope="module")
def matrix_app(settings: Settings) -> FastAPI:
    runtime = Runtime(
        settings=settings,
        read_session=_unbound,
        write_session=_unbound,
        clock=utcnow,
        files=FileStore(Path(settings.attachments_dir), settings.attachment_max_bytes),
    )
    return create_app(runtime=runtime)


@pytest.fixture
def app(matrix_app: FastAPI, db: TestDB) -> FastAPI:
    """One app for the whole module, bound in each test to that test's rolled-back transaction (as
    the ``app`` fixture of conftest does): building an app per case would take most of the run."""
    runtime: Runtime = matrix_app.state.runtime
    matrix_app.state.runtime = Runtime(
        settings=runtime.settings,
        read_session=db.reader,
        write_session=db.session,
        clock=runtime.clock,
        files=runtime.files,
    )
    return matrix_app


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves under /api/v1, hidden ones too."""
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, APIRoute) and path.startswith(f"{API}/"):
            routes.update((method, path) for method in context.methods or ())
    return routes


def test_every_api_route_has_a_row_in_the_matrix(app: FastAPI) -> None:
    missing = api_routes(app) - {case.route for case in CASES}
    assert not missing, f"add these routes to tests/e2e/matrix_spec.py: {sorted(missing)}"


def test_every_row_of_the_matrix_names_a_route_that_exists(app: FastAPI) -> None:
    gone = {case.route for case in CASES} - api_routes(app)
    assert not gone, f"these routes are gone; remove their rows from the matrix: {sorted(gone)}"


def test_every_persona_of_the_world_has_a_row_in_every_visibility_table() -> None:
    for name, table in TABLES.items():
        assert set(table) == set(USERS), f"the {name} table does not list exactly the world's personas"


def test_each_case_lets_act_only_personas_who_see_its_target() -> None:
    for case in CASES:
        assert case.may <= case.seen_by, case.name
        assert set(case.odd) <= set(PERSONAS), case.name


REFUSALS = {401: "unauthenticated", 403: "permission_denied", 404: "not_found", 422: "invalid_input"}


def _cases() -> list[Any]:
    return [
        pytest.param(case, persona, id=f"{case.name} as {persona}")
        for case in CASES
        for persona in (*PERSONAS, ANONYMOUS)
    ]


@pytest.mark.parametrize(("case", "persona"), _cases())
def test_the_route_answers_the_persona_as_the_matrix_says(
    case: Case, persona: str, client: TestClient, auth: Auth, world: World
) -> None:
    call = case.build(Scene(client, auth, world, persona))
    headers = {} if persona == ANONYMOUS else auth(persona)
    response = client.request(
        case.method,
        case.path.format(**call.params),
        headers=headers,
        params=call.query,
        json=call.json,
        data=call.data,
        files=call.files,
    )
    expected = case.expected(persona)
    assert response.status_code == expected, (
        f"{case.name} as {persona}: expected {expected}, got {response.status_code}: {response.text[:300]}"
    )
    # Refusals say why in a stable code; out of scope reads exactly like "does not exist".
    code = REFUSALS.get(expected)
    if code is not None:
        assert response.json()["code"] == code, response.text


# --- lists: exactly what each persona may see of the world ----------------------------------------


def _world_keys(world: World, kind: str) -> Mapping[str, int]:
    found: Mapping[str, int] = getattr(world, kind)
    return found


LISTS: dict[str, tuple[str, str, Callable[[str], frozenset[str]]]] = {
    # path: (World attribute the ids are in, field of each row holding that id, expected keys)
    "/receipts?limit=500": ("receipts", "id", lambda p: RECEIPTS_SEEN[p]),
    "/lots?limit=500": ("lots", "id", lambda p: LOTS_SEEN[p]),
    "/warehouses": ("warehouses", "id", lambda p: WAREHOUSES_SEEN[p]),
    "/virtual-warehouses": ("vws", "id", lambda p: VWS_SEEN[p]),
    "/releases": ("releases", "id", lambda p: RELEASES_SEEN[p]),
    # Each lot of the world carries one seal, so the seals one sees are those of the lots one sees.
    "/seals": ("lots", "lot_id", lambda p: LOTS_SEEN[p]),
    "/users": ("users", "id", lambda p: USERS_SEEN[p]),
    "/organisations": ("orgs", "id", lambda p: ORGS_SEEN[p]),
    "/commodities": ("commodities", "id", lambda _p: COMMODITIES),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("path", list(LISTS))
def test_a_list_holds_exactly_what_the_persona_may_see_of_the_world(
    path: str, persona: str, client: TestClient, auth: Auth, world: World
) -> None:
    kind, column, expected = LISTS[path]
    response = client.get(f"{API}{path}", headers=auth(persona))
    assert response.status_code == 200, response.text
    returned = {row[column] for row in response.json()}
    # Tests that commit may add objects of their own; the world's objects are what is checked.
    seen = {key for key, ident in _world_keys(world, kind).items() if ident in returned}
    assert seen == expected(persona)


# --- detail answers embed only the rooms the persona may see --------------------------------------


def _rooms_by_code(rows: list[dict[str, Any]]) -> set[str]:
    return {room["code"] for room in rows}


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_warehouse_shows_the_persona_only_the_rooms_it_may_see(
    persona: str, client: TestClient, auth: Auth, world: World
) -> None:
    listed = {row["id"]: row for row in client.get(f"{API}/warehouses", headers=auth(persona)).json()}
    for key in WAREHOUSES_SEEN[persona]:
        expected = {code for code, (site, _vw) in ROOMS.items() if site == key} & ROOMS_SEEN[persona]
        detail = client.get(f"{API}/warehouses/{world.warehouses[key]}", headers=auth(persona))
        assert detail.status_code == 200, detail.text
        assert _rooms_by_code(detail.json()["rooms"]) == expected, key
        assert _rooms_by_code(listed[world.warehouses[key]]["rooms"]) == expected, key


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_virtual_warehouse_shows_the_persona_only_the_rooms_it_may_see(
    persona: str, client: TestClient, auth: Auth, world: World
) -> None:
    listed = {row["id"]: row for row in client.get(f"{API}/virtual-warehouses", headers=auth(persona)).json()}
    for key in VWS_SEEN[persona]:
        expected = {code for code, (_site, vw) in ROOMS.items() if vw == key} & ROOMS_SEEN[persona]
        detail = client.get(f"{API}/virtual-warehouses/{world.vws[key]}", headers=auth(persona))
        assert detail.status_code == 200, detail.text
        assert _rooms_by_code(detail.json()["rooms"]) == expected, key
        assert _rooms_by_code(listed[world.vws[key]]["rooms"]) == expected, key


# --- beyond the world's fixed state: relationships that end -----------------------------------------


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_bank_that_declined_a_pledge_does_not_follow_the_receipt_to_another_bank(
    client: TestClient, auth: Auth, world: World
) -> None:
    receipt, lot = world.receipts["pending"], world.lots["pending"]
    _ok(
        client.post(
            f"{API}/receipts/{receipt}/reject-pledge", headers=auth("bank2"), json={"reason": "额度不足"}
        )
    )
    _ok(
        client.post(
            f"{API}/receipts/{receipt}/request-pledge",
            headers=auth("borrower2"),
            json={"pledgee_org_id": world.orgs["bank"]},
        )
    )
    _ok(
        client.post(
            f"{API}/receipts/{receipt}/accept-pledge",
            headers=auth("bank"),
            json={"registration_no": "ZDW-2026-FOLLOW"},
        )
    )

    assert _ok(client.get(f"{API}/receipts/{receipt}", headers=auth("bank")))["status"] == "pledged"
    # Bruno's bank must not read Alice's registration, history or goods any more.
    for path in (f"/receipts/{receipt}", f"/receipts/{receipt}/history", f"/lots/{lot}"):
        assert client.get(f"{API}{path}", headers=auth("bank2")).status_code == 404, path
    listed = {row["id"] for row in _ok(client.get(f"{API}/receipts", headers=auth("bank2")))}
    assert receipt not in listed


def test_a_bank_keeps_seeing_a_receipt_it_discharged_until_it_goes_to_another_bank(
    client: TestClient, auth: Auth, world: World
) -> None:
    receipt = world.receipts["pledged"]
    _ok(client.post(f"{API}/receipts/{receipt}/discharge", headers=auth("bank"), json={}))
    assert _ok(client.get(f"{API}/receipts/{receipt}", headers=auth("bank")))["status"] == "issued"

    _ok(
        client.post(
            f"{API}/receipts/{receipt}/request-pledge",
            headers=auth("borrower"),
            json={"pledgee_org_id": world.orgs["bank2"]},
        )
    )
    assert client.get(f"{API}/receipts/{receipt}", headers=auth("bank")).status_code == 404
    assert _ok(client.get(f"{API}/receipts/{receipt}", headers=auth("bank2")))["status"] == "pledge_pending"


def test_sealing_a_room_does_not_show_one_owner_the_goods_of_another(
    client: TestClient, auth: Auth, world: World
) -> None:
    # YS-F25 holds Carol's shrimp (issued) and Dan's (draft); the room seal lists the stock inside.
    room = world.rooms["YS-F25"]
    _ok(
        client.post(f"{API}/rooms/{room}/seal", headers=auth("supervisor"), json={"numbers": ["F25-DOOR"]}),
        201,
    )
    dans_lot = _ok(client.get(f"{API}/lots/{world.lots['draft']}", headers=auth("admin")))["code"]

    keepers_view = client.get(f"{API}/lots/{world.lots['issued']}/operations", headers=auth("keeper"))
    assert dans_lot in keepers_view.text
    for persona in ("borrower", "insurer"):
        carols_view = client.get(f"{API}/lots/{world.lots['issued']}/operations", headers=auth(persona))
        assert carols_view.status_code == 200
        assert dans_lot not in carols_view.text, persona
    # Carol still learns that the door of the room her goods are in is sealed.
    seals = _ok(
        client.get(f"{API}/seals", params={"room_id": room, "active": True}, headers=auth("borrower"))
    )
    assert [seal["number"] for seal in seals] == ["F25-DOOR"]
