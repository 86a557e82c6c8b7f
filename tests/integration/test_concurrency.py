"""Real concurrency: separate connections, real commits, threads that start together.

These tests commit, so they work on a site of their own (a trader, two lenders, a keeper with one
supervised room, a supervisor) built once for the module: nothing they leave behind shows up in
the lists of the shared world's personas.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import Conflict, DomainError, IllegalTransition
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, Operation
from coldpledge.inventory.schemas import StocktakeIn, UnsealIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import LIVE_PLEDGE, Pledge, PledgeStatus, Receipt, Release, ReleaseStatus
from coldpledge.receipts.schemas import (
    NoteIn,
    OutboundIn,
    PledgeRequestIn,
    ReasonIn,
    ReleaseRequestIn,
)
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from tests.support import in_days, now
from tests.world import World, issued_receipt, make_ready, pledge, receive

# How long a test waits for another connection to reach a lock before it gives up.
PATIENCE_S = 20.0

SITE_ORGS: dict[str, tuple[str, PartyType, Role]] = {
    # key (also the persona's key): organisation name, party type, role of its one user
    "trader": ("并发测试冷链贸易有限公司", PartyType.BORROWER, Role.BORROWER_FINANCE),
    "lender": ("并发测试银行一分行", PartyType.BANK, Role.BANK_RISK_OFFICER),
    "lender2": ("并发测试银行二分行", PartyType.BANK, Role.BANK_RISK_OFFICER),
    "keeper": ("并发测试冷库有限公司", PartyType.KEEPER, Role.KEEPER_STAFF),
    "supervisor": ("并发测试监管有限公司", PartyType.SUPERVISOR, Role.SUPERVISION_MANAGER),
}
M = TypeVar("M")
ROOM = "CC-F18"
COLLECTOR_ID = "310101199203034567"
PLATE = "沪D54321"


@pytest.fixture(scope="module")
def site(database: Database, settings: Settings, world: World) -> World:
    """A cold store of its own with its own parties, shaped like the shared world so its helpers
    (``receive``, ``make_ready``, ``issued_receipt``, ``pledge``) work on it."""
    uow = _uow_factory(database)
    site = World(commodities=dict(world.commodities))
    for key, (name, party_type, role) in SITE_ORGS.items():
        org = parties.create_organisation(uow(), SYSTEM, OrganisationIn(name=name, party_type=party_type))
        site.orgs[key] = org.id
        user = parties.create_user(
            uow(),
            settings,
            SYSTEM,
            UserIn(
                username=f"race-{key}",
                display_name=key,
                organisation_id=org.id,
                role=role,
                password="correct-horse-battery",
            ),
        )
        site.users[key] = user.id
    with uow() as unit:
        for key, user_id in site.users.items():
            site.principals[key] = parties.principal_for(unit.session.get_one(User, user_id))
    warehouse = warehouses.create_warehouse(
        uow(),
        site.who("keeper"),
        WarehouseIn(code="CC-RACE", name="并发测试冷库", address="宁波港区", city="宁波"),
    )
    site.warehouses["race"] = warehouse.id
    room = warehouses.add_room(
        uow(),
        site.who("keeper"),
        warehouse.id,
        RoomIn(
            code=ROOM,
            name="race room",
            temperature_class=TemperatureClass.FROZEN,
            set_point_c=Decimal("-18"),
            band_low_c=Decimal("-22"),
            band_high_c=Decimal("-18"),
        ),
    )
    site.rooms[ROOM] = room.id
    site.vws["race"] = warehouses.create_virtual_warehouse(
        uow(),
        SYSTEM,
        VirtualWarehouseIn(
            code="VW-CC-RACE",
            name="并发测试监管仓",
            warehouse_id=warehouse.id,
            supervisor_org_id=site.orgs["supervisor"],
            room_ids=[room.id],
        ),
    ).id
    return site


def _uow_factory(database: Database) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(database.write_session)


_seal_serial = itertools.count(1)


def ready_lot(database: Database, settings: Settings, site: World, *, tonnes: int = 4) -> int:
    """A lot received, weighed, inspected, photographed and sealed, committed."""
    uow = _uow_factory(database)
    lot_id = receive(uow, site, room=ROOM, owner="trader", commodity="PORK-FZ", tonnes=tonnes)
    make_ready(uow, settings, site, lot_id, seal=f"RACE-{lot_id}-{next(_seal_serial)}")
    return lot_id


def issued(database: Database, settings: Settings, site: World) -> tuple[int, int]:
    """(lot id, receipt id) of a freshly issued receipt held by the trader."""
    lot_id = ready_lot(database, settings, site)
    return lot_id, issued_receipt(_uow_factory(database), site, lot_id)


def pledged(database: Database, settings: Settings, site: World) -> tuple[int, int]:
    lot_id, receipt_id = issued(database, settings, site)
    pledge(_uow_factory(database), site, receipt_id, holder="trader", bank="lender")
    return lot_id, receipt_id


def release_request(quantity_g: int, cartons: int) -> ReleaseRequestIn:
    return ReleaseRequestIn(
        quantity_g=quantity_g,
        cartons=cartons,
        vehicle_plate=PLATE,
        collector_name="赵师傅",
        collector_id_no=COLLECTOR_ID,
        valid_until=in_days(2),
    )


def request_pledge_call(database: Database, site: World, receipt_id: int, bank_id: int) -> Callable[[], Any]:
    """The trader's request to pledge the receipt to a bank, ready to be called in a thread."""
    return partial(
        receipts.request_pledge,
        UnitOfWork(database.write_session),
        site.who("trader"),
        receipt_id,
        PledgeRequestIn(pledgee_org_id=bank_id),
    )


