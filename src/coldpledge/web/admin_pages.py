"""Administration pages: the parties on the platform and their users, the commodities goods are
received as, the warehouses with their rooms and virtual warehouses (``admin_warehouse_pages``),
and an organisation's webhooks with the operator's delivery log. Each form is offered only to a
role the API lets do it, and calls the service the API calls, through the API's own input model,
so it refuses what the API refuses in the API's words."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import CommodityIn
from coldpledge.notify import queries as notify_queries
from coldpledge.notify import service as notify
from coldpledge.notify.models import DeliveryStatus
from coldpledge.notify.schemas import WebhookCreateIn
from coldpledge.parties import service as parties
from coldpledge.parties.policy import ROLES_BY_PARTY, PartyType
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.web.admin_warehouse_pages import router as warehouse_router
from coldpledge.web.admin_warehouse_pages import whole
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)
router.include_router(warehouse_router)

REFRESH = {"HX-Refresh": "true"}
# The delivery log shows the newest calls; older ones are the API's (``before_id``) to page through.
RECENT_DELIVERIES = 50


@router.get("/admin")
def admin_index(request: Request, user: PageUserDep) -> Response:
    return render(request, "admin/index.html", user=user)


# --- organisations ---------------------------------------------------------------------------------


@router.get("/admin/organisations")
def organisation_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    organisations = parties.list_organisations(session, user.principal)
    members = Counter(member.organisation_id for member in parties.list_users(session, user.principal))
    return render(
        request,
        "admin/organisations.html",
        user=user,
        organisations=organisations,
        members=members,
        party_types=list(PartyType),
        may_create=user.principal.can("organisation:create"),
    )


@router.post("/admin/organisations")
def create_organisation(
    user: PageUserDep,
    uow: Uow,
    name: Annotated[str, Form(max_length=400)] = "",
    name_en: Annotated[str, Form(max_length=400)] = "",
    party_type: Annotated[str, Form(max_length=40)] = "",
    credit_code: Annotated[str, Form(max_length=40)] = "",
    address: Annotated[str, Form(max_length=600)] = "",
) -> Response:
    data = form_model(
        OrganisationIn,
        name=name,
        name_en=optional(name_en),
        party_type=party_type,
        credit_code=optional(credit_code),
        address=optional(address),
    )
    parties.create_organisation(uow, user.principal, data)
    return Response(status_code=201, headers=REFRESH)


# --- users -----------------------------------------------------------------------------------------


@router.get("/admin/users")
def user_list(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    organisation_id: Annotated[int | None, Query()] = None,
) -> Response:
    members = parties.list_users(session, user.principal)
    if organisation_id is not None:
        members = [member for member in members if member.organisation_id == organisation_id]
    return render(
        request,
        "admin/users.html",
        user=user,
        members=members,
        organisations=parties.list_organisations(session, user.principal),
        organisation_id=organisation_id,
        roles_by_party=[(party, sorted(ROLES_BY_PARTY[party])) for party in PartyType],
        may_create=user.principal.can("user:create"),
    )


@router.post("/admin/users")
def create_user(
    user: PageUserDep,
    uow: Uow,
    rt: RuntimeDep,
    username: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    organisation_id: Annotated[str, Form(max_length=20)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    password: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    data = form_model(
        UserIn,
        username=username.strip(),
        display_name=display_name,
        organisation_id=whole(organisation_id),
        role=role,
        password=password,
        email=optional(email),
    )
    parties.create_user(uow, rt.settings, user.principal, data)
    return Response(status_code=201, headers=REFRESH)


# --- commodities -----------------------------------------------------------------------------------


@router.get("/admin/commodities")
def commodity_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    return render(
        request,
        "admin/commodities.html",
        user=user,
        commodities=inventory.list_commodities(session, user.principal),
        temperature_classes=list(TemperatureClass),
        may_create=user.principal.can("commodity:create"),
    )


@router.post("/admin/commodities")
def create_commodity(
    user: PageUserDep,
    uow: Uow,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    name_en: Annotated[str, Form(max_length=200)] = "",
    temperature_class: Annotated[str, Form(max_length=40)] = "",
    hs_code: Annotated[str, Form(max_length=40)] = "",
    shelf_life_days: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    data = form_model(
        CommodityIn,
        code=code.strip(),
        name=name,
        name_en=name_en,
        temperature_class=temperature_class,
        hs_code=optional(hs_code),
        shelf_life_days=whole(shelf_life_days),
    )
    inventory.create_commodity(uow, user.principal, data)
    return Response(status_code=201, headers=REFRESH)


# --- webhooks and the delivery log -----------------------------------------------------------------


@router.get("/admin/webhooks")
def webhook_list(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Response:
    # The subscriptions refuse (403) a role that may not see them, as the API does.
    subscriptions = notify_queries.subscriptions(session, user.principal)
    may_see_log = user.principal.can("delivery:view")
    deliveries = (
        notify_queries.deliveries(
            session, user.principal, status=status, channel=None, limit=RECENT_DELIVERIES, before_id=None
        )
        if may_see_log
        else []
    )
    log = notify_queries.attempts(session, [delivery.id for delivery in deliveries])
    return render(
        request,
        "admin/webhooks.html",
        user=user,
        subscriptions=subscriptions,
        may_create=user.principal.can("webhook:create"),
        may_deactivate=user.principal.can("webhook:deactivate"),
        may_see_log=may_see_log,
        deliveries=deliveries,
        last_attempt={delivery_id: attempts[-1] for delivery_id, attempts in log.items() if attempts},
        statuses=list(DeliveryStatus),
        status=status,
    )


@router.post("/admin/webhooks")
def create_webhook(
    request: Request,
    user: PageUserDep,
    uow: Uow,
    url: Annotated[str, Form(max_length=1000)] = "",
    kinds: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    # Kinds are typed as a list separated by commas or spaces; none means every kind.
    data = form_model(WebhookCreateIn, url=url.strip(), kinds=kinds.replace(",", " ").split())
    subscription, secret = notify.create_subscription(uow, user.principal, url=data.url, kinds=data.kinds)
    # The secret exists in this answer only (never shown again): the page shows it once, now.
    return render_fragment(
        request, "admin/_webhook_created.html", status_code=201, subscription=subscription, secret=secret
    )


@router.post("/admin/webhooks/{webhook_id}/deactivate")
def deactivate_webhook(webhook_id: int, user: PageUserDep, uow: Uow) -> Response:
    notify.deactivate_subscription(uow, user.principal, webhook_id)
    return Response(status_code=200, headers=REFRESH)
