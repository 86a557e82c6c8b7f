"""What does "every change is audited and evidenced" cost on the write path? A stocktake through the
service (scope check, lot lock, policy lookup, audit event with before/after, RFC 8785 outbox entry,
and on PostgreSQL the commit-order advisory lock) against the bare insert of the same operation row,
one transaction each, in the same run.

    python -m benchmarks.bench_evidence_overhead [--database sqlite|postgresql+psycopg://...]

Prints JSON with the median milliseconds per transaction of each and their ratio.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import insert, update

from benchmarks.bench_access_scope import NOW, populate
from benchmarks.common import arguments, migrated_database
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, Operation, OperationKind
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.parties.access import restrict
from coldpledge.parties.policy import Principal
from coldpledge.uow import UnitOfWork


def main() -> None:
    args = arguments(__doc__ or "", operations=(300, "transactions of each kind"))
    with migrated_database(args.database) as database:
        principals = populate(database, 2_000)
        supervisor: Principal = principals["supervisor"]
        with database.reading() as session:
            lots = session.scalars(restrict(supervisor, "view", Lot).order_by(Lot.id).limit(50)).all()
            targets = [lot.id for lot in lots]
        with database.engine.begin() as connection:
            connection.execute(update(Lot).values(weighed_at=NOW))

        def service_call(i: int) -> None:
            inventory.stocktake(
                UnitOfWork(database.write_session),
                supervisor,
                targets[i % len(targets)],
                StocktakeIn(counted_g=19_990_000, counted_cartons=1000),
            )

        def bare_insert(i: int) -> None:
            lot_id = targets[i % len(targets)]
            with database.write_session() as session:
                lot = session.get_one(Lot, lot_id)
                session.execute(
                    insert(Operation).values(
                        kind=OperationKind.STOCKTAKE.value,
                        lot_id=lot_id,
                        room_id=lot.room_id,
                        warehouse_id=lot.warehouse_id,
                        performed_by_user_id=supervisor.user_id,
                        performed_at=datetime.now(UTC),
                        expected_g=lot.verified_net_weight_g,
                        counted_g=19_990_000,
                        expected_cartons=1000,
                        counted_cartons=1000,
                        variance_bp=-5,
                        within_tolerance=True,
                        created_at=datetime.now(UTC),
                    )
                )
                session.commit()

        timings = {}
        for name, action in (("bare_insert", bare_insert), ("service", service_call)):
            for i in range(10):
                action(i)
            samples = []
            for i in range(args.operations):
                started = time.perf_counter()
                action(i)
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = round(statistics.median(samples), 3)
        print(
            json.dumps(
                {
                    "benchmark": "evidence_overhead",
                    "database": database.dialect,
                    "operations": args.operations,
                    "python": platform.python_version(),
                    "baseline": "bare insert of the operation row, one transaction each",
                    "median_ms": timings,
                    "ratio_service_to_bare": round(timings["service"] / timings["bare_insert"], 2),
                    "service_per_second": round(1000 / timings["service"], 1),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
