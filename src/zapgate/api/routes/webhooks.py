"""``/webhooks``: endpoints, their delivery log and manual redelivery (SPEC section 5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_events import (
    AttemptPublic,
    DeliveryDetailOut,
    DeliveryPublic,
    DeliveryStatusIn,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from zapgate.services.webhooks import WebhookService

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def get_webhooks(runtime: RuntimeDep) -> WebhookService:
    return runtime.webhooks


Webhooks = Annotated[WebhookService, Depends(get_webhooks)]


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
)
async def create_webhook(
    body: WebhookCreate, principal: CurrentPrincipal, webhooks: Webhooks
) -> WebhookCreated:
    created = await webhooks.create(
        principal,
        url=body.url,
        events=body.events,
        connection_id=body.connection_id,
        secret=body.secret,
        enabled=body.enabled,
        ordered=body.ordered,
        description=body.description,
        format=body.format,
    )
    public = WebhookPublic.model_validate(created.webhook)
    return WebhookCreated(**public.model_dump(), secret=created.secret)


@router.get("", response_model=PageOut[WebhookPublic])
async def list_webhooks(
    principal: CurrentPrincipal,
    webhooks: Webhooks,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[WebhookPublic]:
    page = await webhooks.find(principal, limit=limit, cursor=cursor)
    return PageOut[WebhookPublic](
        items=[WebhookPublic.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{webhook_id}", response_model=WebhookPublic)
async def get_webhook(
    webhook_id: str, principal: CurrentPrincipal, webhooks: Webhooks
) -> WebhookPublic:
    return WebhookPublic.model_validate(await webhooks.get(principal, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookPublic)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, principal: CurrentPrincipal, webhooks: Webhooks
) -> WebhookPublic:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    # url, enabled, ordered and format cannot be unset: a null there changes nothing.
    for name in ("url", "enabled", "ordered", "format"):
        if changes.get(name, True) is None:
            del changes[name]
    row = await webhooks.update(principal, webhook_id, **changes)
    return WebhookPublic.model_validate(row)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: str, principal: CurrentPrincipal, webhooks: Webhooks
) -> Response:
    await webhooks.delete(principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=PageOut[DeliveryPublic])
async def list_deliveries(
    webhook_id: str,
    principal: CurrentPrincipal,
    webhooks: Webhooks,
    status: DeliveryStatusIn | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[DeliveryPublic]:
    page = await webhooks.deliveries(
        principal, webhook_id, status=status, limit=limit, cursor=cursor
    )
    return PageOut[DeliveryPublic](
        items=[DeliveryPublic.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetailOut)
async def get_delivery(
    webhook_id: str, delivery_id: str, principal: CurrentPrincipal, webhooks: Webhooks
) -> DeliveryDetailOut:
    detail = await webhooks.delivery(principal, webhook_id, delivery_id)
    public = DeliveryPublic.model_validate(detail.delivery)
    return DeliveryDetailOut(
        **public.model_dump(),
        attempt_log=[AttemptPublic.model_validate(a) for a in detail.attempts],
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(409),
)
async def redeliver(
    webhook_id: str, delivery_id: str, principal: CurrentPrincipal, webhooks: Webhooks
) -> DeliveryPublic:
    return DeliveryPublic.model_validate(
        await webhooks.redeliver(principal, webhook_id, delivery_id)
    )


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409),
)
async def send_test(
    webhook_id: str, principal: CurrentPrincipal, webhooks: Webhooks
) -> dict[str, int | str]:
    """Queue a ``webhook.test`` event for this webhook only; its delivery shows in the
    delivery log like any other."""
    event = await webhooks.send_test(principal, webhook_id)
    return {"event_id": event.id, "type": event.type}
