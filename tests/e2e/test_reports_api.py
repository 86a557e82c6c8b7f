"""Reports through HTTP: each downloads as a real PDF (Chinese drawn from the CJK font) or a real
workbook whose figures are the API's own, for the reader who may see them and nobody else."""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from io import BytesIO
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from coldpledge.calendar import BUSINESS_TZ
from coldpledge.config import Settings
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.package import export_package
from coldpledge.receipts.models import Receipt
from coldpledge.reports.api import router as reports_router
from coldpledge.reports.builders import MAIN_OPERATIONS
from tests.financing import price
from tests.marking import drawn_facility
from tests.support import today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def app(db: TestDB) -> FastAPI:
    built = db.app()
    paths = {route.path for route in built.routes if isinstance(route, APIRoute)}
    if f"{API}/reports/portfolio" not in paths:
        built.include_router(reports_router)
    return built


def pdf_text_maps(data: bytes) -> bytes:
    """Every stream of the PDF, inflated where it is compressed: fonts' names and the ToUnicode
    maps that say which characters the glyphs draw."""
    found = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        try:
            found.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(found)


def assert_chinese_pdf(data: bytes, *chinese: str) -> None:
    assert data.startswith(b"%PDF")
    inflated = pdf_text_maps(data)
    assert b"Noto-Sans-CJK-SC" in inflated or b"NotoSansCJK" in inflated
    for text in chinese:
        for char in text:
            # The ToUnicode map names each drawn character by its UTF-16 code, in hex.
            assert f"<{ord(char):04X}>".encode() in inflated or f"<{ord(char):04x}>".encode() in inflated, (
                char
            )


