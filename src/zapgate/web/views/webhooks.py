"""Settings → Webhooks: endpoints, their delivery log and manual redelivery.

Everything goes through ``runtime.webhooks`` (admin and above, tenancy checked there).
The secret is rendered once, in the answer to the creating form, and never again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Response

from zapgate.domain.events import EventType
from zapgate.services.webhooks import CreatedWebhook
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import go, html_response, toast_header
from zapgate.web.routing import WebRoute
from zapgate.web.states import DELIVERY_TONE
from zapgate.web.views.settings import settings_page

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow

router = APIRouter(route_class=WebRoute)

ALL = "*"
EVENT_TYPES = [e.value for e in EventType]
LIST_URL = "/app/settings/webhooks"
_HOOKS = 200
_CONNECTIONS = 200
_DELIVERIES = 50

Url = Annotated[str, Form(max_length=2000)]
Events = Annotated[list[str] | None, Form(max_length=len(EVENT_TYPES) + 1)]
ConnectionId = Annotated[str, Form(max_length=64)]
Description = Annotated[str, Form(max_length=500)]
Secret = Annotated[str, Form(max_length=200)]
Back = Annotated[Literal["list", "detail"], Form()]
Ordered = Annotated[bool, Form()]
"""A checkbox: sent when ticked, absent (False) when not."""


async def connection_names(v: Visitor) -> dict[str, str]:
    page = await v.runtime.connections.find(v.principal, limit=_CONNECTIONS)
    return {row.id: row.name for row in page.items}


def _list_context(hooks: list[WebhookRow], names: dict[str, str], v: Visitor) -> dict[str, Any]:
    return {
        "hooks": hooks,
        "connections": names,
        "all_events": ALL,
        "seen": v.runtime.last_event_id(),
    }


async def _hooks(v: Visitor) -> list[WebhookRow]:
    return (await v.runtime.webhooks.find(v.principal, limit=_HOOKS)).items


async def _list_page(v: Visitor, created: CreatedWebhook | None = None) -> Response:
    names = await connection_names(v)
    return settings_page(
        v,
        "webhooks",
        created=created,
        event_types=EVENT_TYPES,
        **_list_context(await _hooks(v), names, v),
    )


def _events(values: list[str] | None) -> list[str] | None:
    """The form's choice: "all events" wins; nothing chosen means all too (the service's
    rule), so a webhook can never silently want nothing."""
    chosen = [value for value in values or [] if value]
    if not chosen or ALL in chosen:
        return None
    return chosen


@router.get("/app/settings/webhooks")
async def webhooks(v: SignedIn) -> Response:
    return await _list_page(v)


@router.get("/app/settings/webhooks/list")
async def webhook_list(v: SignedIn) -> Response:
    names = await connection_names(v)
    return html_response(
        v, "partials/webhook_list.html", **_list_context(await _hooks(v), names, v)
    )


@router.post("/app/settings/webhooks")
async def create_webhook(
    v: SignedIn,
    url: Url,
    events: Events = None,
    connection_id: ConnectionId = "",
    secret: Secret = "",
    description: Description = "",
    ordered: Ordered = False,
) -> Response:
    created = await v.runtime.webhooks.create(
        v.principal,
        url=url,
        events=_events(events),
        connection_id=connection_id or None,
        secret=secret or None,
        ordered=ordered,
        description=description.strip() or None,
    )
    # The only answer that ever carries the secret.
    return await _list_page(v, created=created)


@router.get("/app/settings/webhooks/{webhook_id}")
async def webhook_detail(
    v: SignedIn, webhook_id: str, cursor: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    hook = await v.runtime.webhooks.get(v.principal, webhook_id)
    log = await v.runtime.webhooks.deliveries(
        v.principal, webhook_id, limit=_DELIVERIES, cursor=cursor or None
    )
    return settings_page(
        v,
        "webhooks",
        template="pages/settings_webhook.html",
        hook=hook,
        deliveries=log.items,
        next_cursor=log.next_cursor,
        paged=bool(cursor),
        event_types=EVENT_TYPES,
        all_events=ALL,
        connections=await connection_names(v),
        tone=DELIVERY_TONE,
    )


@router.post("/app/settings/webhooks/{webhook_id}")
async def update_webhook(
    v: SignedIn,
    webhook_id: str,
    url: Url,
    events: Events = None,
    connection_id: ConnectionId = "",
    description: Description = "",
    ordered: Ordered = False,
) -> Response:
    await v.runtime.webhooks.update(
        v.principal,
        webhook_id,
        url=url,
        events=_events(events),
        connection_id=connection_id or None,
        ordered=ordered,
        description=description.strip() or None,
    )
    return go(v, f"{LIST_URL}/{webhook_id}")


@router.post("/app/settings/webhooks/{webhook_id}/enabled")
async def set_enabled(
    v: SignedIn,
    webhook_id: str,
    enabled: Annotated[bool, Form()],
    back: Back = "list",
) -> Response:
    await v.runtime.webhooks.update(v.principal, webhook_id, enabled=enabled)
    return go(v, LIST_URL if back == "list" else f"{LIST_URL}/{webhook_id}")


@router.post("/app/settings/webhooks/{webhook_id}/delete")
async def delete_webhook(v: SignedIn, webhook_id: str) -> Response:
    await v.runtime.webhooks.delete(v.principal, webhook_id)
    return go(v, LIST_URL)


def _row(v: Visitor, hook_id: str, delivery: WebhookDeliveryRow, **headers: str) -> Response:
    return html_response(
        v,
        "partials/webhook_delivery.html",
        hook_id=hook_id,
        d=delivery,
        tone=DELIVERY_TONE,
        headers=headers,
    )


@router.post("/app/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(v: SignedIn, webhook_id: str, delivery_id: str) -> Response:
    row = await v.runtime.webhooks.redeliver(v.principal, webhook_id, delivery_id)
    if not v.is_htmx:
        return go(v, f"{LIST_URL}/{webhook_id}")
    return _row(v, webhook_id, row, **toast_header(v.t("webhooks.redelivering")))
