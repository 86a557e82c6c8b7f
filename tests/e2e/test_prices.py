"""Prices over HTTP and from the command line: the operator registers series and enters or imports
prices, a second operator approves them, and every party reads them and the price valuation uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.financing.prices.models import PriceObservation, PriceSeries
from coldpledge.parties.security import issue_access_token
from coldpledge.uow import UnitOfWork
from tests.prices import new_series, second_operator
from tests.support import ok, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1/prices"
MONDAY = today() - timedelta(days=today().weekday() + 28)


def day(n: int) -> str:
    return (MONDAY + timedelta(days=n)).isoformat()


@pytest.fixture
def oscar(db: TestDB, settings: Settings, world: World) -> dict[str, str]:
    """Headers of Oscar, the second operator, who approves what Olga enters."""
    principal = second_operator(db.uow, settings, world)
    assert principal.user_id is not None
    token = issue_access_token(settings, user_id=principal.user_id, now=utcnow())
    return {"Authorization": f"Bearer {token.token}"}


def pork_series(client: TestClient, auth: Auth, world: World, **extra: Any) -> Any:
    body = {
        "code": "MOA-PORK-NATL",
        "commodity_id": world.commodities["PORK-FZ"],
        "source": "moa_daily",
        "source_series_id": "猪肉批发价",
        "market_region": "全国",
        "spec": "白条猪肉",
        "unit": "CNY/kg",
        "is_primary": True,
        **extra,
    }
    return ok(client.post(f"{API}/series", json=body, headers=auth("admin")), 201)


def enter(client: TestClient, auth: Auth, series_id: int, n: int, mid: str) -> Any:
    body = {"series_id": series_id, "price_date": day(n), "mid": mid}
    return ok(client.post(f"{API}/observations", json=body, headers=auth("admin")), 201)


def test_a_price_entered_by_one_operator_and_approved_by_another_is_the_price_banks_see(
    client: TestClient, auth: Auth, world: World, oscar: dict[str, str]
) -> None:
    series = pork_series(client, auth, world)
    assert series["stale_after_business_days"] == 3
    entered = enter(client, auth, series["id"], 0, "24.63")
    assert (entered["status"], entered["price_mid_fen_per_t"], entered["raw_value"]) == (
        "pending",
        2_463_000,
        "24.63",
    )

    refused = client.post(f"{API}/observations/{entered['id']}/approve", json={}, headers=auth("admin"))
    assert refused.status_code == 403
    done = ok(client.post(f"{API}/observations/{entered['id']}/approve", headers=oscar))
    assert done["status"] == "approved"

    pork = world.commodities["PORK-FZ"]
    used = ok(client.get(f"{API}/commodities/{pork}", params={"on": day(1)}, headers=auth("bank")))
    assert used["price_fen_per_t"] == 2_463_000
    assert used["observation_ids"] == [entered["id"]]
    assert used["business_days_old"] == 1
    listed = ok(
        client.get(f"{API}/observations", params={"series_id": series["id"]}, headers=auth("borrower"))
    )
    assert [row["id"] for row in listed] == [entered["id"]]


def test_a_commodity_without_an_approved_price_has_none(client: TestClient, auth: Auth, world: World) -> None:
    shrimp = world.commodities["SHRIMP-FZ"]
    answer = client.get(f"{API}/commodities/{shrimp}", headers=auth("bank"))
    assert answer.status_code == 404
    assert "no approved price" in answer.json()["detail"]


def test_banks_read_prices_but_only_the_operator_manages_them(
    client: TestClient, auth: Auth, world: World
) -> None:
    series = pork_series(client, auth, world)
    entered = enter(client, auth, series["id"], 0, "24.63")
    assert client.get(f"{API}/series/{series['id']}", headers=auth("guarantor")).status_code == 200
    body = {"series_id": series["id"], "price_date": day(1), "mid": "25"}
    assert client.post(f"{API}/observations", json=body, headers=auth("bank")).status_code == 403
    assert client.post(f"{API}/observations/{entered['id']}/approve", headers=auth("bank")).status_code == 403
    assert (
        client.patch(f"{API}/series/{series['id']}", json={"active": False}, headers=auth("bank")).status_code
        == 403
    )


def test_an_outlier_is_approved_only_when_the_approver_confirms_it(
    client: TestClient, auth: Auth, world: World, oscar: dict[str, str]
) -> None:
    series = pork_series(client, auth, world)
    first = enter(client, auth, series["id"], 0, "24.00")
    ok(client.post(f"{API}/observations/{first['id']}/approve", json={}, headers=oscar))
    jump = enter(client, auth, series["id"], 1, "30.00")
    assert jump["is_outlier"]

    refused = client.post(f"{API}/observations/{jump['id']}/approve", json={}, headers=oscar)
    assert refused.status_code == 409
    assert refused.json()["code"] == "price_outlier_unconfirmed"
    assert "+25.00 %" in refused.json()["outlier_reason"]
    done = ok(
        client.post(f"{API}/observations/{jump['id']}/approve", json={"confirm_outlier": True}, headers=oscar)
    )
    assert done["outlier_confirmed"]
    outliers = ok(client.get(f"{API}/observations", params={"outlier": "true"}, headers=auth("bank")))
    assert [row["id"] for row in outliers] == [jump["id"]]


def test_a_wrong_price_is_rejected_with_a_reason_and_the_date_entered_again(
    client: TestClient, auth: Auth, world: World, oscar: dict[str, str]
) -> None:
    series = pork_series(client, auth, world)
    wrong = enter(client, auth, series["id"], 0, "246.3")
    again = client.post(
        f"{API}/observations",
        json={"series_id": series["id"], "price_date": day(0), "mid": "24.63"},
        headers=auth("admin"),
    )
    assert again.status_code == 409
    rejected = ok(
        client.post(f"{API}/observations/{wrong['id']}/reject", json={"reason": "小数点错位"}, headers=oscar)
    )
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "小数点错位")
    enter(client, auth, series["id"], 0, "24.63")


@pytest.mark.parametrize(
    "body",
    [
        {"mid": 24.63},  # a JSON float is not an exact price
        {"mid": "24,63"},
        {"mid": "-1"},
        {},  # no price at all
        {"low": "24"},  # a low without a high
        {"mid": "24", "published_at": "2026-11-02T14:00:00"},  # a time without its zone
    ],
)
def test_a_malformed_price_is_refused_with_the_field_to_fix(
    client: TestClient, auth: Auth, world: World, body: dict[str, Any]
) -> None:
    series = pork_series(client, auth, world)
    answer = client.post(
        f"{API}/observations",
        json={"series_id": series["id"], "price_date": day(0), **body},
        headers=auth("admin"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"]


def test_making_another_series_primary_moves_valuation_to_it(
    client: TestClient, auth: Auth, world: World, oscar: dict[str, str]
) -> None:
    national = pork_series(client, auth, world)
    shanghai = pork_series(
        client,
        auth,
        world,
        code="SCI-PORK-SH",
        source="sci99",
        market_region="上海",
        unit="CNY/t",
        is_primary=False,
    )
    for series, mid in ((national, "24.00"), (shanghai, "23500")):
        entered = enter(client, auth, series["id"], 0, mid)
        ok(client.post(f"{API}/observations/{entered['id']}/approve", headers=oscar))

    changed = ok(
        client.patch(
            f"{API}/series/{shanghai['id']}",
            json={"is_primary": True, "average_days": 5},
            headers=auth("admin"),
        )
    )
    assert (changed["is_primary"], changed["average_days"]) == (True, 5)
    assert not ok(client.get(f"{API}/series/{national['id']}", headers=auth("bank")))["is_primary"]
    pork = world.commodities["PORK-FZ"]
    used = ok(client.get(f"{API}/commodities/{pork}", params={"on": day(0)}, headers=auth("bank")))
    assert (used["series_code"], used["price_fen_per_t"]) == ("SCI-PORK-SH", 2_350_000)
    refused = client.patch(f"{API}/series/{shanghai['id']}", json={"active": None}, headers=auth("admin"))
    assert refused.status_code == 422


def test_a_csv_upload_stores_all_rows_or_names_the_rows_to_fix(
    client: TestClient, auth: Auth, world: World
) -> None:
    series = pork_series(client, auth, world)
    good = f"series,price_date,mid\nMOA-PORK-NATL,{day(0)},24.63\nMOA-PORK-NATL,{day(1)},24.70\n"
    made = ok(
        client.post(
            f"{API}/imports", files={"file": ("moa.csv", good.encode(), "text/csv")}, headers=auth("admin")
        ),
        201,
    )
    assert (made["pending"], made["approved"], made["series_codes"]) == (2, 0, ["MOA-PORK-NATL"])

    bad = f"series,price_date,mid\nMOA-PORK-NATL,{day(2)},24.63\nMOA-PORK-NATL,{day(3)},abc\n"
    refused = client.post(
        f"{API}/imports", files={"file": ("moa.csv", bad.encode(), "text/csv")}, headers=auth("admin")
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "price_import_rejected"
    assert refused.json()["rows"] == [{"row": 3, "field": "mid", "message": "“abc” is not a number."}]
    listed = ok(client.get(f"{API}/observations", params={"series_id": series["id"]}, headers=auth("admin")))
    assert len(listed) == 2


def test_the_stale_list_names_series_whose_price_is_too_old(
    client: TestClient, auth: Auth, world: World, oscar: dict[str, str]
) -> None:
    series = pork_series(client, auth, world)
    entered = enter(client, auth, series["id"], 3, "24.00")  # a Thursday
    ok(client.post(f"{API}/observations/{entered['id']}/approve", headers=oscar))
    fresh = ok(client.get(f"{API}/stale", params={"on": day(8)}, headers=auth("bank")))
    stale = ok(client.get(f"{API}/stale", params={"on": day(9)}, headers=auth("bank")))
    assert series["code"] not in {row["series"]["code"] for row in fresh}
    row = next(row for row in stale if row["series"]["code"] == series["code"])
    assert (row["latest_price_date"], row["business_days_old"], row["limit_business_days"]) == (day(3), 4, 3)


# --- the command line (real commits: a series of the test's own, not primary) --------------------


def run(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLDPLEDGE_DATABASE_URL": settings.database_url, "COLDPLEDGE_ENV": "test"}
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", "prices", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def own_series(database: Database, world: World) -> tuple[str, str]:
    """(code, source) of a committed series on chicken, not primary: no valuation follows it."""
    code = f"T-{uuid.uuid4().hex[:10].upper()}"
    new_series(
        lambda: UnitOfWork(database.write_session), world, code, "CHICKEN-CH", primary=False, source=code
    )
    return code, code


def stored(database: Database, code: str) -> list[tuple[date, int, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(PriceObservation.price_date, PriceObservation.price_mid_fen_per_t, PriceObservation.status)
            .join(PriceSeries, PriceSeries.id == PriceObservation.series_id)
            .where(PriceSeries.code == code)
            .order_by(PriceObservation.price_date)
        ).all()
    return [(row[0], row[1], row[2].value) for row in rows]


def test_the_import_command_stores_a_file_as_the_named_user(
    database: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    code, _source = own_series(database, world)
    file = tmp_path / "prices.csv"
    file.write_text(f"series,price_date,mid\n{code},{day(0)},17.89\n")
    done = run(settings, "import", str(file), "--user", "admin", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["status"] == "pending"
    assert stored(database, code) == [(MONDAY, 1_789_000, "pending")]

    file.write_text(f"series,price_date,mid\n{code},{day(1)},x\n")
    refused = run(settings, "import", str(file), "--user", "admin")
    assert refused.returncode == 1
    assert "row 2 mid" in refused.stderr


def test_the_feed_command_takes_in_a_vendors_directory_once(
    database: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    code, source = own_series(database, world)
    (tmp_path / "today.json").write_text(json.dumps([{"series": code, "price_date": day(0), "mid": "17.89"}]))
    first = run(settings, "feed", str(tmp_path), "--source", source, "--since", day(0), "--json")
    again = run(settings, "feed", str(tmp_path), "--source", source, "--since", day(0), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["stored"] == 1
    assert json.loads(again.stdout) == {
        "stored": 0,
        "approved": 0,
        "outliers": 0,
        "unchanged": 1,
        "problems": 0,
    }
    assert stored(database, code) == [(MONDAY, 1_789_000, "pending")]


def test_the_stale_command_lists_stale_series_and_fails(
    database: Database, settings: Settings, world: World
) -> None:
    code, _source = own_series(database, world)
    done = run(settings, "stale", "--date", day(9), "--json")
    assert done.returncode == 2
    assert code in {json.loads(line)["series"] for line in done.stdout.splitlines()}
