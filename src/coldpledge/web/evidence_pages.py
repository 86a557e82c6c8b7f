"""Evidence pages (存证): the log's latest signed checkpoint and its witnesses, the trail of log
entries about a receipt or a lot the viewer may see, and its evidence package to download and
check offline with `coldpledge verify`. The log itself is public; which subjects a viewer may look
up is not, so a receipt or lot out of scope answers 404 here as everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile

from coldpledge.errors import N_, Conflict, NotFound, Unavailable
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import KeyFileMissing, load_log_signer
from coldpledge.evidence.package import ExportError, Package, export_package, trail
from coldpledge.inventory import service as inventory
from coldpledge.receipts import queries as receipts
from coldpledge.reports import service as reports
from coldpledge.reports.api import certificate_download
from coldpledge.reports.pdf import certificate_pdf
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)

KINDS = ("receipt", "lot")


def _subject(session: ReadSession, user: PageUserDep, kind: str, code: str) -> str:
    """``kind:code`` once the viewer is known to see it."""
    if kind == "receipt":
        receipts.receipt_by_code(session, user.principal, code)
    elif kind == "lot":
        inventory.lot_by_code(session, user.principal, code)
    else:
        raise NotFound(N_("Nothing here."))
    return f"{kind}:{code}"


@router.get("/evidence")
def evidence_home(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    checkpoint = evidence_log.latest_checkpoint(session)
    return render(
        request,
        "evidence/home.html",
        user=user,
        checkpoint=checkpoint,
        root_hash=checkpoint.root_hash.hex() if checkpoint else None,
        witnesses=evidence_log.witnesses(session),
        receipts=receipts.list_receipts(session, user.principal, receipts.ReceiptFilter(limit=500)),
    )


@router.post("/evidence/certificate")
def certificate_of_a_package(
    request: Request, package: Annotated[UploadFile, File()], user: PageUserDep, rt: RuntimeDep
) -> Response:
    """Check a package someone handed over, as ``coldpledge verify`` does, and answer its
    certificate (PDF), as ``POST /api/v1/reports/evidence-certificate``; one that does not verify
    is refused (422) with the reason. Anyone signed in may: the package carries its own proof."""
    del user  # signed in and the form's token checked: that is all this needs
    return certificate_download(request, package, now=rt.now())


@router.get("/evidence/{kind}/{code}")
def evidence_trail(
    kind: str, code: str, request: Request, user: PageUserDep, session: ReadSession
) -> Response:
    subject = _subject(session, user, kind, code)
    return render(
        request,
        "evidence/trail.html",
        user=user,
        kind=kind,
        code=code,
        subject=subject,
        entries=trail(session, subject),
    )


def _package(session: ReadSession, rt: RuntimeDep, subject: str) -> Package:
    # Never make up a key (load_log_signer would, outside production): nothing would verify.
    if not Path(rt.settings.log_key_file).exists():
        raise Unavailable(N_("The log's signing key is not configured on this server yet."))
    try:
        return export_package(session, load_log_signer(rt.settings), subject, now=rt.now())
    except KeyFileMissing as missing:
        raise Unavailable(N_("The log's signing key is not configured on this server yet.")) from missing
    except ExportError as refused:
        raise Conflict(N_("No evidence package can be made yet: {reason}."), reason=str(refused)) from refused


@router.get("/evidence/{kind}/{code}/certificate.pdf")
def evidence_certificate(
    kind: str, code: str, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    """The certificate (存证证书) of the package the download gives, made from that very package."""
    package = _package(session, rt, _subject(session, user, kind, code))
    name = f"evidence-{kind}-{code}.zip"
    certificate = reports.evidence_certificate(package.data, name, now=rt.now())
    return Response(
        certificate_pdf(certificate),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{kind}-{code}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/evidence/{kind}/{code}/package.zip")
def evidence_package(
    kind: str, code: str, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    """The subject's package, proved against the latest checkpoint; private payloads are never
    disclosed from here (a court that asks gets them from the operator's command line)."""
    package = _package(session, rt, _subject(session, user, kind, code))
    size = package.verification.checkpoint.size if package.verification.checkpoint else 0
    return Response(
        package.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{kind}-{code}-{size}.zip"',
            "Cache-Control": "no-store",
        },
    )
