"""Reports over HTTP: PDF or Excel downloads, each built from what the caller may see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response

from coldpledge.calendar import business_date
from coldpledge.db import MAX_ID
from coldpledge.errors import N_, PayloadTooLarge
from coldpledge.reports import excel, pdf, service
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

PDF = "application/pdf"
Format = Literal["pdf", "xlsx"]
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {}, excel.MEDIA_TYPE: {}}, "description": "The report as a file"}
}
MAX_PACKAGE_BYTES = 64 * 1024 * 1024

BusinessDate = Annotated[
    date | None, Query(alias="date", description="Business date (Asia/Shanghai), YYYY-MM-DD; default today")
]
FileFormat = Annotated[Format, Query(description="pdf or xlsx")]


def _download(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get(
    "/warehouses/{warehouse_id}/daily",
    response_class=Response,
    responses={**DOWNLOADS, **errors(401, 404, 422)},
)
def daily_report(
    warehouse_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    day: BusinessDate = None,
    file_format: Annotated[Format, Query(alias="format", description="pdf or xlsx")] = "pdf",
) -> Response:
    """The daily supervision report (监管日报) of a warehouse: each room's temperatures, time out
    of band and MKT, the day's alerts, work orders, operations and seals, and the evidence log's
    checkpoint; only the rooms and rows the caller sees."""
    now = rt.now()
    day = day or business_date(now)
    report = service.daily_report(session, principal, warehouse_id, day, now=now)
    name = f"daily-{report.warehouse_code}-{day.isoformat()}.{file_format}"
    if file_format == "xlsx":
        return _download(excel.daily_xlsx(report), excel.MEDIA_TYPE, name)
    return _download(pdf.daily_pdf(report), PDF, name)


@router.get("/portfolio", response_class=Response, responses={**DOWNLOADS, **errors(401, 403, 404, 422)})
def portfolio_report(
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    day: BusinessDate = None,
    file_format: Annotated[Format, Query(alias="format", description="pdf or xlsx")] = "pdf",
    bank_org_id: Annotated[
        int | None, Query(gt=0, le=MAX_ID, description="The bank (the operator must name one)")
    ] = None,
) -> Response:
    """The portfolio report (资产组合报告) of the caller's bank as of a business date: each
    facility's limit, exposure, collateral value, LTV, risk state and open margin calls, and totals."""
    now = rt.now()
    day = day or business_date(now)
    report = service.portfolio_report(session, principal, day, bank_org_id=bank_org_id, now=now)
    name = f"portfolio-{day.isoformat()}.{file_format}"
    if file_format == "xlsx":
        return _download(excel.portfolio_xlsx(report), excel.MEDIA_TYPE, name)
    return _download(pdf.portfolio_pdf(report), PDF, name)


@router.post(
    "/evidence-certificate",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "The certificate"}, **errors(401, 413, 422)},
)
def evidence_certificate(
    request: Request,
    package: Annotated[
        UploadFile, File(description="An evidence package (.zip) from `coldpledge evidence export`")
    ],
    principal: CurrentPrincipal,
    rt: RuntimeDep,
) -> Response:
    """A certificate (存证证书) of what an evidence package proves: the object it covers, its entries
    with leaf hashes and log indices, the signed checkpoint, the witnesses, and how to verify it
    offline. The package is checked first, as `coldpledge verify` does; one that does not verify
    gets no certificate (422)."""
    return certificate_download(request, package, now=rt.now())


def certificate_download(request: Request, package: UploadFile, *, now: datetime) -> Response:
    """The certificate of an uploaded package as a PDF download; for the API and the evidence page."""
    declared = int(request.headers.get("content-length") or 0)
    data = package.file.read(MAX_PACKAGE_BYTES + 1)
    if declared > MAX_PACKAGE_BYTES + 64 * 1024 or len(data) > MAX_PACKAGE_BYTES:
        raise PayloadTooLarge(
            N_("The file is larger than the limit of {limit} bytes."), limit=MAX_PACKAGE_BYTES
        )
    name = package.filename or "package.zip"
    certificate = service.evidence_certificate(data, name, now=now)
    stem = certificate.subject.replace(":", "-") or "package"
    safe = "".join(char if char.isascii() and (char.isalnum() or char in "-_.") else "_" for char in stem)
    return _download(pdf.certificate_pdf(certificate), PDF, f"certificate-{safe}.pdf")