def download(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> bytes:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert "attachment; filename=" in response.headers["content-disposition"]
    return response.content


def daily_url(world: World, key: str = "yangshan") -> str:
    return f"{API}/reports/warehouses/{world.warehouses[key]}/daily"


def test_the_keeper_downloads_the_daily_report_as_a_pdf_in_chinese(
    client: TestClient, auth: Auth, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse = client.get(f"{API}/warehouses/{world.warehouses['yangshan']}", headers=auth("keeper")).json()
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        response = client.get(
            daily_url(world), headers={**auth("keeper"), "Accept-Language": "zh-CN"}, params={"format": "pdf"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f"daily-{warehouse['code']}-{today().isoformat()}.pdf" in response.headers["content-disposition"]
    assert_chinese_pdf(response.content, warehouse["name"])
    assert not [record for record in caplog.records if record.name.startswith("weasyprint")]


def test_the_daily_workbook_holds_the_rooms_and_the_operations_of_the_day(
    client: TestClient, auth: Auth, world: World
) -> None:
    data = download(client, daily_url(world), auth("keeper"), format="xlsx", date=today().isoformat())
    book = load_workbook(BytesIO(data))
    assert {"Summary", "Rooms", "Alerts raised", "Operations", "Seals", "Evidence log"} <= set(
        book.sheetnames
    )
    rooms = {row[0]: row for row in book["Rooms"].iter_rows(min_row=2, values_only=True)}
    warehouse = client.get(f"{API}/warehouses/{world.warehouses['yangshan']}", headers=auth("keeper")).json()
    for room in warehouse["rooms"]:
        assert float(rooms[room["code"]][2]) == float(room["band_low_c"])
        assert float(rooms[room["code"]][3]) == float(room["band_high_c"])
    # The day's operations, as the lots' own histories in the API tell them, kind by kind.
    expected: dict[str, list[int]] = {kind: [0, 0] for kind in MAIN_OPERATIONS}
    lots = client.get(f"{API}/lots", headers=auth("keeper"), params={"limit": 500}).json()
    for lot in lots:
        if lot["warehouse_id"] != world.warehouses["yangshan"]:
            continue
        for operation in client.get(f"{API}/lots/{lot['id']}/operations", headers=auth("keeper")).json():
            performed = datetime.fromisoformat(operation["performed_at"]).astimezone(BUSINESS_TZ).date()
            if operation["kind"] in expected and performed == today():
                expected[operation["kind"]][0] += 1
                expected[operation["kind"]][1] += operation["net_g"] or 0
    sheet = book["Operations"]
    found = {
        kind: [row[1], round(row[2] * 1000)]
        for kind, row in zip(MAIN_OPERATIONS, sheet.iter_rows(min_row=2, values_only=True), strict=False)
    }
    assert found == expected
    assert sum(count for count, _ in expected.values()) > 0
    assert sheet["C2"].number_format == "#,##0.000"


def test_the_bank_sees_only_its_own_room_in_the_daily_report(
    client: TestClient, auth: Auth, world: World
) -> None:
    book = load_workbook(BytesIO(download(client, daily_url(world), auth("bank"), format="xlsx")))
    assert [row[0] for row in book["Rooms"].iter_rows(min_row=2, values_only=True)] == ["YS-F18"]


def test_a_keeper_may_not_read_another_keeper_s_warehouse(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.get(daily_url(world), headers=auth("keeper2"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "29-11-2026"])
def test_a_date_that_is_not_a_date_is_refused(client: TestClient, auth: Auth, world: World, day: str) -> None:
    assert client.get(daily_url(world), headers=auth("keeper"), params={"date": day}).status_code == 422
    assert (
        client.get(f"{API}/reports/portfolio", headers=auth("bank"), params={"date": day}).status_code == 422
    )


def test_a_future_date_and_an_unknown_format_are_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    tomorrow = str(today() + timedelta(days=2))
    response = client.get(daily_url(world), headers=auth("keeper"), params={"date": tomorrow})
    assert response.status_code == 422
    assert response.json()["field"] == "date"
    assert client.get(daily_url(world), headers=auth("keeper"), params={"format": "docx"}).status_code == 422


@pytest.fixture
def marked(db: TestDB, settings: Settings, world: World, client: TestClient, auth: Auth) -> int:
    """Carol's facility at Alice's bank, drawn at CNY 20.00/kg and marked today at CNY 16.00/kg."""
    facility_id = drawn_facility(db.uow, settings, world)
    price(db.uow, settings, world, "16.00")
    response = client.post(
        f"{API}/financing/mark-to-market", headers=auth("admin"), json={"business_date": str(today())}
    )
    assert response.status_code == 200, response.text
    return facility_id


def test_the_portfolio_workbook_holds_the_api_s_figures(
    client: TestClient, auth: Auth, world: World, marked: int
) -> None:
    facility = client.get(f"{API}/facilities/{marked}", headers=auth("bank")).json()
    [valuation, *_] = client.get(f"{API}/facilities/{marked}/valuations", headers=auth("bank")).json()
    data = download(client, f"{API}/reports/portfolio", auth("bank"), format="xlsx", date=str(today()))
    sheet = load_workbook(BytesIO(data))["Facilities"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    row = rows[facility["code"]]
    assert float(row[4]) == facility["limit_fen"] / 100
    assert float(row[5]) == valuation["exposure_fen"] / 100
    assert float(row[6]) == valuation["collateral_value_fen"] / 100
    assert float(row[7]) == pytest.approx(valuation["ltv_bp"] / 10_000)
    assert row[9] >= 1  # the mark called for margin
    total = rows["Total"]
    facilities = [r for key, r in rows.items() if key != "Total"]
    assert float(total[5]) == pytest.approx(sum(float(r[5] or 0) for r in facilities))
    assert sheet["E2"].number_format == "#,##0.00"


def test_the_bank_downloads_its_portfolio_as_a_pdf(
    client: TestClient, auth: Auth, world: World, marked: int
) -> None:
    response = client.get(
        f"{API}/reports/portfolio",
        headers={**auth("bank"), "Accept-Language": "zh-CN"},
        params={"format": "pdf"},
    )
    assert response.status_code == 200, response.text
    bank = client.get(f"{API}/organisations/{world.orgs['bank']}", headers=auth("bank")).json()
    assert_chinese_pdf(response.content, bank["name"])


def test_a_portfolio_is_its_bank_s_business_only(client: TestClient, auth: Auth, world: World) -> None:
    url = f"{API}/reports/portfolio"
    other = client.get(url, headers=auth("bank2"), params={"bank_org_id": world.orgs["bank"]})
    assert other.status_code == 404
    assert client.get(url, headers=auth("keeper")).status_code == 403
    assert client.get(url, headers=auth("admin")).status_code == 422
    assert (
        client.get(url, headers=auth("admin"), params={"bank_org_id": world.orgs["bank"]}).status_code == 200
    )
    assert (
        client.get(url, headers=auth("admin"), params={"bank_org_id": world.orgs["keeper"]}).status_code
        == 404
    )
    assert client.get(url).status_code == 401


def test_a_certificate_states_what_a_package_proves(
    db: TestDB, client: TestClient, auth: Auth, world: World
) -> None:
    evidence_log.sequence_all(db.session)
    signer = load_log_signer(db.settings)
    evidence_log.publish_checkpoint(db.session, signer, db.settings.origin)
    with db.session() as session:
        code = session.get_one(Receipt, world.receipts["pledged"]).code
        package = export_package(session, signer, f"receipt:{code}")
    response = client.post(
        f"{API}/reports/evidence-certificate",
        headers={**auth("bank"), "Accept-Language": "zh-CN"},
        files={"package": ("receipt.zip", package.data, "application/zip")},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f"certificate-receipt-{code}" in response.headers["content-disposition"]
    # Its words are English until the translations are merged; the CJK font is the one used.
    assert_chinese_pdf(response.content)


def test_a_file_that_is_no_package_gets_no_certificate(client: TestClient, auth: Auth) -> None:
    response = client.post(
        f"{API}/reports/evidence-certificate",
        headers=auth("bank"),
        files={"package": ("x.zip", b"PK\x03\x04 not really", "application/zip")},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
