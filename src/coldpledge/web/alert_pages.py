"""Alerts on the desktop: the viewer's alerts by state and severity with the steps its role may take
(acknowledge, resolve with what was found, close). Work orders have pages of their own
(``web.work_order_pages``), served under this module's router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from coldpledge.alerts import queries as alerts
from coldpledge.alerts import service
from coldpledge.alerts.lifecycle import AlertStatus, Severity
from coldpledge.alerts.models import Alert
from coldpledge.alerts.schemas import ResolveIn
from coldpledge.parties.policy import Principal
from coldpledge.receipts.schemas import NoteIn
from coldpledge.web import work_order_pages
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)
router.include_router(work_order_pages.router)


def alert_actions(principal: Principal, alert: Alert) -> list[str]:
    """The steps this viewer may take on this alert now (the service checks again)."""
    possible = {
        AlertStatus.OPEN: ("acknowledge", "resolve"),
        AlertStatus.ACKNOWLEDGED: ("resolve",),
        AlertStatus.RESOLVED: ("close",),
    }.get(alert.status, ())
    return [step for step in possible if principal.can(f"alert:{step}")]


@router.get("/alerts")
def alert_list(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    status: Annotated[AlertStatus | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
) -> Response:
    found = alerts.list_alerts(
        session, user.principal, alerts.AlertFilter(status=status, severity=severity, limit=200)
    )
    return render(
        request,
        "alerts/alerts.html",
        user=user,
        alerts=found,
        responses=alerts.responses_of(session, [alert.id for alert in found]),
        actions=lambda alert: alert_actions(user.principal, alert),
        counts=alerts.alert_counts(session, user.principal),
        statuses=list(AlertStatus),
        severities=list(Severity),
        status=status,
        severity=severity,
    )


@router.post("/alerts/{alert_id}/{step}")
def alert_step(
    alert_id: int,
    step: str,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if step == "acknowledge":
        alert = service.acknowledge(uow, user.principal, alert_id, form_model(NoteIn, note=text or None).note)
    elif step == "resolve":
        alert = service.resolve(
            uow, user.principal, alert_id, form_model(ResolveIn, resolution=text).resolution
        )
    elif step == "close":
        alert = service.close(uow, user.principal, alert_id, form_model(NoteIn, note=text or None).note)
    else:
        return render_fragment(request, "_error.html", status_code=404, message=step)
    return render_fragment(
        request,
        "alerts/_alert_row.html",
        alert=alert,
        response=alerts.response_of(session, alert.id),
        actions=alert_actions(user.principal, alert),
    )
