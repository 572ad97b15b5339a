"""Connection detail: status and what to do about it, stats, event log, activity chart."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Response

from zapgate.domain.roles import Role
from zapgate.web.behaviour_form import BehaviourForm
from zapgate.web.chart import Chart, Day, daily_chart
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.profile_form import ProfileForm
from zapgate.web.render import html_response
from zapgate.web.routing import WebRoute
from zapgate.web.states import actions_for
from zapgate.web.summary import daily_activity

router = APIRouter(route_class=WebRoute)
CHART_DAYS = 14
LOG_LINES = 50


async def _status_context(v: Visitor, connection_id: str) -> dict[str, Any]:
    seen = v.runtime.last_event_id()
    row = await v.runtime.connections.get(v.principal, connection_id)
    stats = await v.runtime.connections.stats(v.principal, connection_id)
    log = await v.runtime.connections.events(
        v.principal, connection_id, limit=LOG_LINES, cursor=None
    )
    return {
        "c": row,
        "stats": stats,
        "log": log.items,
        "actions": actions_for(row.state, row.linked),
        "seen": seen,
    }


async def _chart(v: Visitor, connection_id: str) -> Chart:
    today = v.runtime.clock.now().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    counts = await daily_activity(v.runtime, v.principal, connection_id)
    days = [
        Day(first + timedelta(days=i), *counts.get(first + timedelta(days=i), (0, 0)))
        for i in range(CHART_DAYS)
    ]
    fmt = "%d/%m" if v.t.language == "pt-BR" else "%m/%d"
    return daily_chart(days, label_format=fmt)


async def detail_page(
    v: Visitor,
    connection_id: str,
    bform: BehaviourForm | None = None,
    *,
    pform: ProfileForm | None = None,
    status: int = 200,
) -> Response:
    """The detail page; ``bform`` (``pform``) is a refused settings (profile) form to
    show again."""
    context = await _status_context(v, connection_id)
    chart = await _chart(v, connection_id)
    return html_response(
        v,
        "pages/connection.html",
        status=status,
        chart=chart,
        nav="dashboard",
        bform=bform or BehaviourForm.of(context["c"]),
        pform=pform or ProfileForm.of(context["c"]),
        may_profile=v.principal.role.at_least(Role.ADMIN),
        saved_profile=v.request.query_params.get("profile_saved") == "1",
        **context,
    )


@router.get("/app/connections/{connection_id}")
async def detail(v: SignedIn, connection_id: str) -> Response:
    return await detail_page(v, connection_id)


@router.get("/app/connections/{connection_id}/status")
async def status(v: SignedIn, connection_id: str) -> Response:
    context = await _status_context(v, connection_id)
    return html_response(v, "partials/conn_status.html", **context)


@router.post("/app/connections/{connection_id}/rename")
async def rename(
    v: SignedIn,
    connection_id: str,
    name: Annotated[str, Form(max_length=200)],
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await v.runtime.connections.update(v.principal, connection_id, name=name, label=label or None)
    context = await _status_context(v, connection_id)
    return html_response(v, "partials/conn_status.html", **context)
