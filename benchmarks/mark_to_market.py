"""The daily mark-to-market of many facilities: 100,000 pledged lots across 10,000 facilities (issue 6
asks for under 10 s on PostgreSQL).

    python -m benchmarks.mark_to_market --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres
        [--facilities 10000] [--lots-per-facility 10]

Bulk-loads (Core inserts, not services) 10 banks with a risk officer each, one borrower per ten
facilities, three commodities with a primary price series, and per facility its pledged receipts
(one lot each, 20 t) attached as collateral and one loan drawn against them: most at an LTV of
60 %, 3 % of them at 68 %, 1 % at 72 % and 0.2 % at 74.9 % (exposure grown since the drawdown).
Then it marks two business days through ``mark_to_market``, as the scheduler does:

1. the previous business day at CNY 20.00/kg: every facility valued, none moves;
2. today, the prices 12 % lower (CNY 17.60/kg): the 68 % ones reach the warning line (77.3 %), the
   72 % ones the margin-call line (81.8 %: a call, an alert, a follow-up work order, notices), the
   74.9 % ones the liquidation line (85.1 %: disposal started, receipts to in_disposal, loans to
   recovery);
3. today again: nothing to do (idempotent).

Prints JSON: the load time and each run's figures (``MarkRun``), and what the database holds after.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from benchmarks.common import arguments, migrated_database
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.calendar import business_date
from coldpledge.db import Database, utcnow
from coldpledge.financing.businessdays import add_business_days
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.models import Drawdown, Facility, FacilityCollateral
from coldpledge.financing.mtm_models import MarginCall, Valuation, ValuationLine
from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.models import PriceUnit
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, SeriesIn
from coldpledge.inventory.models import Commodity, Lot
from coldpledge.notify.models import InboxItem
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.receipts.models import Pledge, Receipt
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room, TemperatureClass, VirtualWarehouse, Warehouse

NOW = datetime.now(UTC)
TONNE_G = 1_000_000
LOT_G = 20 * TONNE_G
PRICE = {"before": "20.00", "after": "17.60"}  # CNY/kg: a 12 % fall
VALUE_PER_LOT_FEN = 40_000_000  # 20 t at CNY 20.00/kg
# (share of facilities, LTV drawn to in basis points), most normal, a few near each line.
BUCKETS = ((0.002, 7490), (0.010, 7200), (0.030, 6800))
BATCH = 5000


def populate(database: Database, facilities: int, lots_per_facility: int) -> dict[str, int]:
    uow = lambda: UnitOfWork(database.write_session)  # noqa: E731 - a factory, as the job takes
    with database.engine.begin() as connection:

        def orgs(kind: PartyType, count: int) -> list[int]:
            rows = [
                {"name": f"{kind.value}-{i}", "party_type": kind.value, "is_active": True, "created_at": NOW}
                for i in range(count)
            ]
            connection.execute(insert(Organisation), rows)
            return list(
                connection.scalars(
                    select(Organisation.id).where(Organisation.party_type == kind).order_by(Organisation.id)
                )
            )

        banks = orgs(PartyType.BANK, 10)
        borrowers = orgs(PartyType.BORROWER, max(1, facilities // 10))
        keeper, supervisor = orgs(PartyType.KEEPER, 1)[0], orgs(PartyType.SUPERVISOR, 1)[0]
        connection.execute(
            insert(User),
            [
                {
                    "username": f"risk-{bank}",
                    "display_name": f"risk officer {bank}",
                    "organisation_id": bank,
                    "role": Role.BANK_RISK_OFFICER.value,
                    "password_hash": "-",
                    "is_active": True,
                    "created_at": NOW,
                }
                for bank in banks
            ],
        )
        warehouse = connection.execute(
            insert(Warehouse).values(
                code="W-MTM", name="bench", keeper_org_id=keeper, address="-", city="-", created_at=NOW
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        vw = connection.execute(
            insert(VirtualWarehouse).values(
                code="VW-MTM",
                name="bench",
                warehouse_id=warehouse,
                supervisor_org_id=supervisor,
                mode="static",
                status="active",
                created_at=NOW,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        room = connection.execute(
            insert(Room).values(
                warehouse_id=warehouse,
                code="R1",
                name="room",
                kind="room",
                temperature_class=TemperatureClass.FROZEN.value,
                set_point_mc=-18000,
                band_low_mc=-22000,
                band_high_mc=-18000,
                virtual_warehouse_id=vw,
                created_at=NOW,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        connection.execute(
            insert(Commodity),
            [
                {
                    "code": code,
                    "name": code,
                    "name_en": code,
                    "temperature_class": "frozen",
                    "created_at": NOW,
                }
                for code in ("PORK", "BEEF", "MUTTON")
            ],
        )
        commodities = list(connection.scalars(select(Commodity.id).order_by(Commodity.id)))
        _facilities(
            connection, facilities, lots_per_facility, banks, borrowers, commodities, warehouse, room, keeper
        )
    yesterday = add_business_days(business_date(NOW), -1)
    for commodity in commodities:
        series = prices.create_series(
            uow(),
            SYSTEM,
            SeriesIn(
                code=f"BENCH-{commodity}",
                commodity_id=commodity,
                source="bench",
                source_series_id=str(commodity),
                market_region="全国",
                spec="bench",
                unit=PriceUnit.CNY_PER_KG,
                is_primary=True,
            ),
        )
        for day, mid in ((yesterday, PRICE["before"]), (business_date(NOW), PRICE["after"])):
            entered = prices.enter(uow(), SYSTEM, ObservationIn(series_id=series.id, price_date=day, mid=mid))
            prices.approve(uow(), SYSTEM, entered.id, ApproveIn(confirm_outlier=True))
    return {"banks": len(banks), "borrowers": len(borrowers), "commodities": len(commodities)}


def _facilities(
    connection: Any,
    facilities: int,
    lots_per_facility: int,
    banks: list[int],
    borrowers: list[int],
    commodities: list[int],
    warehouse: int,
    room: int,
    keeper: int,
) -> None:
    start, expiry = business_date(NOW) - timedelta(days=30), business_date(NOW) + timedelta(days=335)
    value = VALUE_PER_LOT_FEN * lots_per_facility
    facility_rows, drawdown_rows = [], []
    for f in range(facilities):
        ltv = 6000
        position = f / facilities
        edge = 0.0
        for share, bucket_ltv in BUCKETS:
            edge += share
            if position < edge:
                ltv = bucket_ltv
                break
        facility_rows.append(
            {
                "id": f + 1,
                "code": f"CF-{f:07d}",
                "bank_org_id": banks[f % len(banks)],
                "borrower_org_id": borrowers[f // 10 % len(borrowers)],
                "limit_fen": value,
                "start_date": start,
                "expiry_date": expiry,
                "rate_bp": 435,
                "status": "active",
                "risk_state": "normal",
                "applied_at": NOW,
                "decided_at": NOW,
                "status_changed_at": NOW,
                "created_at": NOW,
            }
        )
        principal = value * ltv // 10_000
        drawdown_rows.append(
            {
                "id": f + 1,
                "facility_id": f + 1,
                "code": f"LN-{f:07d}",
                "status": "active",
                "amount_fen": principal,
                "principal_outstanding_fen": principal,
                "maturity_date": expiry - timedelta(days=1),
                "rate_bp": 435,
                "penalty_rate_bp": 652,
                "day_count": "act_360",
                "requested_at": NOW,
                "disbursed_at": NOW,
                "disbursed_on": start,
                "accrued_until": business_date(NOW),
                "status_changed_at": NOW,
            }
        )
    for first in range(0, facilities, BATCH):
        connection.execute(insert(Facility), facility_rows[first : first + BATCH])
        connection.execute(insert(Drawdown), drawdown_rows[first : first + BATCH])
    lots, receipts, pledges, links = [], [], [], []
    for f in range(facilities):
        bank, borrower = facility_rows[f]["bank_org_id"], facility_rows[f]["borrower_org_id"]
        for k in range(lots_per_facility):
            i = f * lots_per_facility + k + 1
            lots.append(
                {
                    "id": i,
                    "code": f"LOT-{i}",
                    "owner_org_id": borrower,
                    "warehouse_id": warehouse,
                    "room_id": room,
                    "commodity_id": commodities[i % len(commodities)],
                    "spec": "20kg",
                    "origin_country": "ES",
                    "batch_number": f"B{i}",
                    "declared_cartons": 1000,
                    "declared_net_weight_g": LOT_G,
                    "cartons": 1000,
                    "verified_net_weight_g": LOT_G,
                    "status": "in_stock",
                    "quality_status": "passed",
                    "received_at": NOW,
                    "created_at": NOW,
                }
            )
            receipts.append(
                {
                    "id": i,
                    "code": f"WR-{i}",
                    "lot_id": i,
                    "warehouse_id": warehouse,
                    "issuer_org_id": keeper,
                    "depositor_org_id": borrower,
                    "holder_org_id": borrower,
                    "status": "pledged",
                    "quantity_g": LOT_G,
                    "cartons": 1000,
                    "negotiable": True,
                    "storage_period_end": expiry,
                    "status_changed_at": NOW,
                    "created_at": NOW,
                    "version": 1,
                }
            )
            pledges.append(
                {
                    "id": i,
                    "receipt_id": i,
                    "pledgee_org_id": bank,
                    "pledgor_org_id": borrower,
                    "status": "active",
                    "requested_at": NOW,
                }
            )
            links.append({"id": i, "facility_id": f + 1, "pledge_id": i, "attached_at": NOW})
    for first in range(0, len(lots), BATCH):
        connection.execute(insert(Lot), lots[first : first + BATCH])
        connection.execute(insert(Receipt), receipts[first : first + BATCH])
        connection.execute(insert(Pledge), pledges[first : first + BATCH])
        connection.execute(insert(FacilityCollateral), links[first : first + BATCH])
    if connection.dialect.name == "postgresql":
        for table in ("facilities", "drawdowns", "lots", "receipts", "pledges", "facility_collateral"):
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")  # noqa: S608 - our own table names
            )


def counts(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("valuations", Valuation),
                ("valuation_lines", ValuationLine),
                ("margin_calls", MarginCall),
                ("alerts", Alert),
                ("work_orders", WorkOrder),
                ("inbox_items", InboxItem),
            )
        }


def main() -> None:
    args = arguments(
        __doc__ or "",
        facilities=(10_000, "facilities to load"),
        lots_per_facility=(10, "pledged lots (one receipt each) per facility"),
    )
    with migrated_database(args.database) as database:
        started = time.perf_counter()
        loaded = populate(database, args.facilities, args.lots_per_facility)
        if database.dialect == "postgresql":
            with database.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        load_s = round(time.perf_counter() - started, 1)
        uow = lambda: UnitOfWork(database.write_session)  # noqa: E731
        today = business_date(utcnow())
        runs = {}
        for name, day in (
            ("previous_day_nothing_moves", add_business_days(today, -1)),
            ("today_prices_12pct_lower", today),
            ("today_again", today),
        ):
            runs[name] = mark_to_market(uow, day).as_dict()
        with database.reading() as session:
            server = (
                session.scalar(text("SELECT version()")) if database.dialect == "postgresql" else "sqlite"
            )
        print(
            json.dumps(
                {
                    "benchmark": "mark_to_market",
                    "database": database.dialect,
                    "server": server,
                    "python": platform.python_version(),
                    "facilities": args.facilities,
                    "lots": args.facilities * args.lots_per_facility,
                    "loaded": loaded,
                    "load_seconds": load_s,
                    "runs": runs,
                    "after": counts(database),
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
