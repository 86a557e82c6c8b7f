"""The price page: a price entered by one operator waits for a second to approve it (四眼原则),
from the page as through the API; nobody approves their own entry."""

from __future__ import annotations

from fastapi.testclient import TestClient

from coldpledge.config import Settings
from tests.conftest import TestDB as Transaction
from tests.pages import htmx, sign_in_as
from tests.prices import OSCAR, new_series, second_operator
from tests.support import today
from tests.world import World


def test_one_operator_enters_a_price_and_another_approves_it_from_the_page(
    client: TestClient, db: Transaction, settings: Settings, world: World
) -> None:
    series = new_series(db.uow, world, "MOA-PORK-PAGE")
    second_operator(db.uow, settings, world)
    csrf = sign_in_as(client, "admin")
    entered = client.post(
        "/prices/observations",
        data={"series_id": str(series.id), "price_date": today().isoformat(), "mid": "21.40"},
        headers=htmx(csrf),
    )
    assert entered.status_code == 201, entered.text
    page = client.get("/prices").text
    assert 'data-series="MOA-PORK-PAGE"' in page
    pending = client.get("/api/v1/prices/observations", params={"status": "pending"}).json()
    observation = next(o for o in pending if o["series_id"] == series.id)
    assert f'data-observation="{observation["id"]}"' in page

    own = client.post(f"/prices/observations/{observation['id']}/approve", headers=htmx(csrf))
    assert own.status_code == 403, own.text
    assert 'role="alert"' in own.text

    other = TestClient(client.app, headers={"Accept-Language": "en"})
    other_csrf = sign_in_as(other, OSCAR)
    approved = other.post(f"/prices/observations/{observation['id']}/approve", headers=htmx(other_csrf))
    assert approved.status_code == 200, approved.text
    assert 'data-status="approved"' in approved.text
    assert "21.40" in other.get("/prices").text


def test_a_price_not_written_as_a_number_is_refused_as_the_api_refuses_it(
    client: TestClient, db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world, "MOA-PORK-PAGE2")
    csrf = sign_in_as(client, "admin")
    answer = client.post(
        "/prices/observations",
        data={"series_id": str(series.id), "price_date": today().isoformat(), "mid": "21,40 元"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert "mid" in answer.text


def test_a_bank_sees_prices_but_is_offered_neither_entry_nor_approval(client: TestClient) -> None:
    sign_in_as(client, "bank")
    page = client.get("/prices")
    assert page.status_code == 200
    assert 'id="enter-price"' not in page.text
    assert "/approve" not in page.text
