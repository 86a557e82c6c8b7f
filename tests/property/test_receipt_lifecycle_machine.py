"""Random walks through the receipt lifecycle, checked against a reference model and the invariants.

A Hypothesis state machine drives the real services on the real database: lots arrive and are
prepared, receipts are drafted, issued, transferred, pledged, released in part, discharged,
delivered, split, frozen, reported lost, replaced, disposed of and cancelled, each step taken by the
party it belongs to or, often, by someone else or in a state that does not allow it. A refused step
must raise the error the model predicts and change nothing. After every step the invariants are
checked with SQL against the database itself.

Each example runs in one transaction that is rolled back at the end, on top of the shared world.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, Engine, column, func, or_, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, Seal
from coldpledge.inventory.schemas import SealIn, UnsealIn, WeighIn
from coldpledge.parties.policy import Principal
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.errors import IncompleteCheck
from coldpledge.receipts.lifecycle import ReceiptStatus, allowed_actions
from coldpledge.receipts.models import LIVE_PLEDGE, OPEN_RELEASE, Pledge, Receipt, Release
from coldpledge.receipts.schemas import (
    DeliveryRequestIn,
    NoteIn,
    OutboundIn,
    PledgeAcceptIn,
    PledgeRequestIn,
    ReasonIn,
    ReceiptCreateIn,
    ReleaseRequestIn,
    SplitIn,
    SplitPart,
    TransferIn,
)
from coldpledge.uow import UnitOfWork
from tests import world as world_helpers
from tests.property.helpers import (
    ACTIVE,
    ACTORS,
    ENCUMBERED,
    EXECUTABLE_FROM,
    EXECUTES,
    KEEPER,
    LEGAL_FROM,
    OUTSIDER_KEEPER,
    SUPERVISOR,
    SUSPENDED,
    TERMINAL,
    LotModel,
    ReceiptModel,
    ReleaseModel,
    actions_from,
    may,
    org_key,
)
from tests.support import in_days, today
from tests.world import World

T = TypeVar("T")
M = TypeVar("M")
ROOM = "YS-F18"
PLATE = "沪E24680"
COLLECTOR_ID = "310101198506061234"
# None (two times in three): the party the step belongs to; otherwise anyone, right or wrong.
WHO = st.sampled_from((None,) * 2 * len(ACTORS) + ACTORS)


def mostly(right: str, *wrong: str) -> st.SearchStrategy[str]:
    """The right person three times in four, else one who may not do it."""
    return st.sampled_from((right,) * 3 * len(wrong) + wrong)


def ids(name: str) -> ColumnClause[Any]:
    """The id column of a table by name, for counting rows of tables this test only measures."""
    return table(name, column("id")).c.id


class ReceiptLifecycle(RuleBasedStateMachine):
    def __init__(self, engine: Engine, settings: Settings, world: World) -> None:
        super().__init__()
        self.settings = settings
        self.world = world
        self.connection: Connection = engine.connect()
        self.transaction = self.connection.begin()
        # Rows of this example have ids above these; the world's and other tests' stay below.
        self.baseline = {
            name: int(self.connection.execute(select(func.coalesce(func.max(ids(name)), 0))).scalar_one())
            for name in ("lots", "receipts", "pledges", "releases", "audit_events", "evidence_outbox")
        }
        self.lots: dict[int, LotModel] = {}
        self.receipts: dict[int, ReceiptModel] = {}
        self.releases: dict[int, ReleaseModel] = {}
        self.terminal_rows: dict[int, dict[str, Any]] = {}
        self.seal_serial = itertools.count(1)

    def teardown(self) -> None:
        self.transaction.rollback()
        self.connection.close()

    # --- plumbing -------------------------------------------------------------------------------

    def session(self) -> Session:
        return Session(bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session)

    def sql(self, statement: str, **params: Any) -> Any:
        return self.connection.execute(text(statement), params)

    def who(self, actor: str) -> Principal:
        return self.world.who(actor)

    def org(self, actor: str) -> int:
        return self.world.orgs[org_key(actor)]

    def fingerprint(self) -> dict[str, Any]:
        """Everything a refused step could have touched: this example's rows, whole, and the size
        of the append-only logs."""
        state: dict[str, Any] = {}
        for model in (Lot, Receipt, Pledge, Release):
            table = model.__tablename__
            rows = self.connection.execute(
                select(model.__table__).where(model.id > self.baseline[table]).order_by(model.id)
            )
            state[table] = [tuple(row) for row in rows]
        for name in ("seals", "operations", "receipt_notations", "audit_events", "evidence_outbox"):
            state[name] = tuple(self.connection.execute(select(func.count(), func.max(ids(name)))).one())
        return state

    def attempt(
        self,
        expected: type[DomainError] | None,
        call: Callable[[], T],
        *,
        state: str | None = None,
        evidence: list[tuple[str, int | None]],
    ) -> T | None:
        """Take one step. If the model expects a refusal, it must be exactly that error and leave
        everything as it was; otherwise the step must leave the named audit events, each with its
        evidence entry."""
        before = self.fingerprint()
        if expected is None:
            result = call()
            self.assert_evidenced(before["audit_events"][1] or 0, evidence)
            return result
        with pytest.raises(DomainError) as caught:
            call()
        error = caught.value
        assert type(error) is expected, f"expected {expected.__name__}, got {error!r}"
        if isinstance(error, IllegalTransition):
            assert state is not None
            assert error.state == state
            assert error.allowed_actions == allowed_actions(ReceiptStatus(state))
            assert set(error.allowed_actions) == actions_from(state)
        assert self.fingerprint() == before, f"the refused step ({error!r}) changed something"
        return None

    def assert_evidenced(self, after_event: int, expected: list[tuple[str, int | None]]) -> None:
        new = self.connection.execute(
            select(AuditEvent.action, AuditEvent.subject_id, EvidenceOutbox.id)
            .outerjoin(EvidenceOutbox, EvidenceOutbox.audit_event_id == AuditEvent.id)
            .where(AuditEvent.id > after_event)
        ).all()
        assert new, "a state change left no audit event"
        assert all(outbox_id is not None for _, _, outbox_id in new), "an audit event without evidence"
        for action, subject in expected:
            assert any(a == action and (subject is None or s == subject) for a, s, _ in new), (
                f"no {action} event for {subject}; got {[(a, s) for a, s, _ in new]}"
            )

    def pick(self, data: st.DataObject, pool: dict[int, M], fits: Callable[[M], bool], label: str) -> M:
        """One of ``pool``: mostly one the step fits, so walks get deep, otherwise any at all, so
        wrong states and closed instructions keep being tried."""
        fitting = [key for key, item in sorted(pool.items()) if fits(item)]
        if fitting:
            anything: bool = data.draw(st.sampled_from([True, False, False, False]), label=f"any {label}")
            if not anything:
                return pool[data.draw(st.sampled_from(fitting), label=label)]
        return pool[data.draw(st.sampled_from(sorted(pool)), label=label)]

    def draw_receipt(
        self, data: st.DataObject, action: str, also: Callable[[ReceiptModel], bool] = lambda _: True
    ) -> ReceiptModel:
        return self.pick(data, self.receipts, lambda r: r.status in LEGAL_FROM[action] and also(r), "receipt")

    def draw_lot(self, data: st.DataObject, fits: Callable[[LotModel], bool]) -> LotModel:
        return self.pick(data, self.lots, fits, "lot")

    def draw_release(
        self, data: st.DataObject, fits: Callable[[ReleaseModel], bool]
    ) -> tuple[ReleaseModel, ReceiptModel]:
        release = self.pick(data, self.releases, fits, "release")
        return release, self.receipts[release.receipt]

    def transition(
        self,
        action: str,
        receipt: ReceiptModel,
        who: str | None,
        call: Callable[[Principal], T],
        *,
        business: type[DomainError] | None = None,
        evidence: list[tuple[str, int | None]] | None = None,
    ) -> T | None:
        """A step on a receipt: the model's refusal comes first, then the business rule's."""
        actor = who or receipt.right_party(action)
        expected = receipt.refusal(actor, action) or business
        return self.attempt(
            expected,
            lambda: call(self.who(actor)),
            state=receipt.status,
            evidence=evidence if evidence is not None else [(f"receipt.{action}", receipt.id)],
        )

    def backed(self, lot_id: int) -> bool:
        return any(r.lot == lot_id and r.status not in TERMINAL for r in self.receipts.values())

    def claims_on(self, lot_id: int) -> int:
        return sum(r.quantity_g for r in self.receipts.values() if r.lot == lot_id and r.status in ACTIVE)

    # --- building blocks, taken the right way through the services ------------------------------

    def receive(self, tonnes: int, owner: str) -> LotModel:
        lot_id = world_helpers.receive(
            self.uow, self.world, room=ROOM, owner=owner, commodity="PORK-FZ", tonnes=tonnes, batch="HSM"
        )
        world_helpers.make_ready(self.uow, self.settings, self.world, lot_id, seal=self.seal_number())
        lot = LotModel(lot_id, owner, tonnes * 1_000_000, tonnes * 50, sealed=True, photographed=True)
        self.lots[lot_id] = lot
        return lot

    def seal_number(self) -> str:
        return f"HSM-{self.baseline['lots']}-{next(self.seal_serial)}"

    def issued_receipt(self, owner: str, tonnes: int) -> ReceiptModel:
        lot = self.receive(tonnes, owner)
        receipt_id = world_helpers.issued_receipt(self.uow, self.world, lot.id)
        receipt = ReceiptModel(receipt_id, lot.id, "issued", owner, lot.verified_g, lot.cartons)
        self.receipts[receipt_id] = receipt
        return receipt

    def pledged_receipt(self, owner: str, bank: str, tonnes: int) -> ReceiptModel:
        receipt = self.issued_receipt(owner, tonnes)
        world_helpers.pledge(self.uow, self.world, receipt.id, holder=owner, bank=bank)
        receipt.status, receipt.pledgee = "pledged", bank
        receipt.last_bank = bank
        return receipt

    def collection(self) -> dict[str, Any]:
        return {
            "vehicle_plate": PLATE,
            "collector_name": "钱师傅",
            "collector_id_no": COLLECTOR_ID,
            "valid_until": in_days(3),
        }

    # --- where every walk starts ----------------------------------------------------------------
    # Deep states take many right steps in a row. Every walk starts with a draft, an issued
    # receipt, one offered in pledge, one pledged and one with a release asked for or at the dock,
    # so thirty random steps reach the dock, disposal, splits and replacements, and lots, receipts
    # and release instructions always exist to draw from.

    @initialize(owner=st.sampled_from(["borrower", "borrower2"]))
    def an_issued_receipt_to_start_from(self, owner: str) -> None:
        self.issued_receipt(owner, 2)

    @initialize(owner=st.sampled_from(["borrower", "borrower2"]), bank=st.sampled_from(["bank", "bank2"]))
    def a_pledge_request_to_start_from(self, owner: str, bank: str) -> None:
        receipt = self.issued_receipt(owner, 1)
        world_helpers.pledge(self.uow, self.world, receipt.id, holder=owner, bank=bank, accept=False)
        receipt.status, receipt.pledgee = "pledge_pending", bank
        receipt.last_bank = bank

    @initialize(owner=st.sampled_from(["borrower", "borrower2"]))
    def a_draft_to_start_from(self, owner: str) -> None:
        lot = self.receive(1, owner)
        request = ReceiptCreateIn(
            lot_id=lot.id,
            quantity_g=lot.verified_g,
            cartons=lot.cartons,
            storage_period_end=today() + timedelta(days=300),
        )
        draft = receipts.create_draft(self.uow(), self.who(KEEPER), request)
        self.receipts[draft.id] = ReceiptModel(draft.id, lot.id, "draft", owner, lot.verified_g, lot.cartons)

    @initialize(owner=st.sampled_from(["borrower", "borrower2"]), bank=st.sampled_from(["bank", "bank2"]))
    def a_pledged_receipt_to_start_from(self, owner: str, bank: str) -> None:
        self.pledged_receipt(owner, bank, 3)

    @initialize(
        owner=st.sampled_from(["borrower", "borrower2"]),
        bank=st.sampled_from(["bank", "bank2"]),
        approved=st.booleans(),
    )
    def a_partial_release_to_start_from(self, owner: str, bank: str, approved: bool) -> None:
        """Asked for, or already approved with the goods unsealed and the truck at the dock."""
        receipt = self.pledged_receipt(owner, bank, 2)
        quantity, cartons = receipt.quantity_g // 4, receipt.cartons // 4
        request = ReleaseRequestIn(quantity_g=quantity, cartons=cartons, **self.collection())
        release, code = releases.request_release(self.uow(), self.who(owner), receipt.id, request)
        if approved:
            _, code = releases.approve(self.uow(), self.who(bank), release.id, NoteIn())
            inventory.unseal_lot(
                self.uow(), self.who(SUPERVISOR), receipt.lot, UnsealIn(reason="按放货指令出库")
            )
            self.lots[receipt.lot].sealed = False
        self.releases[release.id] = ReleaseModel(
            release.id,
            receipt.id,
            "partial_release",
            "approved" if approved else "requested",
            quantity,
            cartons,
            code,
        )
        receipt.release = release.id

    # --- lots ----------------------------------------------------------------------------------

    @precondition(lambda self: len(self.lots) < 8)
    @rule(tonnes=st.integers(1, 3), owner=st.sampled_from(["borrower", "borrower2"]))
    def another_lot_arrives(self, tonnes: int, owner: str) -> None:
        self.receive(tonnes, owner)

    @rule(data=st.data(), who=mostly(SUPERVISOR, KEEPER))
    def seal_lot(self, data: st.DataObject, who: str) -> None:
        lot = self.draw_lot(data, lambda lot: lot.status == "in_stock" and not lot.sealed)
        expected: type[DomainError] | None = None
        if not may(who, "seal:seal"):
            expected = PermissionDenied
        elif lot.status != "in_stock":
            expected = Conflict
        number = self.seal_number()
        done = self.attempt(
            expected,
            lambda: inventory.seal_lot(self.uow(), self.who(who), lot.id, SealIn(numbers=[number])),
            evidence=[("lot.seal", lot.id)],
        )
        if done is not None:
            lot.sealed = True

    @rule(data=st.data(), who=mostly(SUPERVISOR, KEEPER))
    def unseal_lot(self, data: st.DataObject, who: str) -> None:
        lot = self.draw_lot(data, lambda lot: lot.sealed)
        expected: type[DomainError] | None = None
        if not may(who, "seal:unseal"):
            expected = PermissionDenied
        elif lot.status != "in_stock" or not lot.sealed:
            expected = Conflict
        done = self.attempt(
            expected,
            lambda: inventory.unseal_lot(self.uow(), self.who(who), lot.id, UnsealIn(reason="按指令拆封")),
            evidence=[("lot.unseal", lot.id)],
        )
        if done is not None:
            lot.sealed = False

    @rule(data=st.data(), change=st.sampled_from([50, 100, 110]), who=mostly(KEEPER, SUPERVISOR))
    def reweigh_lot(self, data: st.DataObject, change: int, who: str) -> None:
        """Weighing again may find less, but never less than the receipts claim: the stock
        trigger refuses that, even though the weighing service does not look at receipts."""
        lot = self.draw_lot(data, lambda lot: lot.status == "in_stock" and not lot.sealed)
        net = max(1, lot.verified_g * change // 100)
        expected: type[DomainError] | None = None
        if not may(who, "lot:weigh"):
            expected = PermissionDenied
        elif lot.status != "in_stock" or lot.sealed or self.claims_on(lot.id) > net:
            expected = Conflict
        weighing = WeighIn(gross_g=net + 1_000_000, tare_g=1_000_000, weigh_ticket_no="WT-HSM")
        done = self.attempt(
            expected,
            lambda: inventory.weigh(self.uow(), self.who(who), lot.id, weighing),
            evidence=[("lot.weigh", lot.id)],
        )
        if done is not None:
            lot.verified_g = net

    # --- drafting and issuing -------------------------------------------------------------------

    @rule(data=st.data(), share=st.sampled_from([1, 2]), carton_share=st.sampled_from([1, 2]), who=WHO)
    def create_draft(self, data: st.DataObject, share: int, carton_share: int, who: str | None) -> None:
        lot = self.draw_lot(data, lambda lot: lot.status == "in_stock" and not self.backed(lot.id))
        actor = who or KEEPER
        quantity, cartons = max(1, lot.verified_g // share), max(1, lot.cartons // carton_share)
        expected: type[DomainError] | None = None
        if not may(actor, "receipt:create"):
            expected = PermissionDenied
        elif not lot.seen_by(actor):
            expected = InvalidInput  # the lot is named in the request body: a bad reference, not a page
        elif actor != KEEPER:
            expected = PermissionDenied
        elif lot.status != "in_stock":
            expected = Conflict
        elif quantity > lot.verified_g or cartons > lot.cartons:
            expected = InvalidInput
        elif self.backed(lot.id):
            expected = Conflict  # only the database knows: create_draft leaves it to the index
        request = ReceiptCreateIn(
            lot_id=lot.id,
            quantity_g=quantity,
            cartons=cartons,
            storage_period_end=today() + timedelta(days=300),
        )
        receipt = self.attempt(
            expected,
            lambda: receipts.create_draft(self.uow(), self.who(actor), request),
            evidence=[("receipt.create", None)],
        )
        if receipt is not None:
            self.receipts[receipt.id] = ReceiptModel(
                receipt.id, lot.id, "draft", lot.owner, quantity, cartons
            )

    @rule(data=st.data(), who=WHO)
    def submit(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "submit")
        if self.transition("submit", r, who, lambda p: receipts.submit(self.uow(), p, r.id, NoteIn())):
            r.status = "pending_check"

    @rule(data=st.data(), who=WHO)
    def issue(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "issue")
        lot = self.lots[r.lot]
        ready = (
            lot.status == "in_stock"
            and lot.sealed
            and lot.photographed
            and r.quantity_g <= lot.verified_g
            and r.cartons <= lot.cartons
        )
        business = None if ready else IncompleteCheck
        if self.transition(
            "issue", r, who, lambda p: receipts.issue(self.uow(), p, r.id, NoteIn()), business=business
        ):
            r.status = "issued"

    # --- transfer and pledge --------------------------------------------------------------------

    @rule(data=st.data(), who=WHO)
    def transfer(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "transfer")
        to = "borrower2" if r.holder == "borrower" else "borrower"
        request = TransferIn(to_org_id=self.world.orgs[to])
        if self.transition("transfer", r, who, lambda p: receipts.transfer(self.uow(), p, r.id, request)):
            r.holder = to
            self.lots[r.lot].owner = to

    @rule(data=st.data(), bank=st.sampled_from(["bank", "bank2"]), who=WHO)
    def request_pledge(self, data: st.DataObject, bank: str, who: str | None) -> None:
        r = self.draw_receipt(data, "request_pledge")
        request = PledgeRequestIn(pledgee_org_id=self.world.orgs[bank])
        if self.transition(
            "request_pledge", r, who, lambda p: receipts.request_pledge(self.uow(), p, r.id, request)
        ):
            r.status, r.pledgee = "pledge_pending", bank
            r.last_bank = bank

    @rule(data=st.data(), who=WHO)
    def accept_pledge(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "accept_pledge")
        request = PledgeAcceptIn(registration_no=f"ZDW-HSM-{r.id:08d}")
        if self.transition(
            "accept_pledge", r, who, lambda p: receipts.accept_pledge(self.uow(), p, r.id, request)
        ):
            r.status = "pledged"

    @rule(data=st.data(), who=WHO)
    def reject_pledge(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "reject_pledge")
        reason = ReasonIn(reason="押品估值不足")
        if self.transition(
            "reject_pledge", r, who, lambda p: receipts.reject_pledge(self.uow(), p, r.id, reason)
        ):
            r.status, r.pledgee = "issued", None

    @rule(data=st.data(), who=WHO)
    def withdraw_pledge(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "withdraw_pledge")
        if self.transition(
            "withdraw_pledge", r, who, lambda p: receipts.withdraw_pledge(self.uow(), p, r.id, NoteIn())
        ):
            r.status, r.pledgee = "issued", None

    @rule(data=st.data(), who=WHO)
    def discharge(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "discharge")
        business = Conflict if r.release is not None else None
        if self.transition(
            "discharge",
            r,
            who,
            lambda p: receipts.discharge(self.uow(), p, r.id, NoteIn()),
            business=business,
        ):
            r.status, r.pledgee = "issued", None

    @rule(data=st.data(), who=WHO)
    def start_disposal(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "start_disposal")
        business = Conflict if r.release is not None else None
        reason = ReasonIn(reason="触及平仓线")
        if self.transition(
            "start_disposal",
            r,
            who,
            lambda p: receipts.start_disposal(self.uow(), p, r.id, reason),
            business=business,
        ):
            r.status = "in_disposal"

    # --- releases, deliveries and the dock ------------------------------------------------------

    @rule(data=st.data(), share=st.sampled_from([4, 2, 1]), who=WHO)
    def request_release(self, data: st.DataObject, share: int, who: str | None) -> None:
        """Pledged: the holder asks for part of the goods. In disposal: the bank sells them out."""
        r = self.draw_receipt(data, "request_release")
        quantity, cartons = max(1, r.quantity_g // share), r.cartons // share or None
        business: type[DomainError] | None = None
        if r.status == "pledged" and quantity >= r.quantity_g:
            business = InvalidInput
        elif r.release is not None:
            business = Conflict  # the open-release index, through the service
        request = ReleaseRequestIn(quantity_g=quantity, cartons=cartons, **self.collection())
        done = self.transition(
            "request_release",
            r,
            who,
            lambda p: releases.request_release(self.uow(), p, r.id, request),
            business=business,
            evidence=[("receipt.request_release", r.id), ("release.request", None)],
        )
        if done is not None:
            release, code = done
            kind = "partial_release" if r.status == "pledged" else "disposal"
            status = "requested" if code is None else "approved"
            self.releases[release.id] = ReleaseModel(release.id, r.id, kind, status, quantity, cartons, code)
            r.release = release.id

    @rule(data=st.data(), who=WHO)
    def request_delivery(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "request_delivery")
        business = Conflict if r.release is not None else None
        request = DeliveryRequestIn(**self.collection())
        done = self.transition(
            "request_delivery",
            r,
            who,
            lambda p: releases.request_delivery(self.uow(), p, r.id, request),
            business=business,
        )
        if done is not None:
            release, code = done
            self.releases[release.id] = ReleaseModel(
                release.id, r.id, "delivery", "approved", r.quantity_g, r.cartons, code
            )
            r.status, r.release = "delivery_pending", release.id

    @rule(data=st.data(), who=WHO)
    def approve_release(self, data: st.DataObject, who: str | None) -> None:
        release, r = self.draw_release(
            data, lambda rel: rel.kind == "partial_release" and rel.status == "requested"
        )
        actor = who or r.pledgee or "bank"
        expected: type[DomainError] | None = None
        if not r.seen_by(actor):
            expected = NotFound
        elif not may(actor, "release:approve"):
            expected = PermissionDenied
        elif release.kind != "partial_release" or release.status != "requested":
            expected = Conflict
        elif r.status != "pledged":
            expected = IllegalTransition
        elif actor != r.pledgee:
            expected = PermissionDenied
        done = self.attempt(
            expected,
            lambda: releases.approve(self.uow(), self.who(actor), release.id, NoteIn()),
            state=r.status,
            evidence=[("release.approve", release.id)],
        )
        if done is not None:
            release.status, release.code = "approved", done[1]

    @rule(data=st.data(), who=WHO)
    def reject_release(self, data: st.DataObject, who: str | None) -> None:
        release, r = self.draw_release(data, lambda rel: rel.status == "requested")
        actor = who or r.pledgee or "bank"
        expected: type[DomainError] | None = None
        if not r.seen_by(actor):
            expected = NotFound
        elif not may(actor, "release:reject"):
            expected = PermissionDenied
        elif release.status != "requested":
            expected = Conflict
        elif actor != r.pledgee:
            expected = PermissionDenied
        done = self.attempt(
            expected,
            lambda: releases.reject(self.uow(), self.who(actor), release.id, ReasonIn(reason="货值不足")),
            evidence=[("release.reject", release.id)],
        )
        if done is not None:
            release.status, r.release = "rejected", None

    @rule(data=st.data(), who=WHO)
    def cancel_release(self, data: st.DataObject, who: str | None) -> None:
        """Whoever asked may cancel; cancelling a delivery withdraws it and the receipt is issued again."""
        release, r = self.draw_release(data, lambda rel: rel.is_open)
        owner = r.pledgee if release.kind == "disposal" else r.holder
        actor = who or owner or "bank"
        expected: type[DomainError] | None = None
        if not r.seen_by(actor):
            expected = NotFound
        elif not may(actor, "release:cancel"):
            expected = PermissionDenied
        elif not release.is_open:
            expected = Conflict
        elif actor != owner:
            expected = PermissionDenied
        elif release.kind == "delivery" and r.status != "delivery_pending":
            expected = IllegalTransition
        evidence: list[tuple[str, int | None]] = [("release.cancel", release.id)]
        if release.kind == "delivery":
            evidence.append(("receipt.withdraw_delivery", r.id))
        done = self.attempt(
            expected,
            lambda: releases.cancel(self.uow(), self.who(actor), release.id, ReasonIn(reason="买方取消")),
            state=r.status,
            evidence=evidence,
        )
        if done is not None:
            release.status, r.release = "cancelled", None
            if release.kind == "delivery":
                r.status = "issued"

    @rule(data=st.data(), who=mostly(KEEPER, SUPERVISOR, OUTSIDER_KEEPER))
    def outbound(self, data: st.DataObject, who: str) -> None:
        """The keeper weighs the goods out against the instruction, at exactly its quantity."""
        release, r = self.draw_release(
            data,
            lambda rel: rel.status == "approved" and not self.lots[self.receipts[rel.receipt].lot].sealed,
        )
        lot = self.lots[r.lot]
        out_cartons = release.cartons or 0
        expected: type[DomainError] | None = None
        if not lot.seen_by(who):
            expected = NotFound
        elif not may(who, "lot:outbound"):
            expected = PermissionDenied
        elif release.status != "approved":
            expected = Conflict
        elif r.status != EXECUTABLE_FROM[release.kind]:
            expected = IllegalTransition
        elif lot.sealed or out_cartons > r.cartons or out_cartons > lot.cartons:
            expected = Conflict
        request = OutboundIn(
            release_id=release.id,
            release_code=release.code or "NO-CODE-YET",
            gross_g=release.quantity_g + 1_000_000,
            tare_g=1_000_000,
            weigh_ticket_no="WT-HSM-OUT",
            cartons=out_cartons,
            vehicle_plate=PLATE,
            collector_id_no=COLLECTOR_ID,
        )
        done = self.attempt(
            expected,
            lambda: releases.execute_outbound(self.uow(), self.who(who), lot.id, request),
            state=r.status,
            evidence=[
                ("lot.outbound", lot.id),
                ("release.execute", release.id),
                (f"receipt.{EXECUTES[release.kind]}", r.id),
            ],
        )
        if done is None:
            return
        full = release.kind == "delivery" or release.quantity_g >= r.quantity_g
        r.quantity_g -= release.quantity_g
        r.cartons -= out_cartons
        if full:
            r.status = "cancelled"
            if release.kind == "disposal":
                r.pledgee = None
        lot.verified_g -= release.quantity_g
        lot.cartons -= out_cartons
        if lot.verified_g == 0:
            lot.status = "depleted"
        release.status, r.release = "executed", None

    # --- split, freeze, loss, cancel ------------------------------------------------------------

    @rule(data=st.data(), who=WHO)
    def split(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "split", lambda r: not self.lots[r.lot].sealed)
        if r.quantity_g < 2 or r.cartons < 2:
            return  # nothing left to split into two parts
        lot = self.lots[r.lot]
        parts = [
            SplitPart(quantity_g=r.quantity_g // 2, cartons=r.cartons // 2),
            SplitPart(quantity_g=r.quantity_g - r.quantity_g // 2, cartons=r.cartons - r.cartons // 2),
        ]
        spare_g, spare_cartons = lot.verified_g - r.quantity_g, lot.cartons - r.cartons
        business: type[DomainError] | None = None
        if r.release is not None or lot.sealed or (spare_cartons > 0 and spare_g <= 0):
            business = Conflict
        children = self.transition(
            "split",
            r,
            who,
            lambda p: receipts.split(self.uow(), p, r.id, SplitIn(parts=parts)),
            business=business,
            evidence=[("receipt.split", r.id), ("lot.split", lot.id), ("receipt.issue_split_part", None)],
        )
        if children is None:
            return
        status, pledgee = r.status, r.pledgee if r.status == "pledged" else None
        r.status, r.pledgee, lot.status = "split", None, "split"
        for child in children:
            self.lots[child.lot_id] = LotModel(child.lot_id, lot.owner, child.quantity_g, child.cartons)
            self.receipts[child.id] = ReceiptModel(
                child.id,
                child.lot_id,
                status,
                r.holder,
                child.quantity_g,
                child.cartons,
                pledgee=pledgee,
                last_bank=pledgee,
            )
        if spare_g > 0:
            child_lots = [child.lot_id for child in children]
            spare_id = self.connection.execute(
                select(Lot.id).where(Lot.parent_lot_id == lot.id, Lot.id.not_in(child_lots))
            ).scalar_one()
            self.lots[spare_id] = LotModel(spare_id, lot.owner, spare_g, max(spare_cartons, 0))

    @rule(data=st.data(), who=WHO)
    def freeze(self, data: st.DataObject, who: str | None) -> None:
        """On a court order (the operator) or by the pledgee to protect its claim."""
        r = self.draw_receipt(data, "freeze")
        actor = who or r.right_party("freeze")
        if self.transition(
            "freeze", r, actor, lambda p: receipts.freeze(self.uow(), p, r.id, ReasonIn(reason="司法查封"))
        ):
            r.previous, r.status, r.frozen_by = r.status, "frozen", actor

    @rule(data=st.data(), who=WHO)
    def unfreeze(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "unfreeze")
        if self.transition(
            "unfreeze", r, who, lambda p: receipts.unfreeze(self.uow(), p, r.id, ReasonIn(reason="解除查封"))
        ):
            assert r.previous is not None
            r.status, r.previous, r.frozen_by = r.previous, None, None

    @rule(data=st.data(), who=WHO)
    def report_loss(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "report_loss")
        if self.transition(
            "report_loss",
            r,
            who,
            lambda p: receipts.report_loss(self.uow(), p, r.id, ReasonIn(reason="仓单遗失")),
        ):
            r.previous, r.status = r.status, "loss_reported"

    @rule(data=st.data(), who=WHO)
    def cancel_loss_report(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "cancel_loss_report")
        reason = ReasonIn(reason="仓单已找回")
        if self.transition(
            "cancel_loss_report", r, who, lambda p: receipts.cancel_loss_report(self.uow(), p, r.id, reason)
        ):
            assert r.previous is not None
            r.status, r.previous = r.previous, None

    @rule(data=st.data(), who=WHO)
    def replace(self, data: st.DataObject, who: str | None) -> None:
        """A replacement takes over the lost receipt's goods and its active pledge."""
        r = self.draw_receipt(data, "replace")
        successor = self.transition(
            "replace",
            r,
            who,
            lambda p: receipts.replace(self.uow(), p, r.id, ReasonIn(reason="挂失期满补发")),
            evidence=[("receipt.replace", r.id), ("receipt.issue_replacement", None)],
        )
        if successor is None:
            return
        status = r.previous or "issued"
        pledgee = r.pledgee if status in ENCUMBERED else None
        self.receipts[successor.id] = ReceiptModel(
            successor.id,
            r.lot,
            status,
            r.holder,
            r.quantity_g,
            r.cartons,
            pledgee=pledgee,
            last_bank=pledgee,
        )
        # The original keeps nothing live: its pledge moved on and its open release is cancelled.
        if r.release is not None:
            self.releases[r.release].status = "cancelled"
        r.status, r.pledgee, r.previous, r.release = "replaced", None, None, None

    @rule(data=st.data(), who=WHO)
    def cancel(self, data: st.DataObject, who: str | None) -> None:
        r = self.draw_receipt(data, "cancel")
        if self.transition(
            "cancel", r, who, lambda p: receipts.cancel(self.uow(), p, r.id, ReasonIn(reason="客户撤销"))
        ):
            r.status = "cancelled"

    # --- invariants, checked with SQL after every step ------------------------------------------

    @invariant()
    def a_lot_backs_at_most_one_live_receipt(self) -> None:
        crowded = self.connection.execute(
            select(Receipt.lot_id)
            .where(Receipt.status.not_in(sorted(TERMINAL)))
            .group_by(Receipt.lot_id)
            .having(func.count() > 1)
        ).all()
        assert crowded == []

    @invariant()
    def active_receipts_stay_within_verified_stock(self) -> None:
        over = self.connection.execute(
            select(Lot.id)
            .join(Receipt, Receipt.lot_id == Lot.id)
            .where(Receipt.status.in_(sorted(ACTIVE)))
            .group_by(Lot.id, Lot.verified_net_weight_g, Lot.cartons)
            .having(
                or_(
                    func.sum(Receipt.quantity_g) > Lot.verified_net_weight_g,
                    func.sum(Receipt.cartons) > Lot.cartons,
                )
            )
        ).all()
        assert over == []

    @invariant()
    def a_receipt_has_at_most_one_live_pledge(self) -> None:
        doubled = self.sql(
            "SELECT receipt_id FROM pledges WHERE status IN ('requested', 'active') "
            "GROUP BY receipt_id HAVING COUNT(*) > 1"
        ).all()
        assert doubled == []

    @invariant()
    def pledged_means_exactly_one_active_pledge(self) -> None:
        rows = self.sql(
            "SELECT r.id, r.status, r.previous_status, "
            "(SELECT COUNT(*) FROM pledges p WHERE p.receipt_id = r.id AND p.status = 'active'), "
            "(SELECT COUNT(*) FROM pledges p WHERE p.receipt_id = r.id AND p.status = 'requested') "
            "FROM receipts r WHERE r.id > :baseline",
            baseline=self.baseline["receipts"],
        ).all()
        for receipt_id, status, previous, active, requested in rows:
            underlying = previous if status in SUSPENDED else status
            if status == "pledged":
                assert active == 1, f"receipt {receipt_id} is pledged with {active} active pledges"
            assert (active == 1) == (underlying in ENCUMBERED), (receipt_id, status, previous, active)
            assert (requested == 1) == (underlying == "pledge_pending"), (receipt_id, status, requested)

    @invariant()
    def terminal_receipts_never_change(self) -> None:
        rows = self.connection.execute(
            select(Receipt.__table__).where(
                Receipt.id > self.baseline["receipts"], Receipt.status.in_(sorted(TERMINAL))
            )
        ).mappings()
        now_terminal = {row["id"]: dict(row) for row in rows}
        for receipt_id, remembered in self.terminal_rows.items():
            assert now_terminal.get(receipt_id) == remembered, f"terminal receipt {receipt_id} changed"
        self.terminal_rows.update(now_terminal)

    @invariant()
    def every_audit_event_has_one_evidence_entry_in_order(self) -> None:
        unevidenced = self.sql(
            "SELECT a.id FROM audit_events a WHERE a.id > :baseline AND "
            "(SELECT COUNT(*) FROM evidence_outbox o WHERE o.audit_event_id = a.id) <> 1",
            baseline=self.baseline["audit_events"],
        ).all()
        assert unevidenced == []
        in_outbox_order = (
            self.sql(
                "SELECT audit_event_id FROM evidence_outbox WHERE id > :baseline ORDER BY id",
                baseline=self.baseline["evidence_outbox"],
            )
            .scalars()
            .all()
        )
        assert in_outbox_order == sorted(in_outbox_order)
        assert all(event > self.baseline["audit_events"] for event in in_outbox_order)

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        with self.session() as session:
            for r in self.receipts.values():
                row = session.get_one(Receipt, r.id)
                assert (row.status.value, row.lot_id, row.holder_org_id, row.quantity_g, row.cartons) == (
                    r.status,
                    r.lot,
                    self.org(r.holder),
                    r.quantity_g,
                    r.cartons,
                ), f"receipt {r.id}"
                assert (row.previous_status.value if row.previous_status else None) == r.previous
                assert row.frozen_by_org_id == (self.org(r.frozen_by) if r.frozen_by else None)
                pledgee = session.scalar(
                    select(Pledge.pledgee_org_id).where(
                        Pledge.receipt_id == r.id, Pledge.status.in_(LIVE_PLEDGE)
                    )
                )
                assert pledgee == (self.org(r.pledgee) if r.pledgee else None), f"pledge of receipt {r.id}"
                open_release = session.scalar(
                    select(Release.id).where(Release.receipt_id == r.id, Release.status.in_(OPEN_RELEASE))
                )
                assert open_release == r.release, f"open release of receipt {r.id}"
            for release in self.releases.values():
                assert session.get_one(Release, release.id).status.value == release.status, (
                    f"release {release.id}"
                )
            for lot in self.lots.values():
                stock = session.get_one(Lot, lot.id)
                assert (
                    stock.verified_net_weight_g,
                    stock.cartons,
                    stock.status.value,
                    stock.owner_org_id,
                ) == (
                    lot.verified_g,
                    lot.cartons,
                    lot.status,
                    self.org(lot.owner),
                ), f"lot {lot.id}"
                seals = session.scalars(
                    select(Seal.id).where(Seal.lot_id == lot.id, Seal.removed_at.is_(None))
                )
                assert bool(seals.all()) == lot.sealed, f"seals of lot {lot.id}"


# A hundred walks of thirty steps on PostgreSQL (the CI profile) take about five minutes on a slow
# two-core machine, the suite's default limit per test.
@pytest.mark.timeout(1200)
def test_random_walks_through_the_receipt_lifecycle_keep_every_invariant(
    engine: Engine, settings: Settings, world: World
) -> None:
    class OnTheTestDatabase(ReceiptLifecycle):
        def __init__(self) -> None:
            super().__init__(engine, settings, world)

    profile = hypothesis_settings.get_current_profile_name()
    run_state_machine_as_test(
        OnTheTestDatabase,
        settings=hypothesis_settings(
            # The dev profile keeps the walk short enough for a quick local run; CI goes longer.
            max_examples=25 if profile == "dev" else hypothesis_settings().max_examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Explaining a failure traces every line of every replay, which makes shrinking these
            # database-heavy walks take many minutes; the shrunk steps explain enough.
            phases=[phase for phase in Phase if phase is not Phase.explain],
        ),
    )
