"""What does row scoping cost? Listing receipts through ``restrict()`` as each kind of party, against
the unscoped listing the platform operator gets, on the same data in the same run.

    python -m benchmarks.bench_access_scope [--database sqlite|postgresql+psycopg://...] [--receipts 20000]

Prints JSON: per party, the median milliseconds for the first page (100 rows) and for a full count,
and the ratio to the operator's unscoped query.
"""

from __future__ import annotations

import json
import platform
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, func, insert, select
from sqlalchemy.orm import Session

from benchmarks.common import arguments, median_ms, migrated_database
from coldpledge.db import Database
from coldpledge.inventory.models import Commodity, Lot
from coldpledge.parties.access import restrict
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.receipts.models import Pledge, Receipt
from coldpledge.warehouses.models import (
    Room,
    TemperatureClass,
    VirtualWarehouse,
    VirtualWarehouseStaff,
    Warehouse,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def pk(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def populate(database: Database, receipts: int, seed: int = 7) -> dict[str, Principal]:
    """Bulk-load a platform with many parties: 10 banks, 60 borrowers, 5 keepers with 4 warehouses
    of 6 rooms each, 5 supervisors, and ``receipts`` lots each backing one receipt, about half of
    them pledged. Core inserts, not services: this measures reads."""
    rng = random.Random(seed)
    with database.engine.begin() as connection:

        def orgs(kind: PartyType, count: int) -> list[int]:
            rows = [
                {"name": f"{kind.value}-{i}", "party_type": kind.value, "is_active": True, "created_at": NOW}
                for i in range(count)
            ]
            connection.execute(insert(Organisation), rows)
            return list(connection.scalars(select(Organisation.id).where(Organisation.party_type == kind)))

        banks, borrowers = orgs(PartyType.BANK, 10), orgs(PartyType.BORROWER, 60)
        keepers, supervisors = orgs(PartyType.KEEPER, 5), orgs(PartyType.SUPERVISOR, 5)
        operator = orgs(PartyType.OPERATOR, 1)
        connection.execute(
            insert(Commodity),
            [
                {
                    "code": "PORK",
                    "name": "冷冻猪肉",
                    "name_en": "Frozen pork",
                    "temperature_class": "frozen",
                    "created_at": NOW,
                }
            ],
        )
        commodity = connection.scalar(select(Commodity.id))
        rooms: list[tuple[int, int]] = []  # (warehouse, room)
        for k, keeper in enumerate(keepers):
            for w in range(4):
                warehouse = pk(
                    connection.execute(
                        insert(Warehouse).values(
                            code=f"W{k}-{w}",
                            name=f"warehouse {k}-{w}",
                            keeper_org_id=keeper,
                            address="-",
                            city="-",
                            created_at=NOW,
                        )
                    )
                )
                vw = pk(
                    connection.execute(
                        insert(VirtualWarehouse).values(
                            code=f"VW{k}-{w}",
                            name="vw",
                            warehouse_id=warehouse,
                            supervisor_org_id=supervisors[k],
                            mode="static",
                            status="active",
                            created_at=NOW,
                        )
                    )
                )
                for r in range(6):
                    room = pk(
                        connection.execute(
                            insert(Room).values(
                                warehouse_id=warehouse,
                                code=f"R{r}",
                                name="room",
                                kind="room",
                                temperature_class=TemperatureClass.FROZEN.value,
                                set_point_mc=-18000,
                                band_low_mc=-22000,
                                band_high_mc=-18000,
                                virtual_warehouse_id=vw,
                                created_at=NOW,
                            )
                        )
                    )
                    rooms.append((warehouse, room))
        users = {}
        for username, org, role in (
            ("admin", operator[0], Role.PLATFORM_ADMIN),
            ("bank", banks[0], Role.BANK_RISK_OFFICER),
            ("borrower", borrowers[0], Role.BORROWER_FINANCE),
            ("keeper", keepers[0], Role.KEEPER_STAFF),
            ("supervisor", supervisors[0], Role.SUPERVISION_MANAGER),
            ("inspector", supervisors[0], Role.INSPECTOR),
        ):
            users[username] = pk(
                connection.execute(
                    insert(User).values(
                        username=username,
                        display_name=username,
                        organisation_id=org,
                        role=role.value,
                        password_hash="-",
                        is_active=True,
                        created_at=NOW,
                    )
                )
            )
        first_vw = connection.scalar(select(func.min(VirtualWarehouse.id)))
        connection.execute(
            insert(VirtualWarehouseStaff).values(
                virtual_warehouse_id=first_vw, user_id=users["inspector"], assigned_at=NOW
            )
        )
        lot_rows, receipt_rows, pledge_rows = [], [], []
        for i in range(receipts):
            warehouse, room = rng.choice(rooms)
            owner = rng.choice(borrowers)
            lot_rows.append(
                {
                    "id": i + 1,
                    "code": f"LOT-{i}",
                    "owner_org_id": owner,
                    "warehouse_id": warehouse,
                    "room_id": room,
                    "commodity_id": commodity,
                    "spec": "20kg",
                    "origin_country": "ES",
                    "batch_number": f"B{i}",
                    "declared_cartons": 1000,
                    "declared_net_weight_g": 20_000_000,
                    "cartons": 1000,
                    "verified_net_weight_g": 20_000_000,
                    "status": "in_stock",
                    "quality_status": "passed",
                    "received_at": NOW,
                    "created_at": NOW,
                }
            )
            pledged = rng.random() < 0.5
            receipt_rows.append(
                {
                    "id": i + 1,
                    "code": f"WR-{i}",
                    "lot_id": i + 1,
                    "warehouse_id": warehouse,
                    "issuer_org_id": keepers[0],
                    "depositor_org_id": owner,
                    "holder_org_id": owner,
                    "status": "pledged" if pledged else "issued",
                    "quantity_g": 20_000_000,
                    "cartons": 1000,
                    "negotiable": True,
                    "storage_period_end": date(2027, 6, 30),
                    "status_changed_at": NOW,
                    "created_at": NOW,
                    "version": 1,
                }
            )
            if pledged:
                pledge_rows.append(
                    {
                        "receipt_id": i + 1,
                        "pledgee_org_id": rng.choice(banks),
                        "pledgor_org_id": owner,
                        "status": "active",
                        "requested_at": NOW - timedelta(days=1),
                    }
                )
        for start in range(0, receipts, 5000):
            connection.execute(insert(Lot), lot_rows[start : start + 5000])
            connection.execute(insert(Receipt), receipt_rows[start : start + 5000])
        for start in range(0, len(pledge_rows), 5000):
            connection.execute(insert(Pledge), pledge_rows[start : start + 5000])
    with database.reading() as session:
        return {name: _principal(session, user_id) for name, user_id in users.items()}


def _principal(session: Session, user_id: int) -> Principal:
    user = session.get_one(User, user_id)
    return Principal(
        user_id=user.id,
        username=user.username,
        org_id=user.organisation_id,
        party_type=user.organisation.party_type,
        role=user.role,
    )


def main() -> None:
    args = arguments(__doc__ or "", receipts=(20_000, "receipts (and lots) to load"))
    with migrated_database(args.database) as database:
        principals = populate(database, args.receipts)
        if database.dialect == "postgresql":
            with database.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        results: dict[str, Any] = {}
        with database.reading() as session:
            for name, principal in principals.items():
                query = restrict(principal, "view", Receipt)

                def page(query: Any = query) -> None:
                    session.scalars(query.order_by(Receipt.id).limit(100)).all()

                def count(query: Any = query) -> None:
                    session.scalar(select(func.count()).select_from(query.subquery()))

                results[name] = {
                    "visible": session.scalar(select(func.count()).select_from(query.subquery())),
                    "first_page_ms": median_ms(page, args.repeat),
                    "count_ms": median_ms(count, args.repeat),
                }
        baseline = results["admin"]
        for row in results.values():
            row["first_page_ratio"] = round(row["first_page_ms"] / baseline["first_page_ms"], 2)
            row["count_ratio"] = round(row["count_ms"] / baseline["count_ms"], 2)
        print(
            json.dumps(
                {
                    "benchmark": "access_scope",
                    "database": database.dialect,
                    "receipts": args.receipts,
                    "repeat": args.repeat,
                    "python": platform.python_version(),
                    "baseline": "admin (operator, unscoped)",
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
