"""The prices the demo's banks value their collateral at, kept by the operator with four eyes.

One daily series per commodity lent against: Shanghai cold-store wholesale quotes in CNY/kg
(low, mid, high). On the first afternoon ``admin`` registers the series and imports about ninety
days of history from one CSV file, and ``admin2`` approves it quote by quote; from then on
``admin`` enters each business morning's quotes by hand and ``admin2`` approves them a quarter of
an hour later. A quote the outlier check flags (domain §5: more than 10 % day on day, or beyond
3σ of the recent returns) is approved only with the approver's explicit confirmation.

The prices walk around their levels (frozen pork No. 4 about CNY 18.60/kg, frozen boneless beef
41.20, whiteleg shrimp 40/50 46.50), pulled back a tenth of the way each day. In the last ten
business days before the story ends, imported beef falls by nearly a quarter as containers pile
up in port: the fall that puts 上海鲜丰's facility first in warning, then under a margin call.
The walk is drawn in integer fen from fixed seeds: every telling walks alike and ends in the same
fall.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from coldpledge.calendar import BUSINESS_TZ
from coldpledge.financing.businessdays import is_business_day
from coldpledge.financing.prices import checks, csvimport
from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.models import PriceFrequency, PriceUnit
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, SeriesIn
from coldpledge.financing.prices.service import HISTORY
from coldpledge.seed.scene import Scene

SOURCE = "sh_coldstore_survey"
HISTORY_DAYS = 90
# How far a day's price is pulled back towards its level, in percent of the gap.
REVERSION_PERCENT = 10
# Beef's fall over the last business days before the story ends, day by day, in basis points.
BEEF_FALL_BP = (-150, -220, -280, -300, -260, -340, -290, -310, -270, -240)


@dataclass(frozen=True)
class SeriesPlan:
    commodity: str  # commodity code
    code: str
    source_series_id: str
    spec: str
    level_fen_per_kg: int
    sigma_bp: int  # daily volatility of the walk
    half_range_fen_per_kg: int  # mid − low = high − mid
    seed: int
    # Its fall over the last business days before the story ends, day by day, in basis points.
    fall_bp: tuple[int, ...] = ()


SERIES: tuple[SeriesPlan, ...] = (
    SeriesPlan(
        "PORK-FZ", "SH-PORK-FZ-4", "冻猪肉-四号肉-进口", "进口冻猪肉 四号肉（去骨后腿）", 18_60, 55, 40, 41
    ),
    SeriesPlan(
        "BEEF-FZ",
        "SH-BEEF-FZ-BL",
        "冻牛肉-去骨-进口",
        "进口冻牛肉 去骨（巴西、阿根廷、澳大利亚）",
        41_20,
        60,
        80,
        42,
        BEEF_FALL_BP,
    ),
    SeriesPlan(
        "SHRIMP-FZ",
        "SH-SHRIMP-FZ-4050",
        "冻虾-南美白虾-40/50",
        "厄瓜多尔南美白虾 HOSO 40/50",
        46_50,
        45,
        100,
        43,
    ),
)


@dataclass(frozen=True)
class Quote:
    plan: SeriesPlan
    day: date
    mid_fen_per_kg: int
    outlier: bool  # flagged by the outlier check against the quotes before it

    def cells(self) -> tuple[str, str, str]:
        """Low, mid and high as published: CNY/kg with two decimals."""
        half, mid = self.plan.half_range_fen_per_kg, self.mid_fen_per_kg
        return _yuan(mid - half), _yuan(mid), _yuan(mid + half)

    @property
    def published_at(self) -> datetime:
        return datetime.combine(self.day, time(9, 0), BUSINESS_TZ)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def price_book(first_day: date, last_day: date) -> dict[str, list[Quote]]:
    """Every series' quotes for the business days from ``first_day`` to ``last_day``, beef
    falling over the last ones before ``last_day``."""
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    business = [day for day in days if is_business_day(day)]
    before_last = [day for day in business if day < last_day]
    book: dict[str, list[Quote]] = {}
    for plan in SERIES:
        rng = random.Random(plan.seed)
        falling = dict(zip(before_last[len(before_last) - len(plan.fall_bp) :], plan.fall_bp, strict=True))
        price = plan.level_fen_per_kg
        quotes: list[Quote] = []
        history: list[tuple[date, int]] = []
        for day in business:
            if day in falling:
                move_bp = falling[day]
            else:
                pull_bp = (plan.level_fen_per_kg - price) * 100 * REVERSION_PERCENT // price
                move_bp = pull_bp + round(rng.gauss(0, plan.sigma_bp))
            if falling and day > max(falling):
                move_bp = min(move_bp, 0)  # no rebound on the last morning
            price = price * (10_000 + move_bp) // 10_000
            fen_per_t = price * 1_000
            verdict = checks.outlier_check(fen_per_t, history[-HISTORY:])
            quotes.append(Quote(plan, day, price, verdict.is_outlier))
            history.append((day, fen_per_t))
        book[plan.commodity] = quotes
    return book


class PriceDesk:
    """The operator's price desk over the story: the series, their history, the daily quotes."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        clock = scene.clock
        self.book = price_book(clock.start - timedelta(days=HISTORY_DAYS), clock.date_of(clock.last_morning))
        self._by_day: dict[date, list[Quote]] = {}
        for quotes in self.book.values():
            for quote in quotes:
                self._by_day.setdefault(quote.day, []).append(quote)
        self._entered: dict[date, list[tuple[int, Quote]]] = {}

    def set_up(self) -> None:
        """Day 0, afternoon: the series, then their history up to today in one file, approved."""
        scene, clock = self.scene, self.scene.clock
        clock.on(0, "14:40")
        for plan in SERIES:
            series = prices.create_series(
                scene.uow(),
                scene.who["admin"],
                SeriesIn(
                    code=plan.code,
                    commodity_id=scene.commodities[plan.commodity],
                    source=SOURCE,
                    source_series_id=plan.source_series_id,
                    market_region="上海",
                    spec=plan.spec,
                    unit=PriceUnit.CNY_PER_KG,
                    frequency=PriceFrequency.DAILY,
                    is_primary=True,
                ),
            )
            scene.series[plan.commodity] = series.id
            clock.later(2)
        clock.on(0, "15:00")
        today = clock.date_of(0)
        history = [quote for day, quotes in sorted(self._by_day.items()) if day <= today for quote in quotes]
        result = csvimport.import_csv(scene.uow(), scene.who["admin"], _csv(history))
        clock.on(0, "15:30")
        observations = sorted(result.observations, key=lambda o: (o.price_date, o.series_id))
        flags = {(scene.series[q.plan.commodity], q.day): q.outlier for q in history}
        for observation in observations:
            outlier = flags[(observation.series_id, observation.price_date)]
            self._approve(observation.id, outlier, history=True)

    def enter(self, day: date) -> None:
        """The business morning's quotes, entered by ``admin`` as published at 09:00."""
        scene = self.scene
        entered = []
        for quote in self._by_day.get(day, []):
            low, mid, high = quote.cells()
            observation = prices.enter(
                scene.uow(),
                scene.who["admin"],
                ObservationIn(
                    series_id=scene.series[quote.plan.commodity],
                    price_date=day,
                    low=low,
                    mid=mid,
                    high=high,
                    published_at=quote.published_at,
                ),
            )
            entered.append((observation.id, quote))
        self._entered[day] = entered

    def approve(self, day: date) -> None:
        """``admin2`` checks the morning's quotes against the source and approves them."""
        for observation_id, quote in self._entered.pop(day, []):
            self._approve(observation_id, quote.outlier, history=False)

    def _approve(self, observation_id: int, outlier: bool, *, history: bool) -> None:
        if outlier:
            note = "已与三家冷库及进口商报价核对，价格变动属实，确认采用"
        else:
            note = "历史行情回补，已与原始报价单核对" if history else "已与来源报价核对"
        prices.approve(
            self.scene.uow(),
            self.scene.who["admin2"],
            observation_id,
            ApproveIn(confirm_outlier=outlier, note=note),
        )


def _csv(quotes: list[Quote]) -> bytes:
    """The history file as a vendor sends it (UTF-8, comma-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["series", "price_date", "unit", "low", "mid", "high", "published_at"])
    for quote in quotes:
        low, mid, high = quote.cells()
        writer.writerow(
            [quote.plan.code, quote.day.isoformat(), "CNY/kg", low, mid, high, quote.published_at.isoformat()]
        )
    return out.getvalue().encode()
