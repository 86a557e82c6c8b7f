"""Prices on the real database: four-eyes approval, one live price per series and date, the outlier
guard, CSV import (all or nothing), a vendor's feed directory, staleness, and ``price_for``."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import Conflict, InvalidInput, PermissionDenied
from coldpledge.financing.prices import csvimport, feeds, service
from coldpledge.financing.prices.csvimport import ImportRejected
from coldpledge.financing.prices.models import ObservationStatus, PriceObservation, PriceUnit
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, RejectIn, SeriesChangeIn
from coldpledge.parties.policy import SYSTEM, Principal
from coldpledge.uow import UnitOfWork
from tests.conftest import TestDB as Transaction
from tests.prices import approved, entered, new_series, second_operator
from tests.support import today
from tests.world import World

# A Monday four weeks back: every date the tests use is in the past, weekends where they say.
MONDAY = today() - timedelta(days=today().weekday() + 28)
S = ObservationStatus


def day(n: int) -> date:
    return MONDAY + timedelta(days=n)


@pytest.fixture
def oscar(db: Transaction, settings: Settings, world: World) -> Principal:
    return second_operator(db.uow, settings, world)


def test_an_entered_price_counts_only_once_a_second_person_approves_it(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    pork = world.commodities["PORK-FZ"]
    observation = entered(db.uow, world, series.id, day(0), "24.63")
    assert observation.status is S.PENDING
    assert observation.price_mid_fen_per_t == 2_463_000
    with db.session() as session:
        assert service.price_for(session, pork, day(0)) is None

    service.approve(db.uow(), oscar, observation.id, ApproveIn())

    with db.session() as session:
        used = service.price_for(session, pork, day(0))
    assert used is not None
    assert (used.observation_id, used.price_fen_per_t, used.stale) == (observation.id, 2_463_000, False)


def test_nobody_approves_a_price_they_entered(db: Transaction, world: World) -> None:
    series = new_series(db.uow, world)
    observation = entered(db.uow, world, series.id, day(0), "24.63")
    with pytest.raises(PermissionDenied, match="someone other than the person who entered it"):
        service.approve(db.uow(), world.who("admin"), observation.id, ApproveIn())


def test_the_database_refuses_a_price_approved_by_the_person_who_entered_it(
    db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world)
    observation = entered(db.uow, world, series.id, day(0), "24.63")
    with db.session() as session, pytest.raises(IntegrityError, match="four_eyes"):
        session.execute(
            update(PriceObservation)
            .where(PriceObservation.id == observation.id)
            .values(approved_by_user_id=world.users["admin"])
        )


def test_only_the_operator_enters_and_approves_prices(db: Transaction, world: World) -> None:
    series = new_series(db.uow, world)
    observation = entered(db.uow, world, series.id, day(0), "24.63")
    with pytest.raises(PermissionDenied):
        service.enter(
            db.uow(), world.who("bank"), ObservationIn(series_id=series.id, price_date=day(1), mid="25")
        )
    with pytest.raises(PermissionDenied):
        service.approve(db.uow(), world.who("bank"), observation.id, ApproveIn())


def test_a_series_has_one_live_price_per_date_and_a_rejection_frees_the_date(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    wrong = entered(db.uow, world, series.id, day(0), "246.3")
    with pytest.raises(Conflict, match="already has a price for"):
        entered(db.uow, world, series.id, day(0), "24.63")

    service.reject(db.uow(), oscar, wrong.id, RejectIn(reason="小数点错位"))
    right = entered(db.uow, world, series.id, day(0), "24.63")

    assert right.status is S.PENDING
    with db.session() as session:
        rejected = session.get_one(PriceObservation, wrong.id)
        assert (rejected.status, rejected.rejection_reason) == (S.REJECTED, "小数点错位")


def test_the_database_keeps_one_live_price_per_series_and_date(db: Transaction, world: World) -> None:
    series = new_series(db.uow, world)
    first = entered(db.uow, world, series.id, day(0), "24.63")
    with db.session() as session, pytest.raises(IntegrityError):
        session.execute(
            text(
                "INSERT INTO price_observations (series_id, price_date, price_mid_fen_per_t, raw_value, "
                "raw_unit, origin, status, entered_at, raw_payload_sha256, is_outlier, outlier_confirmed, "
                "version) SELECT series_id, price_date, 1, '0.01', 'CNY/kg', 'manual', 'pending', "
                "entered_at, raw_payload_sha256, false, false, 1 FROM price_observations WHERE id = :id"
            ),
            {"id": first.id},
        )


def test_a_price_for_a_date_still_to_come_is_refused(db: Transaction, world: World) -> None:
    series = new_series(db.uow, world)
    with pytest.raises(InvalidInput, match="still to come"):
        entered(db.uow, world, series.id, today() + timedelta(days=1), "24.63")


def test_a_price_given_per_tonne_in_a_per_kilogram_series_is_normalised(
    db: Transaction, world: World
) -> None:
    series = new_series(db.uow, world)
    observation = service.enter(
        db.uow(),
        world.who("admin"),
        ObservationIn(
            series_id=series.id,
            price_date=day(0),
            unit=PriceUnit.CNY_PER_T,
            low="24100",
            high="25300",
        ),
    )
    assert (observation.price_low_fen_per_t, observation.price_mid_fen_per_t) == (2_410_000, 2_470_000)
    assert (observation.raw_value, observation.raw_unit) == ("24100//25300", "CNY/t")


def test_an_outlier_is_approved_only_with_the_approvers_confirmation(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    approved(db.uow, world, oscar, series.id, day(0), "24.00")
    jump = entered(db.uow, world, series.id, day(1), "27.00")
    assert jump.is_outlier
    assert jump.outlier_reason is not None
    assert "+12.50 %" in jump.outlier_reason

    with pytest.raises(Conflict, match="outlier") as refused:
        service.approve(db.uow(), oscar, jump.id, ApproveIn())
    assert refused.value.code == "price_outlier_unconfirmed"

    done = service.approve(db.uow(), oscar, jump.id, ApproveIn(confirm_outlier=True, note="核实: 节前备货"))
    assert (done.status, done.outlier_confirmed) == (S.APPROVED, True)


def test_the_outlier_check_is_made_again_at_approval_against_the_approved_history(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    monday = entered(db.uow, world, series.id, day(0), "24.00")
    tuesday = entered(db.uow, world, series.id, day(1), "30.00")
    assert not tuesday.is_outlier  # nothing approved to compare with yet

    service.approve(db.uow(), oscar, monday.id, ApproveIn())

    with pytest.raises(Conflict, match="outlier"):
        service.approve(db.uow(), oscar, tuesday.id, ApproveIn())


def test_price_for_takes_the_latest_approved_price_on_or_before_the_date(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    pork = world.commodities["PORK-FZ"]
    monday = approved(db.uow, world, oscar, series.id, day(0), "24.00")
    tuesday = approved(db.uow, world, oscar, series.id, day(1), "24.50")
    entered(db.uow, world, series.id, day(2), "25.00")  # pending: does not count

    with db.session() as session:
        assert service.price_for(session, pork, day(0) - timedelta(days=1)) is None
        on_monday = service.price_for(session, pork, day(0))
        on_friday = service.price_for(session, pork, day(4))
    assert on_monday is not None
    assert on_monday.observation_id == monday.id
    assert on_friday is not None
    assert (on_friday.observation_id, on_friday.price_date, on_friday.price_fen_per_t) == (
        tuesday.id,
        day(1),
        2_450_000,
    )
    assert on_friday.observation_ids == (tuesday.id,)
    assert (on_friday.business_days_old, on_friday.stale) == (3, False)


def test_a_price_more_than_three_business_days_old_is_stale(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    pork = world.commodities["PORK-FZ"]
    approved(db.uow, world, oscar, series.id, day(3), "24.00")  # a Thursday
    with db.session() as session:
        tuesday = service.price_for(session, pork, day(8))  # Fri, Mon, Tue
        wednesday = service.price_for(session, pork, day(9))
        stale_then = {answer.series.code for answer in service.stale_series(session, SYSTEM, day(9))}
        fresh_then = {answer.series.code for answer in service.stale_series(session, SYSTEM, day(8))}
    assert tuesday is not None
    assert (tuesday.business_days_old, tuesday.stale) == (3, False)
    assert wednesday is not None
    assert (wednesday.business_days_old, wednesday.stale) == (4, True)
    assert series.code in stale_then
    assert series.code not in fresh_then


def test_a_series_without_any_approved_price_is_stale(db: Transaction, world: World) -> None:
    series = new_series(db.uow, world)
    entered(db.uow, world, series.id, day(0), "24.00")
    with db.session() as session:
        stale = {answer.series.code: answer for answer in service.stale_series(session, SYSTEM, day(1))}
    assert stale[series.code].latest_price_date is None


def test_price_for_takes_the_lower_of_the_mid_and_the_average_when_the_series_asks(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world, average_days=3)
    pork = world.commodities["PORK-FZ"]
    made = [
        approved(db.uow, world, oscar, series.id, day(n), mid)
        for n, mid in enumerate(["24.00", "23.00", "25.00", "26.00"])
    ]
    with db.session() as session:
        rising = service.price_for(session, pork, day(3))
        falling = service.price_for(session, pork, day(1))
    # Rising to 26: the mean of 23, 25 and 26 (24.666… → 24.66666 floor) is lower and is used.
    assert rising is not None
    assert (rising.mid_fen_per_t, rising.average_fen_per_t, rising.price_fen_per_t) == (
        2_600_000,
        2_466_666,
        2_466_666,
    )
    assert rising.observation_ids == (made[3].id, made[2].id, made[1].id)
    # Falling to 23: the mid is lower than the mean of 24 and 23.
    assert falling is not None
    assert falling.price_fen_per_t == 2_300_000


def test_price_for_follows_the_commoditys_primary_series(
    db: Transaction, world: World, oscar: Principal
) -> None:
    national = new_series(db.uow, world, "MOA-PORK-NATL")
    shanghai = new_series(db.uow, world, "SCI-PORK-SH", primary=False, unit=PriceUnit.CNY_PER_T)
    pork = world.commodities["PORK-FZ"]
    approved(db.uow, world, oscar, national.id, day(0), "24.00")
    approved(db.uow, world, oscar, shanghai.id, day(0), "23500")
    with db.session() as session:
        before = service.price_for(session, pork, day(0))
        explicit = service.price_for(session, pork, day(0), series_id=shanghai.id)

    service.change_series(db.uow(), world.who("admin"), shanghai.id, SeriesChangeIn(is_primary=True))

    with db.session() as session:
        after = service.price_for(session, pork, day(0))
        assert service.price_for(session, world.commodities["BEEF-FZ"], day(0), series_id=shanghai.id) is None
        demoted = service.get_series(session, SYSTEM, national.id)
    assert before is not None
    assert before.series_code == "MOA-PORK-NATL"
    assert explicit is not None
    assert explicit.price_fen_per_t == 2_350_000
    assert after is not None
    assert (after.series_code, after.price_fen_per_t) == ("SCI-PORK-SH", 2_350_000)
    assert not demoted.is_primary


def test_prices_for_answers_many_commodities_at_once(db: Transaction, world: World, oscar: Principal) -> None:
    pork = new_series(db.uow, world, "MOA-PORK")
    beef = new_series(db.uow, world, "MOA-BEEF", "BEEF-FZ")
    approved(db.uow, world, oscar, pork.id, day(0), "24.63")
    approved(db.uow, world, oscar, beef.id, day(0), "61.03")
    ids = world.commodities
    with db.session() as session:
        found = service.prices_for(session, [ids["PORK-FZ"], ids["BEEF-FZ"], ids["SHRIMP-FZ"]], day(1))
    assert {commodity: used.price_fen_per_t for commodity, used in found.items()} == {
        ids["PORK-FZ"]: 2_463_000,
        ids["BEEF-FZ"]: 6_103_000,
    }


def test_a_rejected_approved_price_no_longer_counts(db: Transaction, world: World, oscar: Principal) -> None:
    series = new_series(db.uow, world)
    pork = world.commodities["PORK-FZ"]
    monday = approved(db.uow, world, oscar, series.id, day(0), "24.00")
    tuesday = approved(db.uow, world, oscar, series.id, day(1), "24.40")
    service.reject(db.uow(), oscar, tuesday.id, RejectIn(reason="来源更正"))
    with db.session() as session:
        used = service.price_for(session, pork, day(1))
    assert used is not None
    assert used.observation_id == monday.id


def test_every_price_change_is_audited_with_its_actor(
    db: Transaction, world: World, oscar: Principal
) -> None:
    series = new_series(db.uow, world)
    observation = approved(db.uow, world, oscar, series.id, day(0), "24.00")
    with db.session() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor_user_id)
            .where(AuditEvent.subject_ref.in_([series.subject_ref, observation.subject_ref]))
            .order_by(AuditEvent.id)
        ).all()
    admin = world.users["admin"]
    assert [tuple(event) for event in events] == [
        ("price_series.create", admin),
        ("price.manual", admin),
        ("price.approve", oscar.user_id),
    ]


# --- CSV import ---------------------------------------------------------------------------------


def csv_file(*rows: str, header: str = "series,price_date,unit,low,mid,high,note") -> bytes:
    return ("\ufeff" + "\n".join([header, *rows]) + "\n").encode()


def test_a_csv_import_stores_every_row_awaiting_approval(db: Transaction, world: World) -> None:
    new_series(db.uow, world, "MOA-PORK")
    new_series(db.uow, world, "SCI-BEEF", "BEEF-FZ", unit=PriceUnit.CNY_PER_T)
    content = csv_file(
        f"MOA-PORK,{day(0)},,,24.63,,",
        f"MOA-PORK,{day(1)},元/公斤,24.10,,25.30,区间",
        f"SCI-BEEF,{day(0)},,60500,61000,61500,",
    )
    result = csvimport.import_csv(db.uow(), world.who("admin"), content)
    assert [(o.price_date, o.price_mid_fen_per_t, o.status) for o in result.observations] == [
        (day(0), 2_463_000, S.PENDING),
        (day(1), 2_470_000, S.PENDING),
        (day(0), 6_100_000, S.PENDING),
    ]
    assert result.series_codes == ["MOA-PORK", "SCI-BEEF"]
    assert all(
        o.origin.value == "csv" and o.entered_by_user_id == world.users["admin"] for o in result.observations
    )


def test_a_csv_with_bad_rows_stores_nothing_and_names_each_row(db: Transaction, world: World) -> None:
    new_series(db.uow, world, "MOA-PORK")
    entered(db.uow, world, world_series_id(db, "MOA-PORK"), day(2), "24.00")
    content = csv_file(
        f"MOA-PORK,{day(0)},,,24.63,,",
        f"MOA-PORK,{day(1)},,,abc,,",
        f"MOA-BEEF,{day(1)},,,61,,",
        f"MOA-PORK,{day(0)},,,24.70,,",
        f"MOA-PORK,{day(2)},,,24.10,,",
        "MOA-PORK,2026-13-01,,,24.10,,",
        f"MOA-PORK,{day(3)},USD/kg,,24.10,,",
    )
    with pytest.raises(ImportRejected) as rejected:
        csvimport.import_csv(db.uow(), world.who("admin"), content)
    rows = {(row["row"], row["field"]) for row in rejected.value.extra()["rows"]}
    assert rows == {(3, "mid"), (4, "series"), (5, "price_date"), (6, None), (7, "price_date"), (8, "unit")}
    with db.session() as session:
        # Of this series only: tests that commit leave other series' prices in the shared database.
        series_id = world_series_id(db, "MOA-PORK")
        stored = session.scalars(
            select(PriceObservation).where(
                PriceObservation.series_id == series_id, PriceObservation.price_date == day(0)
            )
        ).all()
        assert stored == []


def world_series_id(db: Transaction, code: str) -> int:
    with db.session() as session:
        return next(s.id for s in service.list_series(session, SYSTEM) if s.code == code)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"series,mid\nMOA-PORK,24\n", "needs the columns"),
        (b"series,price_date,colour\nMOA-PORK,2026-11-02,red\n", "knows only"),
        (b"\xff\xfeseries", "not UTF-8"),
        (b"series,price_date,mid\n", "no rows"),
    ],
)
def test_a_csv_file_that_cannot_be_read_is_refused(
    db: Transaction, world: World, content: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        csvimport.import_csv(db.uow(), world.who("admin"), content)
    # The messages as written (the rows' are translated for whoever asks: Chinese by default).
    rows = [error.message for error in getattr(refused.value, "errors", [])]
    assert message in " ".join([str(refused.value), *rows])


# --- a vendor's feed directory ------------------------------------------------------------------


def test_a_vendor_directory_is_taken_in_once_however_often_it_is_read(
    db: Transaction, world: World, tmp_path: Path
) -> None:
    new_series(
        db.uow, world, "SCI-PORK", source="sci99", source_series_id="pork-2-sh", unit=PriceUnit.CNY_PER_T
    )
    (tmp_path / "2026-11.csv").write_text(
        f"series,price_date,low,mid,high\npork-2-sh,{day(0)},23800,24000,24200\npork-2-sh,{day(1)},,24100,\n"
    )
    (tmp_path / "late.json").write_text(
        json.dumps([{"series": "pork-2-sh", "price_date": str(day(2)), "mid": "24150"}])
    )
    (tmp_path / "readme.txt").write_text("ignored")

    first = feeds.import_feed(db.uow(), feeds.DirectoryFeed("sci99", tmp_path), day(0))
    again = feeds.import_feed(db.uow(), feeds.DirectoryFeed("sci99", tmp_path), day(0))

    assert (len(first.stored), first.approved, first.problems) == (3, 0, [])
    assert (len(again.stored), again.unchanged, again.problems) == (0, 3, [])
    with db.session() as session:
        stored = session.scalars(select(PriceObservation).where(PriceObservation.id.in_(first.stored))).all()
    assert {(o.origin.value, o.entered_by_user_id, o.status) for o in stored} == {("feed", None, S.PENDING)}


def test_any_operator_approves_a_feed_quote(db: Transaction, world: World, tmp_path: Path) -> None:
    new_series(
        db.uow, world, "SCI-PORK", source="sci99", source_series_id="pork-2-sh", unit=PriceUnit.CNY_PER_T
    )
    (tmp_path / "q.json").write_text(
        json.dumps([{"series": "pork-2-sh", "price_date": str(day(0)), "mid": 24000}])
    )
    report = feeds.import_feed(db.uow(), feeds.DirectoryFeed("sci99", tmp_path), day(0))
    done = service.approve(db.uow(), world.who("admin"), report.stored[0], ApproveIn())
    assert done.status is S.APPROVED


def test_a_trusted_feed_counts_at_once_except_its_outliers(
    db: Transaction, world: World, tmp_path: Path
) -> None:
    new_series(
        db.uow,
        world,
        "SCI-PORK",
        source="sci99",
        source_series_id="pork-2-sh",
        unit=PriceUnit.CNY_PER_T,
        feed_trusted=True,
    )
    quotes = [("0", "24000"), ("1", "24100"), ("2", "29000")]
    (tmp_path / "q.json").write_text(
        json.dumps([{"series": "pork-2-sh", "price_date": str(day(int(n))), "mid": mid} for n, mid in quotes])
    )
    report = feeds.import_feed(db.uow(), feeds.DirectoryFeed("sci99", tmp_path), day(0))
    assert (len(report.stored), report.approved, report.outliers) == (3, 2, 1)
    with db.session() as session:
        used = service.price_for(session, world.commodities["PORK-FZ"], day(2))
    assert used is not None
    assert used.price_fen_per_t == 2_410_000


def test_a_feed_never_writes_over_a_stored_price_and_reports_bad_quotes(
    db: Transaction, world: World, tmp_path: Path
) -> None:
    series = new_series(
        db.uow, world, "SCI-PORK", source="sci99", source_series_id="pork-2-sh", unit=PriceUnit.CNY_PER_T
    )
    entered(db.uow, world, series.id, day(0), "24000")
    (tmp_path / "q.json").write_text(
        json.dumps(
            [
                {"series": "pork-2-sh", "price_date": str(day(0)), "mid": "24500"},
                {"series": "pork-2-sh", "price_date": str(day(1)), "mid": 24.1},
                {"series": "beef-sh", "price_date": str(day(1)), "mid": "61000"},
                {"series": "pork-2-sh", "price_date": str(day(2)), "mid": "24100"},
            ]
        )
    )
    (tmp_path / "broken.json").write_text("{not json")
    report = feeds.import_feed(db.uow(), feeds.DirectoryFeed("sci99", tmp_path), day(0))
    assert len(report.stored) == 1
    assert len(report.problems) == 4
    assert any("has another price" in problem for problem in report.problems)
    assert any("must be text" in problem for problem in report.problems)
    assert any("no series beef-sh" in problem for problem in report.problems)
    assert any("broken.json" in problem for problem in report.problems)


# --- at the same time (real commits, own commodity) ---------------------------------------------


def _own_series(database: Database, world: World) -> int:
    """A series of this test's own, committed; not primary, so no valuation of chicken follows it,
    and on a commodity of the world, since the commodity list is everyone's."""
    uow: Callable[[], UnitOfWork] = lambda: UnitOfWork(database.write_session)  # noqa: E731
    code = f"T-{uuid.uuid4().hex[:10].upper()}"
    return new_series(uow, world, code, "CHICKEN-CH", primary=False, source=code).id


