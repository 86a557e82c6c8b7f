"""Receipt pages: the receipts a viewer may see, and a receipt's page with its history and the
lifecycle steps the viewer's role may take in its state. Each step calls the service the API
calls (``/api/v1/receipts/{id}/<step>``), with the same input model. Steps with forms of their own:
a release or delivery request (the answer shows the one-time code, once, when the service gives
one), cancelling an open release, the split, and the keeper's replacement of a receipt reported
lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel

from coldpledge.errors import N_, NotFound
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import list_organisations, organisation_names
from coldpledge.receipts import queries, releases, service
from coldpledge.receipts.lifecycle import ReceiptAction, allowed_actions
from coldpledge.receipts.models import OPEN_RELEASE, Receipt, Release
from coldpledge.receipts.schemas import (
    DeliveryRequestIn,
    NoteIn,
    PledgeAcceptIn,
    PledgeRequestIn,
    ReasonIn,
    ReleaseRequestIn,
    SplitIn,
    TransferIn,
)
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, grams_from_kg, optional
from coldpledge.web.pages import _qr_svg
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)

LOCAL = ZoneInfo("Asia/Shanghai")

# The steps with forms of their own, offered by the same rule as the others.
OWN_FORMS = ("request_release", "request_delivery", "split", "replace")

Step = Callable[..., Receipt]

# The steps the page offers with a note or reason, each with its service call and input model. The
# release and delivery requests, the split and the replacement have routes of their own below.
STEPS: dict[str, tuple[Step, type[BaseModel]]] = {
    "submit": (service.submit, NoteIn),
    "issue": (service.issue, NoteIn),
    "transfer": (service.transfer, TransferIn),
    "request_pledge": (service.request_pledge, PledgeRequestIn),
    "withdraw_pledge": (service.withdraw_pledge, NoteIn),
    "accept_pledge": (service.accept_pledge, PledgeAcceptIn),
    "reject_pledge": (service.reject_pledge, ReasonIn),
    "discharge": (service.discharge, NoteIn),
    "freeze": (service.freeze, ReasonIn),
    "unfreeze": (service.unfreeze, ReasonIn),
    "report_loss": (service.report_loss, ReasonIn),
    "cancel_loss_report": (service.cancel_loss_report, ReasonIn),
    "start_disposal": (service.start_disposal, ReasonIn),
    "cancel": (service.cancel, ReasonIn),
}


def receipt_actions(principal: Principal, receipt: Receipt) -> list[str]:
    """The steps this viewer's role may take in the receipt's state (the service checks the rest:
    who holds it, who it is pledged to)."""
    return [
        action
        for action in allowed_actions(receipt.status)
        if action in STEPS and principal.can(f"receipt:{action}")
    ]


def own_forms(principal: Principal, receipt: Receipt) -> list[str]:
    allowed = allowed_actions(receipt.status)
    return [action for action in OWN_FORMS if action in allowed and principal.can(f"receipt:{action}")]


def cancellable(principal: Principal, found: list[Release]) -> set[int]:
    """Open releases this viewer's role may cancel (the service checks it is the one who asked)."""
    if not principal.can("release:cancel"):
        return set()
    return {release.id for release in found if release.status in OPEN_RELEASE}


@router.get("/receipts")
def receipt_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    found = queries.list_receipts(session, user.principal, queries.ReceiptFilter(limit=500))
    return render(
        request,
        "receipts/receipts.html",
        user=user,
        receipts=found,
        names=organisation_names(session, {r.holder_org_id for r in found}),
    )


@router.get("/receipts/{receipt_id}")
def receipt_page(receipt_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    receipt = queries.get_receipt(session, user.principal, receipt_id)
    organisations = list_organisations(session, user.principal)
    found = queries.list_releases(session, user.principal, receipt.id)
    return render(
        request,
        "receipts/receipt.html",
        user=user,
        receipt=receipt,
        names=organisation_names(
            session, (receipt.holder_org_id, receipt.issuer_org_id, receipt.depositor_org_id)
        ),
        history=queries.history(session, user.principal, receipt.id),
        actions=receipt_actions(user.principal, receipt),
        own_forms=own_forms(user.principal, receipt),
        releases=found,
        cancellable=cancellable(user.principal, found),
        labels={action.value: action.label for action in ReceiptAction},
        banks=[org for org in organisations if org.party_type is PartyType.BANK],
        holders=[org for org in organisations if org.party_type is PartyType.BORROWER],
    )


def local_moment(text: str) -> datetime | str | None:
    """A date and time typed on the page (``2026-12-05T17:00``) is Shanghai time; a time with its
    own zone keeps it. Anything else goes to the model, which refuses it by name."""
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return cleaned
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=LOCAL)


def whole_number(text: str) -> int | str | None:
    """Digits become a count; anything else typed goes to the model, which refuses it by name."""
    cleaned = text.replace(",", "").strip()
    return int(cleaned) if cleaned.isdigit() else optional(cleaned)


