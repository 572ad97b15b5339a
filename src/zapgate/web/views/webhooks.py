"""Settings → Webhooks: endpoints, their delivery log and manual redelivery.

Everything goes through ``runtime.webhooks`` (admin and above, tenancy checked there).
The secret is rendered once, in the answer to the creating form, and never again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Response

from zapgate.domain.errors import DomainError
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
# A test event goes to the webhook it is sent to, whatever it subscribes to.
EVENT_TYPES = [e.value for e in EventType if e is not EventType.WEBHOOK_TEST]
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


# Which field a refused value belongs to; anything else is about the whole form.
_FIELD_OF = {
    "invalid_url": "url",
    "url_not_allowed": "url",
    "invalid_secret": "secret",
    "invalid_events": "events",
    "connection_not_found": "connection_id",
}
_PRIVATE = re.compile(r"\(([^()]*)\)")


@dataclass(slots=True)
class WebhookForm:
    """What a person typed, shown again with the reason next to the field refused."""

    url: str = ""
    events: list[str] | None = None
    connection_id: str = ""
    description: str = ""
    ordered: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def refused(self, v: Visitor, exc: DomainError) -> WebhookForm:
        if exc.code == "url_not_allowed":
            found = _PRIVATE.search(exc.message)
            text = v.t("webhooks.error.url_not_allowed", address=found.group(1) if found else "")
        else:
            key = f"error.{exc.code}"
            text = v.t(key) if v.t.has(key) else exc.message
        self.errors[_FIELD_OF.get(exc.code, "form")] = text
        return self


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


async def _list_page(
    v: Visitor,
    created: CreatedWebhook | None = None,
    form: WebhookForm | None = None,
    status: int = 200,
) -> Response:
    names = await connection_names(v)
    response = settings_page(
        v,
        "webhooks",
        created=created,
        event_types=EVENT_TYPES,
        form=form or WebhookForm(),
        **_list_context(await _hooks(v), names, v),
    )
    response.status_code = status
    return response


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
    form = WebhookForm(url, events, connection_id, description, ordered)
    try:
        created = await v.runtime.webhooks.create(
            v.principal,
            url=url,
            events=_events(events),
            connection_id=connection_id or None,
            secret=secret or None,
            ordered=ordered,
            description=description.strip() or None,
        )
    except DomainError as exc:
        # The form comes back as typed (the secret excepted), the reason beside its field.
        return await _list_page(v, form=form.refused(v, exc), status=exc.status)
    # The only answer that ever carries the secret.
    return await _list_page(v, created=created)


@router.get("/app/settings/webhooks/{webhook_id}")
async def webhook_detail(
    v: SignedIn, webhook_id: str, cursor: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    return await _detail_page(v, webhook_id, cursor)


async def _detail_page(
    v: Visitor,
    webhook_id: str,
    cursor: str = "",
    form: WebhookForm | None = None,
    status: int = 200,
) -> Response:
    hook = await v.runtime.webhooks.get(v.principal, webhook_id)
    log = await v.runtime.webhooks.deliveries(
        v.principal, webhook_id, limit=_DELIVERIES, cursor=cursor or None
    )
    response = settings_page(
        v,
        "webhooks",
        template="pages/settings_webhook.html",
        hook=hook,
        form=form
        or WebhookForm(
            hook.url,
            list(hook.events),
            hook.connection_id or "",
            hook.description or "",
            hook.ordered,
        ),
        deliveries=log.items,
        next_cursor=log.next_cursor,
        paged=bool(cursor),
        event_types=EVENT_TYPES,
        all_events=ALL,
        connections=await connection_names(v),
        tone=DELIVERY_TONE,
        seen=v.runtime.last_event_id(),
    )
    response.status_code = status
    return response


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
    form = WebhookForm(url, events, connection_id, description, ordered)
    try:
        await v.runtime.webhooks.update(
            v.principal,
            webhook_id,
            url=url,
            events=_events(events),
            connection_id=connection_id or None,
            ordered=ordered,
            description=description.strip() or None,
        )
    except DomainError as exc:
        if exc.code == "webhook_not_found":
            raise
        return await _detail_page(v, webhook_id, form=form.refused(v, exc), status=exc.status)
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
