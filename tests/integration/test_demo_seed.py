"""The demo scenario: seeded once into a fresh database of its own (not the shared test world),
then looked at the way the demo's users would look at it, through the API."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coldpledge.audit.models import AuditEvent
from coldpledge.calendar import business_date
from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.errors import Conflict
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.financing.businessdays import is_business_day
from coldpledge.financing.models import Drawdown, Facility
from coldpledge.financing.mtm_models import Valuation, ValuationKind
from coldpledge.financing.prices.models import ObservationStatus, PriceObservation
from coldpledge.migrate import upgrade
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn
from coldpledge.receipts.models import Receipt
from coldpledge.seed.demo import DEMO_PASSWORD, DemoSummary, seed_demo
from coldpledge.uow import UnitOfWork
from coldpledge.web.app import create_app

LOGINS = {
    "admin": (Role.PLATFORM_ADMIN, PartyType.OPERATOR),
    "admin2": (Role.PLATFORM_ADMIN, PartyType.OPERATOR),
    "bank": (Role.BANK_RISK_OFFICER, PartyType.BANK),
    "bank2": (Role.BANK_RISK_OFFICER, PartyType.BANK),
    "borrower": (Role.BORROWER_FINANCE, PartyType.BORROWER),
    "borrower2": (Role.BORROWER_FINANCE, PartyType.BORROWER),
    "keeper": (Role.KEEPER_STAFF, PartyType.KEEPER),
    "supervisor": (Role.SUPERVISION_MANAGER, PartyType.SUPERVISOR),
    "inspector": (Role.INSPECTOR, PartyType.SUPERVISOR),
}


def _settings(url: str, attachments: Path) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        attachments_dir=attachments,
        public_base_url="http://testserver",
        # Cheap argon2: the demo's nine passwords are hashed in milliseconds.
        password_time_cost=1,
        password_memory_kib=8,
    )


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """A database of the demo's own: a SQLite file, or a fresh database on the PostgreSQL server
    of the PostgreSQL pass, dropped afterwards."""
    with scratch_database(os.environ.get("COLDPLEDGE_TEST_DATABASE_URL"), prefix="coldpledge_demo") as url:
        yield url


@pytest.fixture(scope="module")
def demo_settings(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _settings(demo_url, tmp_path_factory.mktemp("demo-attachments"))


@pytest.fixture(scope="module")
def migrated_database(demo_settings: Settings) -> Iterator[Database]:
    database = Database(demo_settings.database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def seeded_at() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def summary(migrated_database: Database, demo_settings: Settings, seeded_at: datetime) -> DemoSummary:
    return seed_demo(migrated_database, demo_settings, now=seeded_at)


@pytest.fixture(scope="module")
def demo_database(migrated_database: Database, summary: DemoSummary) -> Database:
    """The seeded demo database, whichever test of the module runs first (or alone)."""
    return migrated_database


@pytest.fixture(scope="module")
def demo_client(
    demo_database: Database, demo_settings: Settings, summary: DemoSummary
) -> Iterator[TestClient]:
    app = create_app(demo_settings, database=demo_database)
    with TestClient(app, headers={"Accept-Language": "en"}) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(demo_client: TestClient) -> dict[str, dict[str, str]]:
    """Bearer headers for every demo login, obtained the way a user signs in."""
    headers = {}
    for username in LOGINS:
        response = demo_client.post(
            "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, response.text
        headers[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


def _get(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, object]]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


def test_it_creates_the_documented_logins_in_their_roles(
    summary: DemoSummary, demo_database: Database
) -> None:
    assert summary.created
    assert [username for username, _role, _org in summary.logins] == list(LOGINS)
    with demo_database.reading() as session:
        users = {user.username: user for user in session.scalars(select(User))}
        for username, (role, party_type) in LOGINS.items():
            assert users[username].role is role
            assert users[username].organisation.party_type is party_type
        assert users["bank"].organisation.name == "浙商银行杭州分行"
        assert users["bank"].organisation_id != users["bank2"].organisation_id
        assert users["borrower"].organisation_id != users["borrower2"].organisation_id


def test_every_demo_login_signs_in_with_the_documented_password(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    for username, (role, _party_type) in LOGINS.items():
        me = demo_client.get("/api/v1/me", headers=tokens[username])
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["role"]) == (username, role.value)


def test_a_wrong_password_does_not_open_a_demo_login(demo_client: TestClient, summary: DemoSummary) -> None:
    response = demo_client.post(
        "/api/v1/auth/token", data={"username": "bank", "password": "coldpledge-dem0"}
    )
    assert response.status_code == 401


def test_seeding_again_adds_nothing(
    summary: DemoSummary, demo_database: Database, demo_settings: Settings
) -> None:
    again = seed_demo(demo_database, demo_settings)
    assert not again.created
    assert again.counts == summary.counts
    assert again.logins == summary.logins
    assert "nothing was added" in again.describe()


def test_the_summary_shows_every_login_with_the_password(summary: DemoSummary) -> None:
    shown = summary.describe()
    assert DEMO_PASSWORD in shown
    for username, role_label, organisation in summary.logins:
        assert username in shown
        assert role_label in shown
        assert organisation in shown
    assert summary.counts["receipts"] > 0
    assert summary.counts["audit events"] == summary.counts["evidence entries"]


def test_receipts_are_in_at_least_six_states(demo_database: Database) -> None:
    with demo_database.reading() as session:
        states = set(session.scalars(select(Receipt.status).distinct()))
    assert len(states) >= 6, states


def test_every_audit_event_has_exactly_one_evidence_entry(demo_database: Database) -> None:
    with demo_database.reading() as session:
        events = set(session.scalars(select(AuditEvent.id)))
        entries = list(session.scalars(select(EvidenceOutbox.audit_event_id)))
    assert events
    assert sorted(entries) == sorted(events)


def test_the_history_runs_through_the_two_months_before_the_seed_in_order(
    demo_database: Database, seeded_at: datetime
) -> None:
    with demo_database.reading() as session:
        times = list(session.scalars(select(AuditEvent.at).order_by(AuditEvent.id)))
    assert times == sorted(times)
    assert seeded_at - timedelta(days=67) <= times[0] <= seeded_at - timedelta(days=59)
    assert seeded_at - timedelta(days=2) <= times[-1] <= seeded_at


def test_the_second_bank_sees_none_of_the_first_banks_receipts(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    first = {receipt["id"] for receipt in _get(demo_client, "/api/v1/receipts", tokens["bank"])}
    second = {receipt["id"] for receipt in _get(demo_client, "/api/v1/receipts", tokens["bank2"])}
    assert first
    assert second
    assert not first & second


def test_the_second_borrower_sees_none_of_the_first_borrowers_lots(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    first = _get(demo_client, "/api/v1/lots", tokens["borrower"])
    second = _get(demo_client, "/api/v1/lots", tokens["borrower2"])
    assert first
    assert second
    assert {lot["owner_org_id"] for lot in second} == {second[0]["owner_org_id"]}
    assert not {lot["id"] for lot in first} & {lot["id"] for lot in second}


def test_the_inspector_sees_only_the_yangshan_virtual_warehouse(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    inspector = _get(demo_client, "/api/v1/virtual-warehouses", tokens["inspector"])
    supervisor = _get(demo_client, "/api/v1/virtual-warehouses", tokens["supervisor"])
    assert [vw["name"] for vw in inspector] == ["洋山冷库监管仓"]
    assert len(supervisor) == 2


def test_every_lot_has_a_photo_that_downloads_as_the_image_it_claims_to_be(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    keeper = tokens["keeper"]
    lots = _get(demo_client, "/api/v1/lots", keeper)
    assert len(lots) >= 10
    for lot in lots:
        photos = [
            attachment
            for attachment in _get(demo_client, f"/api/v1/lots/{lot['id']}/attachments", keeper)
            if attachment["purpose"] == "photo"
        ]
        assert photos, lot["code"]
        download = demo_client.get(f"/api/v1/attachments/{photos[0]['sha256']}", headers=keeper)
        assert download.status_code == 200
        assert download.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert hashlib.sha256(download.content).hexdigest() == photos[0]["sha256"]


def test_it_refuses_to_seed_over_an_interrupted_demo(tmp_path: Path) -> None:
    settings = _settings(f"sqlite:///{tmp_path / 'half.sqlite3'}", tmp_path / "attachments")
    database = Database(settings.database_url)
    try:
        upgrade(database.engine)
        parties.create_organisation(
            UnitOfWork(database.write_session),
            SYSTEM,
            OrganisationIn(name="浙商银行杭州分行", party_type=PartyType.BANK),
        )
        with pytest.raises(Conflict, match="interrupted"):
            seed_demo(database, settings)
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0
    finally:
        database.dispose()


# --- financing ------------------------------------------------------------------------------------


def _rows(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def _facilities(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return _rows(client, "/api/v1/facilities", headers)


def test_each_borrower_has_an_active_line_with_its_bank_with_contracts_and_collateral_on_file(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    first, second = _facilities(demo_client, tokens["bank"]), _facilities(demo_client, tokens["bank2"])
    assert len(first) == len(second) == 1
    assert first[0]["id"] != second[0]["id"]
    assert [f["id"] for f in _facilities(demo_client, tokens["borrower"])] == [first[0]["id"]]
    assert [f["id"] for f in _facilities(demo_client, tokens["borrower2"])] == [second[0]["id"]]
    assert _facilities(demo_client, tokens["keeper"]) == []
    for facility, bank in ((first[0], "bank"), (second[0], "bank2")):
        assert facility["status"] == "active"
        contracts = _rows(demo_client, f"/api/v1/facilities/{facility['id']}/contracts", tokens[bank])
        assert {c["kind"] for c in contracts} == {
            "credit_agreement",
            "pledge_contract",
            "supervision_agreement",
        }
        collateral = _rows(demo_client, f"/api/v1/facilities/{facility['id']}/collateral", tokens[bank])
        assert [link for link in collateral if link["detached_at"] is None]


def test_every_drawdown_was_approved_within_the_limit_and_the_pledge_rate(demo_database: Database) -> None:
    with demo_database.reading() as session:
        drawdowns = {d.id: d for d in session.scalars(select(Drawdown))}
        approvals = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "drawdown.approve")))
        assert len(approvals) == len(drawdowns) >= 6
        for event in approvals:
            assert event.after is not None
            position = event.after["_data"]["position"]
            committed = position["committed_exposure_fen"] + drawdowns[event.subject_id].amount_fen
            assert committed <= position["limit_fen"]
            assert committed * 10_000 <= position["collateral_value_fen"] * position["pledge_rate_bp"]
        assert all(d.disbursed_on is not None for d in drawdowns.values())
        assert {d.status.value for d in drawdowns.values()} == {"active", "repaid"}


def test_falling_beef_puts_one_line_under_a_margin_call_with_its_alert_and_work_order(
    demo_client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    bank = tokens["bank"]
    facility = _facilities(demo_client, bank)[0]
    assert facility["risk_state"] in {"warning", "margin_call"}
    assert _facilities(demo_client, tokens["bank2"])[0]["risk_state"] == "normal"
    calls = _rows(demo_client, f"/api/v1/margin-calls?facility_id={facility['id']}", bank)
    if facility["risk_state"] == "margin_call":
        (call,) = [c for c in calls if c["status"] == "open"]
        assert call["ltv_bp"] >= facility["margin_call_line_bp"]
        assert call["cure_cash_fen"] > 0
        assert call["deadline"] >= business_date(datetime.now(UTC)).isoformat()
    rule = {"warning": "ltv_warning", "margin_call": "margin_call"}[facility["risk_state"]]
    alerts = _rows(demo_client, "/api/v1/alerts", bank)
    assert [
        a
        for a in alerts
        if a["rule"] == rule and a["facility_id"] == facility["id"] and a["status"] == "open"
    ]
    assert not [a for a in _rows(demo_client, "/api/v1/alerts", tokens["bank2"]) if a["facility_id"]]
    orders = _rows(demo_client, "/api/v1/work-orders", bank) + _get(
        demo_client, "/api/v1/work-orders", tokens["admin"]
    )
    assert [o for o in orders if facility["code"] in (o["title"] + (o["subject"] or ""))]
    # Nothing may leave the line under a margin call; the other one can let goods go.
    frozen = _one(demo_client, f"/api/v1/facilities/{facility['id']}/release-capacity", bank)
    assert frozen["max_release_value_fen"] == 0
    other = _facilities(demo_client, tokens["bank2"])[0]
    free = _one(demo_client, f"/api/v1/facilities/{other['id']}/release-capacity", tokens["bank2"])
    assert free["max_release_value_fen"] > 0


def test_each_line_is_marked_every_business_day_after_its_first_drawdown(demo_database: Database) -> None:
    with demo_database.reading() as session:
        last_event = session.scalar(select(func.max(AuditEvent.at)))
        assert last_event is not None
        last_day = business_date(last_event)
        for facility in session.scalars(select(Facility)):
            first = session.scalar(
                select(func.min(Drawdown.disbursed_on)).where(Drawdown.facility_id == facility.id)
            )
            assert first is not None
            marked = set(
                session.scalars(
                    select(Valuation.business_date).where(
                        Valuation.facility_id == facility.id, Valuation.kind == ValuationKind.DAILY
                    )
                )
            )
            due = {day for day in _days(first, last_day) if is_business_day(day)}
            assert len(due) >= 30
            assert due <= marked, sorted(due - marked)


def test_prices_have_three_months_of_history_each_approved_by_a_second_operator(
    demo_client: TestClient, demo_database: Database, tokens: dict[str, dict[str, str]]
) -> None:
    with demo_database.reading() as session:
        approved = list(
            session.scalars(
                select(PriceObservation).where(PriceObservation.status == ObservationStatus.APPROVED)
            )
        )
        first_drawdown = session.scalar(select(func.min(Drawdown.disbursed_on)))
        assert first_drawdown is not None
        assert approved
        assert all(o.approved_by_user_id not in (None, o.entered_by_user_id) for o in approved)
        assert all(o.outlier_confirmed for o in approved if o.is_outlier)
        for series_id in {o.series_id for o in approved}:
            before = [o for o in approved if o.series_id == series_id and o.price_date < first_drawdown]
            assert len(before) >= 60
    facility = _facilities(demo_client, tokens["bank"])[0]
    risk = _one(demo_client, f"/api/v1/facilities/{facility['id']}/price-risk", tokens["bank"])
    beef = [c for c in risk["commodities"] if c["commodity_code"] == "BEEF-FZ"]
    assert beef
    assert beef[0]["daily_volatility"] is not None
    assert risk["var_99_10d_fen"] > 0


def _one(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days)]