@dataclass
class Outcome:
    """What one thread's call came to: a value or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


def run_together(calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Run the calls in threads that all start at the same moment; every outcome is kept, so an
    unexpected exception fails the test with its own traceback rather than dying in a thread."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=PATIENCE_S)
            outcomes[index].value = calls[index]()
        except BaseException as exc:
            outcomes[index].error = exc

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread never finished: deadlock?"
    return outcomes


def waiting_for_a_lock(database: Database) -> int:
    """How many connections of this database are queued on a lock right now (PostgreSQL)."""
    with database.engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def await_lock_waiter(database: Database) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while waiting_for_a_lock(database) == 0:
        assert time.monotonic() < deadline, "the second transaction never queued behind the first"
        time.sleep(0.01)


def race(
    database: Database, first: Callable[[UnitOfWork], Any], second: Callable[[UnitOfWork], Any]
) -> Outcome:
    """Let ``first`` do all its work and stop just before COMMIT, holding its locks; start
    ``second`` and wait until it is queued behind those locks (after it has read what it reads
    without locking); then let ``first`` commit. Returns what ``second`` came to.

    This is the interleaving a lost update needs, made certain instead of hoped for."""
    holding, go = threading.Event(), threading.Event()

    def paused_session() -> Session:
        session = database.write_session()

        @event.listens_for(session, "before_commit")
        def _hold(_session: Session) -> None:
            holding.set()
            go.wait(timeout=PATIENCE_S)

        return session

    first_outcome, second_outcome = Outcome(), Outcome()

    def run(call: Callable[[UnitOfWork], Any], uow: UnitOfWork, outcome: Outcome) -> None:
        try:
            outcome.value = call(uow)
        except BaseException as exc:
            outcome.error = exc
        finally:
            holding.set()

    one = threading.Thread(target=run, args=(first, UnitOfWork(paused_session), first_outcome))
    two = threading.Thread(target=run, args=(second, UnitOfWork(database.write_session), second_outcome))
    one.start()
    try:
        assert holding.wait(timeout=PATIENCE_S), "the first transaction never got to its commit"
        assert first_outcome.error is None, first_outcome.error
        two.start()
        await_lock_waiter(database)
    finally:
        go.set()
        one.join(timeout=60)
    two.join(timeout=60)
    assert not one.is_alive(), "deadlock"
    assert not two.is_alive(), "deadlock"
    assert first_outcome.error is None, first_outcome.error
    return second_outcome


def live_pledges(database: Database, receipt_id: int) -> list[Pledge]:
    with database.reading() as session:
        found = list(
            session.scalars(
                select(Pledge).where(Pledge.receipt_id == receipt_id, Pledge.status.in_(LIVE_PLEDGE))
            )
        )
        session.expunge_all()  # keep them readable after the read transaction ends
        return found


def current(database: Database, model: type[M], ident: int) -> M:
    """The committed row as another connection sees it now."""
    with database.reading() as session:
        found = session.get_one(model, ident)
        session.expunge(found)
        return found


def evidence_count(database: Database, action: str, subject_id: int) -> int:
    with database.reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(EvidenceOutbox)
                .join(AuditEvent, AuditEvent.id == EvidenceOutbox.audit_event_id)
                .where(AuditEvent.action == action, AuditEvent.subject_id == subject_id)
            )
            or 0
        )


# --- a. the double pledge race through the service -------------------------------------------


@pytest.mark.postgres
def test_of_eight_simultaneous_pledge_requests_exactly_one_wins(
    database: Database, settings: Settings, site: World
) -> None:
    _, receipt_id = issued(database, settings, site)
    banks = [site.orgs["lender"], site.orgs["lender2"]]

    outcomes = run_together([request_pledge_call(database, site, receipt_id, bank) for bank in banks * 4])

    won = [outcome for outcome in outcomes if outcome.error is None]
    lost = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert len(won) == 1, lost
    assert all(isinstance(error, DomainError) and error.status == 409 for error in lost), lost
    # Each loser was told the receipt had moved on, in words, with what can still be done.
    assert all(isinstance(error, IllegalTransition) for error in lost), lost
    assert {error.state for error in lost if isinstance(error, IllegalTransition)} == {"pledge_pending"}
    [the_pledge] = live_pledges(database, receipt_id)
    assert the_pledge.status is PledgeStatus.REQUESTED
    assert current(database, Receipt, receipt_id).status is ReceiptStatus.PLEDGE_PENDING
    assert evidence_count(database, "receipt.request_pledge", receipt_id) == 1


# --- b. the same race one level down: the partial unique index --------------------------------


@pytest.mark.postgres
def test_two_transactions_that_both_saw_an_issued_receipt_cannot_both_insert_a_pledge(
    database: Database, settings: Settings, site: World
) -> None:
    _, receipt_id = issued(database, settings, site)

    def a_pledge(bank: str) -> Any:
        return insert(Pledge).values(
            receipt_id=receipt_id,
            pledgee_org_id=site.orgs[bank],
            pledgor_org_id=site.orgs["trader"],
            status=PledgeStatus.REQUESTED,
            requested_at=now(),
        )

    second_failed = Outcome()
    with database.engine.connect() as first, database.engine.connect() as second:
        first_tx, second_tx = first.begin(), second.begin()
        # Both check the state the way a careless service would, and both see it free.
        for connection in (first, second):
            status = connection.scalar(select(Receipt.status).where(Receipt.id == receipt_id))
            assert status is ReceiptStatus.ISSUED
        # (The receipt's own status is left alone: this race is about the pledge index alone, and a
        # status changed outside the platform would be, rightly, an audit finding.)
        first.execute(a_pledge("lender"))

        def insert_second() -> None:
            try:
                second.execute(a_pledge("lender2"))
            except IntegrityError as exc:
                second_failed.error = exc

        # The second insert waits on the first's index entry until the first ends.
        thread = threading.Thread(target=insert_second)
        thread.start()
        await_lock_waiter(database)
        first_tx.commit()
        thread.join(timeout=60)
        second_tx.rollback()

    assert isinstance(second_failed.error, IntegrityError)
    assert "uq_pledges_one_live_per_receipt" in str(second_failed.error.orig)
    [survivor] = live_pledges(database, receipt_id)
    assert survivor.pledgee_org_id == site.orgs["lender"]


# --- c. one approved release, two keepers at the dock -----------------------------------------


@pytest.mark.postgres
def test_two_keepers_executing_the_same_release_at_once_ship_the_goods_once(
    database: Database, settings: Settings, site: World
) -> None:
    uow = _uow_factory(database)
    lot_id, receipt_id = pledged(database, settings, site)
    receipt_before = current(database, Receipt, receipt_id)
    lot_before = current(database, Lot, lot_id)
    release, _ = releases.request_release(
        uow(), site.who("trader"), receipt_id, release_request(1_000_000, 50)
    )
    _, code = releases.approve(uow(), site.who("lender"), release.id, NoteIn())
    inventory.unseal_lot(uow(), site.who("supervisor"), lot_id, UnsealIn(reason="按放货指令出库"))
    outbound = OutboundIn(
        release_id=release.id,
        release_code=code,
        gross_g=1_600_000,
        tare_g=600_000,
        weigh_ticket_no="WT-RACE",
        cartons=50,
        vehicle_plate=PLATE,
        collector_id_no=COLLECTOR_ID,
    )

    outcomes = run_together(
        [lambda: releases.execute_outbound(uow(), site.who("keeper"), lot_id, outbound) for _ in range(2)]
    )

    done = [outcome.value for outcome in outcomes if outcome.error is None]
    refused = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert len(done) == 1, refused
    [error] = refused
    assert isinstance(error, Conflict), error
    assert "not approved" in str(error)
    assert current(database, Release, release.id).status is ReleaseStatus.EXECUTED
    assert current(database, Receipt, receipt_id).quantity_g == receipt_before.quantity_g - 1_000_000
    assert current(database, Receipt, receipt_id).cartons == receipt_before.cartons - 50
    lot_after = current(database, Lot, lot_id)
    assert lot_after.verified_net_weight_g == lot_before.verified_net_weight_g - 1_000_000
    assert lot_after.cartons == lot_before.cartons - 50
    with database.reading() as session:
        shipped = session.scalar(select(func.count()).where(Operation.release_id == release.id))
    assert shipped == 1


# --- d. the evidence outbox grows in commit order ---------------------------------------------


@pytest.mark.postgres
def test_no_reader_ever_sees_an_outbox_entry_before_an_earlier_one_commits(
    database: Database, settings: Settings, site: World
) -> None:
    writers, changes_each = 4, 12
    lots = [ready_lot(database, settings, site, tonnes=1) for _ in range(writers)]
    with database.reading() as session:
        baseline = session.scalar(select(func.coalesce(func.max(EvidenceOutbox.id), 0)))
    uow = _uow_factory(database)
    snapshots: list[frozenset[int]] = []
    writing = threading.Event()
    writing.set()

    def write(lot_id: int) -> None:
        for count in range(changes_each):
            inventory.stocktake(
                uow(),
                site.who("supervisor"),
                lot_id,
                StocktakeIn(counted_g=1_000_000 - count, counted_cartons=50),
            )

    def watch() -> None:
        while writing.is_set():
            with database.reading() as session:
                ids = session.scalars(select(EvidenceOutbox.id).where(EvidenceOutbox.id > baseline))
                snapshots.append(frozenset(ids))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcomes = run_together([partial(write, lot_id) for lot_id in lots])
    finally:
        writing.clear()
        watcher.join(timeout=60)

    assert [outcome.error for outcome in outcomes] == [None] * writers
    with database.reading() as session:
        final = set(session.scalars(select(EvidenceOutbox.id).where(EvidenceOutbox.id > baseline)))
    assert len(final) >= writers * changes_each
    seen_while_writing = [snapshot for snapshot in snapshots if snapshot and snapshot != final]
    assert seen_while_writing, "the watcher never caught the writers in the middle; nothing was tested"
    for snapshot in snapshots:
        if snapshot:
            highest = max(snapshot)
            missing = {ident for ident in final if ident <= highest} - snapshot
            assert not missing, f"ids {sorted(missing)} committed after {highest} was already visible"
            assert snapshot <= final


# --- stale reads: a transition that waited for another must see what the other did -----------


@pytest.mark.postgres
def test_a_release_request_that_waited_for_a_freeze_is_refused_because_the_receipt_is_frozen(
    database: Database, settings: Settings, site: World
) -> None:
    _, receipt_id = pledged(database, settings, site)

    second = race(
        database,
        lambda uow: receipts.freeze(uow, site.who("lender"), receipt_id, ReasonIn(reason="借款人涉诉")),
        lambda uow: releases.request_release(
            uow, site.who("trader"), receipt_id, release_request(500_000, 25)
        ),
    )

    assert isinstance(second.error, IllegalTransition), second
    assert second.error.state == "frozen"
    assert second.error.allowed_actions == ["unfreeze"]
    with database.reading() as session:
        asked = session.scalar(select(func.count()).where(Release.receipt_id == receipt_id))
    assert asked == 0
    assert current(database, Receipt, receipt_id).status is ReceiptStatus.FROZEN


@pytest.mark.postgres
def test_a_release_cancelled_while_the_bank_was_approving_it_stays_cancelled(
    database: Database, settings: Settings, site: World
) -> None:
    uow = _uow_factory(database)
    _, receipt_id = pledged(database, settings, site)
    release, _ = releases.request_release(uow(), site.who("trader"), receipt_id, release_request(500_000, 25))

    second = race(
        database,
        lambda uow: releases.cancel(uow, site.who("trader"), release.id, ReasonIn(reason="买家取消订单")),
        lambda uow: releases.approve(uow, site.who("lender"), release.id, NoteIn()),
    )

    assert isinstance(second.error, Conflict), second
    after = current(database, Release, release.id)
    assert after.status is ReleaseStatus.CANCELLED
    assert after.code_sha256 is None


@pytest.mark.postgres
def test_a_release_cannot_be_approved_while_a_freeze_holds_the_receipt(
    database: Database, settings: Settings, site: World
) -> None:
    uow = _uow_factory(database)
    _, receipt_id = pledged(database, settings, site)
    release, _ = releases.request_release(uow(), site.who("trader"), receipt_id, release_request(500_000, 25))

    second = race(
        database,
        lambda uow: receipts.freeze(uow, SYSTEM, receipt_id, ReasonIn(reason="法院查封裁定")),
        lambda uow: releases.approve(uow, site.who("lender"), release.id, NoteIn()),
    )

    assert isinstance(second.error, IllegalTransition), second
    assert second.error.state == "frozen"
    assert current(database, Release, release.id).status is ReleaseStatus.REQUESTED


# --- e. SQLite: writers queue instead of failing ----------------------------------------------


def test_on_sqlite_two_racing_pledge_requests_give_one_pledge_and_no_locked_database(
    database: Database, settings: Settings, site: World
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the SQLite pass shows BEGIN IMMEDIATE at work; PostgreSQL has its own test")
    _, receipt_id = issued(database, settings, site)

    outcomes = run_together(
        [request_pledge_call(database, site, receipt_id, site.orgs[bank]) for bank in ("lender", "lender2")]
    )

    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert len(errors) == 1, errors
    [error] = errors
    # Not an OperationalError ("database is locked"): the loser waited its turn and was told why.
    assert isinstance(error, IllegalTransition), repr(error)
    assert len(live_pledges(database, receipt_id)) == 1