def release_answer(request: Request, release: Release, code: str | None) -> Response:
    """The new release; its one-time code, if the service gave one, exists in this answer only."""
    return render_fragment(
        request,
        "receipts/_release_requested.html",
        release=release,
        code=code,
        qr_svg=_qr_svg(f"coldpledge:release:{release.id}:{code}") if code else "",
        status_code=201,
    )


@router.post("/receipts/{receipt_id}/request_release")
def request_release(
    receipt_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    quantity_kg: Annotated[str, Form(max_length=32)] = "",
    cartons: Annotated[str, Form(max_length=12)] = "",
    vehicle_plate: Annotated[str, Form(max_length=16)] = "",
    collector_name: Annotated[str, Form(max_length=100)] = "",
    collector_id_no: Annotated[str, Form(max_length=18)] = "",
    valid_until: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    data = form_model(
        ReleaseRequestIn,
        quantity_g=grams_from_kg(quantity_kg, "quantity_kg"),
        cartons=whole_number(cartons),
        vehicle_plate=vehicle_plate.strip().upper(),
        collector_name=collector_name,
        collector_id_no=collector_id_no.strip(),
        valid_until=local_moment(valid_until),
        note=optional(note),
    )
    release, code = releases.request_release(uow, user.principal, receipt_id, data)
    return release_answer(request, release, code)


@router.post("/receipts/{receipt_id}/request_delivery")
def request_delivery(
    receipt_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    vehicle_plate: Annotated[str, Form(max_length=16)] = "",
    collector_name: Annotated[str, Form(max_length=100)] = "",
    collector_id_no: Annotated[str, Form(max_length=18)] = "",
    valid_until: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    data = form_model(
        DeliveryRequestIn,
        vehicle_plate=vehicle_plate.strip().upper(),
        collector_name=collector_name,
        collector_id_no=collector_id_no.strip(),
        valid_until=local_moment(valid_until),
        note=optional(note),
    )
    release, code = releases.request_delivery(uow, user.principal, receipt_id, data)
    return release_answer(request, release, code)


@router.post("/receipts/{receipt_id}/releases/{release_id}/cancel")
def cancel_release(
    receipt_id: int,
    release_id: int,
    user: PageUserDep,
    session: ReadSession,
    uow: Uow,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if queries.get_release(session, user.principal, release_id).receipt_id != receipt_id:
        raise NotFound(N_("Nothing here."))
    releases.cancel(uow, user.principal, release_id, form_model(ReasonIn, reason=reason))
    # The release's state, perhaps the receipt's (a cancelled delivery) and the history change.
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.post("/receipts/{receipt_id}/split")
def split(
    receipt_id: int,
    user: PageUserDep,
    uow: Uow,
    part_kg: Annotated[list[str] | None, Form()] = None,
    part_cartons: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Split into parts (quantity in kg and cartons, row by row); empty rows are left out."""
    # One more row than the model takes, so that too many rows are refused by the model, by name.
    weights, counts = (part_kg or [])[:51], (part_cartons or [])[:51]
    parts = [
        {"quantity_g": grams_from_kg(weight, f"parts.{index}.quantity_kg"), "cartons": whole_number(count)}
        for index, (weight, count) in enumerate(zip(weights, counts, strict=False))
        if optional(weight) or optional(count)
    ]
    made = service.split(
        uow, user.principal, receipt_id, form_model(SplitIn, parts=parts, note=optional(note))
    )
    # The split receipt is closed; its first part is where the holder goes on.
    return Response(status_code=201, headers={"HX-Redirect": f"/receipts/{made[0].id}"})


@router.post("/receipts/{receipt_id}/replace")
def replace(
    receipt_id: int,
    user: PageUserDep,
    uow: Uow,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The keeper issues a replacement for a receipt reported lost (``POST
    /api/v1/receipts/{id}/replace``); the lost one becomes inoperative, so the browser goes on to
    the replacement."""
    successor = service.replace(uow, user.principal, receipt_id, form_model(ReasonIn, reason=reason))
    return Response(status_code=201, headers={"HX-Redirect": f"/receipts/{successor.id}"})


@router.post("/receipts/{receipt_id}/{action}")
def receipt_step(
    receipt_id: int,
    action: str,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=500)] = "",
    org_id: Annotated[str, Form(max_length=12)] = "",
    registration_no: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if action not in STEPS:
        raise NotFound(N_("Nothing here."))
    handler, model = STEPS[action]
    fields: dict[str, Any] = {}
    if model is ReasonIn:
        fields["reason"] = text
    else:
        fields["note"] = optional(text)
    if model is TransferIn:
        fields["to_org_id"] = int(org_id) if org_id.isdigit() else org_id
    elif model is PledgeRequestIn:
        fields["pledgee_org_id"] = int(org_id) if org_id.isdigit() else org_id
    elif model is PledgeAcceptIn:
        fields["registration_no"] = registration_no.strip()
    handler(uow, user.principal, receipt_id, form_model(model, **fields))
    # State, history and the steps offered all change: show the page afresh.
    return Response(status_code=200, headers={"HX-Refresh": "true"})
