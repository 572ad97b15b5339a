"""Dashboard: totals, a card per connection, search, filters and the card actions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Query, Response

from zapgate.domain.errors import Invalid
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.people import ConnectionTag, connection_tags
from zapgate.web.render import html_response, toast_header
from zapgate.web.routing import WebRoute
from zapgate.web.states import actions_for
from zapgate.web.summary import organization_totals
from zapgate.web.views.linking import modal_context

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

router = APIRouter(route_class=WebRoute)

# The dashboard filter: one state, or a group of states the totals count together.
FILTERS: dict[str, frozenset[str] | None] = {
    "": None,
    "ready": frozenset({"ready"}),
    "waiting": frozenset({"qr_ready", "pairing_code_ready", "initializing", "authenticated"}),
    "disconnected": frozenset({"disconnected", "logged_out", "idle", "reconnecting"}),
    "error": frozenset({"error"}),
}
_MAX_CARDS = 200


async def card_context(
    v: Visitor, row: ConnectionRow, tags: dict[str, ConnectionTag] | None = None
) -> dict[str, Any]:
    stats = await v.runtime.connections.stats(v.principal, row.id)
    tags = tags if tags is not None else await connection_tags(v)
    tag = tags.get(row.id)
    return {
        "c": row,
        "slot": tag.slot if tag else 0,
        "messages": stats["messages_sent"] + stats["messages_received"],
        "actions": actions_for(row.state, row.linked),
        "seen": v.runtime.last_event_id(),
    }


async def _cards(v: Visitor, q: str, state: str) -> list[dict[str, Any]]:
    if state not in FILTERS:
        raise Invalid("unknown filter", code="invalid_filter")
    wanted = FILTERS[state]
    page = await v.runtime.connections.find(v.principal, q=q or None, limit=_MAX_CARDS)
    rows = [r for r in page.items if wanted is None or r.state in wanted]
    tags = await connection_tags(v)
    return [await card_context(v, r, tags) for r in rows]


Q = Annotated[str, Query(max_length=200)]


@router.get("/app")
async def dashboard(v: SignedIn, q: Q = "", state: Q = "") -> Response:
    seen = v.runtime.last_event_id()
    cards = await _cards(v, q, state)
    totals = await organization_totals(v.runtime, v.principal)
    return html_response(
        v,
        "pages/dashboard.html",
        cards=cards,
        totals=totals,
        q=q,
        state=state,
        filters=list(FILTERS),
        seen=seen,
        nav="dashboard",
    )


@router.get("/app/cards")
async def cards(v: SignedIn, q: Q = "", state: Q = "") -> Response:
    return html_response(
        v, "partials/cards.html", cards=await _cards(v, q, state), q=q, state=state
    )


@router.get("/app/totals")
async def totals(v: SignedIn) -> Response:
    seen = v.runtime.last_event_id()
    data = await organization_totals(v.runtime, v.principal)
    return html_response(v, "partials/totals.html", totals=data, seen=seen)


@router.get("/app/connections/{connection_id}/card")
async def card(v: SignedIn, connection_id: str) -> Response:
    row = await v.runtime.connections.get(v.principal, connection_id)
    return html_response(v, "partials/card.html", **await card_context(v, row))


@router.post("/app/connections")
async def create(
    v: SignedIn,
    name: Annotated[str, Form(max_length=200)],
    label: Annotated[str, Form(max_length=200)] = "",
    is_primary: Annotated[bool, Form()] = False,
    connect: Annotated[bool, Form()] = False,
) -> Response:
    row = await v.runtime.connections.create(
        v.principal, name=name, label=label or None, is_primary=is_primary
    )
    # The new card comes with the refreshed list (also signalled by the live stream).
    refresh = {"zg-live": ["cards", "totals"]}
    if connect:
        await v.runtime.connections.start(v.principal, row.id)
        context = await modal_context(v, row.id)
        headers = {"HX-Trigger": json.dumps(refresh)}
        return html_response(v, "partials/qr_modal.html", headers=headers, **context)
    toast = {"zg-toast": {"message": v.t("toast.created", name=row.name), "tone": "ok"}}
    return Response(
        status_code=200, headers={"HX-Reswap": "none", "HX-Trigger": json.dumps(refresh | toast)}
    )


_ACTIONS = ("start", "stop", "reconnect", "logout")


@router.post("/app/connections/{connection_id}/{action}")
async def act(v: SignedIn, connection_id: str, action: str) -> Response:
    service = v.runtime.connections
    if action in _ACTIONS:
        row = await getattr(service, action)(v.principal, connection_id)
    elif action == "primary":
        row = await service.update(v.principal, connection_id, is_primary=True)
        # The previous primary's card changes too: refresh the whole list.
        toast = {"message": v.t("toast.action.primary", name=row.name), "tone": "ok"}
        trigger = {"zg-live": ["cards", f"conn:{row.id}"], "zg-toast": toast}
        return Response(
            status_code=200, headers={"HX-Reswap": "none", "HX-Trigger": json.dumps(trigger)}
        )
    elif action == "delete":
        await service.delete(v.principal, connection_id)
        return Response("", headers=toast_header(v.t("toast.deleted")))
    else:
        raise Invalid("unknown action", code="invalid_action")
    # Other views of this connection (the detail page) refresh too; a toast confirms.
    toast = {"message": v.t(f"toast.action.{action}", name=row.name), "tone": "ok"}
    trigger = {"zg-live": [f"conn:{row.id}", "totals"], "zg-toast": toast}
    headers = {"HX-Trigger": json.dumps(trigger)}
    return html_response(v, "partials/card.html", headers=headers, **await card_context(v, row))
