"""Every state change leaves an audit event and exactly one evidence entry, written together: the
entry is canonical JSON (RFC 8785) holding only references and a salted hash of the private payload,
so a verifier given the salt and the payload can check it and nobody else learns anything from it."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import rfc8785
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.audit.models import AuditEvent
from coldpledge.db import Database
from coldpledge.errors import Conflict, IllegalTransition
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.inventory import service as inventory
from coldpledge.inventory.files import FileStore
from coldpledge.inventory.models import AttachmentPurpose, Commodity, InspectionResult, Lot, Operation
from coldpledge.inventory.schemas import InboundIn, InspectIn, SealIn, StocktakeIn, UnsealIn, WeighIn
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.models import Receipt
from coldpledge.receipts.schemas import (
    NoteIn,
    OutboundIn,
    PledgeAcceptIn,
    PledgeRequestIn,
    ReceiptCreateIn,
    ReleaseRequestIn,
    TransferIn,
)
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import TemperatureClass
from tests.support import in_days, tiny_png, today
from tests.world import ORGS, World

if TYPE_CHECKING:
    from tests.conftest import TestDB

ENTRY_KEYS = {"v", "type", "subject", "related", "at", "recorded_at", "actor", "payload_sha256"}
# Amounts chosen so that they cannot turn up in an entry by coincidence (in a time or a code).
DECLARED_G, NET_G, RELEASE_G, OUT_G = 12_345_678, 12_345_601, 2_345_678, 2_345_611
COLLECTOR_ID, COLLECTOR, PLATE = "310101198808088888", "孙师傅", "沪E24680"
REGISTRATION = "ZDW-2026-EVID0001"


@dataclass
class Flow:
    lot_id: int
    receipt_id: int
    release_code: str


def last_audit_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0


def evidence_since(session: Session, mark: int) -> list[tuple[AuditEvent, list[EvidenceOutbox]]]:
    events = session.scalars(select(AuditEvent).where(AuditEvent.id > mark).order_by(AuditEvent.id)).all()
    return [
        (
            event,
            list(session.scalars(select(EvidenceOutbox).where(EvidenceOutbox.audit_event_id == event.id))),
        )
        for event in events
    ]


def evidence_of(session: Session, subject_ref: str) -> tuple[int, int]:
    """How many audit events and outbox entries there are about one subject."""
    events = select(AuditEvent.id).where(AuditEvent.subject_ref == subject_ref)
    outbox = select(func.count()).where(EvidenceOutbox.audit_event_id.in_(events))
    return (
        session.scalar(select(func.count()).select_from(events.subquery())) or 0,
        session.scalar(outbox) or 0,
    )


def run_flow(db: TestDB, world: World) -> Flow:
    """From the truck to a partial release, through the services, as the parties would."""
    keeper, supervisor = world.who("keeper"), world.who("supervisor")
    borrower, bank = world.who("borrower"), world.who("bank")
    lot = inventory.inbound(
        db.uow(),
        keeper,
        InboundIn(
            owner_org_id=world.orgs["borrower"],
            room_id=world.rooms["YS-F18"],
            commodity_id=world.commodities["BEEF-FZ"],
            spec="牛腱 25kg/箱",
            origin_country="AU",
            batch_number="AU-EV-1",
            declared_cartons=617,
            declared_net_weight_g=DECLARED_G,
            customs_declaration_no="220120261000777777",
            quarantine_cert_no="AU-QC-9",
            expiry_date=today() + timedelta(days=400),
        ),
    )
    inventory.weigh(
        db.uow(),
        keeper,
        lot.id,
        WeighIn(gross_g=NET_G + 1_500_000, tare_g=1_500_000, weigh_ticket_no="WT-EV-1"),
    )
    inventory.inspect(db.uow(), keeper, lot.id, InspectIn(result=InspectionResult.PASSED, agency="CCIC"))
    store = FileStore(db.settings.attachments_dir, db.settings.attachment_max_bytes)
    inventory.attach(
        db.uow(),
        keeper,
        store,
        lot.id,
        io.BytesIO(tiny_png(151)),
        purpose=AttachmentPurpose.PHOTO,
        original_name="ev.png",
        operation_id=None,
    )
    inventory.seal_lot(db.uow(), supervisor, lot.id, SealIn(numbers=["EV-SEAL-0001"]))
    receipt = receipts.create_draft(
        db.uow(),
        keeper,
        ReceiptCreateIn(
            lot_id=lot.id, quantity_g=NET_G, cartons=617, storage_period_end=today() + timedelta(days=200)
        ),
    )
    receipts.submit(db.uow(), keeper, receipt.id, NoteIn())
    receipts.issue(db.uow(), keeper, receipt.id, NoteIn())
    receipts.request_pledge(
        db.uow(), borrower, receipt.id, PledgeRequestIn(pledgee_org_id=world.orgs["bank"])
    )
    receipts.accept_pledge(db.uow(), bank, receipt.id, PledgeAcceptIn(registration_no=REGISTRATION))
    inventory.unseal_lot(db.uow(), supervisor, lot.id, UnsealIn(reason="按放货指令出库"))
    release, _ = releases.request_release(
        db.uow(),
        borrower,
        receipt.id,
        ReleaseRequestIn(
            quantity_g=RELEASE_G,
            cartons=100,
            vehicle_plate=PLATE,
            collector_name=COLLECTOR,
            collector_id_no=COLLECTOR_ID,
            valid_until=in_days(1),
        ),
    )
    _, code = releases.approve(db.uow(), bank, release.id, NoteIn())
    releases.execute_outbound(
        db.uow(),
        keeper,
        lot.id,
        OutboundIn(
            release_id=release.id,
            release_code=code,
            gross_g=OUT_G + 900_000,
            tare_g=900_000,
            weigh_ticket_no="WT-EV-OUT",
            cartons=100,
            vehicle_plate=PLATE,
            collector_id_no=COLLECTOR_ID,
        ),
    )
    return Flow(lot.id, receipt.id, code)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_change_of_a_flow_has_exactly_one_canonical_entry_that_a_verifier_can_check(
    db: TestDB, world: World
) -> None:
    with db.session() as session:
        mark = last_audit_id(session)
    run_flow(db, world)

    with db.session() as session:
        evidence = evidence_since(session, mark)

    assert [event.action for event, _ in evidence] == [
        "lot.inbound",
        "lot.weigh",
        "lot.inspect",
        "lot.attach",
        "lot.seal",
        "receipt.create",
        "receipt.submit",
        "receipt.issue",
        "receipt.request_pledge",
        "receipt.accept_pledge",
        "lot.unseal",
        "release.request",
        "receipt.request_release",
        "release.approve",
        "receipt.execute_release",
        "lot.outbound",
        "release.execute",
    ]
    for event, rows in evidence:
        assert len(rows) == 1, event.action
        [row] = rows
        entry = bytes(row.entry)
        document = json.loads(entry)
        assert rfc8785.dumps(document) == entry, event.action
        assert set(document) == ENTRY_KEYS
        assert row.entry_sha256 == hashlib.sha256(entry).hexdigest()
        assert (document["v"], document["type"], document["subject"], document["actor"]) == (
            1,
            event.action,
            event.subject_ref,
            event.actor,
        )
        assert instant(document["at"]) == event.at
        assert instant(document["recorded_at"]) == event.recorded_at == row.recorded_at
        assert document["related"] == sorted(set(document["related"]))
        payload = rfc8785.dumps({"before": event.before, "after": event.after, "reason": event.reason})
        assert document["payload_sha256"] == hashlib.sha256(bytes.fromhex(event.salt) + payload).hexdigest()


def test_an_entry_reveals_no_private_data(db: TestDB, world: World) -> None:
    with db.session() as session:
        mark = last_audit_id(session)
    flow = run_flow(db, world)

    with db.session() as session:
        entries = [bytes(rows[0].entry).decode() for _, rows in evidence_since(session, mark)]

    secrets = [
        *(name for name, _ in ORGS.values()),
        COLLECTOR_ID,
        COLLECTOR,
        PLATE,
        REGISTRATION,
        flow.release_code,
        # Seven digits and more: such a run never occurs in a timestamp and hardly in a hash.
        *(str(grams) for grams in (DECLARED_G, NET_G, RELEASE_G, OUT_G, NET_G - OUT_G)),
    ]
    for entry in entries:
        for secret in secrets:
            assert secret not in entry, (secret, entry)
    # The payload behind the hash does hold them, for the parties and a verifier.
    with db.session() as session:
        request = session.scalars(
            select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.action == "release.request")
        ).one()
    assert request.after is not None
    assert (request.after["quantity_g"], request.after["collector_name"]) == (RELEASE_G, COLLECTOR)


def test_the_audit_event_holds_actor_time_before_and_after(db: TestDB, world: World) -> None:
    with db.session() as session:
        mark = last_audit_id(session)
    flow = run_flow(db, world)

    with db.session() as session:
        evidence = evidence_since(session, mark)

    created = {"lot.inbound", "receipt.create", "release.request"}
    for event, _ in evidence:
        assert event.actor == f"user:{event.actor_user_id}"
        assert event.actor_org_id is not None
        assert event.at.tzinfo is not None
        assert event.after is not None
        assert (event.before is None) == (event.action in created), event.action
    by_action = {event.action: event for event, _ in evidence}
    accepted = by_action["receipt.accept_pledge"]
    assert accepted.actor_user_id == world.users["bank"]
    assert ((accepted.before or {})["status"], (accepted.after or {})["status"]) == (
        "pledge_pending",
        "pledged",
    )
    weighed = by_action["lot.weigh"]
    assert (weighed.before or {})["verified_net_weight_g"] == 0
    assert (weighed.after or {})["verified_net_weight_g"] == NET_G
    executed = by_action["receipt.execute_release"]
    assert (executed.before or {})["quantity_g"] - (executed.after or {})["quantity_g"] == OUT_G
    assert by_action["lot.outbound"].subject_id == flow.lot_id


def test_a_seal_and_its_removal_are_evidenced_with_the_seal_numbers(db: TestDB, world: World) -> None:
    lot_id = world.lots["free"]
    supervisor = world.who("supervisor")
    with db.session() as session:
        mark = last_audit_id(session)

    inventory.unseal_lot(db.uow(), supervisor, lot_id, UnsealIn(reason="复核封签"))
    inventory.seal_lot(db.uow(), supervisor, lot_id, SealIn(numbers=["EV-SEAL-0101", "EV-SEAL-0102"]))

    with db.session() as session:
        unsealed, sealed = (event for event, _ in evidence_since(session, mark))
    assert (unsealed.action, sealed.action) == ("lot.unseal", "lot.seal")
    assert (unsealed.after or {})["_data"]["seal_numbers"] == [f"SEAL-{lot_id:06d}"]
    assert "outside_release_window" in (unsealed.after or {})["_data"]
    assert (sealed.after or {})["_data"]["seal_numbers"] == ["EV-SEAL-0101", "EV-SEAL-0102"]


def test_a_transfer_evidences_that_the_goods_changed_owner(db: TestDB, world: World) -> None:
    lot_id = world.lots["issued"]
    with db.session() as session:
        mark = last_audit_id(session)
        lot_ref = session.get_one(Lot, lot_id).subject_ref

    receipts.transfer(
        db.uow(),
        world.who("borrower"),
        world.receipts["issued"],
        TransferIn(to_org_id=world.orgs["borrower2"]),
    )

    with db.session() as session:
        about_the_lot = [
            event for event, rows in evidence_since(session, mark) if event.subject_ref == lot_ref
        ]
    [moved] = about_the_lot
    assert (moved.before or {})["owner_org_id"] == world.orgs["borrower"]
    assert (moved.after or {})["owner_org_id"] == world.orgs["borrower2"]


# --- what failed leaves nothing ---------------------------------------------------------------


def test_an_illegal_transition_leaves_neither_an_audit_event_nor_an_entry(db: TestDB, world: World) -> None:
    receipt_id = world.receipts["pledged"]
    with db.session() as session:
        ref = session.get_one(Receipt, receipt_id).subject_ref
        before = evidence_of(session, ref)

    with pytest.raises(IllegalTransition):
        receipts.accept_pledge(
            db.uow(), world.who("bank"), receipt_id, PledgeAcceptIn(registration_no="ZDW-2026-TWICE1")
        )

    with db.session() as session:
        assert evidence_of(session, ref) == before
        assert before[0] == before[1] > 0


def test_a_change_the_database_refuses_leaves_neither_an_audit_event_nor_an_entry(
    db: TestDB, world: World
) -> None:
    lot_id = world.lots["issued"]
    inventory.unseal_lot(db.uow(), world.who("supervisor"), lot_id, UnsealIn(reason="复磅核重"))
    with db.session() as session:
        lot = session.get_one(Lot, lot_id)
        ref, stock = lot.subject_ref, lot.verified_net_weight_g
        before = evidence_of(session, ref)
        operations = session.scalar(select(func.count()).where(Operation.lot_id == lot_id))

    # The receipt claims the whole stock, so a lighter weighing breaks the stock-cover trigger.
    with pytest.raises(Conflict):
        inventory.weigh(
            db.uow(),
            world.who("keeper"),
            lot_id,
            WeighIn(gross_g=stock + 1_000_000 - 1, tare_g=1_000_000, weigh_ticket_no="WT-LIGHT"),
        )

    with db.session() as session:
        assert evidence_of(session, ref) == before
        assert session.scalar(select(func.count()).where(Operation.lot_id == lot_id)) == operations
        assert session.get_one(Lot, lot_id).verified_net_weight_g == stock


def test_a_wrong_release_code_is_kept_as_evidence_though_the_outbound_fails(db: TestDB, world: World) -> None:
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    releases.approve(db.uow(), world.who("bank"), release_id, NoteIn())
    inventory.unseal_lot(db.uow(), world.who("supervisor"), lot_id, UnsealIn(reason="按放货指令出库"))
    with db.session() as session:
        mark = last_audit_id(session)

    with pytest.raises(Exception, match="code"):
        releases.execute_outbound(
            db.uow(),
            world.who("keeper"),
            lot_id,
            OutboundIn(
                release_id=release_id,
                release_code="GUESS12345",
                gross_g=6_000_000,
                tare_g=1_010_000,
                weigh_ticket_no="WT-GUESS",
                cartons=250,
                vehicle_plate="沪A12345",
                collector_id_no="310101199001011234",
            ),
        )

    with db.session() as session:
        [(event, rows)] = evidence_since(session, mark)
    assert (event.action, event.subject_ref, event.actor) == (
        "release.wrong_code",
        f"release:{release_id}",
        f"user:{world.users['keeper']}",
    )
    assert ((event.before or {})["failed_code_attempts"], (event.after or {})["failed_code_attempts"]) == (
        0,
        1,
    )
    assert len(rows) == 1


# --- order ------------------------------------------------------------------------------------


def test_outbox_ids_follow_the_order_of_the_changes_committed_one_after_another(
    db: TestDB, world: World
) -> None:
    with db.session() as session:
        mark = last_audit_id(session)
    run_flow(db, world)

    with db.session() as session:
        rows = session.scalars(
            select(EvidenceOutbox)
            .join(AuditEvent, AuditEvent.id == EvidenceOutbox.audit_event_id)
            .where(AuditEvent.id > mark)
            .order_by(EvidenceOutbox.id)
        ).all()

    assert [row.audit_event_id for row in rows] == sorted(row.audit_event_id for row in rows)
    assert [row.recorded_at for row in rows] == sorted(row.recorded_at for row in rows)


def _commodity(uow: UnitOfWork, code: str) -> Commodity:
    commodity = Commodity(
        code=code, name="证据测试品", name_en="Evidence probe", temperature_class=TemperatureClass.FROZEN
    )
    uow.session.add(commodity)
    return commodity


@pytest.mark.postgres
def test_outbox_ids_follow_commit_order_when_transactions_overlap(database: Database, world: World) -> None:
    """Two writers at once: the one that began first but commits last gets the later entry, so a
    sequencer reading the outbox in id order never skips an entry that commits late."""
    admin = world.who("admin")
    tag = uuid.uuid4().hex[:10].upper()
    first = UnitOfWork(database.write_session)
    with first:
        early = _commodity(first, f"EVA-{tag}")
        early_event = first.record(admin, "commodity.create", early, before=None)
        first.session.flush()
        second = UnitOfWork(database.write_session)
        with second:
            late = _commodity(second, f"EVB-{tag}")
            late_event = second.record(admin, "commodity.create", late, before=None)
            second.commit()
        first.commit()

    with database.reading() as session:
        rows = session.execute(
            select(EvidenceOutbox.audit_event_id, EvidenceOutbox.id).where(
                EvidenceOutbox.audit_event_id.in_([early_event.id, late_event.id])
            )
        )
        outbox = {row.audit_event_id: row.id for row in rows}
    assert early_event.id < late_event.id
    assert outbox[late_event.id] < outbox[early_event.id]


def test_the_pledge_and_its_registration_travel_with_the_receipts_evidence(db: TestDB, world: World) -> None:
    # Priority between lenders follows the 中登网 registration, so the payload a verifier can
    # check must carry it, not only the receipt's status.
    with db.session() as session:
        mark = last_audit_id(session)
    flow = run_flow(db, world)

    with db.session() as session:
        accepted = session.scalars(
            select(AuditEvent).where(
                AuditEvent.id > mark,
                AuditEvent.action == "receipt.accept_pledge",
                AuditEvent.subject_id == flow.receipt_id,
            )
        ).one()

    assert accepted.after is not None
    pledge = accepted.after["_data"]["pledge"]
    assert (pledge["status"], pledge["registration_no"]) == ("active", REGISTRATION)
    assert pledge["pledgee_org_id"] == world.orgs["bank"]


def test_a_stocktake_is_evidenced_with_what_was_counted(db: TestDB, world: World) -> None:
    with db.session() as session:
        mark = last_audit_id(session)
    inventory.stocktake(
        db.uow(),
        world.who("inspector"),
        world.lots["free"],
        StocktakeIn(counted_g=9_950_000, counted_cartons=499),
    )

    with db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.action == "lot.stocktake")
        ).one()

    assert event.after is not None
    operation = event.after["_data"]["operation"]
    assert (operation["counted_g"], operation["counted_cartons"], operation["expected_g"]) == (
        9_950_000,
        499,
        10_000_000,
    )
    assert operation["within_tolerance"] is False
