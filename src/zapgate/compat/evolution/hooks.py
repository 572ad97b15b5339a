"""``/webhook/set`` and ``/webhook/find``: a zapgate webhook with Evolution's body.

The webhook is one of zapgate's (durable retries, delivery log, signed requests),
bound to the instance's connection, with ``format: "evolution"``; the Evolution
settings live in its ``options``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from zapgate.domain.errors import Invalid
from zapgate.domain.events import EventType

from .deps import Caller, body_of, caller, instance_of, services
from .events import EVENT_TYPES, KNOWN_EVENTS, zapgate_types
from .shapes import owner_jid

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow
    from zapgate.store.tables.webhooks import WebhookRow

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
FORMAT = "evolution"


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    enabled: bool = True
    url: str | None = None
    events: list[str] | None = None
    byEvents: bool = False
    webhookByEvents: bool | None = None
    base64: bool = False
    webhookBase64: bool | None = None
    headers: dict[str, Any] | None = None


class WebhookSet(BaseModel):
    model_config = ConfigDict(extra="ignore")
    webhook: WebhookIn | None = None
    # Older clients send the fields at the top level.
    enabled: bool | None = None
    url: str | None = None
    events: list[str] | None = None
    byEvents: bool | None = None
    webhookByEvents: bool | None = None
    base64: bool | None = None
    webhookBase64: bool | None = None

    def settings(self) -> WebhookIn:
        if self.webhook is not None:
            return self.webhook
        return WebhookIn.model_validate(
            {k: v for k, v in self.model_dump(exclude={"webhook"}).items() if v is not None}
        )


def webhook_record(row: WebhookRow, instance_id: str) -> dict[str, Any]:
    options = row.options or {}
    return {
        "id": row.id,
        "url": row.url,
        "headers": None,
        "enabled": row.enabled,
        "events": list(options.get("events") or []),
        "webhookByEvents": bool(options.get("by_events")),
        "webhookBase64": bool(options.get("base64")),
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
        "instanceId": instance_id,
    }


async def save_webhook(
    request: Request, who: Caller, row: ConnectionRow, settings: WebhookIn
) -> WebhookRow:
    """Create or replace the instance's Evolution-format webhook."""
    if not settings.url:
        raise Invalid("webhook.url is required", code="validation_error")
    events = [e.strip().upper() for e in settings.events or [] if e.strip()]
    unknown = [e for e in events if e not in KNOWN_EVENTS]
    if unknown:
        raise Invalid(f"unknown events: {', '.join(unknown)}", code="unknown_event_type")
    # Only events zapgate never produces: Evolution keeps such a webhook, and so do we,
    # subscribed to nothing but an explicit test (no types at all would mean every one).
    kinds = zapgate_types(events) or [EventType.WEBHOOK_TEST.value]
    by_events = bool(settings.byEvents or settings.webhookByEvents)
    options = {
        "instance": row.name,
        "events": events or sorted(EVENT_TYPES),
        "by_events": by_events,
        # Media of received messages inside the body (``message.base64``), up to
        # events.MAX_BASE64_BYTES.
        "base64": bool(settings.base64 or settings.webhookBase64),
        "sender": owner_jid(row.jid, row.phone),
        "server_url": str(request.base_url).rstrip("/"),
    }
    hooks = services(request).webhooks
    existing = await hooks.of_connection(who.principal, row.id, format=FORMAT)
    if existing is None:
        created = await hooks.create(
            who.principal,
            url=settings.url,
            events=kinds,
            connection_id=row.id,
            enabled=settings.enabled,
            description=f"Evolution API webhook of {row.name}",
            format=FORMAT,
            options=options,
        )
        return created.webhook
    return await hooks.update(
        who.principal,
        existing.id,
        url=settings.url,
        events=kinds,
        enabled=settings.enabled,
        options=options,
    )


@router.post("/webhook/set/{instance}")
async def set_webhook(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, WebhookSet)
    saved = await save_webhook(request, who, row, body.settings())
    return JSONResponse(webhook_record(saved, row.id), status_code=201)


@router.get("/webhook/find/{instance}")
async def find_webhook(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    found = await services(request).webhooks.of_connection(who.principal, row.id, format=FORMAT)
    return webhook_record(found, row.id) if found is not None else None
