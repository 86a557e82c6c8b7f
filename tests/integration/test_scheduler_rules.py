"""The periodic rules ``coldpledge scheduler`` judges from stored data (issue 5, scope 2 and 3):
cumulative excursion and MKT, stuck probes, doors left open, expiry of goods and papers, a
dynamic pledge's floor, stocktake variance and weight drops without a release. Each step reads
the database with a few set-based queries and raises alerts in its own transaction; the rules'
own arithmetic is tested in tests/unit/test_rules_periodic.py. On both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import select

from coldpledge.alerts.models import Alert, RuleConditionState
from coldpledge.calendar import business_date
from coldpledge.db import Database
from coldpledge.errors import InvalidInput
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import InspectionResult, Lot, LotStatus
from coldpledge.inventory.schemas import DisinfectIn, InspectIn, StocktakeIn
from coldpledge.iot.coldchain import mean_kinetic_temperature
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import DeviceKind
from coldpledge.receipts import releases
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Receipt
from coldpledge.receipts.schemas import NoteIn
from coldpledge.rules import scheduler
from coldpledge.rules.service import judge_readings
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import SupervisionMode, TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import PolicyIn
from tests.conftest import TestDB as Transaction
from tests.financing import price
from tests.iot import Sender, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
MINUTE = timedelta(minutes=1)


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def device(db: Transaction, world: World, room: str, kind: DeviceKind = DeviceKind.TEMPERATURE) -> Sender:
    return new_device(db.uow(), world.who("admin"), world.rooms[room], kind, signing=False)


def send(
    db: Transaction,
    sender: Sender,
    values: list[float],
    start: datetime,
    metric: str = "temperature",
    *,
    rules: Any = None,
    step: timedelta = MINUTE,
) -> None:
    """One reading per ``step`` from ``start``, sixty to a message (the ingest path's rules off
    unless given: the scheduler's are under test)."""
    ingestor = Ingestor(db.session, clock=fixed(NOW + timedelta(hours=1)), rules=rules)
    points = [reading(start + i * step, value, metric) for i, value in enumerate(values)]
    for first in range(0, len(points), 60):
        raw = sender.raw(points[first : first + 60], sent_at=NOW)
        ingestor.ingest([Incoming(raw, "mqtt", sender.topic)])


def at(db: Transaction, moment: datetime) -> UnitOfWork:
    return UnitOfWork(db.session, clock=fixed(moment))


def alerts_on(db: Transaction, subject: str, rule: str | None = None) -> list[Alert]:
    with db.reader() as session:
        query = select(Alert).where(Alert.subject == subject)
        if rule is not None:
            query = query.where(Alert.rule == rule)
        return list(session.scalars(query.order_by(Alert.id)))


def lot_code(db: Transaction, lot_id: int) -> str:
    with db.reader() as session:
        return session.get_one(Lot, lot_id).code


def test_more_than_an_hour_out_of_band_and_a_warm_kinetic_mean_fire_from_the_rollups(
    db: Transaction, world: World
) -> None:
    warm, cold = device(db, world, "DJ-F18"), device(db, world, "DJ-F18")
    start = NOW - timedelta(minutes=120)
    series = [-20.0] * 30 + [-16.0] * 70 + [-20.0] * 20  # 70 minutes above -18 °C
    send(db, warm, series, start)
    send(db, cold, [-20.0] * 120, start)

    report = scheduler.judge_temperature_windows(at(db, NOW))

    assert report["probes"] >= 2
    (excursion,) = alerts_on(db, f"device:{warm.id}", "cumulative_excursion")
    assert (excursion.status, excursion.severity) == ("open", "major")
    assert excursion.trigger["out_of_band_minutes"] == 70.0
    assert excursion.room_id == world.rooms["DJ-F18"]
    (mkt,) = alerts_on(db, f"device:{warm.id}", "mkt_window")
    expected = mean_kinetic_temperature([(start + i * MINUTE, c) for i, c in enumerate(series)])
    assert expected is not None
    assert expected > -18.0
    assert abs(mkt.trigger["mkt_mc"] - expected * 1000) < 50, "minute means, each weighing the same"
    assert alerts_on(db, f"device:{cold.id}") == []
    # Judged again with nothing new: no second alert, no change.
    again = scheduler.judge_temperature_windows(at(db, NOW + MINUTE))
    assert again["alerts"] == 0
    assert len(alerts_on(db, f"device:{warm.id}")) == 2


def test_a_probe_flat_for_two_hours_while_its_neighbour_moves_is_stuck(db: Transaction, world: World) -> None:
    flat, moving, new = (device(db, world, "DJ-F18") for _ in range(3))
    start = NOW - timedelta(minutes=130)
    send(db, flat, [-20.0] * 130, start)
    send(db, moving, [-20.0 + (i % 2) for i in range(130)], start)
    send(db, new, [-20.0] * 30, NOW - timedelta(minutes=30))  # too little data to tell

    scheduler.judge_stuck_probes(at(db, NOW))

    (stuck,) = alerts_on(db, f"device:{flat.id}", "sensor_stuck")
    assert (stuck.status, stuck.severity) == ("open", "major")
    assert stuck.trigger["range_mc"] == 0
    assert 1000 in stuck.trigger["peer_ranges_mc"], "the moving neighbour"
    assert alerts_on(db, f"device:{moving.id}") == []
    assert alerts_on(db, f"device:{new.id}") == []


def test_a_door_that_reports_only_its_changes_fires_when_left_open_and_resolves_on_closing(
    db: Transaction, world: World
) -> None:
    door = device(db, world, "DJ-F18", DeviceKind.DOOR)
    opened = NOW - timedelta(minutes=15)
    # The ingest path is on: it sees the opening (a pending alert) and nothing after it.
    send(db, door, [1.0], opened, "door", rules=judge_readings)
    (pending,) = alerts_on(db, f"device:{door.id}")
    assert pending.status == "pending"

    quiet = scheduler.judge_doors(at(db, opened + timedelta(minutes=9)))
    assert quiet["alerts"] == 0
    report = scheduler.judge_doors(at(db, NOW))

    assert report["open"] >= 1
    (alert,) = alerts_on(db, f"device:{door.id}")
    assert alert.id == pending.id, "both paths move the one alert of (door_open_too_long, device)"
    assert (alert.rule, alert.status, alert.severity) == ("door_open_too_long", "open", "major")
    assert alert.triggered_at == opened + timedelta(minutes=10), "the moment it became too long"
    assert alert.trigger["open_minutes"] == 10
    with db.reader() as session:
        keys = set(
            session.execute(
                select(RuleConditionState.rule, RuleConditionState.subject).where(
                    RuleConditionState.subject == f"device:{door.id}"
                )
            ).all()
        )
    assert {
        ("door_open_too_long", f"device:{door.id}"),
        (scheduler.DOOR_SCHEDULER_STATE, f"device:{door.id}"),
    } <= keys, "the two paths keep their states apart"

    send(db, door, [0.0], NOW + MINUTE, "door", rules=judge_readings)
    scheduler.judge_doors(at(db, NOW + 2 * MINUTE))
    (closed,) = alerts_on(db, f"device:{door.id}")
    assert closed.condition == "resolved"
    assert closed.resolved_at == NOW + MINUTE, "at the closing reading"


def test_a_door_shut_and_opened_again_between_two_ticks_keeps_its_new_spell(
    db: Transaction, world: World
) -> None:
    door = device(db, world, "DJ-F18", DeviceKind.DOOR)
    opened = NOW - timedelta(minutes=30)
    send(db, door, [1.0], opened, "door", rules=judge_readings)
    scheduler.judge_doors(at(db, opened + timedelta(minutes=12)))
    (first,) = alerts_on(db, f"device:{door.id}")
    assert first.status == "open"

    # Shut and opened again before the next tick: the ingest path resolves the first alert and
    # raises a pending one for the new spell, which the scheduler must not withdraw.
    send(db, door, [0.0, 1.0], opened + timedelta(minutes=13), "door", rules=judge_readings)
    scheduler.judge_doors(at(db, opened + timedelta(minutes=16)))
    first_again, second = alerts_on(db, f"device:{door.id}")
    assert first_again.status == "resolved"
    assert second.status == "pending"
    # Ten minutes into the new spell it fires.
    scheduler.judge_doors(at(db, opened + timedelta(minutes=25)))
    (_, second) = alerts_on(db, f"device:{door.id}")
    assert second.status == "open"
    assert second.triggered_at == opened + timedelta(minutes=24)


def test_shelf_life_storage_period_and_insurance_near_their_end_raise_expiry_alerts(
    db: Transaction, world: World
) -> None:
    today = business_date(NOW)
    with db.session() as session:
        session.get_one(Lot, world.lots["free"]).expiry_date = today + timedelta(days=5)
        session.get_one(Receipt, world.receipts["pledged"]).storage_period_end = today - timedelta(days=1)
        session.get_one(Receipt, world.receipts["issued"]).insurance_until = today + timedelta(days=10)
        session.commit()

    report = scheduler.judge_goods_expiry(at(db, NOW))

    assert report["lots"] >= 7
    assert report["receipts"] >= 5
    (lot_alert,) = alerts_on(db, f"lot:{lot_code(db, world.lots['free'])}", "expiry")
    assert (lot_alert.severity, lot_alert.trigger["what"]) == ("minor", "shelf_life")
    assert lot_alert.room_id == world.rooms["YS-F18"]
    with db.reader() as session:
        pledged = session.get_one(Receipt, world.receipts["pledged"]).code
        issued = session.get_one(Receipt, world.receipts["issued"]).code
    (storage,) = alerts_on(db, f"receipt:{pledged}", "expiry")
    assert (storage.severity, storage.trigger["what"]) == ("major", "storage_period"), "already past"
    (insurance,) = alerts_on(db, f"receipt:{issued}", "expiry")
    assert insurance.trigger["what"] == "insurance", "the earlier of its storage period and insurance"
    assert len(alerts_on(db, f"lot:{lot_code(db, world.lots['pledged'])}")) == 0

    # The lot leaves and the receipt is cancelled: their dates are no longer anyone's concern,
    # and the alerts resolve at once.
    with db.session() as session:
        session.get_one(Lot, world.lots["free"]).status = LotStatus.DEPLETED
        session.get_one(Receipt, world.receipts["pledged"]).status = ReceiptStatus.CANCELLED
        session.commit()
    scheduler.judge_goods_expiry(at(db, NOW + MINUTE))
    (gone,) = alerts_on(db, f"lot:{lot_code(db, world.lots['free'])}", "expiry")
    assert gone.condition == "resolved"
    (ended,) = alerts_on(db, f"receipt:{pledged}", "expiry")
    assert (ended.condition, ended.status) == ("resolved", "resolved")


def test_a_lots_latest_certificate_near_its_end_raises_an_expiry_alert_and_a_newer_one_resolves_it(
    db: Transaction, world: World
) -> None:
    today, keeper = business_date(NOW), world.who("keeper")
    lot = world.lots["pledged"]
    with pytest.raises(InvalidInput) as refused:
        inventory.disinfect(
            at(db, NOW),
            keeper,
            lot,
            DisinfectIn(certificate_no="XD-0", valid_until=today - timedelta(days=1)),
        )
    assert refused.value.field == "valid_until"
    inventory.disinfect(
        at(db, NOW), keeper, lot, DisinfectIn(certificate_no="XD-1", valid_until=today + timedelta(days=2))
    )
    # An inspection that records no validity says nothing of the certificate's.
    inventory.inspect(
        at(db, NOW + MINUTE), keeper, lot, InspectIn(result=InspectionResult.PASSED, agency="SGS")
    )

    scheduler.judge_goods_expiry(at(db, NOW + 2 * MINUTE))
    (alert,) = alerts_on(db, f"lot:{lot_code(db, lot)}", "expiry")
    assert (alert.severity, alert.trigger["what"], alert.trigger["expires_on"]) == (
        "minor",
        "certificate",
        (today + timedelta(days=2)).isoformat(),
    )
    assert alert.room_id == world.rooms["YS-F18"]

    # A new inspection report valid for two months stands in for the old certificate.
    inventory.inspect(
        at(db, NOW + 3 * MINUTE),
        keeper,
        lot,
        InspectIn(
            result=InspectionResult.PASSED,
            agency="CCIC",
            report_no="CCIC-9",
            valid_until=today + timedelta(days=60),
        ),
    )
    scheduler.judge_goods_expiry(at(db, NOW + 4 * MINUTE))
    scheduler.judge_goods_expiry(at(db, NOW + 10 * MINUTE))  # clear for the policy's five minutes
    (resolved,) = alerts_on(db, f"lot:{lot_code(db, lot)}", "expiry")
    assert resolved.condition == "resolved"


def _dynamic(db: Transaction, world: World, floor_g: int | None, floor_fen: int | None = None) -> None:
    parameters = default_parameters(TemperatureClass.FROZEN).model_copy(
        update={
            "mode": SupervisionMode.DYNAMIC,
            "min_control_quantity_g": floor_g,
            "min_control_value_fen": floor_fen,
        }
    )
    warehouses.set_policy(
        db.uow(),
        world.who("supervisor"),
        world.vws["ys-frozen"],
        PolicyIn(parameters=parameters, reason="动态质押"),
    )


def test_a_dynamic_pledge_below_its_floor_is_critical_for_its_virtual_warehouse(
    db: Transaction, world: World
) -> None:
    # 30 t and 20 t are pledged in YS-F18; the floor is 60 t.
    _dynamic(db, world, 60_000_000)

    report = scheduler.judge_stock_floor(at(db, NOW))

    assert report["dynamic_pledges"] == 1
    (alert,) = alerts_on(db, "virtual_warehouse:VW-YS-F")
    assert (alert.rule, alert.status, alert.severity) == ("stock_below_floor", "open", "critical")
    assert alert.trigger == {"quantity_g": 50_000_000, "value_fen": None}
    assert alert.virtual_warehouse_id == world.vws["ys-frozen"]
    # The floor lowered to 40 t: clear, and resolved after the policy's five minutes.
    _dynamic(db, world, 40_000_000)
    scheduler.judge_stock_floor(at(db, NOW + MINUTE))
    scheduler.judge_stock_floor(at(db, NOW + 6 * MINUTE))
    (alert,) = alerts_on(db, "virtual_warehouse:VW-YS-F")
    assert alert.condition == "resolved"


def test_a_dynamic_pledge_worth_less_than_its_floor_at_today_s_prices_is_critical(
    db: Transaction, world: World
) -> None:
    # 30 t of pork at CNY 20/kg and 20 t of beef at CNY 30/kg: CNY 1,200,000; the floor is 1,500,000.
    _dynamic(db, world, None, 150_000_000)
    scheduler.judge_stock_floor(at(db, NOW))
    assert alerts_on(db, "virtual_warehouse:VW-YS-F") == [], "no price yet: the value is not judged"

    price(db.uow, db.settings, world, "20.00", on=business_date(NOW))
    price(db.uow, db.settings, world, "30.00", on=business_date(NOW), commodity="BEEF-FZ")
    scheduler.judge_stock_floor(at(db, NOW + MINUTE))

    (alert,) = alerts_on(db, "virtual_warehouse:VW-YS-F")
    assert (alert.status, alert.severity) == ("open", "critical")
    assert alert.trigger == {"quantity_g": 50_000_000, "value_fen": 120_000_000}


def test_a_stocktake_counting_two_percent_short_is_a_variance_on_the_lot(
    db: Transaction, world: World
) -> None:
    lot_id = world.lots["free"]  # 10 t on the book
    inventory.stocktake(
        at(db, NOW - timedelta(hours=1)),
        world.who("inspector"),
        lot_id,
        StocktakeIn(counted_g=9_800_000, counted_cartons=500),
    )

    scheduler.judge_stocktakes(at(db, NOW))

    (alert,) = alerts_on(db, f"lot:{lot_code(db, lot_id)}")
    assert (alert.rule, alert.status, alert.severity) == ("stocktake_variance", "open", "major")
    assert (alert.trigger["counted_g"], alert.trigger["book_g"]) == (9_800_000, 10_000_000)
    # A recount that agrees with the book clears it.
    inventory.stocktake(
        at(db, NOW + MINUTE),
        world.who("inspector"),
        lot_id,
        StocktakeIn(counted_g=10_000_000, counted_cartons=500),
    )
    scheduler.judge_stocktakes(at(db, NOW + 2 * MINUTE))
    scheduler.judge_stocktakes(at(db, NOW + 8 * MINUTE))
    (alert,) = alerts_on(db, f"lot:{lot_code(db, lot_id)}")
    assert alert.condition == "resolved"


def test_a_floor_scale_dropping_without_a_release_is_critical_until_an_approved_one_covers_it(
    db: Transaction, world: World
) -> None:
    scale = device(db, world, "YS-F18", DeviceKind.SCALE)
    start = NOW - timedelta(minutes=90)
    send(db, scale, [50_000.0] * 60 + [49_000.0] * 30, start, "weight")  # 1 t gone: 2 %

    scheduler.judge_weight(at(db, NOW))

    room = f"room:{world.rooms['YS-F18']}"
    (alert,) = alerts_on(db, room, "weight_without_release")
    assert (alert.status, alert.severity) == ("open", "critical")
    assert alert.trigger["before_g"] == 50_000_000
    assert alert.trigger["after_g"] == 49_000_000
    assert alert.trigger["released_g"] == 0
    assert alert.trigger["scales"] == [scale.id]

    # The bank approves the 5 t release requested on the goods of that room: the drop is covered.
    releases.approve(db.uow(), world.who("bank"), world.releases["requested"], NoteIn())
    scheduler.judge_weight(at(db, NOW + MINUTE))
    report = scheduler.judge_weight(at(db, NOW + 7 * MINUTE))
    assert report["rooms"] >= 1
    (alert,) = alerts_on(db, room, "weight_without_release")
    assert alert.condition == "resolved"


def test_a_tick_reports_what_each_step_did(db: Transaction, world: World) -> None:
    database = cast(Database, SimpleNamespace(write_session=db.session))

    report = scheduler.tick(database, db.settings, NOW)

    steps = (
        "devices",
        "temperature_windows",
        "stuck_probes",
        "doors",
        "expiry",
        "stock_floor",
        "stocktakes",
        "weight",
        "interest",
        "mark_to_market",
        "escalation",
    )
    for step in steps:
        assert "error" not in report[step], (step, report[step])
    assert report["expiry"]["judged"] >= 12, "seven lots and five live receipts"
    assert report["expiry"]["alerts"] == 0, "nothing in the world is near its date"