def test_two_approvers_at_once_approve_a_price_once(database: Database, world: World) -> None:
    uow: Callable[[], UnitOfWork] = lambda: UnitOfWork(database.write_session)  # noqa: E731
    observation = entered(uow, world, _own_series(database, world), day(0), "24.00")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve() -> None:
        barrier.wait()
        try:
            service.approve(uow(), SYSTEM, observation.id, ApproveIn())
            outcomes.append("approved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["approved", "conflict"]
    with database.reading() as session:
        approvals = session.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == "price.approve", AuditEvent.subject_ref == observation.subject_ref
            )
        ).all()
    assert len(approvals) == 1


def test_two_feed_runs_at_once_store_each_quote_once(
    database: Database, world: World, tmp_path: Path
) -> None:
    series_id = _own_series(database, world)
    with database.reading() as session:
        series = service.get_series(session, SYSTEM, series_id)
        source, source_series_id = series.source, series.source_series_id
    (tmp_path / "q.json").write_text(
        json.dumps([{"series": source_series_id, "price_date": str(day(n)), "mid": "24"} for n in range(5)])
    )
    reports: list[feeds.FeedReport] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        reports.append(
            feeds.import_feed(
                UnitOfWork(database.write_session), feeds.DirectoryFeed(source, tmp_path), day(0)
            )
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(len(report.stored) for report in reports) == 5
    with database.reading() as session:
        dates = session.scalars(
            select(PriceObservation.price_date).where(PriceObservation.series_id == series_id)
        ).all()
    assert sorted(dates) == [day(n) for n in range(5)]
