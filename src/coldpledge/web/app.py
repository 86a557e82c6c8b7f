"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from coldpledge import __version__
from coldpledge.config import Settings, get_settings
from coldpledge.db import Database, utcnow
from coldpledge.i18n import negotiate, set_locale
from coldpledge.inventory.files import FileStore
from coldpledge.uow import Clock
from coldpledge.web import errors
from coldpledge.web.deps import Runtime, ids_in_range

STATIC_DIR = Path(__file__).parent / "static"
LANG_COOKIE = "coldpledge_lang"
# Our pages load scripts, styles, images and data from our own origin only: no inline script, no
# eval (htmx is told so in base.html), nothing from a CDN. Photos taken on a phone are previewed
# from blob: URLs; the receipt card's QR code is inline SVG markup, not a URL.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "manifest-src 'self'",
        "worker-src 'self'",
    )
)
# Swagger UI starts itself with an inline script; only its page allows one.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'"
).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock = utcnow,
    runtime: Runtime | None = None,
) -> FastAPI:
    """Build the app. ``runtime`` replaces the database sessions and clock (the tests bind every
    session to one rolled-back transaction)."""
    settings = runtime.settings if runtime is not None else (settings or get_settings())
    app = FastAPI(
        title="coldpledge",
        version=__version__,
        summary="冷链仓单质押融资监管平台 · cold-chain warehouse-receipt pledge supervision",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(ids_in_range)],
    )
    if runtime is None:
        database = database or Database(settings.database_url)
        runtime = Runtime(
            settings=settings,
            read_session=database.session,
            write_session=database.write_session,
            clock=clock,
            files=FileStore(settings.attachments_dir, settings.attachment_max_bytes),
        )
    app.state.runtime = runtime
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    _install_middleware(app, settings)
    _install_routes(app)
    return app


def freeze_startup_heap() -> None:
    """Keep what the process holds once started (modules, mappers, schemas, catalogues, some 240,000
    objects) out of the garbage collector's full passes from now on.

    A full collection walks every tracked object: ~120 ms on these machines with only the started
    app in memory, and more once it has served a while; a request that meets one waits for it
    (the room chart's p95 was ~250 ms slower for that alone, docs/PERFORMANCE.md). Objects made
    before serving live as long as the process, so scanning them again finds nothing to free.
    Called once a process, after ``create_app``, by the served entry point (``web.main``)."""
    gc.collect()
    gc.freeze()


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def language_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        explicit = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        set_locale(
            negotiate(request.headers.get("accept-language"), explicit, default=settings.default_locale)
        )
        response = await call_next(request)
        if "lang" in request.query_params:
            response.set_cookie(LANG_COOKIE, request.query_params["lang"][:16], samesite="lax", httponly=True)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            DOCS_CONTENT_SECURITY_POLICY if request.url.path == "/docs" else CONTENT_SECURITY_POLICY,
        )
        return response


def _install_routes(app: FastAPI) -> None:
    from coldpledge.alerts.api import router as alerts_router
    from coldpledge.evidence.api import router as evidence_router
    from coldpledge.financing.api import router as financing_router
    from coldpledge.financing.disposal_api import router as disposal_router
    from coldpledge.financing.insight_api import router as insight_router
    from coldpledge.financing.mtm_api import router as mtm_router
    from coldpledge.financing.prices.api import router as prices_router
    from coldpledge.inventory.api import router as inventory_router
    from coldpledge.iot.api import router as iot_router
    from coldpledge.notify.api import router as notify_router
    from coldpledge.parties.api import router as parties_router
    from coldpledge.receipts.api import router as receipts_router
    from coldpledge.reports.api import router as reports_router
    from coldpledge.warehouses.api import router as warehouses_router
    from coldpledge.warehouses.policy_api import router as policies_router
    from coldpledge.web.admin_pages import router as admin_pages_router
    from coldpledge.web.alert_pages import router as alert_pages_router
    from coldpledge.web.device_pages import router as device_pages_router
    from coldpledge.web.evidence_pages import router as evidence_pages_router
    from coldpledge.web.finance_pages import router as finance_pages_router
    from coldpledge.web.inventory_pages import router as inventory_pages_router
    from coldpledge.web.mobile import router as mobile_router
    from coldpledge.web.pages import router as pages_router
    from coldpledge.web.policy_pages import router as policy_pages_router
    from coldpledge.web.price_pages import router as price_pages_router
    from coldpledge.web.receipt_pages import router as receipt_pages_router
    from coldpledge.web.risk_pages import router as risk_pages_router
    from coldpledge.web.screens import router as screens_router
    from coldpledge.web.supervision_pages import router as supervision_pages_router
    from coldpledge.web.warehouse_pages import router as warehouse_pages_router

    for router in (
        parties_router,
        warehouses_router,
        policies_router,
        inventory_router,
        receipts_router,
        iot_router,
        evidence_router,
        reports_router,
        alerts_router,
        notify_router,
        prices_router,
        financing_router,
        mtm_router,
        disposal_router,
        insight_router,
        pages_router,
        screens_router,
        mobile_router,
        warehouse_pages_router,
        finance_pages_router,
        inventory_pages_router,
        alert_pages_router,
        supervision_pages_router,
        receipt_pages_router,
        price_pages_router,
        evidence_pages_router,
        admin_pages_router,
        device_pages_router,
        policy_pages_router,
        risk_pages_router,
    ):
        app.include_router(router)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # Served from our own static files: the docs work with no internet access.
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="coldpledge API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}
