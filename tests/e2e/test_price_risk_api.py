"""A facility's price risk through the API: Alice reads how likely the pork's price is to carry
Carol's LTV to the warning and liquidation lines, from the prices Olga entered, with the model
stated and every observation named."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from statistics import NormalDist, stdev
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.financing.businessdays import is_business_day
from coldpledge.financing.prices.models import PriceSeries
from coldpledge.parties.policy import SYSTEM
from tests.financing import active_facility, drawn
from tests.prices import approved, new_series
from tests.support import ok, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
SERIES = "TEST-PORK-FZ"
PHI = NormalDist().cdf
Z_99 = NormalDist().inv_cdf(0.01)


def weekdays_back(count: int, until: date) -> list[date]:
    """The last ``count`` business days on or before ``until``, oldest first."""
    days: list[date] = []
    day = until
    while len(days) < count:
        if is_business_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def history(db: TestDB, world: World, mids: list[str], *, days: list[date] | None = None) -> list[int]:
    """Approved pork prices (CNY/kg) on ``days`` (by default consecutive business days ending
    today); their ids."""
    new_series(db.uow, world, SERIES)
    days = days or weekdays_back(len(mids), today())
    return [price_on(db, world, day, mid) for day, mid in zip(days, mids, strict=True)]


def price_on(db: TestDB, world: World, day: date, mid: str) -> int:
    with db.uow() as unit:
        series_id = unit.session.scalars(select(PriceSeries.id).where(PriceSeries.code == SERIES)).one()
    return approved(db.uow, world, SYSTEM, series_id, day, mid).id


def risk(client: TestClient, auth: Auth, facility_id: int, persona: str = "bank", **query: Any) -> Any:
    return ok(client.get(f"{API}/facilities/{facility_id}/price-risk", headers=auth(persona), params=query))


def reflection(barrier_ratio: float, sigma: float, days: int) -> float:
    """P(min ≤ barrier) for a driftless Brownian log price: 2 Φ(ln(b) / σ√T)."""
    return 2 * PHI(math.log(barrier_ratio) / (sigma * math.sqrt(days)))


def test_the_price_risk_names_its_model_the_history_and_the_chance_of_reaching_each_line(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    # Pork swings 2 % a day between CNY 20.00 and 20.40 and ends where it began: no drift.
    mids = ["20.00" if n % 2 == 0 else "20.40" for n in range(21)]
    ids = history(db, world, mids)
    facility_id = active_facility(db.uow, world)
    drawn(db.uow, world, facility_id, 39_000_000)  # 65 % of CNY 600,000.00

    found = risk(client, auth, facility_id)

    assert "Geometric Brownian motion" in found["model"]
    assert "reflection principle" in found["model"]
    assert (found["exposure_fen"], found["collateral_value_fen"], found["ltv_bp"]) == (
        39_000_000,
        60_000_000,
        6500,
    )
    [pork] = found["commodities"]
    assert pork["commodity_code"] == "PORK-FZ"
    assert pork["observation_ids"] == ids
    assert pork["price_observation_id"] == ids[-1]
    assert (pork["window_to"], pork["returns"]) == (str(weekdays_back(1, today())[0]), 20)
    sigma = stdev([math.log(1.02), -math.log(1.02)] * 10)
    assert pork["daily_volatility"] == pytest.approx(sigma)
    assert pork["daily_drift"] == pytest.approx(0.0, abs=1e-12)

    warning, call, liquidation = pork["lines"]
    # LTV 65 % reaches 75 % when the price falls to 65/75 of CNY 20.00/kg = CNY 17.3334/kg.
    assert (warning["line"], warning["reached"], warning["barrier_fen_per_t"]) == (
        "warning",
        False,
        1_733_334,
    )
    assert warning["fall_bp"] == 1333
    assert (call["line"], call["line_bp"], call["barrier_fen_per_t"]) == ("margin_call", 8000, 1_625_000)
    assert liquidation["barrier_fen_per_t"] == 1_529_412  # 65/85 of CNY 20.00/kg, rounded up
    for line, ratio in ((warning, 6500 / 7500), (call, 6500 / 8000), (liquidation, 6500 / 8500)):
        for horizon in line["horizons"]:
            expected = reflection(ratio, sigma, horizon["days"])
            assert horizon["probability"] == pytest.approx(expected, rel=1e-9)
            # Watching once a business day misses some touches: less likely, never more.
            assert horizon["probability_daily"] < horizon["probability"]
    assert [h["days"] for h in warning["horizons"]] == [10, 30]
    assert 0.01 < warning["horizons"][0]["probability"] < warning["horizons"][1]["probability"] < 0.5

    var = math.ceil(60_000_000 * -math.expm1(sigma * math.sqrt(10) * Z_99))
    assert pork["var_99_10d_fen"] == found["var_99_10d_fen"] == var
    assert found["ltv_after_var_bp"] == math.ceil(39_000_000 * 10_000 / (60_000_000 - var))


def test_a_line_already_reached_is_certain_and_no_exposure_risks_nothing(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    days = weekdays_back(14, today())
    ids = history(db, world, ["20.00" if n % 2 == 0 else "20.40" for n in range(13)], days=days[:-1])
    facility_id = active_facility(db.uow, world)

    calm = risk(client, auth, facility_id)["commodities"][0]
    assert [line["barrier_fen_per_t"] for line in calm["lines"]] == [None, None, None]
    assert all(h["probability"] == 0.0 for line in calm["lines"] for h in line["horizons"])

    drawn(db.uow, world, facility_id, 39_000_000)  # 65 % at CNY 20.00/kg
    ids.append(price_on(db, world, days[-1], "17.00"))  # then pork falls 15 %
    found = risk(client, auth, facility_id)

    assert found["commodities"][0]["observation_ids"] == ids
    assert found["ltv_bp"] == 7648  # CNY 390,000.00 against 30 t at CNY 17.00/kg
    warning, call, liquidation = found["commodities"][0]["lines"]
    assert (call["reached"], call["fall_bp"], call["barrier_fen_per_t"]) == (False, 441, 1_625_000)
    assert (warning["reached"], warning["fall_bp"], warning["barrier_fen_per_t"]) == (True, 0, 1_733_334)
    assert all(h["probability"] == h["probability_daily"] == 1.0 for h in warning["horizons"])
    assert (liquidation["reached"], liquidation["fall_bp"], liquidation["barrier_fen_per_t"]) == (
        False,
        1003,
        1_529_412,
    )


def test_without_enough_history_the_price_risk_says_why(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    history(db, world, ["20.00", "20.10", "20.20"])
    facility_id = active_facility(db.uow, world)
    drawn(db.uow, world, facility_id, 10_000_000)

    found = risk(client, auth, facility_id, persona="borrower")

    [pork] = found["commodities"]
    assert pork["reason"] == "The window holds 2 price changes; an estimate needs 10."
    assert (pork["daily_volatility"], pork["lines"], pork["var_99_10d_fen"]) == (None, [], None)
    assert found["var_99_10d_fen"] is None
    assert len(pork["observation_ids"]) == 3


def test_goods_without_a_price_carry_no_price_risk_and_say_so(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    facility_id = active_facility(db.uow, world)

    [pork] = risk(client, auth, facility_id)["commodities"]

    assert (pork["value_fen"], pork["price_fen_per_t"]) == (0, None)
    assert pork["reason"].startswith("There is no approved price for this commodity")


def test_a_quote_missing_for_a_day_counts_its_return_over_two_days(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    days = weekdays_back(13, today())
    del days[5]  # no quote that day: the next return spans two business days
    mids = ["20.00" if n % 2 == 0 else "20.40" for n in range(12)]
    history(db, world, mids, days=days)
    facility_id = active_facility(db.uow, world)

    [pork] = risk(client, auth, facility_id)["commodities"]

    returns = [math.log(20.40 / 20.00) if n % 2 == 0 else math.log(20.00 / 20.40) for n in range(11)]
    gaps = [2 if n == 4 else 1 for n in range(11)]
    mu = sum(returns) / sum(gaps)
    variance = sum((r - mu * g) ** 2 / g for r, g in zip(returns, gaps, strict=True)) / 10
    assert pork["daily_drift"] == pytest.approx(mu)
    assert pork["daily_volatility"] == pytest.approx(math.sqrt(variance))


def test_the_window_is_bounded_and_only_the_facilitys_parties_read_its_risk(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    facility_id = active_facility(db.uow, world)

    assert client.get(f"{API}/facilities/{facility_id}/price-risk", headers=auth("bank2")).status_code == 404
    too_short = client.get(
        f"{API}/facilities/{facility_id}/price-risk", headers=auth("bank"), params={"window": 5}
    )
    assert too_short.status_code == 422
    assert risk(client, auth, facility_id, window=11)["window"] == 11
