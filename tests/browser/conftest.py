"""Browser tests: the real Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright against
the app served by uvicorn on a free port, over its own database seeded with the demo scenario
(SQLite, or a fresh PostgreSQL database in the PostgreSQL pass).

Every page a test opens is watched: a JavaScript error, a console error or a request to any host
but ours fails the test when it ends (the product must work with no internet access).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)
from sqlalchemy import func, select

from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.iot.models import Device, DeviceStatus
from coldpledge.migrate import upgrade
from coldpledge.seed import telemetry
from coldpledge.seed.demo import DEMO_PASSWORD, seed_demo
from coldpledge.web.local_server import serving

CHROMIUM = os.environ.get("COLDPLEDGE_CHROMIUM", "/usr/bin/chromium")
POSTGRES_URL = os.environ.get("COLDPLEDGE_TEST_DATABASE_URL")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
BIG_SCREEN: ViewportSize = {"width": 1920, "height": 1080}
DESKTOP: ViewportSize = {"width": 1366, "height": 900}
SUBRESOURCES = frozenset({"script", "stylesheet", "image", "font", "manifest", "media"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@dataclass
class Site:
    base_url: str
    settings: Settings
    database: Database


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo, seeded once for the browser tests and served on 127.0.0.1 by uvicorn."""
    with scratch_database(POSTGRES_URL, prefix="coldpledge_browser") as url:
        settings = Settings(
            env="test",
            database_url=url,
            attachments_dir=tmp_path_factory.mktemp("browser-attachments"),
            log_key_file=tmp_path_factory.mktemp("browser-keys") / "evidence-log.key",
            password_time_cost=1,
            password_memory_kib=8,
        )
        database = Database(url)
        upgrade(database.engine)
        seed_demo(database, settings)
        # What the demo's log worker does as it starts: the seeded history in a signed checkpoint.
        evidence_log.sequence_all(database.write_session)
        evidence_log.publish_checkpoint(database.write_session, load_log_signer(settings), settings.origin)
        with serving(settings, database, name="browser-site") as base_url:
            # The demo's simulated gateways, as `make demo` runs them: each first replays the last
            # day of readings, so the rooms have charts and live values before any test looks. They
            # stop once it is in: ingest in background threads for the rest of the session would
            # race the tests that follow in this process.
            started = datetime.now(UTC)
            gateways, stop = telemetry.start(
                database, settings, tmp_path_factory.mktemp("browser-edge"), base_url=base_url, now=started
            )
            try:
                _wait_for_replay(database, started)
            finally:
                stop.set()
                for gateway in gateways:
                    gateway.join(30)
            yield Site(base_url, settings, database)
        database.dispose()


def _wait_for_replay(database: Database, started: datetime, timeout_s: float = 300) -> None:
    """Until every device has reported a reading from the last two minutes before ``started``."""
    deadline = time.monotonic() + timeout_s
    caught_up = started - timedelta(minutes=2)
    while time.monotonic() < deadline:
        with database.reading() as session:
            behind = session.scalar(
                select(func.count()).where(
                    Device.status == DeviceStatus.ACTIVE,
                    (Device.last_seen_at.is_(None)) | (Device.last_seen_at < caught_up),
                )
            )
        if behind == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the demo gateways had not replayed their day after {timeout_s} s")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield chromium
    chromium.close()


@dataclass
class Watch:
    """What went wrong on the pages of one test: script errors and requests to other hosts."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> Watch:
    return Watch()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser, site: Site, watch: Watch) -> Iterator[OpenPage]:
    """``open_page("bank", viewport=BIG_SCREEN, locale="zh-CN")`` -> a page signed in as that demo
    user (through the sign-in form), on the home page. ``open_page(None)`` is signed out."""
    contexts = []
    ours = urlsplit(site.base_url).netloc

    def opener(username: str | None, *, viewport: ViewportSize = DESKTOP, locale: str = "zh-CN") -> Page:
        context = browser.new_context(
            base_url=site.base_url,
            viewport=viewport,
            locale=locale,
            geolocation={"latitude": 31.2304, "longitude": 121.4737},
            permissions=["geolocation"],
        )
        contexts.append(context)

        def on_request(request: Request) -> None:
            host = urlsplit(request.url)
            if host.scheme in {"http", "https", "ws", "wss"} and host.netloc != ours:
                watch.outside.append(request.url)

        def on_console(message: ConsoleMessage) -> None:
            # The browser's own "Failed to load resource" lines repeat what on_response judges: a
            # page answered 4xx on purpose (a refused sign-in) or an HTMX form's error fragment is
            # not a fault, a missing script or stylesheet is.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                watch.errors.append(f"console: {message.text} ({message.location.get('url')})")

        def on_response(response: Response) -> None:
            if response.status >= 400 and response.request.resource_type in SUBRESOURCES:
                watch.errors.append(f"{response.status} for {response.url}")

        context.on("request", on_request)
        context.on("response", on_response)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
        if username is not None:
            sign_in(page, username)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert watch.errors == [], "pages logged JavaScript errors"
    assert watch.outside == [], "pages asked hosts other than ours"


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page: Page, name: str, folder: Path) -> Path:
    """Take a screenshot: into docs/screenshots/ under ``make screenshots`` (which sets
    COLDPLEDGE_SCREENSHOTS=1), else into ``folder`` (a test's tmp_path), so a test run never
    changes the checkout."""
    target = SCREENSHOTS if os.environ.get("COLDPLEDGE_SCREENSHOTS") == "1" else folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path))
    return path
