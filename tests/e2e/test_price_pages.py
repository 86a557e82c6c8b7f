"""The price page: a price entered by one operator waits for a second to approve it (四眼原则),
from the page as through the API; nobody approves their own entry. The operator registers and
changes series and imports a CSV file of prices there, refused as the API refuses them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from coldpledge.config import Settings
from tests.conftest import TestDB as Transaction
from tests.pages import htmx, sign_in_as
from tests.prices import OSCAR, new_series, second_operator
from tests.support import today
from tests.world import World

Auth = Callable[[str], dict[str, str]]
API = "/api/v1/prices"


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


# --- series ---------------------------------------------------------------------------------------


def series_form(world: World, **changes: str) -> dict[str, str]:
    return {
        "code": "SCI99-BEEF-SH",
        "commodity_id": str(world.commodities["PORK-FZ"]),
        "source": "sci99",
        "source_series_id": "beef-sh-01",
        "market_region": "上海",
        "spec": "冻牛腱",
        "unit": "CNY/t",
        "frequency": "weekly",
        "stale_after_business_days": "",
        "average_days": "",
        **changes,
    }


def series_by_code(client: TestClient, code: str) -> dict[str, object]:
    return next(s for s in client.get(f"{API}/series").json() if s["code"] == code)


def test_the_operator_registers_a_series_from_the_page(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "admin")
    assert 'id="create-series"' in client.get("/prices").text

    made = client.post("/prices/series", data=series_form(world), headers=htmx(csrf))

    assert made.status_code == 201, made.text
    assert made.headers["HX-Refresh"] == "true"
    series = series_by_code(client, "SCI99-BEEF-SH")
    assert (series["unit"], series["frequency"], series["is_primary"]) == ("CNY/t", "weekly", False)
    assert series["stale_after_business_days"] == 7  # a weekly series' default
    assert 'data-series="SCI99-BEEF-SH" data-active="yes"' in client.get("/prices").text


def test_a_series_code_in_lower_case_is_refused_as_the_api_refuses_it(
    client: TestClient, auth: Auth, world: World
) -> None:
    csrf = sign_in_as(client, "admin")
    page = client.post("/prices/series", data=series_form(world, code="beef"), headers=htmx(csrf))
    body = {k: v for k, v in series_form(world, code="beef").items() if v}
    api = client.post(
        f"{API}/series",
        headers=auth("admin"),
        json={**body, "commodity_id": world.commodities["PORK-FZ"]},
    )
    assert page.status_code == api.status_code == 422
    assert api.json()["detail"] in page.text
    assert "code" in page.text
    assert all(s["code"] != "beef" for s in client.get(f"{API}/series").json())


def test_the_operator_makes_another_series_primary_and_deactivates_the_old_one(
    client: TestClient, db: Transaction, world: World
) -> None:
    old = new_series(db.uow, world, "MOA-PORK-OLD")
    new = new_series(db.uow, world, "MOA-PORK-NEW", primary=False)
    csrf = sign_in_as(client, "admin")
    assert f'hx-post="/prices/series/{new.id}"' in client.get("/prices").text

    promoted = client.post(
        f"/prices/series/{new.id}",
        data={"active": "yes", "is_primary": "yes", "stale_after_business_days": "3", "note": "部委口径更新"},
        headers=htmx(csrf),
    )
    assert promoted.status_code == 200, promoted.text
    retired = client.post(
        f"/prices/series/{old.id}", data={"stale_after_business_days": "3"}, headers=htmx(csrf)
    )
    assert retired.status_code == 200, retired.text

    assert client.get(f"{API}/series/{new.id}").json()["is_primary"] is True
    assert (
        client.get(f"{API}/series/{old.id}").json()["is_primary"],
        client.get(f"{API}/series/{old.id}").json()["active"],
    ) == (False, False)
    page = client.get("/prices").text
    assert 'data-series="MOA-PORK-OLD" data-active="no"' in page  # still listed, to turn on again


def test_an_average_over_one_observation_is_refused_as_the_api_refuses_it(
    client: TestClient, auth: Auth, db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world, "MOA-PORK-AVG")
    csrf = sign_in_as(client, "admin")
    page = client.post(
        f"/prices/series/{series.id}",
        data={"active": "yes", "is_primary": "yes", "stale_after_business_days": "3", "average_days": "1"},
        headers=htmx(csrf),
    )
    api = client.patch(f"{API}/series/{series.id}", headers=auth("admin"), json={"average_days": 1})
    assert page.status_code == api.status_code == 422
    assert api.json()["detail"] in page.text
    assert "average_days" in page.text
    assert client.get(f"{API}/series/{series.id}").json()["average_days"] is None


# --- imports --------------------------------------------------------------------------------------


def csv_file(text: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("moa.csv", text.encode(), "text/csv")}


def test_the_operator_imports_a_file_and_sees_its_prices_awaiting_approval(
    client: TestClient, db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world, "MOA-PORK-CSV")
    csrf = sign_in_as(client, "admin")
    assert 'hx-encoding="multipart/form-data"' in client.get("/prices").text
    yesterday, day = (today() - timedelta(days=1)).isoformat(), today().isoformat()
    text = f"series,price_date,unit,mid\nMOA-PORK-CSV,{yesterday},CNY/kg,21.40\nMOA-PORK-CSV,{day},,21.55\n"

    imported = client.post("/prices/imports", files=csv_file(text), headers=htmx(csrf))

    assert imported.status_code == 201, imported.text
    assert 'data-accepted="2"' in imported.text
    assert "21.55" in imported.text
    assert imported.text.count('data-status="pending"') == 2
    pending = client.get(f"{API}/observations", params={"series_id": series.id, "status": "pending"}).json()
    assert sorted(o["price_date"] for o in pending) == [yesterday, day]
    assert f'data-observation="{pending[0]["id"]}"' in client.get("/prices").text


def test_a_file_with_wrong_rows_is_refused_row_by_row_and_nothing_is_stored(
    client: TestClient, auth: Auth, db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world, "MOA-PORK-BAD")
    csrf = sign_in_as(client, "admin")
    day = today().isoformat()
    text = (
        f"series,price_date,mid\nMOA-PORK-BAD,{day},21.40\nNO-SUCH,{day},21.40\nMOA-PORK-BAD,2026-13-01,abc\n"
    )

    page = client.post("/prices/imports", files=csv_file(text), headers=htmx(csrf))
    api = client.post(f"{API}/imports", files=csv_file(text), headers=auth("admin"))

    assert page.status_code == api.status_code == 422
    assert 'role="alert"' in page.text
    assert api.json()["detail"] in page.text
    for row in api.json()["rows"]:
        assert f'data-refused-row="{row["row"]}"' in page.text
        assert row["message"] in page.text
    assert 'data-refused-row="2"' not in page.text
    assert client.get(f"{API}/observations", params={"series_id": series.id}).json() == []


def test_a_bank_is_offered_no_series_forms_nor_the_import_and_may_not_use_them(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "bank")
    page = client.get("/prices").text
    assert 'id="create-series"' not in page
    assert 'id="import-prices"' not in page
    assert "/prices/series/" not in page
    made = client.post("/prices/series", data=series_form(world), headers=htmx(csrf))
    imported = client.post(
        "/prices/imports",
        files=csv_file(f"series,price_date,mid\nX,{today().isoformat()},1\n"),
        headers=htmx(csrf),
    )
    assert (made.status_code, imported.status_code) == (403, 403)
