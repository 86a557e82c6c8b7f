"""Receipt pages: the receipts a viewer may see, and a receipt's page with its history and the
lifecycle steps the viewer's role may take in its state. Each step calls the service the API
calls (``/api/v1/receipts/{id}/<step>``), with the same input model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel

from coldpledge.errors import N_, NotFound
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import list_organisations, organisation_names
from coldpledge.receipts import queries, service
from coldpledge.receipts.lifecycle import ReceiptAction, allowed_actions
from coldpledge.receipts.models import Receipt
from coldpledge.receipts.schemas import NoteIn, PledgeAcceptIn, PledgeRequestIn, ReasonIn, TransferIn
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)

Step = Callable[..., Receipt]

# The steps the page offers, each with its service call and input model. Steps with forms of their
# own (split, request release or delivery, replace) are in the API only for now.
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
        labels={action.value: action.label for action in ReceiptAction},
        banks=[org for org in organisations if org.party_type is PartyType.BANK],
        holders=[org for org in organisations if org.party_type is PartyType.BORROWER],
    )


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
